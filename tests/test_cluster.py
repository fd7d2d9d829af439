"""Cluster APIs."""

from __future__ import annotations

from cloudbus.core.ids import new_uuid
from cloudbus.testing import Cloud


async def test_create_cluster_in_zone(cloud: Cloud) -> None:
    zone = await cloud.ok("CreateZone", name="z")
    cluster = await cloud.ok("CreateCluster", name="c1", zoneUuid=zone["uuid"], hypervisorType="KVM")
    assert cluster["zoneUuid"] == zone["uuid"]
    assert (cluster["hypervisorType"], cluster["state"], cluster["type"]) == ("KVM", "Enabled", "zstack")
    assert {"uuid", "name", "description", "createDate", "lastOpDate", "architecture"} <= set(cluster)


async def test_create_cluster_rejects_bad_input_and_changes_nothing(cloud: Cloud) -> None:
    zone = await cloud.ok("CreateZone", name="z")
    before = await cloud.snapshot()
    bad_type = await cloud.error("CreateCluster", name="c", zoneUuid=zone["uuid"], hypervisorType="Xen")
    assert bad_type.code == "SYS.1007" and "hypervisorType" in bad_type.details
    missing = await cloud.error("CreateCluster", name="c", zoneUuid=zone["uuid"])
    assert missing.code == "SYS.1007" and "hypervisorType" in missing.details
    absent_zone = await cloud.error("CreateCluster", name="c", zoneUuid=new_uuid(), hypervisorType="KVM")
    assert absent_zone.code == "SYS.1003" and "ZoneVO" in absent_zone.details
    malformed = await cloud.error("CreateCluster", name="c", zoneUuid="1234", hypervisorType="KVM")
    assert malformed.code == "SYS.1003" and "zoneUuid" in malformed.details
    long_name = await cloud.error("CreateCluster", name="x" * 256, zoneUuid=zone["uuid"], hypervisorType="KVM")
    assert long_name.code == "SYS.1007"
    assert await cloud.snapshot() == before


async def test_uuid_of_wrong_resource_type_is_not_found(cloud: Cloud) -> None:
    zone = await cloud.ok("CreateZone", name="z")
    cluster = await cloud.ok("CreateCluster", name="c", zoneUuid=zone["uuid"], hypervisorType="KVM")
    error = await cloud.error("CreateCluster", name="c2", zoneUuid=cluster["uuid"], hypervisorType="KVM")
    assert error.code == "SYS.1003"
    assert f"uuid:{cluster['uuid']}, type:ZoneVO" in error.details


async def test_update_and_change_state(cloud: Cloud) -> None:
    zone = await cloud.ok("CreateZone", name="z")
    cluster = await cloud.ok("CreateCluster", name="c", zoneUuid=zone["uuid"], hypervisorType="Simulator")
    updated = await cloud.ok("UpdateCluster", uuid=cluster["uuid"], description="rack 1")
    assert (updated["name"], updated["description"]) == ("c", "rack 1")
    disabled = await cloud.ok("ChangeClusterState", uuid=cluster["uuid"], stateEvent="disable")
    assert disabled["state"] == "Disabled"


async def test_delete_cluster_deletes_its_hosts_only(cloud: Cloud) -> None:
    env = await cloud.build_env(clusters=2, hosts=2)
    doomed, kept = env["clusters"]
    await cloud.ok("DeleteCluster", uuid=doomed["uuid"])
    hosts = await cloud.ok("QueryHost")
    assert {h["clusterUuid"] for h in hosts} == {kept["uuid"]}
    assert len(hosts) == 2
    assert [c["uuid"] for c in await cloud.ok("QueryCluster")] == [kept["uuid"]]
