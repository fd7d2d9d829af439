"""L2 networks: no-vlan and vlan networks, cluster attachment, detach cascade, deletion."""

from __future__ import annotations

import asyncio
from typing import Any

from cloudbus.cascade.messages import CascadeStep
from cloudbus.core.messages import Event
from cloudbus.testing import Cloud
from tests.support.network import build_network


async def _zone_and_cluster(cloud: Cloud, name: str = "z") -> tuple[dict[str, Any], dict[str, Any]]:
    zone = await cloud.ok("CreateZone", name=name)
    cluster = await cloud.ok("CreateCluster", name=f"{name}-c", zoneUuid=zone["uuid"], hypervisorType="Simulator")
    return zone, cluster


async def test_create_no_vlan_and_vlan_networks(cloud: Cloud) -> None:
    zone, _ = await _zone_and_cluster(cloud)
    plain = await cloud.ok("CreateL2NoVlanNetwork", name="l2", zoneUuid=zone["uuid"], physicalInterface="eth0")
    assert (plain["type"], plain["vlan"], plain["virtualNetworkId"]) == ("L2NoVlanNetwork", None, 0)
    assert (plain["vSwitchType"], plain["physicalInterface"], plain["zoneUuid"]) == (
        "LinuxBridge",
        "eth0",
        zone["uuid"],
    )
    assert plain["attachedClusterUuids"] == []
    vlan = await cloud.ok(
        "CreateL2VlanNetwork",
        name="v",
        zoneUuid=zone["uuid"],
        physicalInterface="eth0",
        vlan=100,
        resourceUuid="a" * 32,
    )
    assert (vlan["uuid"], vlan["type"], vlan["vlan"], vlan["virtualNetworkId"]) == ("a" * 32, "L2VlanNetwork", 100, 100)

    assert {n["uuid"] for n in await cloud.ok("QueryL2Network")} == {plain["uuid"], vlan["uuid"]}
    assert [n["uuid"] for n in await cloud.ok("QueryL2VlanNetwork")] == [vlan["uuid"]]
    assert await cloud.query("QueryL2VlanNetwork", ("uuid", "=", plain["uuid"])) == []
    assert [n["vlan"] for n in await cloud.query("QueryL2VlanNetwork", ("vlan", ">", "50"))] == [100]
    assert await cloud.ok("QueryL2VlanNetwork", count=True) == 1
    # the zone sees both through its expanded query
    assert [z["uuid"] for z in await cloud.query("QueryZone", ("l2Network.vlan", "=", "100"))] == [zone["uuid"]]

    updated = await cloud.ok("UpdateL2Network", uuid=vlan["uuid"], name="renamed", description="d")
    assert (updated["name"], updated["description"], updated["vlan"]) == ("renamed", "d", 100)


async def test_bad_input_changes_nothing(cloud: Cloud) -> None:
    zone, _ = await _zone_and_cluster(cloud)
    await cloud.ok("CreateL2VlanNetwork", name="v", zoneUuid=zone["uuid"], physicalInterface="eth0", vlan=10)
    before = await cloud.snapshot()
    base = {"name": "x", "zoneUuid": zone["uuid"], "physicalInterface": "eth0"}
    for vlan in (0, 4095, -1, "abc"):
        error = await cloud.error("CreateL2VlanNetwork", vlan=vlan, **base)
        assert error.code == "SYS.1007" and "vlan" in error.details
    assert (await cloud.error("CreateL2VlanNetwork", **base)).code == "SYS.1007"  # vlan is mandatory
    duplicate = await cloud.error("CreateL2VlanNetwork", vlan=10, **base)
    assert duplicate.code == "SYS.1007" and "vlan[10]" in duplicate.details and "eth0" in duplicate.details
    assert (await cloud.error("CreateL2NoVlanNetwork", **{**base, "physicalInterface": ""})).code == "SYS.1007"
    assert (await cloud.error("CreateL2NoVlanNetwork", **{**base, "vSwitchType": "OvsDpdk"})).code == "SYS.1007"
    missing = await cloud.error("CreateL2NoVlanNetwork", **{**base, "zoneUuid": "f" * 32})
    assert missing.code == "SYS.1003"
    assert await cloud.snapshot() == before
    # the same vlan on another interface, or in another zone, is fine
    await cloud.ok("CreateL2VlanNetwork", vlan=10, **{**base, "physicalInterface": "eth1"})
    other = await cloud.ok("CreateZone", name="z2")
    await cloud.ok("CreateL2VlanNetwork", vlan=10, **{**base, "zoneUuid": other["uuid"]})


async def test_concurrent_creates_of_one_vlan_make_one_network(cloud: Cloud) -> None:
    zone, _ = await _zone_and_cluster(cloud)
    replies = await asyncio.gather(
        *(
            cloud.api("CreateL2VlanNetwork", name=f"v{i}", zoneUuid=zone["uuid"], physicalInterface="eth0", vlan=7)
            for i in range(8)
        )
    )
    assert sum(r.success for r in replies) == 1
    assert {r.error.code for r in replies if not r.success} == {"SYS.1007"}
    assert len(await cloud.ok("QueryL2VlanNetwork")) == 1


async def test_attach_and_detach_cluster(cloud: Cloud) -> None:
    zone, cluster = await _zone_and_cluster(cloud)
    l2 = await cloud.ok("CreateL2VlanNetwork", name="v", zoneUuid=zone["uuid"], physicalInterface="eth0", vlan=5)
    attached = await cloud.ok("AttachL2NetworkToCluster", l2NetworkUuid=l2["uuid"], clusterUuid=cluster["uuid"])
    assert attached["attachedClusterUuids"] == [cluster["uuid"]]
    assert [n["uuid"] for n in await cloud.query("QueryL2Network", ("cluster.name", "=", "z-c"))] == [l2["uuid"]]
    assert [n["uuid"] for n in await cloud.query("QueryL2Network", ("attachedClusterUuids", "=", cluster["uuid"]))] == [
        l2["uuid"]
    ]
    assert [c["uuid"] for c in await cloud.query("QueryCluster", ("l2Network.vlan", "=", "5"))] == [cluster["uuid"]]
    assert [c["uuid"] for c in await cloud.query("QueryCluster", ("l2VlanNetwork.name", "=", "v"))] == [cluster["uuid"]]

    before = await cloud.snapshot()
    again = await cloud.error("AttachL2NetworkToCluster", l2NetworkUuid=l2["uuid"], clusterUuid=cluster["uuid"])
    assert again.code == "SYS.1007" and "can't attach again" in again.details
    assert await cloud.snapshot() == before

    detached = await cloud.ok("DetachL2NetworkFromCluster", l2NetworkUuid=l2["uuid"], clusterUuid=cluster["uuid"])
    assert detached["attachedClusterUuids"] == []
    before = await cloud.snapshot()
    error = await cloud.error("DetachL2NetworkFromCluster", l2NetworkUuid=l2["uuid"], clusterUuid=cluster["uuid"])
    assert error.code == "SYS.1007" and "has not attached" in error.details
    assert await cloud.snapshot() == before


async def test_attach_failures_are_l2_1000_and_change_nothing(cloud: Cloud) -> None:
    zone, cluster = await _zone_and_cluster(cloud)
    _, far_cluster = await _zone_and_cluster(cloud, "far")
    l2 = await cloud.ok("CreateL2NoVlanNetwork", name="a", zoneUuid=zone["uuid"], physicalInterface="eth0")
    twin = await cloud.ok("CreateL2NoVlanNetwork", name="b", zoneUuid=zone["uuid"], physicalInterface="eth0")
    await cloud.ok("AttachL2NetworkToCluster", l2NetworkUuid=l2["uuid"], clusterUuid=cluster["uuid"])
    before = await cloud.snapshot()

    other_zone = await cloud.error(
        "AttachL2NetworkToCluster", l2NetworkUuid=l2["uuid"], clusterUuid=far_cluster["uuid"]
    )
    assert other_zone.code == "L2.1000" and "zone" in other_zone.details
    clash = await cloud.error("AttachL2NetworkToCluster", l2NetworkUuid=twin["uuid"], clusterUuid=cluster["uuid"])
    assert clash.code == "L2.1000" and l2["uuid"] in clash.details and "eth0" in clash.details
    # a no-vlan network is no L2VlanNetwork, also through an expanded query
    assert [c["uuid"] for c in await cloud.query("QueryCluster", ("l2Network.name", "=", "a"))] == [cluster["uuid"]]
    assert await cloud.query("QueryCluster", ("l2VlanNetwork.name", "=", "a")) == []
    missing = await cloud.error("AttachL2NetworkToCluster", l2NetworkUuid=l2["uuid"], clusterUuid="e" * 32)
    assert missing.code == "SYS.1003"
    assert await cloud.snapshot() == before


async def test_detach_runs_the_detach_cascade_with_the_cluster(cloud: Cloud) -> None:
    env = await cloud.build_env()
    cluster = env["clusters"][0]["uuid"]
    net = await build_network(cloud, env["zones"][0]["uuid"], [cluster])
    events: list[Event] = []

    async def record(event: Event) -> None:
        events.append(event)

    await cloud.node.bus.subscribe("cascade.*", record)
    l3_service = next(s for s in cloud.node.services if s.service_id == "network.l3")
    steps: list[CascadeStep] = []
    original = l3_service.on_detach

    async def spy(inv: Any, step: CascadeStep) -> None:
        steps.append(step)
        await original(inv, step)

    l3_service.on_detach = spy  # type: ignore[method-assign]
    await cloud.ok("DetachL2NetworkFromCluster", l2NetworkUuid=net["l2"]["uuid"], clusterUuid=cluster)
    for _ in range(200):
        if any(e.data["resourceType"] == "L2Network" for e in events):
            break
        await asyncio.sleep(0.01)
    assert {(e.name, e.data["resourceType"], e.data["parentType"]) for e in events} >= {
        ("cascade.detach", "L3Network", "L2Network"),
        ("cascade.detach", "IpRange", "L3Network"),
        ("cascade.detach", "L2Network", None),
    }
    assert {(s.resourceType, s.rootType) for s in steps} == {("L3Network", "L2Network"), ("IpRange", "L2Network")}
    assert all(s.context == {"clusterUuid": cluster} for s in steps)
    assert next(s for s in steps if s.resourceType == "L3Network").uuids == [net["l3"]["uuid"]]
    # the networks themselves stay
    assert len(await cloud.ok("QueryL3Network")) == 1


async def test_delete_l2_cascades_to_l3_ranges_and_used_ips(cloud: Cloud) -> None:
    env = await cloud.build_env()
    zone, cluster = env["zones"][0]["uuid"], env["clusters"][0]["uuid"]
    doomed = await build_network(cloud, zone, [cluster], name="doomed", vlan=3)
    kept = await build_network(cloud, zone, [cluster], name="kept", vlan=4)
    for net in (doomed, kept):
        await cloud.node.bus.call_ok(_allocate(net["l3"]["uuid"]))
    await cloud.ok("DeleteL2Network", uuid=doomed["l2"]["uuid"])
    assert [n["uuid"] for n in await cloud.ok("QueryL2Network")] == [kept["l2"]["uuid"]]
    assert [n["uuid"] for n in await cloud.ok("QueryL3Network")] == [kept["l3"]["uuid"]]
    assert [r["uuid"] for r in await cloud.ok("QueryIpRange")] == [kept["ipRange"]["uuid"]]
    assert {u["l3NetworkUuid"] for u in await cloud.ok("QueryIpAddress")} == {kept["l3"]["uuid"]}
    assert (await cloud.ok("QueryCluster"))[0]["uuid"] == cluster
    # deleting again (or an unknown uuid) succeeds without doing anything
    await cloud.ok("DeleteL2Network", uuid=doomed["l2"]["uuid"])


def _allocate(l3_uuid: str) -> Any:
    from cloudbus.apis.internal.network import AllocateIp

    return AllocateIp(l3NetworkUuid=l3_uuid)
