"""The bus contract (cloudbus.core.bus), run against LocalBus and AmqpBus alike.

Each test gets a `Buses` set: `serve` (where the test services live), `caller` and `other`.
On LocalBus they are one object; on AmqpBus they are separate bus objects in one namespace,
so every call in the contract tests crosses the broker as JSON. The AmqpBus params run with
`--backend=amqp` (CI runs both backends); in local mode they are skipped, saying so.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, ClassVar

import aio_pika
import pytest

from cloudbus.core import errors
from cloudbus.core.bus import Bus, current_deadline
from cloudbus.core.bus.amqp import AmqpBus
from cloudbus.core.bus.local import LocalBus
from cloudbus.core.ids import new_uuid
from cloudbus.core.messages import Event, Message, Reply
from cloudbus.core.service import Service, handles

# --- test services ------------------------------------------------------------------------


class BusTestEcho(Message):
    service_id: ClassVar[str] = "bustest"

    value: int = 0
    sleep: float = 0.0
    fail: str | None = None  # "error" -> CloudBusError, "crash" -> RuntimeError


class BusTestDeadline(Message):
    service_id: ClassVar[str] = "bustest.back"


class BusTestHop(Message):
    service_id: ClassVar[str] = "bustest.front"


class EchoService(Service):
    service_id = "bustest"

    def __init__(self, node: Any, label: str = "") -> None:
        super().__init__(node)
        self.label = label
        self.seen: list[Message] = []
        self.finished: list[int] = []
        self.done = asyncio.Event()

    @handles(BusTestEcho)
    async def echo(self, msg: BusTestEcho) -> dict[str, Any]:
        self.seen.append(msg)
        if msg.sleep:
            await asyncio.sleep(msg.sleep)
        if msg.fail == "error":
            raise errors.operation_error(f"echo {msg.value} refused")
        if msg.fail == "crash":
            raise RuntimeError("kaboom")
        self.finished.append(msg.value)
        self.done.set()
        return {"value": msg.value, "label": self.label}


class BackService(Service):
    service_id = "bustest.back"

    @handles(BusTestDeadline)
    async def deadline(self, msg: BusTestDeadline) -> Reply:
        return Reply(deadline=current_deadline.get())


class FrontService(Service):
    service_id = "bustest.front"

    @handles(BusTestHop)
    async def hop(self, msg: BusTestHop) -> Reply:
        inner = await self.bus.call_ok(BusTestDeadline())
        return Reply(front=current_deadline.get(), back=inner.get("deadline"))


def node_of(bus: Bus) -> SimpleNamespace:
    return SimpleNamespace(bus=bus)


# --- fixtures -----------------------------------------------------------------------------


@dataclass
class Buses:
    kind: str
    serve: Bus
    caller: Bus
    other: Bus
    url: str | None = None
    namespace: str = ""
    extra: list[Bus] = field(default_factory=list)

    async def new(self) -> Bus:
        """Another started bus on the same transport (the same object for LocalBus)."""
        if self.kind == "local":
            return self.serve
        bus = AmqpBus(str(self.url), namespace=self.namespace)
        await bus.start()
        self.extra.append(bus)
        return bus


@pytest.fixture(params=["local", "amqp"])
async def buses(request: pytest.FixtureRequest, backend: str) -> AsyncIterator[Buses]:
    if request.param == "local":
        bus = LocalBus()
        yield Buses("local", bus, bus, bus)
        await bus.close()
        return
    async for made in _amqp_buses(request, backend):
        yield made


@pytest.fixture
async def amqp_buses(request: pytest.FixtureRequest, backend: str) -> AsyncIterator[Buses]:
    async for made in _amqp_buses(request, backend):
        yield made


async def _amqp_buses(request: pytest.FixtureRequest, backend: str) -> AsyncIterator[Buses]:
    if backend != "amqp":
        pytest.skip("AmqpBus needs RabbitMQ: run with --backend=amqp (CI runs both backends)")
    url = str(request.getfixturevalue("rabbitmq_url"))
    namespace = f"t{new_uuid()[:10]}"
    made = [AmqpBus(url, namespace=namespace) for _ in range(3)]
    for bus in made:
        await bus.start()
    result = Buses("amqp", *made, url=url, namespace=namespace)
    yield result
    for bus in (*made, *result.extra):
        await bus.close()


@pytest.fixture
def amqp_url(backend: str, request: pytest.FixtureRequest) -> str:
    if backend != "amqp":
        pytest.skip("AmqpBus needs RabbitMQ: run with --backend=amqp (CI runs both backends)")
    return str(request.getfixturevalue("rabbitmq_url"))


async def serve_echo(bus: Bus, label: str = "") -> EchoService:
    service = EchoService(node_of(bus), label)
    await bus.register(service)
    return service


# --- the contract, on both buses ----------------------------------------------------------


async def test_call_returns_the_handlers_reply(buses: Buses) -> None:
    await serve_echo(buses.serve)
    reply = await buses.caller.call(BusTestEcho(value=7), timeout=10)
    assert reply.success
    assert reply.inventory == {"value": 7, "label": ""}


async def test_handler_error_is_a_failed_reply_with_its_code(buses: Buses) -> None:
    await serve_echo(buses.serve)
    reply = await buses.caller.call(BusTestEcho(value=3, fail="error"), timeout=10)
    assert not reply.success and reply.error is not None
    assert reply.error.code == errors.OPERATION
    assert reply.error.details == "echo 3 refused"


async def test_unexpected_exception_is_sys_1000_without_traceback(buses: Buses) -> None:
    await serve_echo(buses.serve)
    reply = await buses.caller.call(BusTestEcho(fail="crash"), timeout=10)
    assert reply.error is not None and reply.error.code == errors.INTERNAL
    text = json.dumps(reply.to_json())
    assert "kaboom" in text
    assert "Traceback" not in text and 'File "' not in text


async def test_unknown_service_fails_fast_with_sys_1008(buses: Buses) -> None:
    started = time.monotonic()
    reply = await buses.caller.call(BusTestEcho(), service="bustest.nobody", timeout=30)
    assert reply.error is not None and reply.error.code == errors.UNKNOWN_MESSAGE
    assert time.monotonic() - started < 5, "must not wait for the 30 s timeout"


async def test_timeout_is_sys_1001_and_the_handler_still_completes(buses: Buses) -> None:
    service = await serve_echo(buses.serve)
    reply = await buses.caller.call(BusTestEcho(value=1, sleep=0.5), timeout=0.1)
    assert reply.error is not None and reply.error.code == errors.TIMEOUT
    await asyncio.wait_for(service.done.wait(), 10)
    assert service.finished == [1]


async def test_message_timeout_field_is_used(buses: Buses) -> None:
    await serve_echo(buses.serve)
    reply = await buses.caller.call(BusTestEcho(sleep=0.5, timeout=100))
    assert reply.error is not None and reply.error.code == errors.TIMEOUT


async def test_deadline_propagates_across_a_hop(buses: Buses) -> None:
    await buses.serve.register(FrontService(node_of(buses.serve)))
    await buses.other.register(BackService(node_of(buses.other)))
    expected = time.time() + 7
    reply = await buses.caller.call(BusTestHop(), timeout=7)
    assert reply.success, reply.error
    assert abs(reply.get("front") - expected) < 1
    # The inner call inherited what was left of the outer deadline (the wire keeps ms).
    assert abs(reply.get("back") - reply.get("front")) < 0.01


async def test_events_follow_topic_patterns_and_cancel(buses: Buses) -> None:
    received: dict[str, list[Event]] = {"zone.*": [], "zone.#": [], "#": []}
    seen_end: dict[str, asyncio.Event] = {p: asyncio.Event() for p in received}

    def collector(pattern: str) -> Any:
        async def handle(event: Event) -> None:
            received[pattern].append(event)
            if event.name.startswith("zone.end"):
                seen_end[pattern].set()

        return handle

    subs = {p: await buses.serve.subscribe(p, collector(p)) for p in received}
    for name in ("host.created", "zone.created", "zone.a.b", "zone.end"):
        await buses.caller.publish(Event(name=name, data={"n": name}))
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in seen_end.values())), 10)
    names = {p: [e.name for e in events] for p, events in received.items()}
    assert names == {
        "zone.*": ["zone.created", "zone.end"],
        "zone.#": ["zone.created", "zone.a.b", "zone.end"],
        "#": ["host.created", "zone.created", "zone.a.b", "zone.end"],
    }
    assert received["#"][0].data == {"n": "host.created"}

    await subs["#"].cancel()
    seen_end["zone.*"].clear()
    await buses.caller.publish(Event(name="host.after"))
    await buses.caller.publish(Event(name="zone.end2"))
    await asyncio.wait_for(seen_end["zone.*"].wait(), 10)
    assert "host.after" not in [e.name for e in received["#"]]


async def test_200_concurrent_calls(buses: Buses) -> None:
    await serve_echo(buses.serve)
    replies = await asyncio.wait_for(
        asyncio.gather(*(buses.caller.call(BusTestEcho(value=i), timeout=30) for i in range(200))), 60
    )
    assert [r.inventory["value"] for r in replies if r.inventory] == list(range(200))


async def test_registering_twice_is_refused(buses: Buses) -> None:
    await serve_echo(buses.serve)
    with pytest.raises(ValueError):
        await serve_echo(buses.serve)


# --- AmqpBus only -------------------------------------------------------------------------


async def test_call_to_a_service_on_another_bus_crosses_the_broker(amqp_buses: Buses) -> None:
    service = await serve_echo(amqp_buses.serve)
    msg = BusTestEcho(value=5)
    assert (await amqp_buses.caller.call(msg, timeout=10)).success
    assert service.seen[0] == msg and service.seen[0] is not msg  # rebuilt from JSON


async def test_call_to_a_service_on_this_bus_stays_in_process(amqp_buses: Buses) -> None:
    service = await serve_echo(amqp_buses.serve)
    msg = BusTestEcho(value=5)
    assert (await amqp_buses.serve.call(msg, timeout=10)).success
    assert service.seen[0] is msg  # same object: never serialised


async def raw_call(url: str, queue: str, body: bytes, timeout: float = 10) -> dict[str, Any]:
    """Publish `body` to `queue` with plain aio-pika and return the decoded reply."""
    async with await aio_pika.connect(url, timeout=timeout) as conn:
        channel = await conn.channel()
        replies = await channel.declare_queue(exclusive=True, timeout=timeout)
        correlation_id = new_uuid()
        message = aio_pika.Message(
            body, content_type="application/json", correlation_id=correlation_id, reply_to=replies.name
        )
        await channel.default_exchange.publish(message, routing_key=queue, timeout=timeout)
        async with replies.iterator(timeout=timeout) as it:
            async for incoming in it:
                async with incoming.process():
                    assert incoming.correlation_id == correlation_id
                    return dict(json.loads(incoming.body))
    raise AssertionError("no reply")


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"v": 1, "kind": "call", "id": "x1", "name": "NoSuchMessage", "body": {}}, errors.UNKNOWN_MESSAGE),
        ({"v": 1, "kind": "call", "id": "x2", "name": "BusTestEcho", "body": {"bogus": 1}}, errors.INVALID_ARGUMENT),
        ({"v": 99, "kind": "call", "id": "x3", "name": "BusTestEcho", "body": {}}, errors.INVALID_ARGUMENT),
        ("not json at all", errors.INVALID_ARGUMENT),
    ],
)
async def test_raw_json_requests_get_error_replies(amqp_buses: Buses, body: Any, code: str) -> None:
    await serve_echo(amqp_buses.serve)
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    queue = f"{amqp_buses.namespace}.service.bustest"
    reply = await raw_call(str(amqp_buses.url), queue, raw)
    assert reply["v"] == 1 and reply["kind"] == "reply"
    assert reply["body"]["success"] is False
    assert reply["body"]["error"]["code"] == code
    # The consumer survived the bad message.
    assert (await amqp_buses.caller.call(BusTestEcho(value=1), timeout=10)).success


async def test_nodes_serving_one_service_share_the_work(amqp_buses: Buses) -> None:
    first = await serve_echo(amqp_buses.serve, "first")
    second = await serve_echo(amqp_buses.other, "second")
    replies = await asyncio.gather(
        *(amqp_buses.caller.call(BusTestEcho(value=i, sleep=0.02), timeout=30) for i in range(40))
    )
    labels = [r.inventory["label"] for r in replies if r.inventory]
    assert len(labels) == 40
    assert labels.count("first") == len(first.finished) > 0
    assert labels.count("second") == len(second.finished) > 0


async def test_a_stopped_node_leaves_the_service_to_the_others(amqp_buses: Buses) -> None:
    leaving = await amqp_buses.new()
    await serve_echo(leaving, "leaving")
    await serve_echo(amqp_buses.serve, "staying")
    await leaving.close()
    replies = await asyncio.gather(*(amqp_buses.caller.call(BusTestEcho(value=i), timeout=10) for i in range(10)))
    assert {r.inventory["label"] for r in replies if r.inventory} == {"staying"}


async def test_send_is_fire_and_forget(buses: Buses) -> None:
    service = await serve_echo(buses.serve)
    await buses.caller.send(BusTestEcho(value=9))
    await buses.caller.send(BusTestEcho(), service="bustest.nobody")  # dropped, logged, no error
    await asyncio.wait_for(service.done.wait(), 10)
    assert service.finished == [9]


# --- broker restart -----------------------------------------------------------------------


@pytest.fixture
def private_broker(amqp_url: str, tmp_path: Path) -> Any:
    """A broker of this test's own, so restarting it disturbs no other test."""
    from tests.support.servers import start_rabbitmq

    server = start_rabbitmq(tmp_path / "rabbitmq")
    try:
        yield server
    finally:
        server.stop()


async def call_until_ok(bus: Bus, msg: Message, within: float) -> Reply:
    """Retry a call until it succeeds or `within` seconds pass (the bus reconnects meanwhile)."""
    limit = time.monotonic() + within
    while True:
        reply = await bus.call(msg, timeout=2)
        if reply.success or time.monotonic() > limit:
            return reply
        await asyncio.sleep(0.2)


async def test_buses_recover_after_a_broker_restart(private_broker: Any) -> None:
    namespace = f"t{new_uuid()[:10]}"
    serve = AmqpBus(private_broker.url, namespace=namespace, reconnect_interval=0.5)
    caller = AmqpBus(private_broker.url, namespace=namespace, reconnect_interval=0.5)
    events: asyncio.Queue[Event] = asyncio.Queue()

    async def on_event(event: Event) -> None:
        await events.put(event)

    try:
        service = await serve_echo(serve)
        await serve.start()
        await caller.start()
        await serve.subscribe("zone.#", on_event)
        assert (await caller.call(BusTestEcho(value=1), timeout=10)).success

        await asyncio.to_thread(private_broker.restart)

        reply = await call_until_ok(caller, BusTestEcho(value=2), within=20)
        assert reply.success, reply.error
        assert service.finished[-1] == 2
        await caller.publish(Event(name="zone.after"))
        assert (await asyncio.wait_for(events.get(), 10)).name == "zone.after"
    finally:
        await caller.close()
        await serve.close()
