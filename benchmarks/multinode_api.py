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
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aio_pika

from cloudbus.apis.client import Client
from cloudbus.apis.management_node import QueryManagementNode
from cloudbus.apis.zone import CreateZone, UpdateZone
from cloudbus.core.ids import new_uuid
from cloudbus.core.logging import configure
from cloudbus.core.messages import APIMessage

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).with_suffix(".json")
SERVER_CODE = "import sys; from cloudbus.apis.cli import main; sys.exit(main(['server']))"
ZONES = 100
WARMUP = 100
READY_TIMEOUT = 90.0
CALL_TIMEOUT = 60.0
POLL = 0.1
TICKS = os.sysconf("SC_CLK_TCK")

CallFn = Callable[[int], Awaitable[None]]


@dataclass
class Measured:
    calls: int
    seconds: float
    calls_per_s: float
    p50_ms: float
    p99_ms: float
    server_cpu_ms_per_call: float | None = None  # CPU of all server processes, per call
    client_cpu_ms_per_call: float | None = None  # CPU of this (client) process, per call


# -- servers


class Server:
    """One `cloudbus server` subprocess, started the way tests/support/cluster.py starts one."""

    def __init__(self, bus_url: str, db_url: str, namespace: str, home: Path) -> None:
        home.mkdir(parents=True)
        self.log_path = home / "server.log"
        environ = dict(
            os.environ,
            CLOUDBUS_BUS_URL=bus_url,
            CLOUDBUS_DB_URL=db_url,
            CLOUDBUS_BUS_NAMESPACE=namespace,
            CLOUDBUS_HOME=str(home),
            # INFO, not WARNING: "server ready" and "ring changed" are INFO events, and nothing
            # is logged per successful call at INFO, so the log costs the servers nothing here.
            CLOUDBUS_LOG_LEVEL="INFO",
        )
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-c", SERVER_CODE], env=environ, stdout=log, stderr=log, cwd=ROOT
            )

    def events(self, name: str | None = None) -> list[dict[str, Any]]:
        """The JSON events of the log (those named `name`, if given)."""
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(item, dict) and name in (None, item.get("event")):
                found.append(item)
        return found

    def complaints(self) -> list[dict[str, Any]]:
        """Events above INFO: a healthy run has none (a forwarded or failed call would show here)."""
        return [e for e in self.events() if e.get("level") not in ("debug", "info")]

    def ready(self) -> dict[str, Any] | None:
        if self.proc.poll() is not None:
            raise RuntimeError(f"server exited with {self.proc.returncode}:\n{self.tail()}")
        return next(iter(self.events("server ready")), None)

    def ring(self) -> set[str]:
        rings = self.events("ring changed")
        return set(rings[-1].get("members") or ()) if rings else set()

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime

    def tail(self, lines: int = 20) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    async def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.to_thread(self.proc.wait, 30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


async def wait_until(
    check: Callable[[], Awaitable[Any] | Any], what: Callable[[], str], timeout: float = READY_TIMEOUT
) -> Any:
    """Poll `check` every 0.1 s until it returns something truthy; TimeoutError saying `what()`."""
    limit = time.monotonic() + timeout
    while True:
        found = check()
        if asyncio.iscoroutine(found):
            found = await found
        if found:
            return found
        if time.monotonic() > limit:
            raise TimeoutError(f"timed out after {timeout:.0f} s: {what()}")
        await asyncio.sleep(POLL)


async def running_nodes(client: Client) -> set[str]:
    reply = await client.request(QueryManagementNode(), timeout=10)
    return {n["uuid"] for n in reply.inventories or () if n["state"] == "Running"} if reply.success else set()


@asynccontextmanager
async def cluster(n: int, bus_url: str, db_url: str, namespace: str, workdir: Path) -> AsyncIterator[list[Server]]:
    """`n` servers, ready: each logged "server ready", the API lists `n` nodes Running and every
    server's ring has all `n` (so routing is settled before anything is measured)."""
    servers: list[Server] = []

    def add() -> Server:
        servers.append(Server(bus_url, db_url, namespace, workdir / f"server{len(servers)}"))
        return servers[-1]

    try:
        first = add()  # alone: it migrates the fresh database
        ready = [await wait_until(first.ready, lambda: f"server0 ready:\n{first.tail()}")]
        for server in [add() for _ in range(n - 1)]:
            ready.append(await wait_until(server.ready, lambda s=server: f"{s.log_path} ready:\n{s.tail()}"))
        nodes = {event["node"] for event in ready}
        async with Client(bus_url, namespace=namespace, timeout=CALL_TIMEOUT) as client:
            await wait_until(
                lambda: _has(running_nodes(client), nodes), lambda: f"QueryManagementNode lists {n} Running"
            )
        await wait_until(lambda: all(s.ring() == nodes for s in servers), lambda: f"every ring lists the {n} nodes")
        yield servers
    finally:
        await asyncio.gather(*(s.stop() for s in servers))


async def _has(found: Awaitable[set[str]], expected: set[str]) -> bool:
    return await found == expected


# -- measuring


async def drive(call: CallFn, calls: int, concurrency: int, servers: Sequence[Server] = ()) -> Measured:
    """`calls` calls, `concurrency` in flight; rate, latency percentiles and CPU per call."""
    latencies: list[float] = []
    pending = iter(range(calls))

    async def worker() -> None:
        for i in pending:
            t0 = time.perf_counter()
            await call(i)
            latencies.append(time.perf_counter() - t0)

    server_cpu, client_cpu = sum(s.cpu_seconds() for s in servers), time.process_time()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    server_cpu = sum(s.cpu_seconds() for s in servers) - server_cpu
    return Measured(
        calls=calls,
        seconds=round(elapsed, 2),
        calls_per_s=round(calls / elapsed, 1),
        p50_ms=round(statistics.median(latencies) * 1000, 1),
        p99_ms=round(pct(latencies, 0.99), 1),
        server_cpu_ms_per_call=round(server_cpu * 1000 / calls, 2) if servers else None,
        client_cpu_ms_per_call=round((time.process_time() - client_cpu) * 1000 / calls, 2),
    )


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000


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


@asynccontextmanager
async def backing_servers(args: argparse.Namespace, workdir: Path) -> AsyncIterator[Any]:
    """The PostgreSQL admin (`create_database`); private servers when no URL was given."""
    sys.path.insert(0, str(ROOT))
    from tests.support.servers import existing_postgres, start_postgres, start_rabbitmq

    started = []
    try:
        if not args.amqp_url:
            started.append(await asyncio.to_thread(start_rabbitmq, workdir / "mq"))
            args.amqp_url = started[-1].url
        if args.pg_url:
            yield existing_postgres(args.pg_url)
        else:
            started.append(await asyncio.to_thread(start_postgres, workdir / "pg"))
            yield started[-1]
    finally:
        for server in reversed(started):
            server.stop()


async def main(args: argparse.Namespace) -> None:
    configure(level="WARNING")  # the client's own bus logs nothing per call either way
    began = time.monotonic()
    results: dict[int, dict[str, Measured]] = {}
    load: dict[int, float] = {}  # 1-minute load average before each configuration (this run's and others' work)
    with tempfile.TemporaryDirectory(prefix="cloudbus-multinode-") as tmp:
        async with backing_servers(args, Path(tmp)) as postgres:
            for n in args.nodes:
                name = f"bench_multinode_{n}_{new_uuid()[:8]}"
                db_url = postgres.create_database(name)
                try:
                    load[n] = os.getloadavg()[0]
                    results[n] = await api_rows(n, args, db_url, Path(tmp) / f"nodes{n}")
                finally:
                    postgres.drop_database(name)
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
