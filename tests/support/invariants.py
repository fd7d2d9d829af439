"""What must hold in a cloud's database whatever happened to it: `check_cloud(db_url)` lists violations.

Read straight from the tables (not through the API), so a node cannot hide a leak in its replies.
Meant for a quiet cloud (no operation running); each violation is one readable sentence.

- host capacity: `availableCpuCapacity == totalCpuCapacity - Σ cpuNum` of the VMs whose `hostUuid`
  is that host, the same for memory (a VM holds its host's capacity exactly while placed on it);
- no VM in a transitional state (states.INTERMEDIATE, Destroying, Expunging), no volume Creating;
- IPs: every used IP of a nic is held by exactly one nic, which it names; every nic's
  `usedIpUuid` exists and carries the nic's IP; no IP twice on one L3; no nic of a Destroyed VM
  keeps an IP (destroy gives IPs back);
- no orphans: no nic and no Root/Data volume naming a VM row that is gone; every VM's
  `rootVolumeUuid` exists;
- primary storage (the capacity rule of services/volume_base.py: a volume holds `size` from
  instantiation to expunge, nothing else holds capacity once no operation runs):
  `totalCapacity - availableCapacity == Σ size` of its instantiated volumes, minus what the
  storage was added with already used (`ps_used_offset`, 0 unless given); for local storage the
  same per host share, and the storage's totals are the sums of its host shares; no
  reservation is left open (each is settled when the VM creation that made it ends).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table, select

from cloudbus.core.db import Database
from cloudbus.inventory.host import host_table
from cloudbus.inventory.ip_range import used_ip_table
from cloudbus.inventory.primary_storage import (
    local_storage_host_ref_table,
    primary_storage_reservation_table,
    primary_storage_table,
)
from cloudbus.inventory.vm_instance import vm_instance_table, vm_nic_table
from cloudbus.inventory.volume import volume_table
from cloudbus.services.vm_instance.states import INTERMEDIATE

TRANSITIONAL_VM_STATES = INTERMEDIATE | {"Destroying", "Expunging"}
TRANSITIONAL_VOLUME_STATUSES = frozenset({"Creating"})
LOCAL_STORAGE = "LocalStorage"

TABLES: dict[str, Table] = {
    "host": host_table,
    "vm": vm_instance_table,
    "nic": vm_nic_table,
    "used_ip": used_ip_table,
    "volume": volume_table,
    "ps": primary_storage_table,
    "ps_host": local_storage_host_ref_table,
    "ps_reservation": primary_storage_reservation_table,
}

Rows = dict[str, list[dict[str, Any]]]


async def read_tables(db_url: str, tables: Mapping[str, Table] = TABLES) -> Rows:
    """Every row of `tables`, read in one snapshot on a connection of our own."""
    db = Database(db_url)
    await db.start()
    try:
        async with db.read() as conn:
            return {
                name: [dict(row) for row in (await conn.execute(select(table))).mappings()]
                for name, table in tables.items()
            }
    finally:
        await db.close()


async def check_cloud(db_url: str, *, ps_used_offset: Mapping[str, int] | None = None) -> list[str]:
    """Human-readable violations of the invariants above; [] for a consistent cloud."""
    rows = await read_tables(db_url)
    return [
        *host_capacity(rows),
        *transitional(rows),
        *ips(rows),
        *orphans(rows),
        *primary_storage(rows, ps_used_offset or {}),
    ]


def _name(row: dict[str, Any]) -> str:
    return f"{row.get('name')}[{row['uuid']}]"


def host_capacity(rows: Rows) -> list[str]:
    placed: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for vm in rows["vm"]:
        if vm["hostUuid"]:
            held = placed[vm["hostUuid"]]
            held[0] += vm["cpuNum"]
            held[1] += vm["memorySize"]
            held[2] += 1
    out = []
    for host in rows["host"]:
        cpu, memory, count = placed.get(host["uuid"], (0, 0, 0))
        for kind, used in (("Cpu", cpu), ("Memory", memory)):
            total, available = host[f"total{kind}Capacity"], host[f"available{kind}Capacity"]
            if available != total - used:
                out.append(
                    f"host {_name(host)}: available{kind}Capacity is {available}, expected {total - used} "
                    f"(total {total} - {used} held by its {count} VMs; off by {available - (total - used)})"
                )
    return out


def transitional(rows: Rows) -> list[str]:
    out = [
        f"vm {_name(vm)} is stuck in transitional state {vm['state']}"
        for vm in rows["vm"]
        if vm["state"] in TRANSITIONAL_VM_STATES
    ]
    out += [
        f"volume {_name(vol)} is stuck in status {vol['status']}"
        for vol in rows["volume"]
        if vol["status"] in TRANSITIONAL_VOLUME_STATUSES
    ]
    return out


def ips(rows: Rows) -> list[str]:
    used = {u["uuid"]: u for u in rows["used_ip"]}
    holders: dict[str, list[str]] = defaultdict(list)
    for nic in rows["nic"]:
        if nic["usedIpUuid"]:
            holders[nic["usedIpUuid"]].append(nic["uuid"])
    out = []
    for u in rows["used_ip"]:
        if u["usedFor"] not in (None, "VmNic") and not u["vmNicUuid"]:
            continue  # an IP for something other than a nic (a gateway, a router ...)
        held = holders.get(u["uuid"], [])
        if len(held) != 1:
            out.append(f"used ip {u['ip']}[{u['uuid']}] (nic {u['vmNicUuid']}) is held by {len(held)} nics {held}")
        elif u["vmNicUuid"] != held[0]:
            out.append(f"used ip {u['ip']}[{u['uuid']}] names nic {u['vmNicUuid']} but nic {held[0]} holds it")
    out += _nic_ips(rows, used)
    out += _duplicates("used ip", Counter((u["l3NetworkUuid"], u["ip"]) for u in rows["used_ip"]))
    out += _duplicates("nic ip", Counter((n["l3NetworkUuid"], n["ip"]) for n in rows["nic"] if n["ip"]))
    return out


def _nic_ips(rows: Rows, used: dict[str, dict[str, Any]]) -> list[str]:
    destroyed = {vm["uuid"] for vm in rows["vm"] if vm["state"] == "Destroyed"}
    out = []
    for nic in rows["nic"]:
        ip_row = used.get(nic["usedIpUuid"] or "")
        if nic["usedIpUuid"] and ip_row is None:
            out.append(f"nic {nic['uuid']} of vm {nic['vmInstanceUuid']} names missing used ip {nic['usedIpUuid']}")
        elif ip_row is not None and ip_row["ip"] != nic["ip"]:
            out.append(f"nic {nic['uuid']} says ip {nic['ip']} but its used ip {ip_row['uuid']} is {ip_row['ip']}")
        elif ip_row is None and nic["ip"]:
            out.append(f"nic {nic['uuid']} of vm {nic['vmInstanceUuid']} has ip {nic['ip']} without a used ip row")
        if ip_row is not None and nic["vmInstanceUuid"] in destroyed:
            out.append(f"nic {nic['uuid']} of Destroyed vm {nic['vmInstanceUuid']} still holds ip {ip_row['ip']}")
    return out


def _duplicates(what: str, counts: Counter[tuple[str, str]]) -> list[str]:
    return [f"{what} {ip} on l3 {l3} is used {n} times" for (l3, ip), n in counts.items() if n > 1]


def orphans(rows: Rows) -> list[str]:
    vms = {vm["uuid"] for vm in rows["vm"]}
    volumes = {vol["uuid"] for vol in rows["volume"]}
    out = [
        f"nic {nic['uuid']} belongs to missing vm {nic['vmInstanceUuid']}"
        for nic in rows["nic"]
        if nic["vmInstanceUuid"] not in vms
    ]
    out += [
        f"{vol['type']} volume {_name(vol)} belongs to missing vm {vol['vmInstanceUuid']}"
        for vol in rows["volume"]
        if vol["type"] in ("Root", "Data") and vol["vmInstanceUuid"] and vol["vmInstanceUuid"] not in vms
    ]
    out += [
        f"vm {_name(vm)} ({vm['state']}) names missing root volume {vm['rootVolumeUuid']}"
        for vm in rows["vm"]
        if vm["rootVolumeUuid"] and vm["rootVolumeUuid"] not in volumes
    ]
    return out


def primary_storage(rows: Rows, offsets: Mapping[str, int]) -> list[str]:
    held: dict[tuple[str, str | None], int] = defaultdict(int)
    for vol in rows["volume"]:
        if vol["installPath"] is not None and vol["primaryStorageUuid"]:
            local = vol["hostUuid"]
            held[(vol["primaryStorageUuid"], None)] += vol["size"]
            if local:
                held[(vol["primaryStorageUuid"], local)] += vol["size"]
    out = [
        f"primary storage {r['primaryStorageUuid']}: reservation of {r['size']} bytes by {r['ownerUuid']} left open"
        for r in rows["ps_reservation"]
    ]
    for ps in rows["ps"]:
        if ps["type"] == LOCAL_STORAGE:
            out += _local_storage(ps, rows["ps_host"], held)
            continue
        used = ps["totalCapacity"] - ps["availableCapacity"] - offsets.get(ps["uuid"], 0)
        if used != held[(ps["uuid"], None)]:
            out.append(
                f"primary storage {_name(ps)}: {used} bytes used but its volumes hold {held[(ps['uuid'], None)]} "
                f"(off by {used - held[(ps['uuid'], None)]})"
            )
    return out


def _local_storage(ps: dict[str, Any], shares: list[dict[str, Any]], held: dict[Any, int]) -> list[str]:
    mine = [s for s in shares if s["primaryStorageUuid"] == ps["uuid"]]
    out = []
    for share in mine:
        used = share["totalCapacity"] - share["availableCapacity"]
        if used != held[(ps["uuid"], share["hostUuid"])]:
            out.append(
                f"local storage {_name(ps)} on host {share['hostUuid']}: {used} bytes used "
                f"but its volumes there hold {held[(ps['uuid'], share['hostUuid'])]}"
            )
    for column in ("totalCapacity", "availableCapacity"):
        if ps[column] != sum(s[column] for s in mine):
            out.append(f"local storage {_name(ps)}: {column} {ps[column]} is not the sum of its host shares")
    return out
