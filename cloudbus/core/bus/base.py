"""The transport-independent part of the bus: interface, timeouts, deadlines, topic matching."""

from __future__ import annotations

import abc
import asyncio
import contextvars
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from cloudbus.core import errors
from cloudbus.core.ids import new_uuid
from cloudbus.core.messages import Event, Message, Reply
from cloudbus.core.ring import HashRing

# Absolute deadline (time.time()) of the message being handled in this task; calls made
# while handling it inherit what is left of it.
current_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("deadline", default=None)


EventHandler = Callable[[Event], Awaitable[None]]


class Endpoint(Protocol):
    """What the bus delivers to: a service as the bus sees it."""

    service_id: str

    async def handle(self, msg: Message, msg_id: str) -> Reply: ...


class Subscription(Protocol):
    async def cancel(self) -> None: ...


class Bus(abc.ABC):
    """Interface shared by LocalBus and AmqpBus (see the package docstring)."""

    # in-process only (LocalBus): every caller is code of this process, nothing crosses a broker
    embedded = False
    # a management node's: requests between nodes are signed with it (core/envelope.py); a
    # bus without one (a client's) signs nothing and checks nothing
    secret: bytes | None = None

    def __init__(self, *, node_uuid: str | None = None, default_timeout: float = 1800.0) -> None:
        self.node_uuid = node_uuid or new_uuid()
        self.default_timeout = default_timeout
        self.endpoints: dict[str, Endpoint] = {}
        # The ring of live management nodes; None on a bus with one node (LocalBus).
        self.ring: HashRing | None = None

    def owner(self, uuid: str | None) -> str | None:
        """The node that owns `uuid` on the ring (None: no ring, or no uuid)."""
        if uuid is None or self.ring is None:
            return None
        return self.ring.owner(uuid)

    def set_ring(self, ring: HashRing) -> None:
        """Adopt a new membership; calls waiting on nodes that left are answered SYS.1012."""
        self.ring = ring

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Connect / declare what the transport needs."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections; pending calls fail."""

    async def register(self, endpoint: Endpoint) -> None:
        if endpoint.service_id in self.endpoints:
            raise ValueError(f"service[{endpoint.service_id}] is already registered on this bus")
        self.endpoints[endpoint.service_id] = endpoint

    @abc.abstractmethod
    async def call(
        self, msg: Message, *, service: str | None = None, timeout: float | None = None, msg_id: str | None = None
    ) -> Reply:
        """Send `msg` to `service` (default: `msg.service_id`) and wait for its reply.

        `msg_id` names the message (a client retrying a call passes the same id again: the
        receiving service runs a message with a given id at most once).
        """

    @abc.abstractmethod
    async def send(self, msg: Message, *, service: str | None = None) -> None:
        """Send without waiting for a reply."""

    @abc.abstractmethod
    async def publish(self, event: Event) -> None: ...

    @abc.abstractmethod
    async def subscribe(self, pattern: str, handler: EventHandler) -> Subscription: ...

    async def call_ok(self, msg: Message, *, service: str | None = None, timeout: float | None = None) -> Reply:
        """`call`, raising CloudBusError if the reply failed."""
        return (await self.call(msg, service=service, timeout=timeout)).raise_for_error()

    def timeout_for(self, msg: Message, timeout: float | None = None) -> float:
        """Seconds to wait for `msg`'s reply."""
        if timeout is not None:
            return timeout
        if msg.timeout is not None and msg.timeout > 0:
            return msg.timeout / 1000.0
        deadline = current_deadline.get()
        if deadline is not None:
            return max(deadline - time.time(), 0.001)
        return self.default_timeout


def timeout_reply(msg: Message, msg_id: str, seconds: float) -> Reply:
    return Reply.failure(
        errors.err(
            errors.TIMEOUT,
            f"message[name:{msg.message_name()}, id:{msg_id}] timeout after {seconds:g} seconds",
        )
    )


def no_service_reply(msg: Message, service: str) -> Reply:
    return Reply.failure(
        errors.err(
            errors.UNKNOWN_MESSAGE,
            f"no service[{service}] is registered to handle message[{msg.message_name()}]",
        )
    )


def topic_matches(pattern: str, name: str) -> bool:
    """AMQP topic matching: `*` is exactly one word, `#` zero or more words."""
    return _match(pattern.split("."), name.split("."))


def _match(pattern: list[str], words: list[str]) -> bool:
    if not pattern:
        return not words
    head, rest = pattern[0], pattern[1:]
    if head == "#":
        return any(_match(rest, words[i:]) for i in range(len(words) + 1))
    if not words:
        return False
    return (head == "*" or head == words[0]) and _match(rest, words[1:])


async def wait_reply(task: asyncio.Future[Reply], msg: Message, msg_id: str, seconds: float) -> Reply:
    """Wait for a handler's reply without cancelling it on timeout (it keeps running)."""
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        return timeout_reply(msg, msg_id, seconds)
    return task.result()
