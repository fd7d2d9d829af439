"""Chain queues: one key runs one at a time, in arrival order; different keys in parallel."""

from __future__ import annotations

import asyncio

from cloudbus.core.sync import ChainQueues


async def test_same_key_is_serialized_in_order_and_keys_run_in_parallel() -> None:
    queues = ChainQueues()
    events: list[str] = []
    running = {"a": 0, "b": 0}
    peak = {"a": 0, "b": 0}

    async def work(key: str, n: int) -> None:
        async with queues.run_in(key):
            running[key] += 1
            peak[key] = max(peak[key], running[key])
            events.append(f"{key}{n}")
            await asyncio.sleep(0.01)
            running[key] -= 1

    await asyncio.gather(*(work(k, n) for n in range(5) for k in ("a", "b")))
    assert peak == {"a": 1, "b": 1}
    assert [e for e in events if e[0] == "a"] == [f"a{n}" for n in range(5)]
    assert events[:2] == ["a0", "b0"]  # b did not wait for a
    assert queues.busy_keys() == []  # idle queues are dropped


async def test_level_allows_bounded_parallelism() -> None:
    queues = ChainQueues()
    running = 0
    peak = 0

    async def work() -> None:
        nonlocal running, peak
        async with queues.run_in("k", level=3):
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1

    await asyncio.gather(*(work() for _ in range(10)))
    assert peak == 3
