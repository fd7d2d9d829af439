"""The rows a VM creation leaves, for benchmarks/create_vms.py: its exactness checks and its floor.

- `capacity(db_url)`, `check_running(...)`, `check_destroyed(...)`: read straight from the
  tables (tests/support/invariants.py's rules, plus what one creation or destroy must change), a
  list of readable violations, [] when the cloud is exact.
- `template(db_url, vm_uuid)`: every row one real CreateVmInstance wrote for one VM (vm_instance,
  volumes, nics, used IPs, host_allocation), as the floor's model, so the floor writes the very
  columns the product writes, whatever they become.
- `floor(db_url, model, hosts, count, concurrency)`: those rows for `count` new VMs written with
  hand-written SQLAlchemy Core, one transaction per VM: the guarded host capacity UPDATE, the
  primary-storage UPDATE, then the INSERTs; no bus, no allocation logic, no reads.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from benchmarks.support import Measured, Statements, drive
from cloudbus.core.db import Database
from cloudbus.core.ids import new_uuid, utcnow
from cloudbus.inventory.host import host_allocation_table, host_table
from cloudbus.inventory.ip_range import ip_range_table, used_ip_table
from cloudbus.inventory.primary_storage import primary_storage_table
from cloudbus.inventory.vm_instance import vm_instance_table, vm_nic_table
from cloudbus.inventory.volume import volume_table
from tests.support import invariants

TABLES: dict[str, Table] = {**invariants.TABLES, "allocation": host_allocation_table}
Rows = dict[str, list[dict[str, Any]]]


# -- checks


@dataclass(frozen=True)
class Capacity:
    """Available capacity summed over the hosts and the primary storages."""

    cpu: int
    memory: int
    storage: int


def capacity_of(rows: Rows) -> Capacity:
    return Capacity(
        cpu=sum(h["availableCpuCapacity"] for h in rows["host"]),
        memory=sum(h["availableMemoryCapacity"] for h in rows["host"]),
        storage=sum(p["availableCapacity"] for p in rows["ps"]),
    )


async def capacity(db_url: str) -> Capacity:
    return capacity_of(await invariants.read_tables(db_url, TABLES))


def consistent(rows: Rows) -> list[str]:
    """tests/support/invariants.py's rules: capacity held exactly by placed VMs and instantiated
    volumes, no stuck state, every IP held by one nic and no IP twice, no orphans."""
    return [
        *invariants.host_capacity(rows),
        *invariants.transitional(rows),
        *invariants.ips(rows),
        *invariants.orphans(rows),
        *invariants.primary_storage(rows, {}),
    ]


async def check_running(db_url: str, uuids: list[str], before: Capacity) -> list[str]:
    """The VMs `uuids` are Running on a host, each with a Ready root volume, a nic with its IP and
    its host_allocation row; hosts and primary storage hold exactly their sums more than `before`."""
    rows = await invariants.read_tables(db_url, TABLES)
    out = consistent(rows)
    vms = {vm["uuid"]: vm for vm in rows["vm"]}
    volumes = {v["uuid"]: v for v in rows["volume"]}
    used = {u["uuid"]: u for u in rows["used_ip"]}
    allocations = {a["ownerUuid"]: a for a in rows["allocation"]}
    nics: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for nic in rows["nic"]:
        nics[nic["vmInstanceUuid"]].append(nic)
    sizes = _volume_sizes(rows)
    cpu = memory = storage = 0
    for uuid in uuids:
        vm = vms.get(uuid)
        if vm is None:
            out.append(f"vm {uuid} is missing")
            continue
        root = volumes.get(vm["rootVolumeUuid"] or "")
        out += _running(vm, root, nics.get(uuid, []), used, allocations.get(uuid))
        cpu, memory = cpu + vm["cpuNum"], memory + vm["memorySize"]
        storage += sizes[uuid]
    expected = Capacity(before.cpu - cpu, before.memory - memory, before.storage - storage)
    if capacity_of(rows) != expected:
        out.append(f"capacity is {capacity_of(rows)}, expected {expected} ({before} less what the VMs hold)")
    return out


def _volume_sizes(rows: Rows) -> dict[str, int]:
    """Bytes of primary storage each VM's volumes hold."""
    held: dict[str, int] = defaultdict(int)
    for volume in rows["volume"]:
        if volume["vmInstanceUuid"]:
            held[volume["vmInstanceUuid"]] += volume["size"]
    return held


def _running(
    vm: dict[str, Any],
    root: dict[str, Any] | None,
    nics: list[dict[str, Any]],
    used: dict[str, dict[str, Any]],
    allocation: dict[str, Any] | None,
) -> list[str]:
    name = f"vm {vm['name']}[{vm['uuid']}]"
    out = [] if vm["state"] == "Running" and vm["hostUuid"] else [f"{name} is {vm['state']} on {vm['hostUuid']}"]
    if root is None or root["status"] != "Ready" or root["type"] != "Root" or not root["installPath"]:
        out.append(f"{name} has no Ready root volume: {root}")
    if len(nics) != 1 or not all(n["ip"] and n["usedIpUuid"] in used for n in nics):
        out.append(f"{name} does not have one nic with an IP: {[(n['ip'], n['usedIpUuid']) for n in nics]}")
    if allocation is None or (allocation["hostUuid"], allocation["cpuNum"], allocation["memorySize"]) != (
        vm["hostUuid"],
        vm["cpuNum"],
        vm["memorySize"],
    ):
        out.append(f"{name} on host {vm['hostUuid']} has host_allocation {allocation}")
    return out


async def check_destroyed(db_url: str, uuids: list[str], before: Capacity) -> list[str]:
    """The VMs `uuids` are Destroyed (Delay policy: volumes and nics kept, off their host, IPs and
    host capacity given back); hosts are back to `before`, primary storage still holds the kept
    volumes; no used IP and no host_allocation row is left."""
    rows = await invariants.read_tables(db_url, TABLES)
    out = consistent(rows)
    vms = {vm["uuid"]: vm for vm in rows["vm"]}
    for uuid in uuids:
        vm = vms.get(uuid)
        if vm is None or vm["state"] != "Destroyed" or vm["hostUuid"]:
            out.append(f"vm {uuid} is not Destroyed off its host: {vm and (vm['state'], vm['hostUuid'])}")
    out += [f"used ip {u['ip']} is left (nic {u['vmNicUuid']})" for u in rows["used_ip"]]
    out += [f"host_allocation {a} is left" for a in rows["allocation"]]
    sizes = _volume_sizes(rows)
    kept = sum(sizes[uuid] for uuid in uuids)
    expected = Capacity(before.cpu, before.memory, before.storage - kept)
    if capacity_of(rows) != expected:
        out.append(f"capacity is {capacity_of(rows)}, expected {expected} (hosts back, {kept} B of volumes kept)")
    return out


# -- the floor


@dataclass
class Model:
    """One created VM's rows, by table, and the IP range its nics' addresses came from."""

    vm: dict[str, Any]
    volumes: list[dict[str, Any]]
    used_ips: list[dict[str, Any]]
    nics: list[dict[str, Any]]
    allocations: list[dict[str, Any]]
    last_address: int  # the range's endIp: the floor takes addresses downwards from it

    def own_uuids(self) -> list[str]:
        return [row["uuid"] for row in (self.vm, *self.volumes, *self.used_ips, *self.nics)]


async def template(db_url: str, vm_uuid: str) -> Model:
    db = Database(db_url)
    await db.start()
    try:
        async with db.read() as conn:
            nics = await _rows(conn, vm_nic_table, vm_nic_table.c.vmInstanceUuid == vm_uuid)
            used = await _rows(conn, used_ip_table, used_ip_table.c.uuid.in_([n["usedIpUuid"] for n in nics]))
            end_ip = await conn.scalar(
                select(ip_range_table.c.endIp).where(ip_range_table.c.uuid == used[0]["ipRangeUuid"])
            )
            return Model(
                vm=(await _rows(conn, vm_instance_table, vm_instance_table.c.uuid == vm_uuid))[0],
                volumes=await _rows(conn, volume_table, volume_table.c.vmInstanceUuid == vm_uuid),
                used_ips=used,
                nics=nics,
                allocations=await _rows(conn, host_allocation_table, host_allocation_table.c.ownerUuid == vm_uuid),
                last_address=int(ipaddress.IPv4Address(end_ip)),
            )
    finally:
        await db.close()


async def _rows(conn: AsyncConnection, table: Table, where: Any) -> list[dict[str, Any]]:
    return [dict(row) for row in (await conn.execute(select(table).where(where))).mappings()]


def floor_rows(model: Model, i: int, host: str, now: datetime) -> dict[str, Any]:
    """The model's rows for floor VM `i` on `host`: new uuids (also inside other columns, such as a
    volume's installPath), name `floor<i>`, its own addresses and MACs, dated now."""
    fresh = {old: new_uuid() for old in model.own_uuids()}

    def copy(row: dict[str, Any], **values: Any) -> dict[str, Any]:
        out = {k: _renamed(v, fresh, now) for k, v in row.items()}
        return out | values

    name, count = f"floor{i}", len(model.nics)
    addresses = [ipaddress.IPv4Address(model.last_address - i * count - k) for k in range(count)]
    by_nic = {nic["usedIpUuid"]: str(a) for nic, a in zip(model.nics, addresses, strict=True)}
    return {
        "vm": copy(model.vm, name=name, hostUuid=host),
        "volumes": [copy(v, name=v["name"].replace(model.vm["name"], name)) for v in model.volumes],
        "used_ips": [
            copy(u, ip=by_nic[u["uuid"]], ipInLong=int(ipaddress.IPv4Address(by_nic[u["uuid"]])))
            for u in model.used_ips
        ],
        "nics": [copy(n, ip=by_nic[n["usedIpUuid"]], mac=_mac(i * count + k)) for k, n in enumerate(model.nics)],
        "allocations": [copy(a, hostUuid=host) for a in model.allocations],
    }


def _renamed(value: Any, fresh: dict[str, str], now: datetime) -> Any:
    if isinstance(value, datetime):
        return now
    if isinstance(value, str):
        for old, new in fresh.items():
            if old in value:
                value = value.replace(old, new)
    return value


def _mac(n: int) -> str:
    """`fb:` + `n` in 5 bytes: never one of the product's `fa:` MACs."""
    return "fb:" + ":".join(f"{n >> shift & 255:02x}" for shift in (32, 24, 16, 8, 0))


_HOST = host_table.c
RESERVE_HOST = (
    update(host_table)
    .where(
        _HOST.uuid == bindparam("h_uuid"),
        _HOST.availableCpuCapacity >= bindparam("h_cpu"),
        _HOST.availableMemoryCapacity >= bindparam("h_memory"),
    )
    .values(
        availableCpuCapacity=_HOST.availableCpuCapacity - bindparam("h_cpu"),
        availableMemoryCapacity=_HOST.availableMemoryCapacity - bindparam("h_memory"),
    )
)
_PS = primary_storage_table.c
RESERVE_STORAGE = (
    update(primary_storage_table)
    .where(_PS.uuid == bindparam("p_uuid"), _PS.availableCapacity >= bindparam("p_size"))
    .values(availableCapacity=_PS.availableCapacity - bindparam("p_size"))
)
# parents first: the VM, its volumes, its used IPs, the nics naming them, the allocation
INSERTS = [
    ("vm", insert(vm_instance_table)),
    ("volumes", insert(volume_table)),
    ("used_ips", insert(used_ip_table)),
    ("nics", insert(vm_nic_table)),
    ("allocations", insert(host_allocation_table)),
]


async def write_vm(conn: AsyncConnection, model: Model, rows: dict[str, Any]) -> None:
    """One floor VM, in the caller's transaction: capacity first (guarded), then the rows."""
    vm = rows["vm"]
    reserved = await conn.execute(
        RESERVE_HOST, {"h_uuid": vm["hostUuid"], "h_cpu": vm["cpuNum"], "h_memory": vm["memorySize"]}
    )
    size = sum(v["size"] for v in model.volumes)
    stored = await conn.execute(RESERVE_STORAGE, {"p_uuid": model.volumes[0]["primaryStorageUuid"], "p_size": size})
    if reserved.rowcount != 1 or stored.rowcount != 1:
        raise RuntimeError(f"floor: no capacity left for {vm['name']} on host {vm['hostUuid']}")
    for key, statement in INSERTS:
        for row in rows[key] if isinstance(rows[key], list) else [rows[key]]:
            await conn.execute(statement, row)


@dataclass
class Floor:
    measured: Measured
    statements: dict[str, int]
    uuids: list[str]


async def floor(db_url: str, model: Model, hosts: list[str], count: int, concurrency: int) -> Floor:
    """`count` VMs of the model's rows, VM i on host i mod len(hosts), `concurrency` in flight."""
    db = Database(db_url)
    await db.start()
    counter = Statements(db)
    uuids: list[str] = []

    async def one(i: int) -> None:
        rows = floor_rows(model, i, hosts[i % len(hosts)], utcnow())
        async with db.tx() as conn:
            await write_vm(conn, model, rows)
        uuids.append(rows["vm"]["uuid"])

    try:
        with counter.counting() as counts:
            measured = await drive(one, count, concurrency)
    finally:
        counter.close()
        await db.close()
    return Floor(measured, dict(counts), uuids)
