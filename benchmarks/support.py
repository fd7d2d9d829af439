"""What several benchmarks share: driving calls with C in flight, `cloudbus server` processes, the
private RabbitMQ/PostgreSQL they run on, and counting the statements a database is sent.

- `drive(call, calls, concurrency, servers)`: `calls` calls, `concurrency` in flight; a `Measured`
  (rate, latency p50/p99, CPU per call of the server processes and of this process).
- `Server` / `cluster(n, ...)`: `cloudbus server` subprocesses started as users start them, ready
  once every node is Running and every ring lists all of them; CPU and peak RSS from /proc.
- `backing_servers(...)`: the broker URL and a PostgreSQL admin (`create_database`), private ones
  started with tests/support/servers.py unless URLs are given; `database(...)`: a fresh database.
- `Statements`: a SQLAlchemy listener counting statements by verb and transactions.

Benchmarks run as scripts (`python benchmarks/x.py`) put the repository root on `sys.path` before
importing this module as `benchmarks.support`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event

from cloudbus.apis.client import Client
from cloudbus.apis.management_node import QueryManagementNode
from cloudbus.core.auth import admin_password
from cloudbus.core.db import Database
from cloudbus.core.ids import new_uuid
from tests.support.cluster import wait_until

ROOT = Path(__file__).resolve().parent.parent
SERVER_CODE = "import sys; from cloudbus.apis.cli import main; sys.exit(main(['server']))"
READY_TIMEOUT = 90.0
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


def peak_rss_mb(pid: int | str = "self") -> float:
    """The process's peak resident set (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError(f"no VmHWM in /proc/{pid}/status")


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
            # INFO, not WARNING: "server ready" and "ring changed" are INFO events; INFO is also
            # the level a server runs at by default.
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

    def peak_rss_mb(self) -> float:
        return peak_rss_mb(self.proc.pid)

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
        ready = [await wait_until(first.ready, READY_TIMEOUT, lambda: f"server0 ready:\n{first.tail()}")]
        for server in [add() for _ in range(n - 1)]:
            ready.append(
                await wait_until(server.ready, READY_TIMEOUT, lambda s=server: f"{s.log_path} ready:\n{s.tail()}")
            )
        nodes = {event["node"] for event in ready}
        async with Client(bus_url, namespace=namespace, timeout=60) as client:
            await client.log_in("admin", admin_password())
            await wait_until(
                lambda: _has(running_nodes(client), nodes),
                READY_TIMEOUT,
                lambda: f"QueryManagementNode lists {n} Running",
            )
        await wait_until(
            lambda: all(s.ring() == nodes for s in servers), READY_TIMEOUT, lambda: f"every ring lists the {n} nodes"
        )
        yield servers
    finally:
        await asyncio.gather(*(s.stop() for s in servers))


async def _has(found: Awaitable[set[str]], expected: set[str]) -> bool:
    return await found == expected


# -- the broker and the database server


@dataclass
class Backing:
    amqp_url: str  # "" when no broker was asked for
    postgres: Any  # tests/support/servers.py's PostgresAdmin (create_database, drop_database, url); None if not asked


@asynccontextmanager
async def backing_servers(
    workdir: Path, amqp_url: str = "", pg_url: str = "", *, rabbitmq: bool = True, postgres: bool = True
) -> AsyncIterator[Backing]:
    """The broker and PostgreSQL named by the URLs, or private ones (stopped at the end) when a URL
    is empty; `rabbitmq`/`postgres` False when the run needs no broker / no PostgreSQL."""
    from tests.support.servers import existing_postgres, start_postgres, start_rabbitmq

    started = []
    try:
        if rabbitmq and not amqp_url:
            started.append(await asyncio.to_thread(start_rabbitmq, workdir / "mq"))
            amqp_url = started[-1].url
        admin = None
        if postgres and pg_url:
            admin = existing_postgres(pg_url)
        elif postgres:
            started.append(await asyncio.to_thread(start_postgres, workdir / "pg"))
            admin = started[-1]
        yield Backing(amqp_url if rabbitmq else "", admin)
    finally:
        for server in reversed(started):
            server.stop()


@asynccontextmanager
async def database(postgres: Any, prefix: str) -> AsyncIterator[str]:
    """A fresh PostgreSQL database named `<prefix>_<random>` on `postgres`, dropped afterwards; its URL."""
    name = f"{prefix}_{new_uuid()[:8]}"
    url = await asyncio.to_thread(postgres.create_database, name)
    try:
        yield url
    finally:
        await asyncio.to_thread(postgres.drop_database, name)


# -- counting statements


class Statements:
    """Statements sent on a `Database`'s engines, by verb (SELECT, INSERT, UPDATE, DELETE, other),
    and transactions as BEGIN, inside `with counting():`.

    BEGIN is counted from SQLAlchemy's `begin` event, so it is the same whichever way the driver
    opens a transaction (a BEGIN statement on SQLite, none on asyncpg's cursor); a BEGIN statement
    seen on the cursor is not counted again. COMMIT is not counted."""

    VERBS = ("BEGIN", "SELECT", "INSERT", "UPDATE", "DELETE")

    def __init__(self, db: Database) -> None:
        self.counts: Counter[str] = Counter()
        self.on = False
        engines = {id(e): e for e in (db.writer, db.reader) if e is not None}.values()
        # the events fire on synchronous engines: an AsyncEngine's own, or the engine itself
        self.engines = [getattr(e, "sync_engine", e) for e in engines]
        for engine in self.engines:
            event.listen(engine, "before_cursor_execute", self._statement)
            event.listen(engine, "begin", self._begin)

    def close(self) -> None:
        for engine in self.engines:
            event.remove(engine, "before_cursor_execute", self._statement)
            event.remove(engine, "begin", self._begin)

    def _statement(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if self.on:
            verb = statement.lstrip().split(None, 1)[0].upper() if statement.strip() else ""
            if verb != "BEGIN":  # counted by _begin
                self.counts[verb if verb in self.VERBS else "other"] += 1

    def _begin(self, _conn: Any) -> None:
        if self.on:
            self.counts["BEGIN"] += 1

    @contextmanager
    def counting(self) -> Iterator[Counter[str]]:
        """Count in the block; the Counter yielded holds the counts (and keeps them after it)."""
        self.counts = Counter()
        self.on = True
        try:
            yield self.counts
        finally:
            self.on = False
