"""Volume service (`volume`): data volumes and their attachment to VMs, the volumes of VMs
(internal CreateVmVolume / ExpungeVolumes / DetachVmVolumes), resize, and — through
`SnapshotHandlers` — volume snapshots and their trees.

Deletion (reference 1.5, 4.4): DeleteDataVolume runs the cascade with root Volume and the
Delay policy (status Deleted, detached, bits and capacity kept, snapshots kept) until
ExpungeDataVolume. Below a deleted primary storage volumes go DBOnly: rows (and their
snapshots) only, no storage I/O. The VM service deletes the VMs of that primary storage
before us ("VmInstance" sorts before "Volume"), so root volumes are normally already gone
with their VMs; any left over (a VM deleted with KeepVolume) are dropped here as well.
Below a deleted disk offering volumes only lose `diskOfferingUuid`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError

from cloudbus import inventory
from cloudbus.apis.internal.storage import (
    AllocatePrimaryStorage,
    DeleteVolumeBits,
    InstantiateVolume,
    ResizeVolumeBits,
)
from cloudbus.apis.internal.volume import CreateVmVolume, DetachVmVolumes, ExpungeVolumes
from cloudbus.apis.volume import (
    ChangeVolumeState,
    CreateDataVolume,
    DeleteDataVolume,
    ExpungeDataVolume,
    RecoverDataVolume,
    ResizeDataVolume,
    ResizeRootVolume,
    ResizeVolume,
    UpdateVolume,
)
from cloudbus.cascade.messages import CascadeStep
from cloudbus.core import errors
from cloudbus.core.ids import new_uuid, utcnow
from cloudbus.core.messages import Reply
from cloudbus.core.service import handles
from cloudbus.inventory.declarations import Inventory
from cloudbus.inventory.volume import VOLUME
from cloudbus.services.common import STATE_EVENTS, changes, load, new_row, set_fields
from cloudbus.services.ownership import claim
from cloudbus.services.volume_attach import AttachHandlers
from cloudbus.services.volume_base import LOCAL_STORAGE, ON_HYPERVISOR_STATES
from cloudbus.services.volume_snapshot import SnapshotHandlers
from cloudbus.services.volume_template import TemplateVolumeHandlers

_INSERT = insert(VOLUME.table)


class VolumeService(AttachHandlers, SnapshotHandlers, TemplateVolumeHandlers):
    service_id = "volume"

    # ---- internal contract (cloudbus/apis/internal/volume.py) ---------------------------

    @handles(CreateVmVolume, chain=False)
    async def create_vm_volume(self, msg: CreateVmVolume) -> dict[str, Any]:
        """Row Creating -> bits on the given PS (carved out of the VM flow's reservation) -> Ready.

        On failure the row is removed and nothing is returned to the PS: the reservation
        stays the caller's to settle.
        """
        uuid = msg.resourceUuid or new_uuid()
        async with self.db.tx() as conn:
            local = await self.ps_type(conn, msg.primaryStorageUuid) == LOCAL_STORAGE
            row = new_row(
                uuid,
                name=msg.name,
                primaryStorageUuid=msg.primaryStorageUuid,
                vmInstanceUuid=msg.vmInstanceUuid,
                diskOfferingUuid=msg.diskOfferingUuid,
                rootImageUuid=msg.rootImageUuid,
                type=msg.type,
                format="qcow2",
                size=msg.size,
                deviceId=msg.deviceId,
                state="Enabled",
                status="Creating",
                isShareable=False,
                hostUuid=msg.hostUuid if local else None,
                lastAttachDate=utcnow(),
            )
            try:
                await claim(conn, VOLUME, row)
                await conn.execute(_INSERT, row)
            except IntegrityError:
                raise errors.invalid_argument(
                    f"volume[uuid:{uuid}] or deviceId[{msg.deviceId}] of vm[uuid:{msg.vmInstanceUuid}] already exists"
                ) from None
        try:
            reply = await self.call(
                InstantiateVolume(
                    primaryStorageUuid=msg.primaryStorageUuid,
                    volumeUuid=uuid,
                    size=msg.size,
                    hostUuid=msg.hostUuid,
                    imageUuid=msg.rootImageUuid,
                    imageInstallPath=msg.imageInstallPath,
                    fullCopy=msg.fullCopy,
                    reservedBy=msg.reservedBy,
                    apiId=msg.apiId,
                )
            )
        except errors.CloudBusError:
            await self.drop_rows([uuid])
            raise
        path = reply.get("installPath")
        async with self.db.tx() as conn:
            done = await set_fields(conn, VOLUME, uuid, status="Ready", installPath=path, actualSize=reply.get("size"))
            if done.rowcount == 1:
                return await load(conn, VOLUME, uuid)
        # expunged meanwhile (its VM's creation was rolled back by a successor): the bits go too
        bits = DeleteVolumeBits(
            primaryStorageUuid=msg.primaryStorageUuid, volumeUuid=uuid, installPath=path, hostUuid=msg.hostUuid
        )
        await self.call(bits)
        raise errors.operation_error(f"volume[uuid:{uuid}] was expunged while it was being created")

    @handles(ExpungeVolumes, chain=False)
    async def expunge_volumes(self, msg: ExpungeVolumes) -> Reply:
        done = await self.expunge(msg.volumeUuids, keep_bits=msg.keepBits, return_capacity=msg.returnCapacity)
        return Reply(volumeUuids=done)

    @handles(DetachVmVolumes, chain=False)
    async def detach_vm_volumes(self, msg: DetachVmVolumes) -> Reply:
        table = VOLUME.table
        vms = [*msg.vmInstanceUuids, *([msg.vmInstanceUuid] if msg.vmInstanceUuid else [])]
        async with self.db.tx() as conn:
            where = (table.c.vmInstanceUuid.in_(vms), table.c.type == "Data")
            uuids = list((await conn.execute(select(VOLUME.key).where(*where))).scalars())
            now = utcnow()
            # SET reads the row as it was: each volume remembers its own VM
            await conn.execute(
                update(table)
                .where(*where)
                .values(
                    vmInstanceUuid=None,
                    deviceId=None,
                    lastVmInstanceUuid=table.c.vmInstanceUuid,
                    lastDetachDate=now,
                    lastOpDate=now,
                )
            )
        return Reply(volumeUuids=uuids)

    # ---- APIs ------------------------------------------------------------------------

    @handles(CreateDataVolume)
    async def create_data_volume(self, msg: CreateDataVolume) -> dict[str, Any]:
        if (msg.diskOfferingUuid is None) == (msg.diskSize is None):
            raise errors.invalid_argument("exactly one of diskOfferingUuid and diskSize must be given")
        uuid = msg.new_resource_uuid()
        async with self.db.tx() as conn:
            size = msg.diskSize
            if msg.diskOfferingUuid is not None:
                offering = await load(conn, inventory.get("DiskOffering"), msg.diskOfferingUuid)
                size = offering["diskSize"]
            row = new_row(
                uuid,
                name=msg.name,
                description=msg.description,
                primaryStorageUuid=msg.primaryStorageUuid,
                diskOfferingUuid=msg.diskOfferingUuid,
                type="Data",
                format="qcow2",
                size=size,
                state="Enabled",
                status="NotInstantiated",
                isShareable=False,
            )
            try:
                await claim(conn, VOLUME, row)
                await conn.execute(_INSERT, row)
            except IntegrityError:
                raise errors.invalid_argument(f"a resource with uuid[{uuid}] already exists") from None
            return await load(conn, VOLUME, uuid)

    @handles(UpdateVolume)
    async def update_volume(self, msg: UpdateVolume) -> dict[str, Any]:
        async with self.db.tx() as conn:
            await load(conn, VOLUME, msg.uuid)
            await set_fields(conn, VOLUME, msg.uuid, **changes(msg, "name", "description"))
            return await load(conn, VOLUME, msg.uuid)

    @handles(ChangeVolumeState)
    async def change_state(self, msg: ChangeVolumeState) -> dict[str, Any]:
        async with self.db.tx() as conn:
            await load(conn, VOLUME, msg.uuid)
            await set_fields(conn, VOLUME, msg.uuid, state=STATE_EVENTS[msg.stateEvent])
            return await load(conn, VOLUME, msg.uuid)

    @handles(DeleteDataVolume)
    async def delete_data_volume(self, msg: DeleteDataVolume) -> None:
        async with self.db.read() as conn:
            vol = await self.volume_row(conn, msg.uuid)
        if vol["type"] != "Data":
            raise errors.invalid_argument(
                f"volume[uuid:{msg.uuid}] is a {vol['type']} volume, only data volumes can be deleted"
            )
        await self.delete_cascade("Volume", [msg.uuid], msg.deleteMode)

    @handles(RecoverDataVolume)
    async def recover(self, msg: RecoverDataVolume) -> dict[str, Any]:
        async with self.db.tx() as conn:
            vol = await self.volume_row(conn, msg.uuid)
            if vol["status"] != "Deleted":
                raise errors.operation_error(f"volume[uuid:{msg.uuid}] is not deleted, its status is {vol['status']}")
            status = "Ready" if vol["installPath"] is not None else "NotInstantiated"
            await set_fields(conn, VOLUME, msg.uuid, status=status)
            return await load(conn, VOLUME, msg.uuid)

    @handles(ExpungeDataVolume)
    async def expunge_data_volume(self, msg: ExpungeDataVolume) -> None:
        async with self.db.read() as conn:
            vol = await self.volume_row(conn, msg.uuid)
        if vol["status"] != "Deleted":
            raise errors.operation_error(
                f"volume[uuid:{msg.uuid}] is not deleted yet (status {vol['status']}), can't expunge it"
            )
        await self.expunge([msg.uuid])

    @handles(ResizeVolume, ResizeRootVolume, ResizeDataVolume)
    async def resize(self, msg: ResizeVolume) -> dict[str, Any]:
        """Capacity for the growth is reserved first, then the file is resized (by the running
        domain when a VM runs the volume); a failure gives the reservation back."""
        async with self.db.read() as conn:
            vol = await self.volume_row(conn, msg.uuid)
            wanted = {"ResizeRootVolume": "Root", "ResizeDataVolume": "Data"}.get(msg.message_name())
            if wanted and vol["type"] != wanted:
                raise errors.invalid_argument(
                    f"volume[uuid:{msg.uuid}] is a {vol['type']} volume, not a {wanted} volume"
                )
            if vol["status"] == "Deleted":
                raise errors.operation_error(f"volume[uuid:{msg.uuid}] is deleted")
            if msg.size == vol["size"] or (msg.size < vol["size"] and not msg.shrink):
                raise errors.invalid_argument(
                    f"volume[uuid:{msg.uuid}] can only grow: its size is {vol['size']}, {msg.size} requested "
                    "(shrinking, which loses what is past the new end, needs shrink=true)"
                )
            instantiated = vol["installPath"] is not None
            vm = await self.load_vm(conn, vol["vmInstanceUuid"]) if vol["vmInstanceUuid"] else None
            running = self.running_domain(vm)
            if msg.size < vol["size"] and vm is not None and vm["state"] in ON_HYPERVISOR_STATES:
                raise errors.operation_error(
                    f"volume[uuid:{msg.uuid}] is used by running vm[uuid:{vm['uuid']}]: stop it to shrink the volume"
                )
            cluster = None
            if instantiated:
                clusters = await self.ps_clusters(conn, vol["primaryStorageUuid"])
                cluster = vm["clusterUuid"] if vm and vm.get("clusterUuid") else (clusters[0] if clusters else None)
                if cluster is None:
                    raise errors.operation_error(
                        f"primary storage[uuid:{vol['primaryStorageUuid']}] of volume[uuid:{msg.uuid}] "
                        "is attached to no cluster, its capacity cannot be reserved"
                    )
        delta = msg.size - vol["size"]
        if instantiated and delta > 0:
            await self.call(
                AllocatePrimaryStorage(
                    size=delta,
                    clusterUuid=cluster,
                    hostUuid=vol["hostUuid"],
                    primaryStorageUuid=vol["primaryStorageUuid"],
                )
            )
        try:
            if instantiated:
                await self.call(
                    ResizeVolumeBits(
                        primaryStorageUuid=vol["primaryStorageUuid"],
                        volumeUuid=vol["uuid"],
                        installPath=vol["installPath"],
                        size=msg.size,
                        shrink=msg.size < vol["size"],
                        **running,
                    )
                )
            async with self.db.tx() as conn:
                result = await conn.execute(
                    update(VOLUME.table)
                    .where(VOLUME.key == msg.uuid, VOLUME.table.c.size == vol["size"])
                    .values(size=msg.size, lastOpDate=utcnow())
                )
            if result.rowcount != 1:  # resized meanwhile (another node)
                raise errors.operation_error(f"volume[uuid:{msg.uuid}] changed size concurrently, try again")
        except errors.CloudBusError:
            if instantiated and delta > 0:
                await self.return_capacity(vol["primaryStorageUuid"], delta, vol["hostUuid"])
            raise
        if instantiated and delta < 0:
            await self.return_capacity(vol["primaryStorageUuid"], -delta, vol["hostUuid"])
        async with self.db.read() as conn:
            return await load(conn, VOLUME, msg.uuid)

    # ---- cascade ---------------------------------------------------------------------

    async def on_resolve(self, inv: Inventory, step: CascadeStep) -> list[str]:
        # Delay-deleted volumes keep their snapshots; a deleted disk offering only nulls a field.
        if inv.name == "VolumeSnapshot" and step.rootType in ("Volume", "DiskOffering"):
            return []
        return await super().on_resolve(inv, step)

    async def on_delete(self, inv: Inventory, step: CascadeStep, *, force: bool) -> None:
        if inv.name == "VolumeSnapshot":
            await self.delete_snapshots(step, force=force)
        elif inv.name == "VolumeSnapshotTree":
            await self.delete_rows(inv, step.uuids)
        elif step.parentType == "DiskOffering":
            async with self.db.tx() as conn:
                await conn.execute(
                    update(VOLUME.table)
                    .where(VOLUME.key.in_(step.uuids))
                    .values(diskOfferingUuid=None, lastOpDate=utcnow())
                )
        elif step.parentType is None:
            for uuid in step.uuids:
                await self.delay_delete(uuid, force=force)
        elif step.parentType == "Project":  # its owner goes: bits deleted, capacity returned
            await self.expunge(step.uuids, keep_bits=force)
        else:  # below a deleted primary storage (or anything else owning the bits): DBOnly
            await self.drop_rows(step.uuids)

    async def delay_delete(self, uuid: str, *, force: bool) -> None:
        """Delay policy: detach (telling the hypervisor), status Deleted; bits and capacity stay."""
        async with self.db.read() as conn:
            row = (await conn.execute(select(VOLUME.table).where(VOLUME.key == uuid))).first()
            vol = dict(row._mapping) if row is not None else None
            if vol is None or vol["status"] == "Deleted":
                return
            vm = await self.load_vm(conn, vol["vmInstanceUuid"]) if vol["vmInstanceUuid"] else None
        if vm is not None and vm["state"] in ON_HYPERVISOR_STATES:
            try:
                await self.tell_hypervisor(vm, "detachVolume", vol)
            except errors.CloudBusError:
                if not force:
                    raise
        async with self.db.tx() as conn:
            values: dict[str, Any] = {"status": "Deleted"}
            if vm is not None:
                values.update(
                    vmInstanceUuid=None, deviceId=None, lastVmInstanceUuid=vm["uuid"], lastDetachDate=utcnow()
                )
            await set_fields(conn, VOLUME, uuid, **values)
