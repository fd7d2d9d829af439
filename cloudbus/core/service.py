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

A service reaches its world through `self.node` (database, bus, drivers, settings).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from cloudbus.core import errors
from cloudbus.core.logging import bound, get_logger
from cloudbus.core.messages import Message, Reply
from cloudbus.core.sync import ChainQueues

log = get_logger(__name__)

Handler = Callable[[Any, Any], Awaitable[Any]]


def handles(*message_types: type[Message], chain: bool = True) -> Callable[[Handler], Handler]:
    """Declare a method as the handler of `message_types`.

    `chain=False` opts out of the per-resource chain queue (for read-only or batch messages).
    """

    def mark(fn: Handler) -> Handler:
        fn.__handles__ = (message_types, chain)  # type: ignore[attr-defined]
        return fn

    return mark


class Service:
    service_id: ClassVar[str] = ""
    handlers: ClassVar[dict[type[Message], tuple[str, bool]]] = {}

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
        """Called when the node shuts down."""

    def handler_for(self, msg_type: type[Message]) -> tuple[str, bool] | None:
        for cls in msg_type.__mro__:
            if cls in self.handlers:
                return self.handlers[cls]
        return None

    async def handle(self, msg: Message, msg_id: str) -> Reply:
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
        with bound(msg_id=msg_id, msg=msg.message_name(), resource_uuid=resource, service=self.service_id):
            if chain and resource:
                async with self.chains.run_in(f"{self.service_id}-{resource}"):
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
