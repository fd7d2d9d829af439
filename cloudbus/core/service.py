"""The service framework: a service is a class with an id and declared handlers.

    class ZoneService(Service):
        service_id = "zone"

        @handles(CreateZone)
        async def create(self, msg: CreateZone) -> dict: ...

The framework owns the plumbing around a handler: it finds the handler by message type
(most specific class first), runs messages that concern one resource in that resource's
chain queue (`<service>-<uuid>`), binds the message id and resource uuid to the log
context, and turns the handler's result into a `Reply`: a dict is an `inventory`, a list
is `inventories`, a `Reply` is passed through, a raised `CloudBusError` is a failed
reply, and any other exception is logged and answered with `SYS.1000`.

Messages executed at most once (API messages but queries: `Message.exactly_once`) go through
the node's record of message ids (`node.records`): a message whose id was seen before is not
run again; its caller gets the recorded reply, or waits for the first run to finish. The
portal is exempt: it only forwards, under the same id.

A service reaches its world through `self.node` (database, bus, drivers, settings).
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from cloudbus.core import errors
from cloudbus.core.logging import bound, get_logger
from cloudbus.core.messages import Message, Reply
from cloudbus.core.sync import ChainQueues

log = get_logger(__name__)

Handler = Callable[[Any, Any], Awaitable[Any]]

# Id of the message being handled in this task (an API's id is its idempotency key).
current_message_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("message_id", default=None)
# Id of the API record the handler runs under (None when the message is not recorded):
# journals opened while handling it are settled together with that record.
current_record: contextvars.ContextVar[str | None] = contextvars.ContextVar("record", default=None)


def handles(
    *message_types: type[Message], chain: bool = True, record_late: bool = False
) -> Callable[[Handler], Handler]:
    """Declare a method as the handler of `message_types`.

    `chain=False` opts out of the per-resource chain queue (for read-only or batch messages).
    `record_late=True`: an exactly-once message's record is written by the handler's first
    write transaction (or before its first bus call) instead of by a transaction of its own
    before the handler runs. Only for handlers that change nothing but through the database
    and the bus (no driver call before their first write): a second delivery may repeat the
    reads before that write, then finds the record and waits for the first.
    """

    def mark(fn: Handler) -> Handler:
        fn.__handles__ = (message_types, chain)  # type: ignore[attr-defined]
        fn.__record_late__ = record_late  # type: ignore[attr-defined]
        return fn

    return mark


class Service:
    service_id: ClassVar[str] = ""
    handlers: ClassVar[dict[type[Message], tuple[str, bool]]] = {}
    records_messages: ClassVar[bool] = True  # False for a service that only forwards (the portal)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        table: dict[type[Message], tuple[str, bool]] = {}
        for base in reversed(cls.__mro__):
            for name, member in vars(base).items():
                declared = getattr(member, "__handles__", None)
                if declared:
                    types, chain = declared
                    for msg_type in types:
                        table[msg_type] = (name, chain)
        cls.handlers = table

    def __init__(self, node: Any) -> None:
        self.node = node
        self.chains: ChainQueues = node.chains if hasattr(node, "chains") else ChainQueues()

    @property
    def db(self) -> Any:
        return self.node.db

    @property
    def bus(self) -> Any:
        return self.node.bus

    async def start(self) -> None:
        """Called once the node's database and bus are up."""

    async def stop(self) -> None:
        """Called when the node shuts down, before the bus drains."""

    async def closed(self) -> None:
        """Called once the bus has drained, before the database closes."""

    def handler_for(self, msg_type: type[Message]) -> tuple[str, bool] | None:
        for cls in msg_type.__mro__:
            if cls in self.handlers:
                return self.handlers[cls]
        return None

    def chain(self, uuid: str) -> Any:
        """`async with self.chain(uuid):` runs the block in that resource's chain queue."""
        return self.chains.run_in(f"{self.service_id}-{uuid}")

    async def handle(self, msg: Message, msg_id: str) -> Reply:
        records = getattr(self.node, "records", None)
        if records is None or not self.records_messages or not msg.exactly_once:
            return await self._handle(msg, msg_id)
        found = self.handler_for(type(msg))
        late = found is not None and getattr(getattr(type(self), found[0]), "__record_late__", False)
        return await records.run_once(
            msg_id, msg.message_name(), lambda: self._handle(msg, msg_id, recorded=True), late=late
        )

    async def _handle(self, msg: Message, msg_id: str, *, recorded: bool = False) -> Reply:
        found = self.handler_for(type(msg))
        if found is None:
            return Reply.failure(
                errors.err(
                    errors.UNKNOWN_MESSAGE,
                    f"service[{self.service_id}] has no handler for message[{msg.message_name()}]",
                )
            )
        name, chain = found
        resource = msg.resource_uuid()
        current_message_id.set(msg_id)
        current_record.set(msg_id if recorded else None)
        with bound(msg_id=msg_id, msg=msg.message_name(), resource_uuid=resource, service=self.service_id):
            if chain and resource:
                async with self.chain(resource):
                    return await self._invoke(name, msg)
            return await self._invoke(name, msg)

    async def _invoke(self, name: str, msg: Message) -> Reply:
        try:
            result = await getattr(self, name)(msg)
        except errors.CloudBusError as exc:
            log.info("message failed", code=exc.error.code, details=exc.error.details)
            return Reply.failure(exc.error)
        except Exception as exc:
            log.exception("unhandled exception in handler")
            return Reply.failure(
                errors.err(
                    errors.INTERNAL,
                    f"unhandled exception happened when handling message[{msg.message_name()}]: "
                    f"{type(exc).__name__}: {exc}",
                )
            )
        return to_reply(result)


def to_reply(result: Any) -> Reply:
    if isinstance(result, Reply):
        return result
    if result is None:
        return Reply()
    if isinstance(result, dict):
        return Reply(inventory=result)
    if isinstance(result, list):
        return Reply(inventories=result)
    raise TypeError(f"a handler returned {type(result).__name__}; expected Reply, dict, list or None")
