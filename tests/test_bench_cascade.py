"""benchmarks/cascade.py, small and checked instead of timed: what the batched cascade leaves.

Zone A: a loaded cloud (benchmarks/cloudload.py) of Running VMs with data volumes and several
nics, plus API-made VMs in the other states (Stopped, Created, Destroyed, Running with a data
volume). Zone B: a small cloud built through the API, two clusters of two hosts with VMs. Steps
carry 32 uuids, so every pair of zone A takes several messages. In both modes:
- deleting a host, then a cluster of zone B stops exactly their VMs; deleting its primary
  storage deletes the rest as a batch and gives their host all its capacity back;
- deleting zone A's default L3 and another L3's IP range detaches those nics from every VM at
  once and moves each default L3 to the VM's next nic;
- DeleteZone of zone A, with VM operations racing it, leaves no row that names anything of
  zone A and tells the hypervisor to destroy every VM that was on a host;
- each step leaves the other zone's rows exactly as they were, and the cloud consistent
  (tests/support/invariants.check_cloud, and host capacity = its host_allocation rows);
- after DeleteZone of zone B only the zone-independent rows are left.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable
from typing import Any

import pytest
from sqlalchemy import select

from benchmarks.cloudload import load_cloud
from cloudbus.cascade import engine
from cloudbus.cascade.messages import CascadeStep
from cloudbus.core.units import GiB
from cloudbus.inventory.schema import metadata
from cloudbus.testing import ZONE_INDEPENDENT, Cloud
from tests.support.invariants import check_cloud
from tests.support.network import build_network

LOADED_VMS = 120


async def _zone_a(cloud: Cloud) -> dict[str, Any]:
    """The loaded zone, and four API-made VMs in it: Stopped, Created, Destroyed, Running + data volume."""
    env = await load_cloud(cloud.db, vms=LOADED_VMS, data_volumes=2, nics=3, hosts=4, cpu=64, memory=64 * GiB)
    disk = env["diskOfferings"][0]
    made = {}
    for name, params in {
        "stopped": {"strategy": "CreateStopped"},
        "created": {"strategy": "JustCreate"},
        "destroyed": {},
        "running": {"dataDiskOfferingUuids": [disk]},
    }.items():
        made[name] = await _vm(cloud, env["offering"], env["image"], env["l3s"][:2], **params)
    await cloud.ok("DestroyVmInstance", uuid=made["destroyed"]["uuid"])
    return {**env, "made": made}


async def _zone_b(cloud: Cloud, zone_a: dict[str, Any]) -> dict[str, Any]:
    """Two clusters of two hosts, storage, a network; three VMs on each host."""
    zone = await cloud.ok("CreateZone", name="zone-b")
    clusters, hosts = [], []
    for c in range(2):
        cluster = await cloud.ok("CreateCluster", name=f"b{c}", zoneUuid=zone["uuid"], hypervisorType="Simulator")
        clusters.append(cluster["uuid"])
        for h in range(2):
            host = await cloud.ok(
                "AddSimulatorHost",
                name=f"b{c}-{h}",
                clusterUuid=cluster["uuid"],
                managementIp=f"172.20.{c}.{h + 1}",  # the loader numbers its hosts 10.0.0.x
                cpuCapacity=16,
                memoryCapacity=16 * GiB,
            )
            hosts.append(host["uuid"])
    ps = await cloud.ok(
        "AddSimulatorPrimaryStorage", name="ps-b", zoneUuid=zone["uuid"], url="/b", totalCapacity=1 << 42
    )
    for cluster in clusters:
        await cloud.ok("AttachPrimaryStorageToCluster", primaryStorageUuid=ps["uuid"], clusterUuid=cluster)
    await cloud.ok("AttachBackupStorageToZone", zoneUuid=zone["uuid"], backupStorageUuid=zone_a["bs"])
    net = await build_network(cloud, zone["uuid"], clusters, name="b", services=())
    vms: dict[str, list[str]] = {}
    for host in hosts:
        for _ in range(3):
            vm = await _vm(cloud, zone_a["offering"], zone_a["image"], [net["l3"]["uuid"]], hostUuid=host)
            vms.setdefault(host, []).append(vm["uuid"])
    return {"zone": zone["uuid"], "clusters": clusters, "hosts": hosts, "ps": ps["uuid"], "net": net, "vms": vms}


async def _vm(cloud: Cloud, offering: str, image: str, l3s: list[str], **params: Any) -> dict[str, Any]:
    return await cloud.ok(
        "CreateVmInstance", name="vm", instanceOfferingUuid=offering, imageUuid=image, l3NetworkUuids=l3s, **params
    )


# -- what the database holds -------------------------------------------------------------------

# tables of resources that belong to one zone, the ones a zone's closure of uuids is drawn from
ZONE_TABLES = ("cluster", "host", "primary_storage", "l2_network", "l3_network", "ip_range", "vm_instance")
ZONE_TABLES += ("volume", "vm_nic", "used_ip")


async def _rows(cloud: Cloud, table: str) -> list[dict[str, Any]]:
    async with cloud.db.read() as conn:
        return [dict(r) for r in (await conn.execute(select(metadata.tables[table]))).mappings()]


async def _uuids_of_zone(cloud: Cloud, zone: str) -> set[str]:
    """Every uuid that belongs to `zone`: its resources and the rows hanging below them."""
    rows = {table: await _rows(cloud, table) for table in ZONE_TABLES}
    mine, grown = {zone}, True
    while grown:
        size = len(mine)
        for table in ZONE_TABLES:
            mine |= {row["uuid"] for row in rows[table] if mine & _values(row.values())}
        grown = len(mine) > size
    return mine


def _without(snapshot: dict[str, list[tuple[Any, ...]]], uuids: set[str]) -> dict[str, list[tuple[Any, ...]]]:
    """The snapshot's rows that name none of `uuids`."""
    return {table: [row for row in rows if not uuids & _values(row)] for table, rows in snapshot.items()}


def _values(row: Iterable[Any]) -> set[str]:
    return {value for value in row if isinstance(value, str)}


async def _allocations_exact(cloud: Cloud) -> list[str]:
    """Each host's used capacity is what its host_allocation rows record, each row's owner runs there."""
    hosts, held = await _rows(cloud, "host"), await _rows(cloud, "host_allocation")
    placed = {vm["uuid"]: vm["hostUuid"] for vm in await _rows(cloud, "vm_instance")}
    out = []
    for host in hosts:
        used = host["totalCpuCapacity"] - host["availableCpuCapacity"]
        recorded = sum(r["cpuNum"] for r in held if r["hostUuid"] == host["uuid"])
        if used != recorded:
            out.append(f"host {host['name']}: {used} cpus used, its allocations hold {recorded}")
    return out + [
        f"{r['ownerUuid']} holds capacity on a host it is not on"
        for r in held
        if placed.get(r["ownerUuid"]) != r["hostUuid"]
    ]


async def _consistent(cloud: Cloud, db_url: str) -> None:
    assert await check_cloud(db_url) == []
    assert await _allocations_exact(cloud) == []


# -- the test ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["Permissive", "Enforcing"])
async def test_batched_cascades_leave_exactly_what_they_should(
    cloud: Cloud, db_url: str, mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "STEP_CHUNK", 32)  # every pair of zone A's VMs takes several messages
    steps = _record_steps(cloud, monkeypatch)
    zone_a = await _zone_a(cloud)
    zone_b = await _zone_b(cloud, zone_a)
    await _consistent(cloud, db_url)
    a_uuids = await _uuids_of_zone(cloud, zone_a["zone"])
    b_uuids = await _uuids_of_zone(cloud, zone_b["zone"])
    assert not a_uuids & b_uuids

    before = _without(await cloud.snapshot(), b_uuids)
    await _delete_host_and_cluster(cloud, zone_b, mode)
    await _delete_primary_storage(cloud, zone_b, mode)
    await _consistent(cloud, db_url)
    assert _without(await cloud.snapshot(), b_uuids) == before  # zone A untouched

    before = _without(await cloud.snapshot(), a_uuids)
    await _delete_networks(cloud, zone_a, mode)
    await _delete_zone_while_vms_are_busy(cloud, zone_a, a_uuids, mode)
    await _consistent(cloud, db_url)
    assert _without(await cloud.snapshot(), a_uuids) == before  # zone B untouched

    await cloud.ok("DeleteZone", uuid=zone_b["zone"], deleteMode=mode)
    assert {t: len(rows) for t, rows in (await cloud.snapshot()).items() if rows and t not in ZONE_INDEPENDENT} == {}
    assert max(size for _, size in steps) == 32
    assert Counter(key for key, _ in steps)[("forceDelete" if mode == "Enforcing" else "delete", "VmInstance")] > 4


def _record_steps(cloud: Cloud, monkeypatch: pytest.MonkeyPatch) -> list[tuple[tuple[str, str], int]]:
    """(action, resource type) and batch size of every cascade step the node sends."""
    steps: list[tuple[tuple[str, str], int]] = []
    call = cloud.node.bus.call

    async def recording(msg: Any, **kwargs: Any) -> Any:
        if isinstance(msg, CascadeStep):
            size = len(msg.parentUuids) if msg.action == "resolve" else len(msg.uuids)
            steps.append(((msg.action, msg.resourceType), size))
        return await call(msg, **kwargs)

    monkeypatch.setattr(cloud.node.bus, "call", recording)
    return steps


async def _delete_host_and_cluster(cloud: Cloud, zone_b: dict[str, Any], mode: str) -> None:
    """VMs below a deleted host or cluster are stopped (each through its lifecycle), the rest run on."""
    host, cluster = zone_b["hosts"][0], zone_b["clusters"][1]
    await cloud.ok("DeleteHost", uuid=host, deleteMode=mode)
    await cloud.ok("DeleteCluster", uuid=cluster, deleteMode=mode)
    stopped = zone_b["vms"][host] + [vm for h in zone_b["hosts"][2:] for vm in zone_b["vms"][h]]
    for vm in await cloud.query("QueryVmInstance", ("zoneUuid", "=", zone_b["zone"])):
        expected = ("Stopped", None) if vm["uuid"] in stopped else ("Running", zone_b["hosts"][1])
        assert (vm["state"], vm["hostUuid"]) == expected


async def _delete_primary_storage(cloud: Cloud, zone_b: dict[str, Any], mode: str) -> None:
    """The VMs whose root volume is on it are deleted as a batch; their host keeps running, whole again."""
    await cloud.ok("DeletePrimaryStorage", uuid=zone_b["ps"], deleteMode=mode)
    assert await cloud.query("QueryVmInstance", ("zoneUuid", "=", zone_b["zone"])) == []
    (host,) = await cloud.query("QueryHost", ("zoneUuid", "=", zone_b["zone"]))
    assert (host["availableCpuCapacity"], host["availableMemoryCapacity"]) == (16, 16 * GiB)
    assert await _rows(cloud, "host_allocation") != []  # zone A's VMs still hold theirs
    running = set(zone_b["vms"][zone_b["hosts"][1]])
    assert running <= {c.uuid for c in cloud.sim.issued("destroyVm")}


async def _delete_networks(cloud: Cloud, zone_a: dict[str, Any], mode: str) -> None:
    """Deleting the default L3 and another L3's range detaches those nics from every VM at once;
    the default moves to each VM's next nic."""
    default, kept, ranged = zone_a["l3s"]
    await cloud.ok("DeleteL3Network", uuid=default, deleteMode=mode)
    await cloud.ok("DeleteIpRange", uuid=zone_a["ipRanges"][2], deleteMode=mode)
    vms = await cloud.query("QueryVmInstance", ("zoneUuid", "=", zone_a["zone"]))
    loaded = [vm for vm in vms if vm["name"] != "vm"]
    assert len(loaded) == LOADED_VMS
    for vm in loaded:
        assert [n["l3NetworkUuid"] for n in vm["vmNics"]] == [kept] and vm["defaultL3NetworkUuid"] == kept
    assert len(cloud.sim.issued("detachNic")) == 2 * LOADED_VMS + 1  # the Running API-made VM had one on `default`
    assert ranged not in {n["l3NetworkUuid"] for vm in vms for n in vm["vmNics"]}


async def _delete_zone_while_vms_are_busy(cloud: Cloud, zone_a: dict[str, Any], a_uuids: set[str], mode: str) -> None:
    """DeleteZone with VM operations racing it: nothing that names the zone is left, and the
    hypervisor was told to destroy every VM that was on a host."""
    made = zone_a["made"]
    raced = {made["running"]["uuid"], made["stopped"]["uuid"]}
    vms = await _rows(cloud, "vm_instance")
    on_hosts = {vm["uuid"] for vm in vms if vm["uuid"] in a_uuids and vm["hostUuid"]} - raced
    racing = [
        cloud.api("StopVmInstance", uuid=made["running"]["uuid"]),
        cloud.api("StartVmInstance", uuid=made["stopped"]["uuid"]),
        cloud.api("RebootVmInstance", uuid=made["running"]["uuid"]),
    ]
    deleted, *_ = await asyncio.gather(cloud.api("DeleteZone", uuid=zone_a["zone"], deleteMode=mode), *racing)
    assert deleted.success, deleted.error
    left = {t: rows for t, rows in (await cloud.snapshot()).items() if any(a_uuids & _values(r) for r in rows)}
    assert left == {}
    assert len(on_hosts) == LOADED_VMS and on_hosts <= {c.uuid for c in cloud.sim.issued("destroyVm")}
