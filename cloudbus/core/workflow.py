"""FlowChain: ordered steps, each with a run and an optional rollback.

On the first failing step the steps already done roll back in reverse order, then the
original error propagates. A rollback that itself fails is logged and the remaining
rollbacks still run (ZStack's SimpleFlowChain).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cloudbus.core.logging import get_logger

log = get_logger(__name__)

Step = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass
class Flow:
    name: str
    run: Step
    rollback: Step | None = None


class FlowChain:
    def __init__(self, name: str) -> None:
        self.name = name
        self.flows: list[Flow] = []

    def then(self, name: str, run: Step, rollback: Step | None = None) -> FlowChain:
        self.flows.append(Flow(name, run, rollback))
        return self

    async def run(self, data: dict[str, Any] | None = None) -> dict[str, Any]:
        data = {} if data is None else data
        done: list[Flow] = []
        for flow in self.flows:
            try:
                await flow.run(data)
            except BaseException:
                await self._rollback(done, data, failed=flow.name)
                raise
            done.append(flow)
        return data

    async def _rollback(self, done: list[Flow], data: dict[str, Any], failed: str) -> None:
        for flow in reversed(done):
            if flow.rollback is None:
                continue
            try:
                await flow.rollback(data)
            except Exception:
                log.exception("rollback failed", chain=self.name, flow=flow.name, failed_flow=failed)
