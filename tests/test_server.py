"""`cloudbus server` as users run it: a real process on RabbitMQ + PostgreSQL.

Clients drive it (a) with plain aio-pika and hand-written JSON, exactly as a client in
another language would (docs/wire-protocol.md), (b) with cloudbus.apis.client.Client;
(c) two servers on one broker and one database share the work. Needs the amqp backend
(`pytest --backend=amqp`, which CI runs); in local mode the tests skip, saying why.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from cloudbus.apis.client import ApiError, Client
from cloudbus.apis.cluster import CreateCluster
from cloudbus.apis.zone import CreateZone
from cloudbus.core.ids import new_uuid

READY_TIMEOUT = 60.0


@dataclass
class Env:
    bus_url: str
    db_url: str
    namespace: str


@pytest.fixture
def env(backend: str, request: pytest.FixtureRequest) -> Env:
    if backend != "amqp":
        pytest.skip("cloudbus server needs RabbitMQ + PostgreSQL: run with --backend=amqp (CI runs both backends)")
    postgres = request.getfixturevalue("postgres")
    return Env(
        bus_url=str(request.getfixturevalue("rabbitmq_url")),
        db_url=postgres.create_database(f"srv_{new_uuid()[:12]}"),
        namespace=f"t{new_uuid()[:10]}",
    )


class ServerProcess:
    """One `cloudbus server` subprocess; its JSON log goes to a file we can read."""

    def __init__(self, env: Env, log_path: Path) -> None:
        self.log_path = log_path
        environ = dict(
            os.environ,
            CLOUDBUS_BUS_URL=env.bus_url,
            CLOUDBUS_DB_URL=env.db_url,
            CLOUDBUS_BUS_NAMESPACE=env.namespace,
            CLOUDBUS_HOME=str(log_path.parent),
        )
        code = "import sys; from cloudbus.apis.cli import main; sys.exit(main(['server']))"
        with log_path.open("wb") as log:
            self.proc = subprocess.Popen([sys.executable, "-c", code], env=environ, stderr=log, stdout=log)

    def events(self) -> list[dict[str, Any]]:
        """The log lines that are JSON events (all of them, for a healthy server)."""
        return [event for ok, event in self._lines() if ok]

    def non_json_lines(self) -> list[str]:
        return [line for ok, line in self._lines() if not ok]

    def _lines(self) -> list[tuple[bool, Any]]:
        parsed: list[tuple[bool, Any]] = []
        for line in self.log_path.read_text().splitlines():
            try:
                parsed.append((True, json.loads(line)))
            except json.JSONDecodeError:
                parsed.append((False, line))
        return [(ok, item) for ok, item in parsed if not ok or isinstance(item, dict)]

    async def wait_for_event(self, name: str, timeout: float = READY_TIMEOUT) -> dict[str, Any]:
        limit = time.monotonic() + timeout
        while time.monotonic() < limit:
            for event in self.events():
                if event.get("event") == name:
                    return event
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log_path.read_text()}")
            await asyncio.sleep(0.1)
        raise AssertionError(f"no '{name}' from the server within {timeout} s:\n{self.log_path.read_text()}")

    async def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return await asyncio.to_thread(self.proc.wait, 30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            raise

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def servers(env: Env, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.kill()


async def start_server(env: Env, tmp_path: Path, servers: list[ServerProcess]) -> ServerProcess:
    server = ServerProcess(env, tmp_path / f"server{len(servers)}.log")
    servers.append(server)
    await server.wait_for_event("server ready")
    return server


class RawClient:
    """A client written the way the wire protocol document says: no cloudbus imports used."""

    def __init__(self, url: str, namespace: str) -> None:
        self.url, self.namespace = url, namespace
        self.pending: dict[str, asyncio.Future[dict[str, Any]]] = {}

    async def __aenter__(self) -> RawClient:
        self.conn = await aio_pika.connect(self.url, timeout=10)
        self.channel = await self.conn.channel()
        self.replies = await self.channel.declare_queue(exclusive=True, timeout=10)
        await self.replies.consume(self.on_reply, no_ack=True, timeout=10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.conn.close()

    async def on_reply(self, message: aio_pika.abc.AbstractIncomingMessage) -> None:
        future = self.pending.pop(message.correlation_id or "", None)
        if future is not None and not future.done():
            future.set_result(json.loads(message.body))

    async def call(self, name: str, body: dict[str, Any], timeout: float = 30) -> dict[str, Any]:
        """Send API `name` to the portal; returns the reply envelope's body."""
        msg_id = new_uuid()
        envelope = {"v": 1, "kind": "call", "id": msg_id, "name": name, "body": body, "deadline": time.time() + timeout}
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[msg_id] = future
        message = aio_pika.Message(
            json.dumps(envelope).encode(),
            content_type="application/json",
            correlation_id=msg_id,
            reply_to=self.replies.name,
        )
        await self.channel.default_exchange.publish(message, f"{self.namespace}.service.api.portal", timeout=10)
        reply = await asyncio.wait_for(future, timeout)
        assert reply["v"] == 1 and reply["kind"] == "reply" and reply["id"] == msg_id
        return dict(reply["body"])

    async def consumers(self, service: str) -> int:
        queue = await self.channel.declare_queue(f"{self.namespace}.service.{service}", passive=True, timeout=10)
        return int(queue.declaration_result.consumer_count or 0)


@pytest.fixture
async def raw(env: Env) -> AsyncIterator[RawClient]:
    async with RawClient(env.bus_url, env.namespace) as client:
        yield client


async def test_plain_amqp_json_client_drives_the_server(
    env: Env, tmp_path: Path, servers: list[ServerProcess], raw: RawClient
) -> None:
    server = await start_server(env, tmp_path, servers)

    zone = await raw.call("CreateZone", {"name": "z1"})
    assert zone["success"] is True and zone["inventory"]["name"] == "z1"
    cluster = await raw.call(
        "CreateCluster", {"name": "c1", "zoneUuid": zone["inventory"]["uuid"], "hypervisorType": "Simulator"}
    )
    assert cluster["success"] is True, cluster
    host = await raw.call(
        "AddSimulatorHost",
        {"name": "h1", "clusterUuid": cluster["inventory"]["uuid"], "managementIp": "10.0.0.1"},
    )
    assert host["success"] is True, host
    found = await raw.call("QueryHost", {"conditions": [{"name": "name", "op": "=", "value": "h1"}]})
    assert [h["uuid"] for h in found["inventories"]] == [host["inventory"]["uuid"]]

    missing = await raw.call("CreateCluster", {"name": "c2", "hypervisorType": "Simulator"})
    assert missing["success"] is False and missing["error"]["code"] == "SYS.1007"
    assert "zoneUuid" in missing["error"]["details"]
    unknown = await raw.call("NoSuchApi", {})
    assert unknown["success"] is False and unknown["error"]["code"] == "SYS.1008"
    assert all("Traceback" not in json.dumps(r) for r in (missing, unknown))

    assert await server.stop() == 0
    assert {e["event"] for e in server.events()} >= {"server ready", "server stopped"}
    assert server.non_json_lines() == []


async def test_python_client_talks_to_the_server(env: Env, tmp_path: Path, servers: list[ServerProcess]) -> None:
    await start_server(env, tmp_path, servers)
    async with Client(env.bus_url, namespace=env.namespace) as c:
        inv = await c.call(CreateZone(name="z1"))
        assert inv["name"] == "z1"
        with pytest.raises(ApiError) as failed:
            await c.call(CreateCluster(name="c1", zoneUuid=new_uuid(), hypervisorType="Simulator"))
        assert failed.value.error.code == "SYS.1003"


async def test_two_servers_share_one_cloud(
    env: Env, tmp_path: Path, servers: list[ServerProcess], raw: RawClient
) -> None:
    # One after the other: the first applies the database migrations.
    first = await start_server(env, tmp_path, servers)
    second = await start_server(env, tmp_path, servers)
    assert await raw.consumers("api.portal") == 2

    replies = await asyncio.gather(*(raw.call("CreateZone", {"name": f"z{i}"}) for i in range(100)))
    assert all(r["success"] for r in replies), [r for r in replies if not r["success"]][:3]
    assert len({r["inventory"]["uuid"] for r in replies}) == 100
    total = await raw.call("QueryZone", {"count": True})
    assert total["total"] == 100

    assert first.proc.poll() is None and second.proc.poll() is None
    assert await first.stop() == 0
    # The survivor serves alone.
    assert (await raw.call("CreateZone", {"name": "after"}))["success"] is True
    assert await second.stop() == 0


async def test_cli_is_a_pure_client_of_running_servers(env: Env, tmp_path: Path, servers: list[ServerProcess]) -> None:
    await start_server(env, tmp_path, servers)
    home = tmp_path / "cli-home"
    environ = dict(
        os.environ, CLOUDBUS_BUS_URL=env.bus_url, CLOUDBUS_BUS_NAMESPACE=env.namespace, CLOUDBUS_HOME=str(home)
    )
    environ.pop("CLOUDBUS_DB_URL", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["cloudbus", *args], capture_output=True, text=True, env=environ, timeout=60)

    created = await asyncio.to_thread(cli, "CreateZone", "name=zone1", "description=first zone")
    assert created.returncode == 0, created.stderr
    zone = json.loads(created.stdout)["inventory"]
    assert zone["description"] == "first zone"
    queried = await asyncio.to_thread(cli, "QueryZone", "name=zone1", "fields=uuid")
    assert json.loads(queried.stdout) == {"inventories": [{"uuid": zone["uuid"]}], "success": True}
    bad = await asyncio.to_thread(cli, "CreateCluster", "name=c", "hypervisorType=KVM", f"zoneUuid={new_uuid()}")
    assert bad.returncode == 1 and json.loads(bad.stdout)["error"]["code"] == "SYS.1003"
    assert not (home / "cloudbus.db").exists()  # a pure client: no embedded database
