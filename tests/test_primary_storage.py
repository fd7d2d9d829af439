"""Primary storage: the three types, attach/detach, capacity under concurrency, driver commands, cascade."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from cloudbus.apis.internal.storage import (
    AllocatePrimaryStorage,
    DeleteVolumeBits,
    InstantiateVolume,
    ReturnPrimaryStorageCapacity,
    SnapshotCommand,
)
from cloudbus.core.ids import new_uuid
from cloudbus.core.units import GiB, TiB
from cloudbus.inventory.primary_storage import local_storage_host_ref_table
from cloudbus.testing import Cloud
from tests.support.storage import eventually, ps_row, ps_sim, simulator_ps, zone_cluster


async def _host_shares(cloud: Cloud) -> dict[str, tuple[int, int]]:
    t = local_storage_host_ref_table
    async with cloud.db.read() as conn:
        rows = (await conn.execute(select(t.c.hostUuid, t.c.totalCapacity, t.c.availableCapacity))).all()
    return {h: (total, available) for h, total, available in rows}


async def test_add_simulator_primary_storage(cloud: Cloud) -> None:
    zone, _, _ = await zone_cluster(cloud)
    ps = await simulator_ps(cloud, zone["uuid"], total=100 * GiB, availableCapacity=60 * GiB)
    assert (ps["type"], ps["state"], ps["status"]) == ("SimulatorPrimaryStorage", "Enabled", "Connected")
    assert (ps["totalCapacity"], ps["availableCapacity"]) == (100 * GiB, 60 * GiB)
    assert (ps["totalPhysicalCapacity"], ps["availablePhysicalCapacity"]) == (100 * GiB, 60 * GiB)
    assert ps["zoneUuid"] == zone["uuid"] and ps["attachedClusterUuids"] == []
    for field in ("uuid", "name", "url", "description", "systemUsedCapacity", "mountPath", "createDate", "lastOpDate"):
        assert field in ps
    assert [c.command for c in ps_sim(cloud).commands if c.uuid == ps["uuid"]] == ["connect"]


async def test_add_nfs_primary_storage(cloud: Cloud) -> None:
    zone, _, _ = await zone_cluster(cloud)
    ps = await cloud.ok("AddNfsPrimaryStorage", name="nfs", zoneUuid=zone["uuid"], url="10.0.0.2:/export/ps")
    assert ps["type"] == "NFS" and ps["status"] == "Connected"
    assert ps["totalCapacity"] == ps["availableCapacity"] == TiB  # the simulator's NFS share
    assert ps["mountPath"] == f"/opt/zstack/nfsprimarystorage/prim-{ps['uuid']}"
    before = await cloud.snapshot()
    error = await cloud.error("AddNfsPrimaryStorage", name="nfs2", zoneUuid=zone["uuid"], url="10.0.0.2:/export/ps")
    assert error.code == "SYS.1007" and "url" in error.details
    error = await cloud.error("AddNfsPrimaryStorage", name="bad", zoneUuid=zone["uuid"], url="/not/nfs")
    assert error.code == "SYS.1007" and "server:/export" in error.details
    assert await cloud.snapshot() == before


async def test_bad_input_changes_nothing(cloud: Cloud) -> None:
    zone, _, _ = await zone_cluster(cloud)
    before = await cloud.snapshot()
    cases = [
        ("AddLocalPrimaryStorage", {"name": "l", "zoneUuid": zone["uuid"], "url": "relative/path"}, "SYS.1007"),
        ("AddLocalPrimaryStorage", {"zoneUuid": zone["uuid"], "url": "/ps"}, "SYS.1007"),
        ("AddLocalPrimaryStorage", {"name": "l", "zoneUuid": new_uuid(), "url": "/ps"}, "SYS.1003"),
        (
            "AddSimulatorPrimaryStorage",
            {"name": "s", "zoneUuid": zone["uuid"], "url": "/s", "totalCapacity": -1},
            "SYS.1007",
        ),
        (
            "AddSimulatorPrimaryStorage",
            {"name": "s", "zoneUuid": zone["uuid"], "url": "/s", "totalCapacity": 10, "availableCapacity": 11},
            "SYS.1007",
        ),
        ("AddNfsPrimaryStorage", {"name": "n", "zoneUuid": zone["uuid"], "url": "h:/e", "bogus": 1}, "SYS.1007"),
        ("ChangePrimaryStorageState", {"uuid": new_uuid(), "stateEvent": "enable"}, "SYS.1003"),
        ("AttachPrimaryStorageToCluster", {"clusterUuid": new_uuid(), "primaryStorageUuid": new_uuid()}, "SYS.1003"),
        ("DeletePrimaryStorage", {"uuid": "not-a-uuid"}, "SYS.1003"),
    ]
    for api, params, code in cases:
        error = await cloud.error(api, **params)
        assert error.code == code, (api, params, error)
    assert await cloud.snapshot() == before


async def test_failed_connect_leaves_nothing(cloud: Cloud) -> None:
    zone, _, _ = await zone_cluster(cloud)
    before = await cloud.snapshot()
    ps_sim(cloud).fail("connect")
    error = await cloud.error("AddNfsPrimaryStorage", name="n", zoneUuid=zone["uuid"], url="h:/e")
    assert error.code == "SYS.1002" and error.cause.code == "SYS.1006" and "connect" in error.cause.details
    assert await cloud.snapshot() == before


async def test_update_state_reconnect(cloud: Cloud) -> None:
    zone, _, _ = await zone_cluster(cloud)
    ps = await cloud.ok("AddNfsPrimaryStorage", name="n", zoneUuid=zone["uuid"], url="h:/e")
    updated = await cloud.ok("UpdatePrimaryStorage", uuid=ps["uuid"], name="renamed", description="d", url="h2:/e")
    assert (updated["name"], updated["description"], updated["url"]) == ("renamed", "d", "h2:/e")
    error = await cloud.error("UpdatePrimaryStorage", uuid=ps["uuid"], url="nope")
    assert error.code == "SYS.1007"
    for event, state in (("disable", "Disabled"), ("maintain", "Maintenance"), ("enable", "Enabled")):
        assert (await cloud.ok("ChangePrimaryStorageState", uuid=ps["uuid"], stateEvent=event))["state"] == state
    assert (await cloud.error("ChangePrimaryStorageState", uuid=ps["uuid"], stateEvent="explode")).code == "SYS.1007"

    assert (await cloud.ok("ReconnectPrimaryStorage", uuid=ps["uuid"]))["status"] == "Connected"
    ps_sim(cloud).fail("connect", uuid=ps["uuid"])
    error = await cloud.error("ReconnectPrimaryStorage", uuid=ps["uuid"])
    assert error.code == "PS.1003" and error.cause.code == "SYS.1006"
    assert (await ps_row(cloud, ps["uuid"]))["status"] == "Disconnected"
    assert (await cloud.ok("ReconnectPrimaryStorage", uuid=ps["uuid"]))["status"] == "Connected"


async def test_attach_and_detach(cloud: Cloud) -> None:
    zone, cluster, _ = await zone_cluster(cloud)
    ps = await simulator_ps(cloud, zone["uuid"])
    attached = await cloud.ok(
        "AttachPrimaryStorageToCluster", clusterUuid=cluster["uuid"], primaryStorageUuid=ps["uuid"]
    )
    assert attached["attachedClusterUuids"] == [cluster["uuid"]]
    [found] = await cloud.query("QueryPrimaryStorage", ("cluster.name", "=", "c"))
    assert found["uuid"] == ps["uuid"]
    assert [p["uuid"] for p in await cloud.query("QueryPrimaryStorage", ("zone.name", "=", "z"))] == [ps["uuid"]]
    assert [p["uuid"] for p in await cloud.query("QueryPrimaryStorage", ("attachedClusterUuids", "=", cluster["uuid"]))]

    before = await cloud.snapshot()
    error = await cloud.error(
        "AttachPrimaryStorageToCluster", clusterUuid=cluster["uuid"], primaryStorageUuid=ps["uuid"]
    )
    assert error.code == "PS.1001" and "has been attached" in error.details
    assert await cloud.snapshot() == before

    detached = await cloud.ok(
        "DetachPrimaryStorageFromCluster", primaryStorageUuid=ps["uuid"], clusterUuid=cluster["uuid"]
    )
    assert detached["attachedClusterUuids"] == []
    assert len(ps_sim(cloud).issued("detach", ps["uuid"])) == 1
    before = await cloud.snapshot()
    error = await cloud.error(
        "DetachPrimaryStorageFromCluster", primaryStorageUuid=ps["uuid"], clusterUuid=cluster["uuid"]
    )
    assert error.code == "PS.1002" and "has not been attached" in error.details
    assert await cloud.snapshot() == before


async def test_attach_needs_the_same_zone_and_a_working_driver(cloud: Cloud) -> None:
    zone, cluster, _ = await zone_cluster(cloud)
    other = await cloud.ok("CreateZone", name="other")
    far = await simulator_ps(cloud, other["uuid"])
    near = await simulator_ps(cloud, zone["uuid"])
    before = await cloud.snapshot()
    error = await cloud.error(
        "AttachPrimaryStorageToCluster", clusterUuid=cluster["uuid"], primaryStorageUuid=far["uuid"]
    )
    assert error.code == "PS.1001" and "same zone" in error.details
    ps_sim(cloud).fail("attach", uuid=near["uuid"])
    error = await cloud.error(
        "AttachPrimaryStorageToCluster", clusterUuid=cluster["uuid"], primaryStorageUuid=near["uuid"]
    )
    assert error.code == "PS.1001" and error.cause.code == "SYS.1006"
    assert await cloud.snapshot() == before


async def test_failed_detach_restores_the_attachment(cloud: Cloud) -> None:
    zone, cluster, _ = await zone_cluster(cloud)
    ps = await simulator_ps(cloud, zone["uuid"])
    await cloud.ok("AttachPrimaryStorageToCluster", clusterUuid=cluster["uuid"], primaryStorageUuid=ps["uuid"])
    before = await cloud.snapshot()
    ps_sim(cloud).fail("detach", uuid=ps["uuid"])
    error = await cloud.error(
        "DetachPrimaryStorageFromCluster", primaryStorageUuid=ps["uuid"], clusterUuid=cluster["uuid"]
    )
    assert error.code == "PS.1002" and error.cause.code == "SYS.1006"
    assert await cloud.snapshot() == before


async def test_local_storage_is_the_sum_of_host_shares(cloud: Cloud) -> None:
    zone, cluster, hosts = await zone_cluster(cloud, hosts=2)
    ps_sim(cloud).host_disk[hosts[1]["uuid"]] = 500 * GiB
    ps = await cloud.ok("AddLocalPrimaryStorage", name="local", zoneUuid=zone["uuid"], url="/zstack_ps")
    assert (ps["type"], ps["totalCapacity"], ps["availableCapacity"]) == ("LocalStorage", 0, 0)
    ps = await cloud.ok("AttachPrimaryStorageToCluster", clusterUuid=cluster["uuid"], primaryStorageUuid=ps["uuid"])
    assert ps["totalCapacity"] == ps["availableCapacity"] == TiB + 500 * GiB
    assert await _host_shares(cloud) == {hosts[0]["uuid"]: (TiB, TiB), hosts[1]["uuid"]: (500 * GiB, 500 * GiB)}

    # a host joining later gets its share when it connects
    late = await cloud.ok("AddSimulatorHost", name="late", managementIp="10.9.0.1", clusterUuid=cluster["uuid"])

    async def counted() -> bool:
        return (await ps_row(cloud, ps["uuid"]))["totalCapacity"] == 2 * TiB + 500 * GiB

    await eventually(counted)
    assert (await _host_shares(cloud))[late["uuid"]] == (TiB, TiB)

    # volumes live on one host: the reservation comes off that host's share and the totals
    reply = await cloud.node.bus.call(
        AllocatePrimaryStorage(size=10 * GiB, clusterUuid=cluster["uuid"], hostUuid=hosts[1]["uuid"])
    )
    assert reply.success and reply.get("primaryStorageUuid") == ps["uuid"]
    assert reply.get("hostUuid") == hosts[1]["uuid"]
    assert (await _host_shares(cloud))[hosts[1]["uuid"]] == (500 * GiB, 490 * GiB)
    assert (await ps_row(cloud, ps["uuid"]))["availableCapacity"] == 2 * TiB + 490 * GiB
    # a host's share is the limit, not the storage's total
    reply = await cloud.node.bus.call(
        AllocatePrimaryStorage(size=600 * GiB, clusterUuid=cluster["uuid"], hostUuid=hosts[1]["uuid"])
    )
    assert reply.error.code == "PS.1000"
    reply = await cloud.node.bus.call(AllocatePrimaryStorage(size=GiB, clusterUuid=cluster["uuid"]))
    assert reply.error.code == "PS.1000"  # local storage needs the host

    await cloud.node.bus.call_ok(
        ReturnPrimaryStorageCapacity(primaryStorageUuid=ps["uuid"], size=10 * GiB, hostUuid=hosts[1]["uuid"])
    )
    assert (await _host_shares(cloud))[hosts[1]["uuid"]] == (500 * GiB, 500 * GiB)

    # deleting a host takes its share off; detaching the cluster takes the rest
    await cloud.ok("DeleteHost", uuid=hosts[1]["uuid"])
    assert (await ps_row(cloud, ps["uuid"]))["totalCapacity"] == 2 * TiB
    ps = await cloud.ok("DetachPrimaryStorageFromCluster", primaryStorageUuid=ps["uuid"], clusterUuid=cluster["uuid"])
    assert (ps["totalCapacity"], ps["availableCapacity"]) == (0, 0)
    assert await _host_shares(cloud) == {}


async def test_allocation_is_exact_under_concurrency(cloud: Cloud) -> None:
    zone, cluster, _ = await zone_cluster(cloud)
    ps = await simulator_ps(cloud, zone["uuid"], total=30 * GiB)
    await cloud.ok("AttachPrimaryStorageToCluster", clusterUuid=cluster["uuid"], primaryStorageUuid=ps["uuid"])
    replies = await asyncio.gather(
        *(cloud.node.bus.call(AllocatePrimaryStorage(size=GiB, clusterUuid=cluster["uuid"])) for _ in range(50))
    )
    assert sum(r.success for r in replies) == 30
    assert {r.error.code for r in replies if not r.success} == {"PS.1000"}
    assert (await ps_row(cloud, ps["uuid"]))["availableCapacity"] == 0

    await asyncio.gather(
        *(
            cloud.node.bus.call_ok(ReturnPrimaryStorageCapacity(primaryStorageUuid=ps["uuid"], size=GiB))
            for _ in range(31)  # one too many: capacity never exceeds the total
        )
    )
    assert (await ps_row(cloud, ps["uuid"]))["availableCapacity"] == 30 * GiB


async def test_allocation_skips_disabled_detached_and_full_storage(cloud: Cloud) -> None:
    zone, cluster, _ = await zone_cluster(cloud)
    small = await simulator_ps(cloud, zone["uuid"], total=5 * GiB, name="small")
    big = await simulator_ps(cloud, zone["uuid"], total=50 * GiB, name="big")
    await simulator_ps(cloud, zone["uuid"], total=500 * GiB, name="detached")
    for ps in (small, big):
        await cloud.ok("AttachPrimaryStorageToCluster", clusterUuid=cluster["uuid"], primaryStorageUuid=ps["uuid"])
    reply = await cloud.node.bus.call(AllocatePrimaryStorage(size=10 * GiB, clusterUuid=cluster["uuid"]))
    assert reply.get("primaryStorageUuid") == big["uuid"]
    await cloud.ok("ChangePrimaryStorageState", uuid=big["uuid"], stateEvent="disable")
    reply = await cloud.node.bus.call(AllocatePrimaryStorage(size=10 * GiB, clusterUuid=cluster["uuid"]))
    assert reply.error.code == "PS.1000"
    reply = await cloud.node.bus.call(
        AllocatePrimaryStorage(size=GiB, clusterUuid=cluster["uuid"], primaryStorageUuid=small["uuid"])
    )
    assert reply.get("primaryStorageUuid") == small["uuid"]


async def test_volume_and_snapshot_commands(cloud: Cloud) -> None:
    zone, _, _ = await zone_cluster(cloud)
    ps = await cloud.ok("AddNfsPrimaryStorage", name="n", zoneUuid=zone["uuid"], url="h:/e")
    volume, image, snapshot = new_uuid(), new_uuid(), new_uuid()
    reply = await cloud.node.bus.call_ok(
        InstantiateVolume(primaryStorageUuid=ps["uuid"], volumeUuid=volume, size=GiB, imageUuid=image)
    )
    path = reply.get("installPath")
    assert path == f"{ps['mountPath']}/volumes/{volume}.qcow2"
    [command] = ps_sim(cloud).issued("instantiateVolume", ps["uuid"])
    assert (command.args["volumeUuid"], command.args["imageUuid"], command.args["size"]) == (volume, image, GiB)

    taken = await cloud.node.bus.call_ok(
        SnapshotCommand(
            primaryStorageUuid=ps["uuid"],
            command="take",
            volumeUuid=volume,
            volumeInstallPath=path,
            snapshotUuid=snapshot,
        )
    )
    assert taken.get("installPath").endswith(f"/{volume}/{snapshot}.qcow2") and taken.get("size") == 0
    for command in ("revert", "delete"):
        await cloud.node.bus.call_ok(
            SnapshotCommand(primaryStorageUuid=ps["uuid"], command=command, volumeUuid=volume, snapshotUuid=snapshot)
        )
    bad = await cloud.node.bus.call(
        SnapshotCommand(primaryStorageUuid=ps["uuid"], command="explode", volumeUuid=volume, snapshotUuid=snapshot)
    )
    assert bad.error.code == "SYS.1007"

    ps_sim(cloud).fail("deleteVolume", uuid=volume)
    failed = await cloud.node.bus.call(
        DeleteVolumeBits(primaryStorageUuid=ps["uuid"], volumeUuid=volume, installPath=path)
    )
    assert failed.error.code == "SYS.1006" and volume in failed.error.details
    await cloud.node.bus.call_ok(DeleteVolumeBits(primaryStorageUuid=ps["uuid"], volumeUuid=volume, installPath=path))
    # bits on a storage that is gone are gone
    await cloud.node.bus.call_ok(DeleteVolumeBits(primaryStorageUuid=new_uuid(), volumeUuid=volume))
    missing = await cloud.node.bus.call(InstantiateVolume(primaryStorageUuid=new_uuid(), volumeUuid=volume, size=1))
    assert missing.error.code == "SYS.1003"


async def test_a_hung_driver_times_out(cloud: Cloud) -> None:
    zone, _, _ = await zone_cluster(cloud)
    before = await cloud.snapshot()
    cloud.node.driver_timeout = 0.2
    ps_sim(cloud).delay("connect", 5.0)
    error = await cloud.error("AddNfsPrimaryStorage", name="n", zoneUuid=zone["uuid"], url="h:/e")
    assert error.code == "SYS.1002" and error.cause.code == "SYS.1001"
    assert await cloud.snapshot() == before


async def test_delete_primary_storage(cloud: Cloud) -> None:
    zone, cluster, _ = await zone_cluster(cloud)
    ps = await simulator_ps(cloud, zone["uuid"])
    await cloud.ok("AttachPrimaryStorageToCluster", clusterUuid=cluster["uuid"], primaryStorageUuid=ps["uuid"])
    before = await cloud.snapshot()
    ps_sim(cloud).fail("delete", uuid=ps["uuid"])
    error = await cloud.error("DeletePrimaryStorage", uuid=ps["uuid"])
    assert error.code == "SYS.1004" and error.cause.code == "SYS.1006"
    assert await cloud.snapshot() == before

    ps_sim(cloud).fail("delete", uuid=ps["uuid"])
    await cloud.ok("DeletePrimaryStorage", uuid=ps["uuid"], deleteMode="Enforcing")
    assert await cloud.ok("QueryPrimaryStorage") == []
    await cloud.ok("DeletePrimaryStorage", uuid=ps["uuid"])  # already gone: success
    await cloud.ok("DeleteCluster", uuid=cluster["uuid"])


async def test_deleting_a_cluster_or_zone_takes_attachments_and_storage(cloud: Cloud) -> None:
    zone, cluster, _ = await zone_cluster(cloud, hosts=1)
    ps = await simulator_ps(cloud, zone["uuid"])
    local = await cloud.ok("AddLocalPrimaryStorage", name="l", zoneUuid=zone["uuid"], url="/ps")
    for uuid in (ps["uuid"], local["uuid"]):
        await cloud.ok("AttachPrimaryStorageToCluster", clusterUuid=cluster["uuid"], primaryStorageUuid=uuid)
    await cloud.ok("DeleteCluster", uuid=cluster["uuid"])
    assert (await ps_row(cloud, ps["uuid"]))["attachedClusterUuids"] == []
    assert (await ps_row(cloud, local["uuid"]))["totalCapacity"] == 0
    await cloud.ok("DeleteZone", uuid=zone["uuid"])
    assert await cloud.ok("QueryPrimaryStorage") == []
    assert {c.uuid for c in ps_sim(cloud).issued("delete")} == {ps["uuid"], local["uuid"]}
