"""Shared machinery of the volume service: error codes, read-only looks at other services'
tables (VM state, primary storage type and clusters) and the messages that move bits and
capacity on primary storage. `VolumeService` (services/volume.py) and its snapshot handlers
(services/volume_snapshot.py) build on `VolumeBase`.

Capacity rule: a volume holds primary-storage capacity for its `size` from the moment it is
instantiated (has `installPath`) until it is expunged. CreateVmVolume does not reserve (the
VM flow reserved the total); AttachDataVolumeToVm reserves on first attach; ResizeVolume
reserves the delta; expunging returns `size`.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, select

from cloudbus import inventory
from cloudbus.apis.internal.host import HypervisorCommand
from cloudbus.apis.internal.storage import DeleteVolumeBits, ReturnPrimaryStorageCapacity
from cloudbus.core import errors
from cloudbus.core.errors import register
from cloudbus.core.logging import get_logger
from cloudbus.core.messages import Message, Reply
from cloudbus.inventory.volume import VOLUME, VOLUME_SNAPSHOT, VOLUME_SNAPSHOT_TREE
from cloudbus.services.base import ResourceService
from cloudbus.services.common import load_row

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

log = get_logger(__name__)

VM_ATTACH_VOLUME = register("VM.1005", "Unable to attach volume to vm")
VM_DETACH_VOLUME = register("VM.1006", "Unable to detach volume from vm")
VM_STATE = register("VM.1010", "The vm is not in a state allowing the operation")
VOLUME_IN_USE = register("VOLUME.1000", "Unable to deactivate a volume in use")
VOLUME_FLATTEN = register("VOLUME.1001", "Unable to flatten a volume")
SNAPSHOT_STATUS = register("VOLUME_SNAPSHOT.1000", "The volume snapshot is not in a status allowing the operation")
SNAPSHOT_CREATING = register("VOLUME_SNAPSHOT.1001", "Unable to delete a snapshot while a full snapshot is creating")
SNAPSHOT_BATCH_DELETE = register("VOLUME_SNAPSHOT.1002", "Unable to delete volume snapshots in batch")

# VM states in which volumes may be attached/detached (reference 1.4), and those in which
# the VM sits on a hypervisor that must be told.
ATTACHABLE_VM_STATES = ("Running", "Stopped", "Paused")
ON_HYPERVISOR_STATES = ("Running", "Paused")
LOCAL_STORAGE = "LocalStorage"


def vm_state_error(vm: dict[str, Any], operation: str, allowed: tuple[str, ...]) -> errors.CloudBusError:
    """SYS.1006 with cause VM.1010, as ZStack words it."""
    details = (
        f"current vm instance state[{vm['state']}] doesn't allow to proceed message[{operation}], "
        f"allowed states are {list(allowed)}"
    )
    return errors.operation_error(details, errors.err(VM_STATE, details))


@functools.cache
def _ps_type() -> Any:
    ps = inventory.get("PrimaryStorage")
    return select(ps.table.c.type).where(ps.key == bindparam("ps"))


class VolumeBase(ResourceService):
    async def call(self, msg: Message) -> Reply:
        """A call to another service, bounded by the driver timeout (it drives storage or a hypervisor)."""
        return await self.bus.call_ok(msg, timeout=self.node.driver_timeout)

    async def volume_row(self, conn: AsyncConnection, uuid: str) -> dict[str, Any]:
        """The raw row (hidden `hostUuid` included, dates as datetimes), or SYS.1003."""
        return await load_row(conn, VOLUME, uuid)

    # ---- read-only looks at other services' tables -------------------------------------

    async def load_vm(self, conn: AsyncConnection, uuid: str) -> dict[str, Any]:
        return await load_row(conn, inventory.get("VmInstance"), uuid)

    async def vm_host(self, conn: AsyncConnection, vm: dict[str, Any]) -> str | None:
        """The host whose local storage holds the VM's disks: its root volume's, else where it runs/ran."""
        root = vm.get("rootVolumeUuid")
        if root:
            host = await conn.scalar(select(VOLUME.table.c.hostUuid).where(VOLUME.key == root))
            if host:
                return str(host)
        return vm.get("hostUuid") or vm.get("lastHostUuid")

    async def ps_type(self, conn: AsyncConnection, ps_uuid: str | None) -> str | None:
        if ps_uuid is None:
            return None
        return await conn.scalar(_ps_type(), {"ps": ps_uuid})

    async def ps_clusters(self, conn: AsyncConnection, ps_uuid: str) -> list[str]:
        spec = inventory.get("PrimaryStorage").list_fields.get("attachedClusterUuids")
        if spec is None:
            return []
        query = select(spec.table.c[spec.value_col]).where(spec.table.c[spec.key_col] == ps_uuid)
        return sorted(str(c) for c in (await conn.execute(query)).scalars())

    # ---- hypervisor --------------------------------------------------------------------

    def running_domain(self, vm: dict[str, Any] | None) -> dict[str, Any]:
        """`hostUuid` / `vmInstanceUuid` for a storage message when the VM runs on a hypervisor
        whose domains hold their volumes' files (KVM: the running QEMU must do its part);
        empty otherwise, and the storage works on the files alone."""
        if vm is None or vm["state"] not in ON_HYPERVISOR_STATES or not vm.get("hostUuid"):
            return {}
        if not getattr(self.node.hypervisor(vm["hypervisorType"]), "holds_volume_files", False):
            return {}
        return {"hostUuid": vm["hostUuid"], "vmInstanceUuid": vm["uuid"]}

    async def tell_hypervisor(self, vm: dict[str, Any], command: str, volume: dict[str, Any]) -> None:
        """attachVolume/detachVolume on the VM's host, if the VM is on one."""
        if vm["state"] not in ON_HYPERVISOR_STATES or not vm.get("hostUuid"):
            return
        await self.call(
            HypervisorCommand(
                hostUuid=vm["hostUuid"],
                command=command,
                vmInstanceUuid=vm["uuid"],
                args={"volume": VOLUME.render_row(volume)},
            )
        )

    # ---- expunge -------------------------------------------------------------------------

    async def expunge(self, uuids: list[str], *, keep_bits: bool = False, return_capacity: bool = True) -> list[str]:
        """Delete bits (unless keep_bits), return capacity, drop snapshots, trees and rows.

        Permissive about storage: a volume whose bits cannot be deleted is still removed when
        `keep_bits`; otherwise the failure propagates and that volume stays.
        """
        async with self.db.read() as conn:
            rows = (await conn.execute(select(VOLUME.table).where(VOLUME.key.in_(uuids)))).all()
        done: list[str] = []
        for row in rows:
            vol = dict(row._mapping)
            instantiated = vol["installPath"] is not None and vol["primaryStorageUuid"] is not None
            if instantiated and not keep_bits:
                await self.call(
                    DeleteVolumeBits(
                        primaryStorageUuid=vol["primaryStorageUuid"],
                        volumeUuid=vol["uuid"],
                        installPath=vol["installPath"],
                        hostUuid=vol["hostUuid"],
                    )
                )
            if instantiated and return_capacity:
                await self.return_capacity(vol["primaryStorageUuid"], vol["size"], vol["hostUuid"], quiet=keep_bits)
            await self.drop_rows([vol["uuid"]])
            done.append(vol["uuid"])
        return done

    async def return_capacity(self, ps_uuid: str, size: int, host_uuid: str | None, *, quiet: bool = False) -> None:
        try:
            await self.call(ReturnPrimaryStorageCapacity(primaryStorageUuid=ps_uuid, size=size, hostUuid=host_uuid))
        except errors.CloudBusError as exc:
            if not quiet:
                raise
            log.warning("capacity not returned", primaryStorageUuid=ps_uuid, size=size, code=exc.error.code)

    async def drop_rows(self, volume_uuids: list[str]) -> None:
        """Rows only (DBOnly): snapshots, trees, then volumes (foreign keys point that way)."""
        async with self.db.tx() as conn:
            await conn.execute(
                delete(VOLUME_SNAPSHOT.table).where(VOLUME_SNAPSHOT.table.c.volumeUuid.in_(volume_uuids))
            )
            await conn.execute(
                delete(VOLUME_SNAPSHOT_TREE.table).where(VOLUME_SNAPSHOT_TREE.table.c.volumeUuid.in_(volume_uuids))
            )
            await conn.execute(delete(VOLUME.table).where(VOLUME.key.in_(volume_uuids)))
