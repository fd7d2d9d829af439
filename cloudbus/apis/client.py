"""The Python client: call cloudbus APIs as an AMQP message client (or in-process).

    async with Client("amqp://guest:guest@127.0.0.1/") as c:
        zone = await c.call(CreateZone(name="z1"))          # the inventory, or raises ApiError
        reply = await c.request(QueryZone())                # the whole Reply

With a `bus` instead of a URL the client uses that bus (e.g. the LocalBus of an embedded
node). The client never imports a service: it only sends API messages to `api.portal`.

Every API but the login family needs credentials over the broker (ID.1001 without):
`await c.log_in("admin", "password")` keeps the session and sends it with every later call
(`c.credentials`; `Client(url, credentials=Credentials(apikey=..., tenantId=...,
platformUserId=...))` calls with seed 000's API key instead).

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
from cloudbus.core.auth import PORTAL, Credentials, current_credentials
from cloudbus.core.bus import Bus
from cloudbus.core.errors import CloudBusError, ErrorCode
from cloudbus.core.ids import new_uuid
from cloudbus.core.messages import APIMessage, Reply

RETRY_PAUSE = 0.5


class ApiError(CloudBusError):
    """An API call answered with `success: false`; `.error` is the ErrorCode."""

    def __init__(self, error: ErrorCode, reply: Reply) -> None:
        super().__init__(error)
        self.reply = reply


class Client:
    def __init__(
        self,
        url: str | None = None,
        *,
        bus: Bus | None = None,
        timeout: float | None = None,
        credentials: Credentials | None = None,
        **bus_options: Any,
    ) -> None:
        if url is None and bus is None:
            raise ValueError("Client needs an amqp:// url or a bus")
        self.url = url
        self.bus = bus
        self.timeout = timeout
        self.credentials = credentials
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

    async def request(self, msg: APIMessage, *, timeout: float | None = None, msg_id: str | None = None) -> Reply:
        """The whole Reply. `msg_id` names the call: sending an id again (a retry) gets the first
        call's outcome instead of running it twice."""
        assert self.bus is not None, "use 'async with Client(...)'"
        seconds = timeout or self.timeout or self.bus.timeout_for(msg)
        deadline = time.monotonic() + seconds
        msg_id, retrying = msg_id or new_uuid(), (errors.UNDELIVERABLE,)
        while True:
            left = deadline - time.monotonic()
            reply = await self._send(msg, max(left, 0.001), msg_id)
            code = reply.error.code if not reply.success and reply.error is not None else None
            if code not in retrying or deadline - time.monotonic() <= RETRY_PAUSE:
                return reply
            # after a lost connection, "no portal" only means the nodes have not re-declared
            # their queues on the restarted broker yet
            retrying = (errors.UNDELIVERABLE, errors.UNKNOWN_MESSAGE)
            await asyncio.sleep(RETRY_PAUSE)

    async def _send(self, msg: APIMessage, timeout: float, msg_id: str) -> Reply:
        assert self.bus is not None
        token = current_credentials.set(self.credentials)
        try:
            return await self.bus.call(msg, service=PORTAL, timeout=timeout, msg_id=msg_id)
        finally:
            current_credentials.reset(token)

    async def log_in(self, account: str, password: str, *, user: str | None = None) -> dict[str, Any]:
        """LogInByAccount (or LogInByUser with `user`) with the password as typed; later calls
        carry the session. Returns the SessionInventory."""
        from cloudbus.apis.identity import LogInByAccount, LogInByUser
        from cloudbus.core.passwords import sha512_hex

        hashed = sha512_hex(password)
        msg: APIMessage = (
            LogInByAccount(accountName=account, password=hashed)
            if user is None
            else LogInByUser(accountName=account, userName=user, password=hashed)
        )
        session: dict[str, Any] = await self.call(msg)
        self.credentials = Credentials(session=session["uuid"])
        return session

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
