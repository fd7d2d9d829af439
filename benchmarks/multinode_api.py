"""API throughput of a cluster of 1, 2 and 3 `cloudbus server` processes, next to the broker floor.

    python benchmarks/multinode_api.py                 # starts a private RabbitMQ + PostgreSQL
    python benchmarks/multinode_api.py --calls 2000 --amqp-url amqp://guest:guest@127.0.0.1:PORT/ \\
        --pg-url postgresql://postgres@127.0.0.1:PORT/postgres

For each cluster size the servers run as users run them (`cloudbus server` subprocesses on one
RabbitMQ and a fresh PostgreSQL database), and one client process keeps `--concurrency` API
calls in flight with `Client.request`, `--calls` calls per API:

- `UpdateZone` of one of 100 pre-created zones: the node that takes the call from the portal
  queue sends it on to the zone's owner on the hash ring (in-process when that is itself);
- `CreateZone`: handled on the node that took it from the portal queue.

The floor is raw aio-pika RPC through the same broker at the same concurrency: an echo
consumer in a subprocess, the client in this process (as `benchmarks/bus_rpc.py` does it, but
across two processes, as the API calls are). It is measured in each configuration while the
servers idle. Results are printed and written to `multinode_api.json` beside this script.

The URLs default to CLOUDBUS_TEST_AMQP_URL / CLOUDBUS_TEST_PG_URL; without them a private
broker and database are started with `tests/support/servers.py` and stopped at the end. The
PostgreSQL URL must allow CREATE DATABASE (one database per configuration).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

import aio_pika

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: import benchmarks.*

from benchmarks.support import ROOT, CallFn, Measured, backing_servers, cluster, database, drive
from cloudbus.apis.client import Client
from cloudbus.apis.zone import CreateZone, UpdateZone
from cloudbus.core.auth import admin_password
from cloudbus.core.ids import new_uuid
from cloudbus.core.logging import configure
from cloudbus.core.messages import APIMessage

RESULTS = Path(__file__).with_suffix(".json")
ZONES = 100
WARMUP = 100
CALL_TIMEOUT = 60.0


# -- measuring


def api_caller(client: Client, make: Callable[[int], APIMessage]) -> CallFn:
    async def call(i: int) -> None:
        msg = make(i)
        reply = await client.request(msg)
        if not reply.success:
            raise RuntimeError(f"{msg.message_name()} failed: {reply.error}")

    return call


async def api_rows(n: int, args: argparse.Namespace, db_url: str, workdir: Path) -> dict[str, Measured]:
    namespace = f"bench{new_uuid()[:8]}"
    started = time.monotonic()
    async with cluster(n, args.amqp_url, db_url, namespace, workdir) as servers:
        print(f"{n} server(s) ready in {time.monotonic() - started:.1f} s", flush=True)
        async with Client(args.amqp_url, namespace=namespace, timeout=CALL_TIMEOUT) as client:
            await client.log_in("admin", admin_password())
            creates = [client.call(CreateZone(name=f"zone{i}")) for i in range(ZONES)]
            zones = [z["uuid"] for z in await asyncio.gather(*creates)]
            workloads: dict[str, Callable[[int], APIMessage]] = {
                "UpdateZone": lambda i: UpdateZone(uuid=zones[i % ZONES], description=f"update {i}"),
                "CreateZone": lambda i: CreateZone(name=f"bench{i}", description="multinode_api"),
            }
            rows = {}
            for name, make in workloads.items():
                call = api_caller(client, make)
                await drive(lambda i, call=call: call(args.calls + i), WARMUP, args.concurrency)
                rows[name] = await drive(call, args.calls, args.concurrency, servers)
                print(f"  {name}: {rows[name].calls_per_s:,.0f} calls/s", flush=True)
            rows["raw aio-pika RPC (floor)"] = await raw_floor(args.amqp_url, args.calls, args.concurrency)
        for event in [e for s in servers for e in s.complaints()][:5]:
            print(f"  server log: {event}", flush=True)
        return rows


# -- the floor: raw aio-pika RPC, echo consumer in a subprocess


async def echo_server(url: str, queue_name: str) -> None:
    """Echo `{"value": n}` back to `reply_to` (ack after the reply) until killed."""
    async with await aio_pika.connect(url, timeout=10) as conn:
        channel = await conn.channel()
        await channel.set_qos(prefetch_count=256)
        queue = await channel.declare_queue(queue_name, auto_delete=True)

        async def on_request(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            reply = json.dumps({"value": json.loads(message.body)["value"]}).encode()
            await channel.default_exchange.publish(
                aio_pika.Message(reply, correlation_id=message.correlation_id), str(message.reply_to)
            )
            await message.ack()

        await queue.consume(on_request)
        print("ready", flush=True)
        await asyncio.Future()


@asynccontextmanager
async def echo_process(url: str, queue_name: str) -> AsyncIterator[None]:
    cmd = [sys.executable, __file__, "--amqp-url", url, "--echo-queue", queue_name]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        if line.strip() != b"ready":
            raise RuntimeError(f"echo consumer did not start (exit {proc.returncode})")
        yield
    finally:
        if proc.returncode is None:
            proc.terminate()
        await asyncio.wait_for(proc.wait(), 10)


async def raw_floor(url: str, calls: int, concurrency: int) -> Measured:
    queue_name = f"bench.raw.{new_uuid()[:8]}"
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(echo_process(url, queue_name))
        conn = await stack.enter_async_context(await aio_pika.connect(url, timeout=10))
        channel = await conn.channel()
        replies = await channel.declare_queue(exclusive=True)
        pending: dict[str, asyncio.Future[bytes]] = {}

        async def on_reply(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            future = pending.pop(message.correlation_id or "", None)
            if future is not None:
                future.set_result(message.body)

        await replies.consume(on_reply, no_ack=True)

        async def call(i: int) -> None:
            corr = new_uuid()
            pending[corr] = future = asyncio.get_running_loop().create_future()
            message = aio_pika.Message(json.dumps({"value": i}).encode(), correlation_id=corr, reply_to=replies.name)
            await channel.default_exchange.publish(message, queue_name)
            await asyncio.wait_for(future, CALL_TIMEOUT)

        await drive(call, WARMUP, concurrency)
        return await drive(call, calls, concurrency)


# -- report


def print_table(results: dict[int, dict[str, Measured]], args: argparse.Namespace) -> None:
    print(
        f"\n{args.calls} calls per API, {args.concurrency} in flight from one client process. This machine has "
        f"{os.cpu_count()} CPUs, shared by the client, every server, RabbitMQ and PostgreSQL:\n"
        "more nodes cannot add CPU here. Floor: raw aio-pika RPC through the same broker, same concurrency."
    )
    head = f"{'nodes':>5} | {'API':<10} | {'calls/s':>8} | {'p50 ms':>7} | {'p99 ms':>7} | {'srv CPU ms/call':>15}"
    print(f"\n{head} || {'floor calls/s':>13} | {'p50 ms':>7} | {'p99 ms':>7}")
    print("-" * (len(head) + 38))
    for n, rows in results.items():
        floor = rows["raw aio-pika RPC (floor)"]
        for name in ("UpdateZone", "CreateZone"):
            m = rows[name]
            print(
                f"{n:>5} | {name:<10} | {m.calls_per_s:>8,.0f} | {m.p50_ms:>7.1f} | {m.p99_ms:>7.1f} | "
                f"{m.server_cpu_ms_per_call:>15.2f} || {floor.calls_per_s:>13,.0f} | {floor.p50_ms:>7.1f} | "
                f"{floor.p99_ms:>7.1f}"
            )


def write_json(
    results: dict[int, dict[str, Measured]], load: dict[int, float], args: argparse.Namespace, seconds: float
) -> None:
    report = {
        "benchmark": "multinode_api",
        "command": "python benchmarks/multinode_api.py " + " ".join(f"--{k} {v}" for k, v in _shown(args)),
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "aio_pika": aio_pika.__version__,
            "loadavg_1min_before": {str(n): round(x, 2) for n, x in load.items()},
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        },
        "calls": args.calls,
        "concurrency": args.concurrency,
        "zones": ZONES,
        "note": "one client process, all servers, RabbitMQ and PostgreSQL share the machine's CPUs",
        "seconds_total": round(seconds, 1),
        "results": [{"nodes": n, "api": name, **asdict(m)} for n, rows in results.items() for name, m in rows.items()],
    }
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {RESULTS.relative_to(ROOT)} ({seconds:.0f} s in all)")


def _shown(args: argparse.Namespace) -> list[tuple[str, Any]]:
    return [("calls", args.calls), ("concurrency", args.concurrency), ("nodes", ",".join(map(str, args.nodes)))]


# -- main


async def main(args: argparse.Namespace) -> None:
    configure(level="WARNING")  # the client's own bus logs nothing per call either way
    began = time.monotonic()
    results: dict[int, dict[str, Measured]] = {}
    load: dict[int, float] = {}  # 1-minute load average before each configuration (this run's and others' work)
    with tempfile.TemporaryDirectory(prefix="cloudbus-multinode-") as tmp:
        async with backing_servers(Path(tmp), args.amqp_url, args.pg_url) as backing:
            args.amqp_url = backing.amqp_url
            for n in args.nodes:
                async with database(backing.postgres, f"bench_multinode_{n}") as db_url:
                    load[n] = os.getloadavg()[0]
                    results[n] = await api_rows(n, args, db_url, Path(tmp) / f"nodes{n}")
    print_table(results, args)
    write_json(results, load, args, time.monotonic() - began)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000, help="calls per API and cluster size (default 2000)")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--nodes", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 3])
    parser.add_argument("--amqp-url", default=os.environ.get("CLOUDBUS_TEST_AMQP_URL", ""))
    parser.add_argument("--pg-url", default=os.environ.get("CLOUDBUS_TEST_PG_URL", ""))
    parser.add_argument("--echo-queue", help=argparse.SUPPRESS)  # internal: run the floor's echo consumer
    parsed = parser.parse_args()
    asyncio.run(echo_server(parsed.amqp_url, parsed.echo_queue) if parsed.echo_queue else main(parsed))
