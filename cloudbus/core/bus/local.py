"""LocalBus: every service in this process; delivery is a task per message.

Handlers run in their own task so a caller's timeout never cancels work half-way
(the same as a remote handler that keeps running after its caller gave up).
"""

from __future__ import annotations

import asyncio
import time

from cloudbus.core.bus.base import (
    Bus,
    EventHandler,
    current_deadline,
    no_service_reply,
    topic_matches,
    wait_reply,
)
from cloudbus.core.ids import new_uuid
from cloudbus.core.logging import get_logger
from cloudbus.core.messages import Event, Message, Reply
from cloudbus.core.pending import settle_pending_write

log = get_logger(__name__)


class _LocalSubscription:
    def __init__(self, bus: LocalBus, pattern: str, handler: EventHandler) -> None:
        self.bus, self.pattern, self.handler = bus, pattern, handler

    async def cancel(self) -> None:
        if self in self.bus.subscriptions:
            self.bus.subscriptions.remove(self)


class LocalBus(Bus):
    embedded = True

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.subscriptions: list[_LocalSubscription] = []
        self._tasks: set[asyncio.Task[object]] = set()

    def _spawn(self, coro: object) -> asyncio.Task[object]:
        task = asyncio.ensure_future(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def call(
        self, msg: Message, *, service: str | None = None, timeout: float | None = None, msg_id: str | None = None
    ) -> Reply:
        await settle_pending_write()
        target = service or msg.service_id
        endpoint = self.endpoints.get(target)
        if endpoint is None:
            return no_service_reply(msg, target)
        seconds = self.timeout_for(msg, timeout)
        msg_id = msg_id or new_uuid()
        task = self._spawn(self._deliver(endpoint, msg, msg_id, time.time() + seconds))
        return await wait_reply(task, msg, msg_id, seconds)  # type: ignore[arg-type]

    @staticmethod
    async def _deliver(endpoint: object, msg: Message, msg_id: str, deadline: float) -> Reply:
        current_deadline.set(deadline)
        return await endpoint.handle(msg, msg_id)  # type: ignore[attr-defined]

    async def send(self, msg: Message, *, service: str | None = None) -> None:
        await settle_pending_write()
        target = service or msg.service_id
        endpoint = self.endpoints.get(target)
        if endpoint is None:
            log.warning("message dropped: no service", service=target, message=msg.message_name())
            return
        self._spawn(self._deliver(endpoint, msg, new_uuid(), time.time() + self.timeout_for(msg)))

    async def publish(self, event: Event) -> None:
        for sub in list(self.subscriptions):
            if topic_matches(sub.pattern, event.name):
                self._spawn(self._notify(sub, event))

    @staticmethod
    async def _notify(sub: _LocalSubscription, event: Event) -> None:
        try:
            await sub.handler(event)
        except Exception:
            log.exception("event handler failed", event=event.name)

    async def subscribe(self, pattern: str, handler: EventHandler) -> _LocalSubscription:
        sub = _LocalSubscription(self, pattern, handler)
        self.subscriptions.append(sub)
        return sub

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
