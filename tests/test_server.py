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
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from cloudbus.apis.client import ApiError, Client
from cloudbus.apis.cluster import CreateCluster
from cloudbus.apis.zone import CreateZone
from cloudbus.core.ids import new_uuid
from tests.support.cluster import Env, RawClient, ServerProcess, server_env, start_server


@pytest.fixture
def env(backend: str, request: pytest.FixtureRequest) -> Env:
    return server_env(backend, request)


@pytest.fixture
def servers(env: Env, tmp_path: Path) -> Iterator[list[ServerProcess]]:
    started: list[ServerProcess] = []
    yield started
    for server in started:
        server.kill()


@pytest.fixture
async def raw(env: Env) -> AsyncIterator[RawClient]:
    async with RawClient(env.bus_url, env.namespace) as client:
        yield client


async def test_plain_amqp_json_client_drives_the_server(
    env: Env, tmp_path: Path, servers: list[ServerProcess], raw: RawClient
) -> None:
    server = await start_server(env, tmp_path, servers)

    # without credentials only the login APIs answer; a caller claimed in the envelope is ignored
    refused = await raw.call("CreateZone", {"name": "z0"})
    assert refused["success"] is False and refused["error"]["code"] == "ID.1001"
    forged = {"accountUuid": "36c27e8ff05c4780bf6d2fa65700f22e", "admin": True}
    msg_id = await raw.publish("CreateZone", {"name": "z0"}, extra={"caller": forged})
    [reply] = await raw.wait_replies(msg_id)
    assert reply["body"]["error"]["code"] == "ID.1001"
    # nor can a client skip the portal: a node's service queues take only what nodes signed
    for service, name in (("query", "QueryAccount"), ("zone", "CreateZone")):
        msg_id = await raw.publish(name, {"name": "z0"} if name == "CreateZone" else {}, service=service)
        [reply] = await raw.wait_replies(msg_id)
        assert reply["body"]["error"]["code"] == "ID.1002", reply
        assert "signed by a management node" in reply["body"]["error"]["details"]
    await raw.log_in("admin", "password")

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
        with pytest.raises(ApiError) as refused:
            await c.call(CreateZone(name="z0"))
        assert refused.value.error.code == "ID.1001"
        await c.log_in("admin", "password")
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
    await raw.log_in("admin", "password")

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

    refused = await asyncio.to_thread(cli, "CreateZone", "name=zone0")
    assert refused.returncode == 1 and json.loads(refused.stdout)["error"]["code"] == "ID.1001"
    login = await asyncio.to_thread(cli, "LogInByAccount", "accountName=admin", "password=password")
    assert login.returncode == 0, login.stderr
    created = await asyncio.to_thread(cli, "CreateZone", "name=zone1", "description=first zone")
    assert created.returncode == 0, created.stderr
    zone = json.loads(created.stdout)["inventory"]
    assert zone["description"] == "first zone"
    queried = await asyncio.to_thread(cli, "QueryZone", "name=zone1", "fields=uuid")
    assert json.loads(queried.stdout) == {"inventories": [{"uuid": zone["uuid"]}], "success": True}
    bad = await asyncio.to_thread(cli, "CreateCluster", "name=c", "hypervisorType=KVM", f"zoneUuid={new_uuid()}")
    assert bad.returncode == 1 and json.loads(bad.stdout)["error"]["code"] == "SYS.1003"
    assert not (home / "cloudbus.db").exists()  # a pure client: no embedded database
