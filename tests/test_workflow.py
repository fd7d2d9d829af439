"""FlowChain: steps run in order; a failure rolls back the done steps in reverse."""

from __future__ import annotations

from typing import Any

import pytest

from cloudbus.core.workflow import FlowChain


def _step(log: list[str], name: str, fail: bool = False) -> Any:
    async def run(data: dict[str, Any]) -> None:
        if fail:
            raise RuntimeError(f"{name} failed")
        log.append(name)
        data[name] = True

    return run


def _undo(log: list[str], name: str, fail: bool = False) -> Any:
    async def rollback(data: dict[str, Any]) -> None:
        log.append(f"undo-{name}")
        if fail:
            raise RuntimeError("rollback broke")

    return rollback


async def test_runs_in_order_and_shares_data() -> None:
    log: list[str] = []
    chain = FlowChain("t").then("a", _step(log, "a")).then("b", _step(log, "b"))
    data = await chain.run({"x": 1})
    assert log == ["a", "b"] and data == {"x": 1, "a": True, "b": True}


async def test_failure_rolls_back_done_steps_in_reverse() -> None:
    log: list[str] = []
    chain = (
        FlowChain("t")
        .then("a", _step(log, "a"), _undo(log, "a"))
        .then("b", _step(log, "b"))  # nothing to undo
        .then("c", _step(log, "c"), _undo(log, "c"))
        .then("d", _step(log, "d", fail=True), _undo(log, "d"))
    )
    with pytest.raises(RuntimeError, match="d failed"):
        await chain.run()
    assert log == ["a", "b", "c", "undo-c", "undo-a"]


async def test_a_failing_rollback_does_not_stop_the_others() -> None:
    log: list[str] = []
    chain = (
        FlowChain("t")
        .then("a", _step(log, "a"), _undo(log, "a"))
        .then("b", _step(log, "b"), _undo(log, "b", fail=True))
        .then("c", _step(log, "c", fail=True))
    )
    with pytest.raises(RuntimeError, match="c failed"):
        await chain.run()
    assert log == ["a", "b", "undo-b", "undo-a"]
