"""Request/reply calls per second over the bus: at concurrency 1 and 100, and pipelined.

    python benchmarks/bus_rpc.py --amqp-url amqp://guest:guest@127.0.0.1:5672/ --seconds 5

Concurrency C = C workers, each calling back to back. Pipelined = one caller sends
`--pipeline` calls at once (nothing waits for a reply before the next request goes out)
and collects the replies as they come: the broker and the handler see a full queue.

Four rows: LocalBus (in-process), AmqpBus with caller and handler on two bus objects (so
every call crosses the broker as JSON), the same with both holding a bus secret (every
request signed and checked, as between management nodes: core/envelope.py), and raw aio-pika
RPC on the same broker with an exclusive reply queue: the floor AmqpBus is built on. Results
go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, ClassVar

import aio_pika

from cloudbus.core.bus import Bus
from cloudbus.core.bus.amqp import AmqpBus
from cloudbus.core.bus.local import LocalBus
from cloudbus.core.ids import new_uuid
from cloudbus.core.messages import Message
from cloudbus.core.service import Service, handles

CallFn = Callable[[int], Awaitable[Any]]


class BenchEcho(Message):
    service_id: ClassVar[str] = "bench"

    value: int = 0


class BenchService(Service):
    service_id = "bench"

    @handles(BenchEcho)
    async def echo(self, msg: BenchEcho) -> dict[str, int]:
        return {"value": msg.value}


async def measure(call: CallFn, concurrency: int, seconds: float) -> float:
    """Calls per second completed by `concurrency` workers calling back to back."""
    await asyncio.gather(*(call(i) for i in range(min(concurrency, 50))))  # warm up
    count = 0
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal count
        while time.perf_counter() < stop_at:
            await call(count)
            count += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return count / (time.perf_counter() - started)


async def measure_pipelined(call: CallFn, count: int) -> float:
    """Calls per second when `count` calls are all sent before any reply is awaited."""
    await asyncio.gather(*(call(i) for i in range(50)))  # warm up
    started = time.perf_counter()
    await asyncio.gather(*(call(i) for i in range(count)))
    return count / (time.perf_counter() - started)


async def measure_all(call: CallFn, seconds: float, pipeline: int) -> list[float]:
    return [await measure(call, 1, seconds), await measure(call, 100, seconds), await measure_pipelined(call, pipeline)]


def bus_caller(bus: Bus) -> CallFn:
    async def call(i: int) -> Any:
        reply = await bus.call(BenchEcho(value=i), timeout=30)
        assert reply.success, reply.error
        return reply

    return call


async def local_rows(seconds: float, pipeline: int) -> list[float]:
    bus = LocalBus()
    await bus.register(BenchService(object()))
    try:
        return await measure_all(bus_caller(bus), seconds, pipeline)
    finally:
        await bus.close()


async def amqp_rows(url: str, seconds: float, pipeline: int, *, signed: bool = False) -> list[float]:
    namespace = f"bench{new_uuid()[:8]}"
    server, client = AmqpBus(url, namespace=namespace), AmqpBus(url, namespace=namespace)
    if signed:
        server.secret = client.secret = secrets.token_bytes(32)
    await server.register(BenchService(object()))
    await server.start()
    await client.start()
    try:
        return await measure_all(bus_caller(client), seconds, pipeline)
    finally:
        await client.close()
        await server.close()


async def raw_rows(url: str, seconds: float, pipeline: int) -> list[float]:
    """Plain aio-pika RPC (JSON in, JSON out, ack after reply) on two connections."""
    queue_name = f"bench.raw.{new_uuid()[:8]}"
    server_conn = await aio_pika.connect(url, timeout=10)
    client_conn = await aio_pika.connect(url, timeout=10)
    try:
        server_ch = await server_conn.channel()
        await server_ch.set_qos(prefetch_count=256)
        queue = await server_ch.declare_queue(queue_name, auto_delete=True)

        async def on_request(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            body = json.loads(message.body)
            reply = json.dumps({"value": body["value"]}).encode()
            await server_ch.default_exchange.publish(
                aio_pika.Message(reply, correlation_id=message.correlation_id), str(message.reply_to)
            )
            await message.ack()

        await queue.consume(on_request)
        client_ch = await client_conn.channel()
        replies = await client_ch.declare_queue(exclusive=True)
        pending: dict[str, asyncio.Future[bytes]] = {}

        async def on_reply(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            future = pending.pop(message.correlation_id or "", None)
            if future is not None:
                future.set_result(message.body)

        await replies.consume(on_reply, no_ack=True)

        async def call(i: int) -> bytes:
            corr = new_uuid()
            future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
            pending[corr] = future
            message = aio_pika.Message(json.dumps({"value": i}).encode(), correlation_id=corr, reply_to=replies.name)
            await client_ch.default_exchange.publish(message, queue_name)
            return await asyncio.wait_for(future, 30)

        return await measure_all(call, seconds, pipeline)
    finally:
        await client_conn.close()
        await server_conn.close()


async def main(args: argparse.Namespace) -> None:
    rows = {"LocalBus": await local_rows(args.seconds, args.pipeline)}
    if args.amqp_url:
        rows["AmqpBus (two bus objects, via broker)"] = await amqp_rows(args.amqp_url, args.seconds, args.pipeline)
        rows["AmqpBus, requests signed"] = await amqp_rows(args.amqp_url, args.seconds, args.pipeline, signed=True)
        rows["raw aio-pika RPC (floor)"] = await raw_rows(args.amqp_url, args.seconds, args.pipeline)
    columns = ["c=1 calls/s", "c=100 calls/s", f"pipelined {args.pipeline:,} calls/s"]
    print(f"{'transport':<40} " + " ".join(f"{c:>22}" for c in columns))
    for name, values in rows.items():
        print(f"{name:<40} " + " ".join(f"{v:>22,.0f}" for v in values))
    out = Path(__file__).with_suffix(".json")
    table = {name: dict(zip(columns, values, strict=True)) for name, values in rows.items()}
    out.write_text(json.dumps(table, indent=2) + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--amqp-url", default=os.environ.get("CLOUDBUS_TEST_AMQP_URL", ""))
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--pipeline", type=int, default=1000, help="calls sent at once in the pipelined case")
    asyncio.run(main(parser.parse_args()))
