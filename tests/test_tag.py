"""Tags: CreateUserTag / CreateSystemTag / DeleteTag, tags given on Create* APIs, tags
removed with their resource, and the `__userTag__` / `__systemTag__` query pseudo-fields."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import delete

from cloudbus.core.ids import new_uuid
from cloudbus.inventory.zone import ZONE
from cloudbus.testing import Cloud
from tests.support.vm_env import create_vm, vm_env


async def _zones(cloud: Cloud) -> dict[str, dict[str, Any]]:
    """z1: user tag web; z2: web and db, system tag os::ubuntu; z3: untagged."""
    z1 = await cloud.ok("CreateZone", name="z1", userTags=["web"])
    z2 = await cloud.ok("CreateZone", name="z2", userTags=["web", "db"], systemTags=["os::ubuntu"])
    z3 = await cloud.ok("CreateZone", name="z3")
    return {"z1": z1, "z2": z2, "z3": z3}


async def _names(cloud: Cloud, api: str, *conditions: tuple[str, str, Any]) -> list[str]:
    return sorted(i["name"] for i in await cloud.query(api, *conditions))


async def test_create_user_and_system_tags(cloud: Cloud) -> None:
    zone = await cloud.ok("CreateZone", name="z")
    tag = await cloud.ok("CreateUserTag", resourceType="ZoneVO", resourceUuid=zone["uuid"], tag="production")
    assert (tag["resourceUuid"], tag["resourceType"], tag["tag"], tag["type"]) == (
        zone["uuid"],
        "ZoneVO",
        "production",
        "User",
    )
    system = await cloud.ok("CreateSystemTag", resourceType="ZoneVO", resourceUuid=zone["uuid"], tag="owner::ops")
    assert (system["type"], system["inherent"]) == ("System", False)
    assert [t["uuid"] for t in await cloud.ok("QueryUserTag")] == [tag["uuid"]]
    assert [t["uuid"] for t in await cloud.query("QuerySystemTag", ("resourceUuid", "=", zone["uuid"]))] == [
        system["uuid"]
    ]
    updated = await cloud.ok("UpdateSystemTag", uuid=system["uuid"], tag="owner::dev")
    assert updated["tag"] == "owner::dev"


async def test_bad_tag_input_changes_nothing(cloud: Cloud) -> None:
    zone = await cloud.ok("CreateZone", name="z")
    await cloud.ok("CreateUserTag", resourceType="ZoneVO", resourceUuid=zone["uuid"], tag="web")
    before = await cloud.snapshot()
    error = await cloud.error("CreateUserTag", resourceType="NoSuchVO", resourceUuid=zone["uuid"], tag="x")
    assert error.code == "SYS.1007" and "NoSuchVO" in error.details
    error = await cloud.error("CreateUserTag", resourceType="HostVO", resourceUuid=zone["uuid"], tag="x")
    assert error.code == "SYS.1003" and zone["uuid"] in error.details and "HostVO" in error.details
    error = await cloud.error("CreateUserTag", resourceType="ZoneVO", resourceUuid="not-a-uuid", tag="x")
    assert error.code == "SYS.1007"
    error = await cloud.error("CreateUserTag", resourceType="ZoneVO", resourceUuid=zone["uuid"], tag="  ")
    assert error.code == "SYS.1007"
    error = await cloud.error("CreateUserTag", resourceType="ZoneVO", resourceUuid=zone["uuid"], tag="web")
    assert error.code == "TAG.1000" and "web" in error.details
    error = await cloud.error("UpdateSystemTag", uuid=new_uuid(), tag="x")
    assert error.code == "SYS.1003"
    # tags on a create are checked before anything is created
    error = await cloud.error("CreateZone", name="z2", userTags=["ok", ""])
    assert error.code == "SYS.1007" and "userTags" in error.details
    assert await cloud.snapshot() == before


async def test_concurrent_duplicate_tags_create_one(cloud: Cloud) -> None:
    zone = await cloud.ok("CreateZone", name="z")
    replies = await asyncio.gather(
        *(cloud.api("CreateUserTag", resourceType="ZoneVO", resourceUuid=zone["uuid"], tag="web") for _ in range(5))
    )
    assert sum(r.success for r in replies) == 1
    assert {r.error.code for r in replies if not r.success} == {"TAG.1000"}


async def test_tags_on_create_are_recorded_for_the_new_resource(cloud: Cloud) -> None:
    zones = await _zones(cloud)
    env_cluster = await cloud.ok(
        "CreateCluster", name="c", zoneUuid=zones["z1"]["uuid"], hypervisorType="Simulator", userTags=["gpu"]
    )
    user = await cloud.ok("QueryUserTag")
    assert sorted((t["resourceType"], t["tag"]) for t in user) == [
        ("ClusterVO", "gpu"),
        ("ZoneVO", "db"),
        ("ZoneVO", "web"),
        ("ZoneVO", "web"),
    ]
    assert {t["resourceUuid"] for t in user if t["tag"] == "gpu"} == {env_cluster["uuid"]}
    system = await cloud.ok("QuerySystemTag")
    assert [(t["resourceUuid"], t["tag"]) for t in system] == [(zones["z2"]["uuid"], "os::ubuntu")]


async def test_user_tag_pseudo_field_operators(cloud: Cloud) -> None:
    await _zones(cloud)
    q = "QueryZone"
    assert await _names(cloud, q, ("__userTag__", "=", "web")) == ["z1", "z2"]
    # negative operators include untagged resources ...
    assert await _names(cloud, q, ("__userTag__", "!=", "web")) == ["z3"]
    assert await _names(cloud, q, ("__userTag__", "!=", "db")) == ["z1", "z3"]
    # ... unless `!=null` excludes them
    assert await _names(cloud, q, ("__userTag__", "!=", "db"), ("__userTag__", "is not null", None)) == ["z1"]
    assert await _names(cloud, q, ("__userTag__", "is null", None)) == ["z3"]
    assert await _names(cloud, q, ("__userTag__", "is not null", None)) == ["z1", "z2"]
    assert await _names(cloud, q, ("__userTag__", "in", "db,nothing")) == ["z2"]
    assert await _names(cloud, q, ("__userTag__", "not in", "db,nothing")) == ["z1", "z3"]
    assert await _names(cloud, q, ("__userTag__", "like", "w%")) == ["z1", "z2"]
    assert await _names(cloud, q, ("__userTag__", "not like", "d%")) == ["z1", "z3"]
    assert await _names(cloud, q, ("__userTag__", "=", "web"), ("name", "!=", "z1")) == ["z2"]
    assert await cloud.ok(q, conditions=[{"name": "__userTag__", "op": "=", "value": "web"}], count=True) == 2


async def test_system_tag_pseudo_field_and_nested_paths(cloud: Cloud) -> None:
    zones = await _zones(cloud)
    for name, zone in zones.items():
        await cloud.ok("CreateCluster", name=f"c-{name}", zoneUuid=zone["uuid"], hypervisorType="Simulator")
    assert await _names(cloud, "QueryZone", ("__systemTag__", "=", "os::ubuntu")) == ["z2"]
    assert await _names(cloud, "QueryZone", ("__systemTag__", "!=", "os::ubuntu")) == ["z1", "z3"]
    assert await _names(cloud, "QueryZone", ("__systemTag__", "=", "web")) == []  # user tags are not system tags
    assert await _names(cloud, "QueryZone", ("__systemTag__", "is null", None)) == ["z1", "z3"]
    # through an expanded query: clusters of zones tagged web
    assert await _names(cloud, "QueryCluster", ("zone.__userTag__", "=", "web")) == ["c-z1", "c-z2"]


async def test_tag_pseudo_field_errors(cloud: Cloud) -> None:
    error = await cloud.error("QueryZone", conditions=[{"name": "__userTag__", "op": "=", "value": None}])
    assert error.code == "SYS.1007"
    error = await cloud.error("QueryZone", sortBy="__userTag__")
    assert error.code == "SYS.1007"


async def test_delete_tag(cloud: Cloud) -> None:
    zone = await cloud.ok("CreateZone", name="z")
    tag = await cloud.ok("CreateUserTag", resourceType="ZoneVO", resourceUuid=zone["uuid"], tag="web")
    system = await cloud.ok("CreateSystemTag", resourceType="ZoneVO", resourceUuid=zone["uuid"], tag="a::b")
    await cloud.ok("DeleteTag", uuid=tag["uuid"])
    await cloud.ok("DeleteTag", uuid=system["uuid"], deleteMode="Enforcing")
    await cloud.ok("DeleteTag", uuid=tag["uuid"])  # gone already: still a success
    assert await cloud.ok("QueryUserTag") == [] and await cloud.ok("QuerySystemTag") == []
    assert len(await cloud.ok("QueryZone")) == 1


async def test_tags_go_with_their_resources(cloud: Cloud) -> None:
    env = await cloud.build_env(zones=2, clusters=1, hosts=2)
    keep_zone, doomed_zone = env["zones"][1], env["zones"][0]
    for kind, rtype in (("zones", "ZoneVO"), ("clusters", "ClusterVO"), ("hosts", "HostVO")):
        for inv in env[kind]:
            await cloud.ok("CreateUserTag", resourceType=rtype, resourceUuid=inv["uuid"], tag="t")
            await cloud.ok("CreateSystemTag", resourceType=rtype, resourceUuid=inv["uuid"], tag="s::t")
    lone_host = next(h for h in env["hosts"] if h["zoneUuid"] == keep_zone["uuid"])
    await cloud.ok("DeleteHost", uuid=lone_host["uuid"])
    assert lone_host["uuid"] not in {t["resourceUuid"] for t in await cloud.ok("QueryUserTag")}

    await cloud.ok("DeleteZone", uuid=doomed_zone["uuid"])
    survivors = (
        {h["uuid"] for h in await cloud.ok("QueryHost")}
        | {c["uuid"] for c in await cloud.ok("QueryCluster")}
        | {keep_zone["uuid"]}
    )
    for api in ("QueryUserTag", "QuerySystemTag"):
        tagged = {t["resourceUuid"] for t in await cloud.ok(api)}
        assert tagged == survivors  # exactly the tags of what is left, right after the reply


async def test_sweep_catches_rows_removed_outside_an_api(cloud: Cloud) -> None:
    zone = await cloud.ok("CreateZone", name="z", userTags=["web"], systemTags=["a::b"])
    async with cloud.db.tx() as conn:  # e.g. an expunge timer
        await conn.execute(delete(ZONE.table).where(ZONE.key == zone["uuid"]))
    service = next(s for s in cloud.node.services if s.service_id == "tag")
    assert await service.sweep() == 2
    assert await cloud.ok("QueryUserTag") == [] and await cloud.ok("QuerySystemTag") == []
    assert await service.sweep() == 0


async def test_vm_tags_follow_the_vm(cloud: Cloud) -> None:
    env = await vm_env(cloud)
    vm = await create_vm(cloud, env, userTags=["web"], systemTags=["hostname::web1"])
    (tag,) = await cloud.ok("QueryUserTag")
    assert (tag["resourceType"], tag["resourceUuid"]) == ("VmInstanceVO", vm["uuid"])
    assert [v["uuid"] for v in await cloud.query("QueryVmInstance", ("__systemTag__", "=", "hostname::web1"))] == [
        vm["uuid"]
    ]
    nic = vm["vmNics"][0]["uuid"]
    await cloud.ok("CreateUserTag", resourceType="VmNicVO", resourceUuid=nic, tag="eth0")
    await cloud.ok("DestroyVmInstance", uuid=vm["uuid"])  # Delay: the VM and its nic stay, so do their tags
    assert len(await cloud.ok("QueryUserTag")) == 2
    await cloud.ok("ExpungeVmInstance", uuid=vm["uuid"])
    assert await cloud.ok("QueryUserTag") == [] and await cloud.ok("QuerySystemTag") == []
