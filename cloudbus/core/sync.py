"""Per-resource chain queues: work on one key runs `level` at a time, different keys in parallel.

This, not database locks, is how two operations on one resource never interleave
(ZStack's chain tasks, "lock-free" blog part 3). Waiters are served in arrival order.
Queues for idle keys are dropped, so memory follows the number of busy resources.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class _Queue:
    __slots__ = ("semaphore", "users")

    def __init__(self, level: int) -> None:
        self.semaphore = asyncio.Semaphore(level)
        self.users = 0


class ChainQueues:
    def __init__(self) -> None:
        self._queues: dict[str, _Queue] = {}

    @asynccontextmanager
    async def run_in(self, key: str, level: int = 1) -> AsyncIterator[None]:
        """`async with queues.run_in("Vm-<uuid>"): ...` runs the block in that key's queue."""
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = _Queue(level)
        queue.users += 1
        try:
            async with queue.semaphore:
                yield
        finally:
            queue.users -= 1
            if queue.users == 0:
                del self._queues[key]

    def busy_keys(self) -> list[str]:
        return list(self._queues)
