"""Cascading deletes through the bus: order, Permissive vs Enforcing, failure handling."""

from __future__ import annotations

import asyncio
from typing import Any

from cloudbus.core.messages import Event
from cloudbus.testing import Cloud


async def _record_steps(cloud: Cloud) -> list[tuple[str, str, str | None]]:
    steps: list[tuple[str, str, str | None]] = []

    async def on_step(event: Event) -> None:
        steps.append((event.name.removeprefix("cascade."), event.data["resourceType"], event.data["parentType"]))

    await cloud.node.bus.subscribe("cascade.*", on_step)
    return steps


async def _settle(steps: list[Any], count: int) -> None:
    for _ in range(200):
        if len(steps) >= count:
            return
        await asyncio.sleep(0.01)


async def test_delete_zone_removes_hosts_then_clusters_then_zone(cloud: Cloud) -> None:
    env = await cloud.build_env(zones=2, clusters=2, hosts=2)
    steps = await _record_steps(cloud)
    doomed = env["zones"][0]["uuid"]
    await cloud.ok("DeleteZone", uuid=doomed)
    await _settle(steps, 9)
    deletes = [(t, p) for a, t, p in steps if a == "delete"]
    assert deletes == [("Host", "Cluster"), ("Cluster", "Zone"), ("Zone", None)]
    checks = [(t, p) for a, t, p in steps if a == "check"]
    assert checks == deletes  # Permissive: the whole check pass first
    assert steps.index(("check", "Zone", None)) < steps.index(("delete", "Host", "Cluster"))

    assert [z["uuid"] for z in await cloud.ok("QueryZone")] == [env["zones"][1]["uuid"]]
    assert {c["zoneUuid"] for c in await cloud.ok("QueryCluster")} == {env["zones"][1]["uuid"]}
    hosts = await cloud.ok("QueryHost")
    assert len(hosts) == 4 and {h["zoneUuid"] for h in hosts} == {env["zones"][1]["uuid"]}
    # the driver was told to release exactly the four doomed hosts, each checked before deleted
    doomed_hosts = {h["uuid"] for h in env["hosts"] if h["zoneUuid"] == doomed}
    assert {c.uuid for c in cloud.sim.issued("delete")} == doomed_hosts
    assert {c.uuid for c in cloud.sim.issued("prepareDelete")} == doomed_hosts


async def test_permissive_check_failure_leaves_everything_in_place(cloud: Cloud) -> None:
    env = await cloud.build_env(clusters=1, hosts=3)
    before = await cloud.snapshot()
    victim = env["hosts"][1]["uuid"]
    cloud.sim.fail("prepareDelete", uuid=victim, details="host is busy")
    error = await cloud.error("DeleteZone", uuid=env["zones"][0]["uuid"])
    assert error.code == "SYS.1004"
    assert error.cause.code == "SYS.1006"
    assert "host is busy" in error.cause.details and victim in error.cause.details
    assert await cloud.snapshot() == before
    assert cloud.sim.issued("delete") == []


async def test_enforcing_ignores_the_same_failure(cloud: Cloud) -> None:
    env = await cloud.build_env(clusters=1, hosts=3)
    cloud.sim.fail("prepareDelete", times=None)
    cloud.sim.fail("delete", uuid=env["hosts"][0]["uuid"])
    await cloud.ok("DeleteZone", uuid=env["zones"][0]["uuid"], deleteMode="Enforcing")
    assert await cloud.ok("QueryZone") == []
    assert await cloud.ok("QueryCluster") == []
    assert await cloud.ok("QueryHost") == []
    assert cloud.sim.issued("prepareDelete") == []  # Enforcing skips the check pass


async def test_permissive_delete_failure_reports_cause(cloud: Cloud) -> None:
    env = await cloud.build_env(clusters=1, hosts=1)
    host = env["hosts"][0]["uuid"]
    cloud.sim.fail("delete", uuid=host)
    error = await cloud.error("DeleteCluster", uuid=env["clusters"][0]["uuid"])
    assert error.code == "SYS.1004" and error.cause.code == "SYS.1006"
    # no rollback, as in ZStack: the failing host and its cluster stay, ready for a retry
    assert [h["uuid"] for h in await cloud.ok("QueryHost")] == [host]
    await cloud.ok("DeleteCluster", uuid=env["clusters"][0]["uuid"])
    assert await cloud.ok("QueryHost") == [] and await cloud.ok("QueryCluster") == []


async def test_delete_mode_is_validated(cloud: Cloud) -> None:
    env = await cloud.build_env()
    error = await cloud.error("DeleteZone", uuid=env["zones"][0]["uuid"], deleteMode="Force")
    assert error.code == "SYS.1007" and "deleteMode" in error.details
    assert len(await cloud.ok("QueryHost")) == 1


async def test_malformed_uuid_on_delete(cloud: Cloud) -> None:
    error = await cloud.error("DeleteHost", uuid="zzz")
    assert error.code == "SYS.1003" and "zzz" in error.details


async def test_cascade_is_batched_per_type(cloud: Cloud) -> None:
    env = await cloud.build_env(clusters=3, hosts=4)
    steps = await _record_steps(cloud)
    await cloud.ok("DeleteZone", uuid=env["zones"][0]["uuid"], deleteMode="Enforcing")
    await _settle(steps, 4)
    # 12 hosts in 3 clusters: still one message per (type, action)
    assert [(a, t) for a, t, _ in steps if a != "cleanup"] == [
        ("forceDelete", "Host"),
        ("forceDelete", "Cluster"),
        ("forceDelete", "Zone"),
    ]
