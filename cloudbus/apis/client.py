"""The Python client: call cloudbus APIs as an AMQP message client (or in-process).

    async with Client("amqp://guest:guest@127.0.0.1/") as c:
        zone = await c.call(CreateZone(name="z1"))          # the inventory, or raises ApiError
        reply = await c.request(QueryZone())                # the whole Reply

With a `bus` instead of a URL the client uses that bus (e.g. the LocalBus of an embedded
node). The client never imports a service: it only sends API messages to `api.portal`.
"""

from __future__ import annotations

from typing import Any

from cloudbus.core.bus import Bus
from cloudbus.core.errors import CloudBusError, ErrorCode
from cloudbus.core.messages import APIMessage, Reply

PORTAL = "api.portal"


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
        return await self.bus.call(msg, service=PORTAL, timeout=timeout or self.timeout)

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
