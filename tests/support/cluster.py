"""Several `cloudbus server` processes on one broker and one database, run as users run them.

- `Env`: where one cloud lives (broker URL, database URL, bus namespace); `server_env()` makes
  a fresh one per test (its own database and namespace), or skips outside the amqp backend.
- `ServerProcess`: one server subprocess. Its JSON log is read incrementally, and tests wait
  on log events (`wait_for_event`) by polling the file every 0.1 s, never by sleeping.
- `Cluster`: N servers with a short heartbeat, ready once every server's ring lists all N;
  `kill9(i)`, `stop(i)` (SIGTERM), `wait_takeover(dead)`, `api()` for a client.
- `ApiCloud`: the API helpers of `cloudbus.testing.Cloud` (`ok`, `api`, `query`,
  `build_vm_cloud`) over a plain `Client`, for a cloud whose nodes run in other processes;
  `build_cloud` brings up a simulator cloud ready for VMs through them, `create_vms` fills it.
- `RawClient`: a client written from docs/wire-protocol.md with plain aio-pika, no cloudbus
  import; it can also publish one envelope (one message id) several times.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from cloudbus.apis.client import Client
from cloudbus.core.auth import admin_password
from cloudbus.core.ids import new_uuid
from cloudbus.testing import Cloud

READY_TIMEOUT = 60.0
GIB = 1 << 30
POLL = 0.1
SKIP_REASON = "cloudbus server needs RabbitMQ + PostgreSQL: run with --backend=amqp (CI runs both backends)"

Event = dict[str, Any]


@dataclass
class Env:
    bus_url: str
    db_url: str
    namespace: str


def server_env(backend: str, request: pytest.FixtureRequest, prefix: str = "srv") -> Env:
    """A fresh database and bus namespace on the session's servers (skips unless --backend=amqp)."""
    if backend != "amqp":
        pytest.skip(SKIP_REASON)
    postgres = request.getfixturevalue("postgres")
    return Env(
        bus_url=str(request.getfixturevalue("rabbitmq_url")),
        db_url=postgres.create_database(f"{prefix}_{new_uuid()[:12]}"),
        namespace=f"t{new_uuid()[:10]}",
    )


async def wait_until(check: Callable[[], Any], timeout: float, what: Callable[[], str]) -> Any:
    """Poll `check()` (a function or a coroutine function) every 0.1 s until it returns something
    truthy, and return that; AssertionError saying `what()` after `timeout`."""
    limit = time.monotonic() + timeout
    while True:
        found = check()
        if inspect.isawaitable(found):
            found = await found
        if found:
            return found
        if time.monotonic() > limit:
            raise AssertionError(f"timed out after {timeout:.1f} s: {what()}")
        await asyncio.sleep(POLL)


class ServerProcess:
    """One `cloudbus server` subprocess; its JSON log goes to a file we can read."""

    def __init__(self, env: Env, log_path: Path, extra_env: dict[str, str] | None = None) -> None:
        self.log_path = log_path
        self.node: str | None = None  # its management node uuid, from "server ready"
        self.killed_at: float | None = None  # wall clock, comparable with the log's timestamps
        self._offset = 0
        self._lines: list[tuple[bool, Any]] = []
        environ = dict(
            os.environ,
            CLOUDBUS_BUS_URL=env.bus_url,
            CLOUDBUS_DB_URL=env.db_url,
            CLOUDBUS_BUS_NAMESPACE=env.namespace,
            CLOUDBUS_HOME=str(log_path.parent),
            **(extra_env or {}),
        )
        code = "import sys; from cloudbus.apis.cli import main; sys.exit(main(['server']))"
        with log_path.open("wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-c", code], env=environ, stderr=log, stdout=log)

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def events(self, name: str | None = None) -> list[Event]:
        """The log lines that are JSON events (all of them, for a healthy server), or those named `name`."""
        events = [item for ok, item in self._read() if ok]
        return events if name is None else [e for e in events if e.get("event") == name]

    def non_json_lines(self) -> list[str]:
        return [line for ok, line in self._read() if not ok]

    def _read(self) -> list[tuple[bool, Any]]:
        """Parse what was appended since the last read (while the server runs, a partial last line
        waits for its newline)."""
        exited = not self.running
        with self.log_path.open("rb") as log:
            log.seek(self._offset)
            chunk = log.read()
        complete = chunk if exited else chunk[: chunk.rfind(b"\n") + 1]
        self._offset += len(complete)
        for line in complete.decode(errors="replace").splitlines():
            try:
                item = json.loads(line)
            except json.JSONDecodeError:
                self._lines.append((False, line))
                continue
            self._lines.append((True, item) if isinstance(item, dict) else (False, line))
        return self._lines

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    async def wait_for_event(
        self, name: str, timeout: float = READY_TIMEOUT, where: Callable[[Event], bool] = lambda _: True
    ) -> Event:
        """The first event `name` for which `where(event)` holds, polling the log every 0.1 s."""

        def found() -> Event | None:
            match = next((e for e in self.events(name) if where(e)), None)
            if match is None and not self.running:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.tail(60)}")
            return match

        return await wait_until(found, timeout, lambda: f"no matching '{name}' from the server:\n{self.tail()}")

    async def stop(self) -> int:
        if self.running:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.to_thread(self.proc.wait, 30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to clean up (kill -9)."""
        if self.running:
            self.killed_at = time.time()
            self.proc.kill()
            self.proc.wait(10)


async def start_server(
    env: Env, tmp_path: Path, servers: list[ServerProcess], extra_env: dict[str, str] | None = None
) -> ServerProcess:
    server = ServerProcess(env, tmp_path / f"server{len(servers)}.log", extra_env)
    servers.append(server)
    ready = await server.wait_for_event("server ready")
    server.node = ready.get("node")
    return server


class ApiCloud(Cloud):
    """`Cloud`'s API helpers over a plain Client: no management node in this process."""

    def __init__(self, client: Client) -> None:
        self.client = client


async def build_cloud(cloud: Cloud, cidr: str, *, hosts: int = 3, cpu: int = 16) -> dict[str, Any]:
    """Through the API: a zone and cluster of `hosts` simulator hosts with `cpu` vCPUs and 2 GiB per
    vCPU each, primary and backup storage with an image, an L2/L3 over `cidr`, a 1-vCPU 1 GiB
    instance offering (`Cloud.build_vm_cloud`; its inventories by kind)."""
    return await cloud.build_vm_cloud(hosts=hosts, cpu=cpu, memory=2 * cpu * GIB, network_cidr=cidr)


def vm_params(spec: dict[str, Any], name: str) -> dict[str, Any]:
    """CreateVmInstance parameters for a VM named `name` in the cloud `spec` of `build_cloud`."""
    return {
        "name": name,
        "instanceOfferingUuid": spec["offering"]["uuid"],
        "imageUuid": spec["image"]["uuid"],
        "l3NetworkUuids": [spec["l3"]["uuid"]],
    }


async def create_vms(cloud: Cloud, spec: dict[str, Any], count: int, prefix: str) -> list[dict[str, Any]]:
    """`count` VMs named `<prefix><i>`, created in parallel; their inventories."""
    names = [f"{prefix}{i}" for i in range(count)]
    return list(await asyncio.gather(*(cloud.ok("CreateVmInstance", **vm_params(spec, n)) for n in names)))


class Cluster:
    """N `cloudbus server` processes sharing one broker and one database, with a short heartbeat.

    `require_membership=False` skips the waits on membership log events ("ring changed",
    "takeover done"), to run the scenarios against a build that has no membership yet.
    """

    def __init__(
        self,
        env: Env,
        workdir: Path,
        *,
        heartbeat_interval: float = 0.5,
        heartbeat_misses: int = 3,
        require_membership: bool = True,
    ) -> None:
        self.env = env
        self.workdir = workdir
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_misses = heartbeat_misses
        self.require_membership = require_membership
        self.servers: list[ServerProcess] = []

    @property
    def dead_after(self) -> float:
        """Seconds of silence after which a node is declared dead."""
        return self.heartbeat_interval * self.heartbeat_misses

    def live(self) -> list[ServerProcess]:
        return [s for s in self.servers if s.running]

    async def start(self, n: int) -> None:
        """Start `n` servers (the first alone: it migrates the database) and wait for one ring of `n`."""
        started = time.monotonic()
        await self.add()
        await asyncio.gather(*(self.add() for _ in range(n - 1)))
        await self.wait_ring()
        print(f"{n} servers up and agreeing on the ring in {time.monotonic() - started:.1f} s")

    async def add(self) -> ServerProcess:
        heartbeat = {
            "CLOUDBUS_HEARTBEAT_INTERVAL": str(self.heartbeat_interval),
            "CLOUDBUS_HEARTBEAT_MISSES": str(self.heartbeat_misses),
        }
        return await start_server(self.env, self.workdir, self.servers, heartbeat)

    async def wait_ring(self, timeout: float = 30.0) -> None:
        """Until every live server's latest "ring changed" lists exactly the live nodes."""
        if not self.require_membership:
            return
        expected = {s.node for s in self.live()}

        def rings() -> dict[str | None, set[str] | None]:
            return {s.node: _last_ring(s) for s in self.live()}

        await wait_until(
            lambda: all(ring == expected for ring in rings().values()),
            timeout,
            lambda: (
                f"servers do not all log a ring of the {len(expected)} live nodes {sorted(map(str, expected))}; "
                f"their latest 'ring changed': {rings()}\n{self.tails()}"
            ),
        )

    def kill9(self, index: int) -> ServerProcess:
        server = self.servers[index]
        server.kill()
        return server

    async def stop(self, index: int) -> int:
        return await self.servers[index].stop()

    async def wait_takeover(self, dead: ServerProcess, timeout: float = 30.0) -> float | None:
        """Seconds from the kill of `dead` until a survivor logged "takeover done" for it (by the
        log's timestamp, so a late look at the log does not inflate the figure)."""
        if not self.require_membership:
            return None

        def names_dead(event: Event) -> bool:  # "dead": one uuid, or the list of the nodes taken over
            value = event.get("dead")
            return value == dead.node or (isinstance(value, list) and dead.node in value)

        def done() -> Event | None:
            return next((e for s in self.live() for e in s.events("takeover done") if names_dead(e)), None)

        event = await wait_until(
            done, timeout, lambda: f"no survivor logged 'takeover done' for {dead.node}\n{self.tails()}"
        )
        logged = datetime.fromisoformat(event["timestamp"]).timestamp() if "timestamp" in event else time.time()
        return logged - (dead.killed_at or logged)

    @asynccontextmanager
    async def api(self, timeout: float) -> AsyncIterator[ApiCloud]:
        async with Client(self.env.bus_url, namespace=self.env.namespace, timeout=timeout) as client:
            await client.log_in("admin", admin_password())
            yield ApiCloud(client)

    def tails(self, lines: int = 15) -> str:
        return "\n".join(f"--- server{i} ({s.node}) ---\n{s.tail(lines)}" for i, s in enumerate(self.servers))

    def close(self) -> None:
        for server in self.servers:
            server.kill()


def _last_ring(server: ServerProcess) -> set[str] | None:
    rings = server.events("ring changed")
    return set(rings[-1].get("members") or ()) if rings else None


class RawClient:
    """A client written the way the wire protocol document says: no cloudbus imports used."""

    def __init__(self, url: str, namespace: str) -> None:
        self.url, self.namespace = url, namespace
        self.auth: dict[str, Any] | None = None  # the envelope's `auth`: set by log_in
        self.replies: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self._arrived = asyncio.Condition()

    async def __aenter__(self) -> RawClient:
        self.conn = await aio_pika.connect(self.url, timeout=10)
        self.channel = await self.conn.channel()
        self.reply_queue = await self.channel.declare_queue(exclusive=True, timeout=10)
        await self.reply_queue.consume(self.on_reply, no_ack=True, timeout=10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.conn.close()

    async def on_reply(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with self._arrived:
            self.replies[message.correlation_id or ""].append(json.loads(message.body))
            self._arrived.notify_all()

    async def publish(
        self,
        name: str,
        body: dict[str, Any],
        *,
        msg_id: str | None = None,
        timeout: float = 30,
        extra: dict[str, Any] | None = None,
        service: str = "api.portal",
    ) -> str:
        """Send API `name` to the portal (or another `service`'s queue) as envelope `msg_id` (new
        if None), with the `extra` envelope keys; returns the id."""
        msg_id = msg_id or uuid.uuid4().hex
        envelope = {"v": 1, "kind": "call", "id": msg_id, "name": name, "body": body, "deadline": time.time() + timeout}
        if self.auth is not None:
            envelope["auth"] = self.auth
        envelope.update(extra or {})
        message = aio_pika.Message(
            json.dumps(envelope).encode(),
            content_type="application/json",
            correlation_id=msg_id,
            reply_to=self.reply_queue.name,
        )
        await self.channel.default_exchange.publish(message, f"{self.namespace}.service.{service}", timeout=10)
        return msg_id

    async def log_in(self, account: str = "admin", password: str = "password") -> dict[str, Any]:
        """LogInByAccount (the password as its SHA-512 hex); later calls carry the session."""
        hashed = hashlib.sha512(password.encode()).hexdigest()
        reply = await self.call("LogInByAccount", {"accountName": account, "password": hashed})
        assert reply["success"], reply
        self.auth = {"session": reply["inventory"]["uuid"]}
        return dict(reply["inventory"])

    async def wait_replies(self, msg_id: str, count: int = 1, timeout: float = 30) -> list[dict[str, Any]]:
        """The reply envelopes to `msg_id` once `count` arrived; TimeoutError otherwise."""
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: len(self.replies[msg_id]) >= count), timeout)
            return list(self.replies[msg_id])

    async def call(self, name: str, body: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
        """Send API `name` to the portal; returns the reply envelope's body."""
        msg_id = await self.publish(name, body, timeout=timeout)
        reply = (await self.wait_replies(msg_id, 1, timeout))[0]
        assert reply["v"] == 1 and reply["kind"] == "reply" and reply["id"] == msg_id
        return dict(reply["body"])

    async def consumers(self, service: str) -> int:
        queue = await self.channel.declare_queue(f"{self.namespace}.service.{service}", passive=True, timeout=10)
        return int(queue.declaration_result.consumer_count or 0)
