"""The Python client: call cloudbus APIs as an AMQP message client (or in-process).

    async with Client("amqp://guest:guest@127.0.0.1/") as c:
        zone = await c.call(CreateZone(name="z1"))          # the inventory, or raises ApiError
        reply = await c.request(QueryZone())                # the whole Reply

With a `bus` instead of a URL the client uses that bus (e.g. the LocalBus of an embedded
node). The client never imports a service: it only sends API messages to `api.portal`.

A call whose connection to the broker was lost (SYS.1011: the reply can no longer arrive)
is sent again with the same message id until the call's timeout, once the connection is
back (and while the nodes re-declare their queues on a restarted broker: SYS.1008). The
cloud runs an API message at most once per id, so the retry gets the outcome of the first
attempt (or runs it, if the first never arrived): a user is never told that a call which
succeeded failed.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from cloudbus.core import errors
from cloudbus.core.bus import Bus
from cloudbus.core.errors import CloudBusError, ErrorCode
from cloudbus.core.ids import new_uuid
from cloudbus.core.messages import APIMessage, Reply

PORTAL = "api.portal"
RETRY_PAUSE = 0.5


class ApiError(CloudBusError):
    """An API call answered with `success: false`; `.error` is the ErrorCode."""

    def __init__(self, error: ErrorCode, reply: Reply) -> None:
        super().__init__(error)
        self.reply = reply


class Client:
    def __init__(
        self, url: str | None = None, *, bus: Bus | None = None, timeout: float | None = None, **bus_options: Any
    ) -> None:
        if url is None and bus is None:
            raise ValueError("Client needs an amqp:// url or a bus")
        self.url = url
        self.bus = bus
        self.timeout = timeout
        self._owns_bus = bus is None
        self.bus_options = bus_options

    async def __aenter__(self) -> Client:
        if self.bus is None:
            from cloudbus.node import make_bus

            self.bus = make_bus(self.url, **self.bus_options)
            await self.bus.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._owns_bus and self.bus is not None:
            await self.bus.close()
            self.bus = None

    async def request(self, msg: APIMessage, *, timeout: float | None = None) -> Reply:
        assert self.bus is not None, "use 'async with Client(...)'"
        seconds = timeout or self.timeout or self.bus.timeout_for(msg)
        deadline = time.monotonic() + seconds
        msg_id, retrying = new_uuid(), (errors.UNDELIVERABLE,)
        while True:
            left = deadline - time.monotonic()
            reply = await self.bus.call(msg, service=PORTAL, timeout=max(left, 0.001), msg_id=msg_id)
            code = reply.error.code if not reply.success and reply.error is not None else None
            if code not in retrying or deadline - time.monotonic() <= RETRY_PAUSE:
                return reply
            # after a lost connection, "no portal" only means the nodes have not re-declared
            # their queues on the restarted broker yet
            retrying = (errors.UNDELIVERABLE, errors.UNKNOWN_MESSAGE)
            await asyncio.sleep(RETRY_PAUSE)

    async def call(self, msg: APIMessage, *, timeout: float | None = None) -> Any:
        """The payload of a successful reply: `inventory`, `inventories` (or `total` for count)."""
        reply = await self.request(msg, timeout=timeout)
        if not reply.success:
            raise ApiError(reply.error or ErrorCode(code="SYS.1000"), reply)
        if reply.inventory is not None:
            return reply.inventory
        if reply.inventories is not None:
            return reply.inventories
        return reply.total
