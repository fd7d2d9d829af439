"""AmqpBus: the bus over RabbitMQ (aio-pika), for clouds of several management nodes.

Same semantics as LocalBus (see the package docstring); this module owns the broker topology,
the wire envelope's use (`cloudbus.core.envelope`) and what happens on failures.

Topology, all names prefixed by the bus `namespace` (default `cloudbus`):

- `<ns>.service.<service_id>`: one queue per service, shared by every node serving it
  (competing consumers: RabbitMQ hands each message to one of them). **Transient and
  auto-delete**: a queue exists exactly while some node consumes it, so a call to a service
  nobody serves is unroutable; requests are published with `mandatory=True`, the broker returns
  them at once and the caller gets SYS.1008 instead of waiting out its timeout. Durable
  queues would instead pile up requests for a dead service whose callers already gave up.
- `<ns>.node.<node_uuid>`: this node's own queue (exclusive, auto-delete). A message about an
  existing resource goes to the node owning the resource's uuid on the ring of live nodes
  (`Bus.ring`, kept by the management-node service); when that is this node it stays
  in-process. A node that receives a message for a uuid it no longer owns (the ring changed
  while it travelled) forwards it, up to `MAX_HOPS` times.
- `<ns>.reply.<node_uuid>`: this bus's exclusive reply queue (`reply_to` of every call;
  replies are matched by `correlation_id`). Chosen over direct reply-to
  (`amq.rabbitmq.reply-to`) because both measure the same here (~1k RPC/s at 100 in flight,
  see docs/performance.md) and a named queue is re-declared cleanly by the robust channel.
- `<ns>.events`: a transient topic exchange; each subscription is an exclusive auto-delete
  queue bound with the subscription pattern (AMQP `*`/`#` wildcards).

Delivery:

- A call to a service registered on *this* bus object never crosses the broker: it runs in
  its own task exactly as on LocalBus.
- Remote requests carry an absolute deadline (also the AMQP `expiration`, so a request
  nobody picked up in time is dropped by the broker). The handler runs in its own task with
  `current_deadline` set from the envelope; requests whose deadline has already passed are
  acknowledged and dropped unhandled (their caller has been answered SYS.1001).
- Acknowledgement comes after handling and replying (prefetch bounds in-flight handlers
  per node). So a node that dies or stops mid-handling gets its unacked requests redelivered
  to another node serving the service: at-least-once for that crash window, and the caller
  still gets the (second) reply because `reply_to`/`correlation_id` travel with the message.
  Handlers of non-idempotent messages rely on DB constraints / chain queues, as on ZStack.
- Nothing is persistent: a broker restart loses queued requests; their callers fail fast
  with SYS.1011 (pending calls are failed when the connection drops, since their replies
  would go to a reply queue that no longer exists); clients retry with the same message id.
- A node that leaves the ring (dead or stopped) takes its queue with it: a request it held
  is sent again, with the same id, to the uuid's new owner when the message is executed at
  most once (API messages: the new owner returns the recorded outcome or waits for the
  takeover to settle it); any other request is answered SYS.1012.

Channels: requests and events are published on a channel with publisher confirms, because
aiormq reports a returned (unroutable) message only to a publish awaiting its confirm; that is
how SYS.1008 is detected. Replies go out on a second channel without confirms (nothing to
learn from them, and the request is acked right after). Both channels measured ~85-90 % of raw
aio-pika RPC (docs/performance.md).

Robustness: `connect_robust` reconnects and the robust channel re-declares queues,
bindings and consumers; a publish made while reconnecting waits for the restored channel
within the caller's timeout. Every await on the broker has a timeout. A bad or unknown
message is answered with an error reply; no exception ever stops a consumer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import (
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractQueue,
    AbstractRobustChannel,
    AbstractRobustConnection,
)

from cloudbus.core import errors
from cloudbus.core.auth import NO_PERMISSION, PORTAL, Caller, Credentials, current_caller, current_credentials
from cloudbus.core.bus.base import (
    Bus,
    Endpoint,
    EventHandler,
    current_deadline,
    no_service_reply,
    timeout_reply,
)
from cloudbus.core.envelope import CONTENT_TYPE, Envelope, decode
from cloudbus.core.ids import new_uuid
from cloudbus.core.logging import get_logger
from cloudbus.core.messages import Event, Message, Reply, build, message_class
from cloudbus.core.pending import settle_pending_write
from cloudbus.core.ring import HashRing

log = get_logger(__name__)

MAX_HOPS = 3
# The answer a pending call gets when the node holding its request left the ring.
_NODE_LEFT = Reply.failure(
    errors.err(errors.NODE_UNAVAILABLE, "the management node handling the message left the cluster")
)


class _AmqpSubscription:
    def __init__(self, bus: AmqpBus, queue: AbstractQueue, tag: str) -> None:
        self.bus, self.queue, self.tag = bus, queue, tag

    async def cancel(self) -> None:
        await self.bus._cancel_subscription(self)


class AmqpBus(Bus):
    def __init__(
        self,
        url: str,
        *,
        namespace: str = "cloudbus",
        node_uuid: str | None = None,
        default_timeout: float = 1800.0,
        prefetch: int = 256,
        op_timeout: float = 10.0,
        connect_timeout: float = 30.0,
        drain_timeout: float = 5.0,
        reconnect_interval: float = 1.0,
    ) -> None:
        super().__init__(node_uuid=node_uuid, default_timeout=default_timeout)
        self.url = url
        self.namespace = namespace
        self.prefetch = prefetch
        self.op_timeout = op_timeout  # declare/bind/consume/cancel and fire-and-forget publishes
        self.connect_timeout = connect_timeout
        self.drain_timeout = drain_timeout  # how long close() lets in-flight handlers finish
        self.reconnect_interval = reconnect_interval
        self.reply_queue = f"{namespace}.reply.{self.node_uuid}"
        self._connection: AbstractRobustConnection | None = None
        self._channel: AbstractRobustChannel | None = None
        self._replies: AbstractRobustChannel | None = None  # confirms off: replies need no return check
        self._events: AbstractExchange | None = None
        self._pending: dict[str, tuple[asyncio.Future[Reply], Message, str | None]] = {}  # id -> (, , node)
        self._ring_changed = asyncio.Event()
        self._service_consumers: list[tuple[AbstractQueue, str]] = []
        self._tasks: set[asyncio.Task[Any]] = set()  # local deliveries and event handlers
        self._handling: set[asyncio.Task[Any]] = set()  # requests from the broker being handled

    def service_queue(self, service_id: str) -> str:
        return f"{self.namespace}.service.{service_id}"

    def node_queue(self, node_uuid: str) -> str:
        return f"{self.namespace}.node.{node_uuid}"

    def set_ring(self, ring: HashRing) -> None:
        gone = self.ring.members - ring.members if self.ring is not None else frozenset()
        super().set_ring(ring)
        self._ring_changed.set()
        self._ring_changed = asyncio.Event()
        for future, _msg, node in list(self._pending.values()):
            if node in gone and not future.done():
                future.set_result(_NODE_LEFT)

    def _remote_owner(self, msg: Message) -> str | None:
        """The node to send `msg` to, or None when it is handled here (or by any node)."""
        node = self.owner(msg.resource_uuid())
        return None if node == self.node_uuid else node

    @property
    def events_exchange(self) -> str:
        return f"{self.namespace}.events"

    # --- lifecycle -------------------------------------------------------------------

    async def start(self) -> None:
        self._connection = await asyncio.wait_for(
            aio_pika.connect_robust(
                self.url,
                timeout=self.connect_timeout,
                reconnect_interval=self.reconnect_interval,
                client_properties={"connection_name": f"cloudbus-{self.namespace}-{self.node_uuid}"},
            ),
            self.connect_timeout,
        )
        try:
            await self._declare()
        except BaseException:
            await self.close()
            raise
        log.info("amqp bus started", namespace=self.namespace, node=self.node_uuid)

    async def _declare(self) -> None:
        assert self._connection is not None
        self._connection.close_callbacks.add(self._on_connection_lost)
        # Publisher confirms on: aiormq only reports a returned (unroutable, mandatory)
        # message to a publish awaiting its confirm; that is how SYS.1008 is detected.
        channel = self._connection.channel(publisher_confirms=True)
        await asyncio.wait_for(channel.initialize(), self.op_timeout)
        self._channel = channel  # type: ignore[assignment]
        await channel.set_qos(prefetch_count=self.prefetch, timeout=self.op_timeout)
        replies_channel = self._connection.channel(publisher_confirms=False)
        await asyncio.wait_for(replies_channel.initialize(), self.op_timeout)
        self._replies = replies_channel  # type: ignore[assignment]
        self._events = await channel.declare_exchange(
            self.events_exchange, aio_pika.ExchangeType.TOPIC, durable=False, timeout=self.op_timeout
        )
        replies = await channel.declare_queue(
            self.reply_queue, exclusive=True, auto_delete=True, timeout=self.op_timeout
        )
        await replies.consume(self._on_reply, no_ack=True, timeout=self.op_timeout)
        mine = await channel.declare_queue(
            self.node_queue(self.node_uuid), exclusive=True, auto_delete=True, timeout=self.op_timeout
        )

        async def on_node_request(message: AbstractIncomingMessage) -> None:
            self._track(self._handling, self._handle_request(None, message))

        self._service_consumers.append((mine, await mine.consume(on_node_request, timeout=self.op_timeout)))
        for endpoint in self.endpoints.values():
            await self._consume(endpoint)

    async def register(self, endpoint: Endpoint) -> None:
        await super().register(endpoint)
        if self._channel is not None:
            await self._consume(endpoint)

    async def _consume(self, endpoint: Endpoint) -> None:
        assert self._channel is not None
        queue = await self._channel.declare_queue(
            self.service_queue(endpoint.service_id), durable=False, auto_delete=True, timeout=self.op_timeout
        )

        async def on_request(message: AbstractIncomingMessage) -> None:
            self._track(self._handling, self._handle_request(endpoint, message))

        tag = await queue.consume(on_request, timeout=self.op_timeout)
        self._service_consumers.append((queue, tag))

    async def close(self) -> None:
        for queue, tag in self._service_consumers:
            await self._quietly(queue.cancel(tag, timeout=self.op_timeout), "cancel consumer")
        self._service_consumers.clear()
        # Let in-flight requests finish and ack; whatever is still running after the drain
        # time is cancelled and, unacked, redelivered by the broker to another node.
        if self._handling:
            await asyncio.wait(set(self._handling), timeout=self.drain_timeout)
        for task in (*self._handling, *self._tasks):
            task.cancel()
        if self._handling or self._tasks:
            await asyncio.gather(*self._handling, *self._tasks, return_exceptions=True)
        self._fail_pending("the bus was closed before the reply arrived")
        if self._connection is not None:
            await self._quietly(self._connection.close(), "close connection")
        self._connection, self._channel, self._replies, self._events = None, None, None, None

    # --- request / reply -------------------------------------------------------------

    async def call(
        self, msg: Message, *, service: str | None = None, timeout: float | None = None, msg_id: str | None = None
    ) -> Reply:
        await settle_pending_write()
        target = service or msg.service_id
        seconds = self.timeout_for(msg, timeout)
        msg_id = msg_id or new_uuid()
        deadline = time.time() + seconds
        while True:
            node = self._remote_owner(msg)
            endpoint = self.endpoints.get(target)
            if node is None and endpoint is not None:
                return await self._call_local(endpoint, msg, msg_id, deadline, seconds)
            reply = await self._call_remote(msg, msg_id, target, node, deadline, seconds)
            if reply is None:  # the owner's queue is gone: wait for the ring to drop it, then again
                if not await self._wait_ring_change(deadline):
                    return Reply.failure(
                        errors.err(
                            errors.NODE_UNAVAILABLE, f"management node[uuid:{node}] owning the resource is unreachable"
                        )
                    )
                continue
            if reply is _NODE_LEFT and msg.exactly_once and time.time() < deadline:
                continue  # the new owner returns the recorded outcome, or waits for the takeover's
            return reply

    async def _call_remote(
        self, msg: Message, msg_id: str, target: str, node: str | None, deadline: float, seconds: float
    ) -> Reply | None:
        """One try through the broker; None when `node`'s queue does not exist (any more).

        Replies are matched on a correlation id of this try, not on the message id: the same
        message may be in flight twice (a retry, or a client sending one id twice)."""
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        correlation = new_uuid()
        self._pending[correlation] = (future, msg, node)
        try:
            envelope = self._request(msg, msg_id, "call", target, deadline)
            queue = self.node_queue(node) if node else self.service_queue(target)
            published = await self._publish_request(
                envelope, queue, msg_id, deadline, reply_to=self.reply_queue, correlation_id=correlation
            )
            if not published:
                return None if node else no_service_reply(msg, target)
            done, _ = await asyncio.wait({future}, timeout=max(deadline - time.time(), 0))
            return future.result() if done else timeout_reply(msg, msg_id, seconds)
        except TimeoutError:
            return timeout_reply(msg, msg_id, seconds)
        except Exception as exc:
            return Reply.failure(
                errors.err(errors.UNDELIVERABLE, f"cannot send message[{msg.message_name()}]: {exc!r}")
            )
        finally:
            self._pending.pop(correlation, None)

    async def _wait_ring_change(self, deadline: float) -> bool:
        """Wait (at most 1 s, never past `deadline`) for a new ring; False once out of time."""
        left = deadline - time.time()
        if left <= 0:
            return False
        changed = self._ring_changed
        try:
            await asyncio.wait_for(changed.wait(), min(left, 1.0))
        except TimeoutError:
            pass
        return time.time() < deadline

    async def _call_local(
        self, endpoint: Endpoint, msg: Message, msg_id: str, deadline: float, seconds: float
    ) -> Reply:
        task = self._track(self._tasks, self._deliver(endpoint, msg, msg_id, deadline))
        done, _ = await asyncio.wait({task}, timeout=seconds)
        return task.result() if done else timeout_reply(msg, msg_id, seconds)

    @staticmethod
    async def _deliver(endpoint: Endpoint, msg: Message, msg_id: str, deadline: float | None) -> Reply:
        current_deadline.set(deadline)
        return await endpoint.handle(msg, msg_id)

    async def send(self, msg: Message, *, service: str | None = None) -> None:
        await settle_pending_write()
        target = service or msg.service_id
        msg_id = new_uuid()
        deadline = time.time() + self.timeout_for(msg)
        node = self._remote_owner(msg)
        endpoint = self.endpoints.get(target)
        if node is None and endpoint is not None:
            self._track(self._tasks, self._deliver(endpoint, msg, msg_id, deadline))
            return
        envelope = self._request(msg, msg_id, "send", target, deadline)
        queue = self.node_queue(node) if node else self.service_queue(target)
        try:
            if not await self._publish_request(envelope, queue, msg_id, min(deadline, time.time() + self.op_timeout)):
                log.warning("message dropped: no service", service=target, message=msg.message_name())
        except Exception as exc:
            log.warning("message dropped: cannot publish", service=target, message=msg.message_name(), error=repr(exc))

    def _request(self, msg: Message, msg_id: str, kind: str, target: str, deadline: float) -> Envelope:
        envelope = Envelope(kind, msg_id, msg.message_name(), msg.body(), target, round(deadline, 3), self.node_uuid)
        credentials, caller = current_credentials.get(), current_caller.get()
        if credentials is not None:
            envelope.auth = credentials.to_json()
        if caller is not None:
            envelope.caller = caller.to_json()
        return envelope

    async def _publish_request(
        self,
        envelope: Envelope,
        queue: str,
        msg_id: str,
        deadline: float,
        *,
        reply_to: str | None = None,
        correlation_id: str | None = None,
    ) -> bool:
        """Publish a request to `queue`; False if the broker returned it (no such queue)."""
        message = aio_pika.Message(
            envelope.encode(self.secret),
            content_type=CONTENT_TYPE,
            correlation_id=correlation_id or msg_id,
            message_id=msg_id,
            reply_to=reply_to,
            type=envelope.name,
            expiration=max(deadline - time.time(), 0.001),
        )
        return await self._publish(self._channel, lambda ch: ch.default_exchange, message, queue, deadline, True)

    async def _publish(
        self,
        channel: AbstractRobustChannel | None,
        exchange: Callable[[AbstractRobustChannel], AbstractExchange],
        message: aio_pika.Message,
        routing_key: str,
        deadline: float,
        mandatory: bool,
    ) -> bool:
        """Publish, waiting (until `deadline`) for the channel if the broker is reconnecting.

        Returns False if the broker returned the (mandatory) message as unroutable.
        """

        async with asyncio.timeout_at(asyncio.get_running_loop().time() + max(deadline - time.time(), 0.001)):
            while True:
                if channel is None:
                    raise aiormq.exceptions.ChannelInvalidStateError("the bus is not started")
                await channel.ready()
                try:
                    result = await exchange(channel).publish(message, routing_key, mandatory=mandatory)
                    return not isinstance(result, aiormq.abc.DeliveredMessage)
                except aiormq.exceptions.ChannelInvalidStateError:
                    # The connection dropped between ready() and publish: nothing was sent.
                    await asyncio.sleep(0.05)

    async def _on_reply(self, message: AbstractIncomingMessage) -> None:
        entry = self._pending.get(message.correlation_id or "")
        if entry is None:
            log.debug("late or unknown reply dropped", correlation_id=message.correlation_id)
            return
        future, msg, _ = entry
        try:
            reply = Reply.model_validate(decode(message.body).body)
        except errors.CloudBusError as exc:
            reply = Reply.failure(exc.error)
        except Exception as exc:
            reply = Reply.failure(errors.err(errors.INTERNAL, f"malformed reply to {msg.message_name()}: {exc}"))
        if not future.done():
            future.set_result(reply)

    def _on_connection_lost(self, _sender: Any, exc: BaseException | None = None) -> None:
        if self._pending:
            log.warning("broker connection lost; failing pending calls", pending=len(self._pending), error=repr(exc))
        self._fail_pending("the connection to the message broker was lost before the reply arrived")

    def _fail_pending(self, why: str) -> None:
        for future, msg, _ in list(self._pending.values()):
            if not future.done():
                future.set_result(
                    Reply.failure(errors.err(errors.UNDELIVERABLE, f"message[{msg.message_name()}]: {why}"))
                )

    # --- consuming side --------------------------------------------------------------

    async def _handle_request(self, endpoint: Endpoint | None, message: AbstractIncomingMessage) -> None:
        """Decode, handle and reply to one request; every failure becomes an error reply.

        `endpoint` is None for this node's own queue: the envelope names the service.
        """
        envelope: Envelope | None = None
        reply: Reply | None = None
        try:
            envelope = decode(message.body, self.secret)
            if envelope.deadline is not None and envelope.deadline < time.time():
                log.info("expired request dropped", message=envelope.name, msg_id=envelope.id)
            else:
                reply = await self._dispatch(endpoint, envelope, message)
        except errors.CloudBusError as exc:
            reply = Reply.failure(exc.error)
        except Exception as exc:  # a consumer must outlive any bad message or handler
            log.exception("request failed", service=endpoint.service_id if endpoint else None)
            reply = Reply.failure(errors.err(errors.INTERNAL, f"{type(exc).__name__}: {exc}"))
        if reply is not None and message.reply_to:
            await self._quietly(self._reply(message, envelope, reply), "reply")
        await self._quietly(message.ack(), "ack")

    async def _dispatch(
        self, endpoint: Endpoint | None, envelope: Envelope, message: AbstractIncomingMessage
    ) -> Reply | None:
        if envelope.kind not in ("call", "send"):
            raise errors.invalid_argument(f"a service queue takes call or send envelopes, not {envelope.kind}")
        target = endpoint.service_id if endpoint is not None else envelope.service
        if self.secret is not None and not envelope.signed and target != PORTAL:
            raise errors.fail(
                NO_PERMISSION,
                f"service[{target}] takes only requests signed by a management node of this cloud: "
                f"clients send to {PORTAL}",
            )
        cls = message_class(envelope.name)
        if cls is None:
            raise errors.fail(errors.UNKNOWN_MESSAGE, f"no message[{envelope.name}] is known to this node")
        msg = build(cls, envelope.body)
        if endpoint is None:
            endpoint = self.endpoints.get(envelope.service or "")
            if endpoint is None:
                return no_service_reply(msg, envelope.service or "?")
            owner = self._remote_owner(msg)
            if owner is not None and envelope.hops < MAX_HOPS and await self._forward(envelope, message, owner):
                return None  # the new owner answers the caller directly
        msg_id = envelope.id or message.correlation_id or new_uuid()
        current_credentials.set(Credentials.from_json(envelope.auth))
        # only the portal turns credentials into a caller: one claimed to it is ignored
        current_caller.set(None if endpoint.service_id == PORTAL else Caller.from_json(envelope.caller))
        return await self._deliver(endpoint, msg, msg_id, envelope.deadline)

    async def _forward(self, envelope: Envelope, message: AbstractIncomingMessage, owner: str) -> bool:
        """Pass a request for a uuid this node no longer owns to its owner; False if it is gone."""
        envelope.hops += 1
        deadline = envelope.deadline or self._op_deadline()
        log.info("request forwarded to the owner", message=envelope.name, owner=owner, hops=envelope.hops)
        return await self._publish_request(
            envelope,
            self.node_queue(owner),
            envelope.id,
            deadline,
            reply_to=message.reply_to,
            correlation_id=message.correlation_id,
        )

    async def _reply(self, request: AbstractIncomingMessage, envelope: Envelope | None, reply: Reply) -> None:
        msg_id = envelope.id if envelope else request.correlation_id or ""
        name = envelope.name if envelope else request.type or ""
        message = aio_pika.Message(
            Envelope("reply", msg_id, name, reply.to_json()).encode(),
            content_type=CONTENT_TYPE,
            correlation_id=request.correlation_id or msg_id,
        )
        assert request.reply_to is not None
        # Not mandatory: a caller that went away simply never reads its reply.
        await self._publish(
            self._replies, lambda ch: ch.default_exchange, message, request.reply_to, self._op_deadline(), False
        )

    # --- events ----------------------------------------------------------------------

    async def publish(self, event: Event) -> None:
        message = aio_pika.Message(
            Envelope("event", new_uuid(), event.name, event.data, node=self.node_uuid).encode(self.secret),
            content_type=CONTENT_TYPE,
        )
        try:
            await self._publish(self._channel, self._events_of, message, event.name, self._op_deadline(), False)
        except Exception as exc:
            log.warning("event dropped: cannot publish", event=event.name, error=repr(exc))

    def _events_of(self, _channel: AbstractRobustChannel) -> AbstractExchange:
        assert self._events is not None, "the bus is not started"
        return self._events

    async def subscribe(self, pattern: str, handler: EventHandler) -> _AmqpSubscription:
        assert self._channel is not None and self._events is not None, "start() the bus before subscribing"
        name = f"{self.namespace}.events.{self.node_uuid}.{new_uuid()[:12]}"
        queue = await self._channel.declare_queue(name, exclusive=True, auto_delete=True, timeout=self.op_timeout)
        await queue.bind(self._events, routing_key=pattern, timeout=self.op_timeout)

        async def on_event(message: AbstractIncomingMessage) -> None:
            try:
                envelope = decode(message.body, self.secret)
            except errors.CloudBusError as exc:
                log.warning("malformed event dropped", error=exc.error.details)
                return
            if self.secret is not None and not envelope.signed:
                log.warning("unsigned event dropped: only management nodes publish events", event=envelope.name)
                return
            self._track(self._tasks, self._notify(handler, Event(name=envelope.name, data=envelope.body)))

        tag = await queue.consume(on_event, no_ack=True, timeout=self.op_timeout)
        return _AmqpSubscription(self, queue, tag)

    @staticmethod
    async def _notify(handler: EventHandler, event: Event) -> None:
        try:
            await handler(event)
        except Exception:
            log.exception("event handler failed", event=event.name)

    async def _cancel_subscription(self, sub: _AmqpSubscription) -> None:
        await self._quietly(sub.queue.cancel(sub.tag, timeout=self.op_timeout), "cancel subscription")
        if self._channel is not None:
            # Through the channel, so the robust channel forgets it and won't restore it.
            await self._quietly(self._channel.queue_delete(sub.queue.name, timeout=self.op_timeout), "delete queue")

    # --- helpers ---------------------------------------------------------------------

    def _op_deadline(self) -> float:
        return time.time() + self.op_timeout

    def _track(self, tasks: set[asyncio.Task[Any]], coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        tasks.add(task)
        task.add_done_callback(tasks.discard)
        return task

    async def _quietly(self, coro: Coroutine[Any, Any, Any], what: str) -> None:
        """Await a broker operation (bounded by `op_timeout`) whose failure is logged, not raised."""
        try:
            async with asyncio.timeout(self.op_timeout):
                await coro
        except Exception as exc:
            log.warning("broker operation failed", operation=what, error=repr(exc))
