"""Progress of long work (a download, a copy, a template), as events a user can follow.

Work that takes long reports how far it got on the bus:

    Event(name="api.progress", data={"apiId": ..., "stage": "downloading image",
                                     "percent": 42, "resourceUuid": ...})

`apiId` is the id of the API message the user sent (the CLI subscribes for that id and
draws a bar); `stage` says what is being done, `percent` is 0..100, `resourceUuid` is the
resource being made. A service doing such work on behalf of another service gets the API
id on the internal message (`apiId`), since the id of the message it handles is not it.

Drivers take an optional `progress` callback, `Callable[[int], Any]` (sync or async),
called with a percentage. `ProgressReporter` is such a callback: callable from the event
loop or from a worker thread (copies run in threads), throttled (an event only when the
integer percent changes, at most one every `interval` seconds, but 0 and 100 always), and
publishing in order. `await reporter.close()` waits until the events it sent are out.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import time
from collections.abc import Callable
from typing import Any

from cloudbus.core.logging import get_logger
from cloudbus.core.messages import Event

log = get_logger(__name__)

EVENT = "api.progress"
INTERVAL = 0.2  # seconds between two events of one reporter (but 0 and 100)

Progress = Callable[[int], Any]


def event(api_id: str, stage: str, percent: int, resource_uuid: str | None = None) -> Event:
    data: dict[str, Any] = {"apiId": api_id, "stage": stage, "percent": percent}
    if resource_uuid is not None:
        data["resourceUuid"] = resource_uuid
    return Event(name=EVENT, data=data)


def percent_of(done: int, total: int) -> int:
    """`done` of `total` as 0..100 (0 when the total is unknown)."""
    if total <= 0:
        return 0
    return max(0, min(100, done * 100 // total))


class ProgressReporter:
    """A thread-safe, throttled progress callback publishing `api.progress` events."""

    def __init__(
        self, bus: Any, api_id: str, stage: str, resource_uuid: str | None = None, *, interval: float | None = None
    ) -> None:
        self.bus, self.api_id, self.stage, self.resource_uuid = bus, api_id, stage, resource_uuid
        self.interval = INTERVAL if interval is None else interval
        self._loop = asyncio.get_running_loop()
        self._lock = threading.Lock()
        self._last: int | None = None
        self._last_at = 0.0
        self._tail: asyncio.Future[None] | None = None

    def __call__(self, percent: int) -> None:
        percent = max(0, min(100, int(percent)))
        with self._lock:
            now = time.monotonic()
            if percent == self._last:
                return
            if percent not in (0, 100) and now - self._last_at < self.interval:
                return
            self._last, self._last_at = percent, now
        if _in_loop(self._loop):
            self._send(percent)
        else:
            self._loop.call_soon_threadsafe(self._send, percent)

    def _send(self, percent: int) -> None:
        previous = self._tail
        self._tail = asyncio.ensure_future(self._publish(previous, percent))

    async def _publish(self, previous: asyncio.Future[None] | None, percent: int) -> None:
        if previous is not None:  # in order: each event after the one before it
            await asyncio.shield(previous)
        try:
            await self.bus.publish(event(self.api_id, self.stage, percent, self.resource_uuid))
        except Exception as exc:  # progress is a courtesy: the work goes on without it
            log.warning("progress event dropped", api_id=self.api_id, error=repr(exc))

    async def close(self) -> None:
        """Wait until every event sent so far is published."""
        await asyncio.sleep(0)  # let calls scheduled from threads just before land first
        if self._tail is not None:
            await self._tail


def reporter(bus: Any, api_id: str | None, stage: str, resource_uuid: str | None = None) -> ProgressReporter | None:
    """A reporter for `api_id`, or None when no API waits for this work."""
    return None if not api_id else ProgressReporter(bus, api_id, stage, resource_uuid)


def _in_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


async def report(progress: Progress | None, percent: int) -> None:
    """Call a driver's `progress` callback (sync or async) from the event loop."""
    if progress is None:
        return
    result = progress(percent)
    if inspect.isawaitable(result):
        await result


def from_thread(progress: Progress | None) -> Callable[[int], None] | None:
    """`progress` made callable from a worker thread (an async callback runs on this loop)."""
    if progress is None:
        return None
    if isinstance(progress, ProgressReporter):
        return progress
    loop = asyncio.get_running_loop()

    def call(percent: int) -> None:
        if inspect.iscoroutinefunction(progress):
            asyncio.run_coroutine_threadsafe(progress(percent), loop)
        else:
            loop.call_soon_threadsafe(progress, percent)

    return call
