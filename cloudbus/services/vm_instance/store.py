"""Rows of the VM service: load a VM, change it (remembering how to put it back), nics, MACs.

Every change that an operation may have to undo keeps the row's previous values
(`Saved`), so a failed operation restores the row exactly, `lastOpDate` included: the
database after a failure is the database before it.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from cloudbus.core import errors
from cloudbus.core.db import Database
from cloudbus.core.ids import new_uuid, utcnow
from cloudbus.inventory.vm_instance import VM_INSTANCE, vm_instance_table, vm_nic_table
from cloudbus.services.common import load, load_row, update_by_key
from cloudbus.services.vm_instance.states import VM_MAC, check_transition

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

VM = vm_instance_table
NIC = vm_nic_table

NIC_IP_FIELDS = ("usedIpUuid", "ip", "netmask", "gateway", "ipVersion")
NO_IP = dict.fromkeys(NIC_IP_FIELDS)

# Draws of a random MAC before giving up (40 random bits: a second draw is already rare).
MAC_ATTEMPTS = 20


@dataclass
class Saved:
    """Values of a VM row before a change: `restore()` writes them back."""

    uuid: str
    values: dict[str, Any]

    async def restore(self, db: Database) -> None:
        async with db.tx() as conn:
            await conn.execute(update_by_key(VM), {**self.values, "key_": self.uuid})


async def raw(conn: AsyncConnection, uuid: str) -> dict[str, Any]:
    return await load_row(conn, VM_INSTANCE, uuid)


async def get_vm(db: Database, uuid: str) -> dict[str, Any]:
    """The VM's row as a dict (hidden columns included)."""
    async with db.read() as conn:
        return await raw(conn, uuid)


async def inventory(db: Database, uuid: str) -> dict[str, Any]:
    async with db.read() as conn:
        return await load(conn, VM_INSTANCE, uuid)


async def change(db: Database, uuid: str, *, check: bool = True, **values: Any) -> Saved:
    """Update the VM row; returns what it was (for a rollback)."""
    async with db.tx() as conn:
        row = await raw(conn, uuid)
        if check and "state" in values:
            check_transition(row["state"], values["state"])
        saved = Saved(uuid, {k: row[k] for k in [*values, "lastOpDate"]})
        await conn.execute(update_by_key(VM), {"lastOpDate": utcnow(), **values, "key_": uuid})
    return saved


async def nics(db: Database, vm_uuid: str) -> list[dict[str, Any]]:
    async with db.read() as conn:
        rows = await conn.execute(select(NIC).where(NIC.c.vmInstanceUuid == vm_uuid).order_by(NIC.c.deviceId))
        return [dict(r) for r in rows.mappings()]


def random_mac() -> str:
    """`fa:` + 5 random bytes (ZStack's MAC prefix for VM nics)."""
    return "fa:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(5))


def nic_row(
    vm: dict[str, Any], l3_uuid: str, device: int, *, driver_type: str | None = None, mac: str | None = None
) -> dict[str, Any]:
    """A new nic row without an IP yet (a fresh random MAC unless given)."""
    now = utcnow()
    return {
        "uuid": new_uuid(),
        "vmInstanceUuid": vm["uuid"],
        "l3NetworkUuid": l3_uuid,
        "mac": mac or random_mac(),
        "hypervisorType": vm.get("hypervisorType"),
        "driverType": driver_type or "virtio",
        "internalName": f"vnic{device}",
        "deviceId": device,
        "type": "VNIC",
        "state": "enable",
        "createDate": now,
        "lastOpDate": now,
        **NO_IP,
    }


async def insert_nic(
    db: Database, vm: dict[str, Any], l3_uuid: str, *, device_id: int | None = None, driver_type: str | None = None
) -> dict[str, Any]:
    """A nic row without an IP yet, with a fresh unique MAC (the unique index decides races)."""
    for _ in range(MAC_ATTEMPTS):
        async with db.tx() as conn:
            if device_id is None:
                current = await conn.scalar(select(func.max(NIC.c.deviceId)).where(NIC.c.vmInstanceUuid == vm["uuid"]))
                device = 0 if current is None else current + 1
            else:
                device = device_id
            row = nic_row(vm, l3_uuid, device, driver_type=driver_type)
            try:
                await conn.execute(insert(NIC).values(row))
            except IntegrityError:
                continue  # MAC taken: draw another
            return row
    raise no_mac(vm["uuid"])


def no_mac(vm_uuid: str) -> errors.CloudBusError:
    return errors.fail(VM_MAC, f"unable to allocate a unique MAC address for vm[uuid:{vm_uuid}]")


async def set_nic(db: Database, nic_uuid: str, **values: Any) -> None:
    async with db.tx() as conn:
        await conn.execute(update(NIC).where(NIC.c.uuid == nic_uuid).values(**values))


async def restore_nic(db: Database, nic: dict[str, Any]) -> None:
    """Put a nic row back exactly as `nic` was (re-inserting it if it was removed)."""
    async with db.tx() as conn:
        result = await conn.execute(update(NIC).where(NIC.c.uuid == nic["uuid"]).values(**nic))
        if result.rowcount == 0:
            await conn.execute(insert(NIC).values(**nic))


async def delete_nics(db: Database, nic_uuids: list[str]) -> None:
    if nic_uuids:
        async with db.tx() as conn:
            await conn.execute(delete(NIC).where(NIC.c.uuid.in_(nic_uuids)))


async def delete_vm(db: Database, vm_uuid: str) -> None:
    async with db.tx() as conn:
        await conn.execute(delete(NIC).where(NIC.c.vmInstanceUuid == vm_uuid))
        await conn.execute(delete(VM).where(VM.c.uuid == vm_uuid))


def pending_disks(vm: dict[str, Any]) -> list[str]:
    value = vm.get("pendingDataDiskOfferingUuids")
    return list(json.loads(value)) if value else []


# --- batches: a cascade acting on many VMs (each list at most one cascade step's chunk) ---


async def nics_of(db: Database, vm_uuids: list[str], *where: Any) -> list[dict[str, Any]]:
    """The nics of these VMs (those matching `where`), each VM's in deviceId order."""
    async with db.read() as conn:
        query = select(NIC).where(NIC.c.vmInstanceUuid.in_(vm_uuids), *where)
        rows = await conn.execute(query.order_by(NIC.c.vmInstanceUuid, NIC.c.deviceId))
        return [dict(r) for r in rows.mappings()]


async def change_vms(db: Database, uuids: list[str], **values: Any) -> None:
    """The same update of many VM rows (no state check, nothing to restore: cascades only)."""
    async with db.tx() as conn:
        await conn.execute(update(VM).where(VM.c.uuid.in_(uuids)).values(lastOpDate=utcnow(), **values))


async def delete_vms(db: Database, vm_uuids: list[str]) -> None:
    async with db.tx() as conn:
        await conn.execute(delete(NIC).where(NIC.c.vmInstanceUuid.in_(vm_uuids)))
        await conn.execute(delete(VM).where(VM.c.uuid.in_(vm_uuids)))
