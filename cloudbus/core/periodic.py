"""Background jobs a service runs every so often (the sweeps that catch what no API call did).

    self.sweeper = Periodic(self.sweep, 60.0, "tag sweep")
    await self.sweeper.start()      # runs the job once now, then every 60 s in a task
    await self.sweeper.stop()       # on the service's stop

A round that fails is logged and the next one tries again: a sweep is idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from cloudbus.core.logging import get_logger

log = get_logger(__name__)


class Periodic:
    def __init__(self, job: Callable[[], Awaitable[Any]], interval: float, name: str, *, now: bool = True) -> None:
        """`now`: run the job once at start (a sweep); False for a job due only after an interval (a ping)."""
        self.job, self.interval, self.name, self.now = job, interval, name, now
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.now:
            await self.job()
        self._task = asyncio.create_task(self._forever())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _forever(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.job()
            except Exception:  # the next round tries again
                log.exception("periodic job failed", job=self.name)
