"""AttachDataVolumeToVm / DetachDataVolumeFromVm of the volume service.

The first attach instantiates a NotInstantiated volume as a FlowChain (reserve capacity
on a primary storage of the VM's cluster -> create the bits -> record the attachment ->
tell the hypervisor if the VM runs); any failing step undoes the earlier ones, so the
volume is NotInstantiated again, its capacity returned and its bits gone. Both run in the
volume's chain queue; the device id is the lowest free one >= 1 of the VM, made safe
against concurrent attaches to one VM by the (vmInstanceUuid, deviceId) unique constraint.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from cloudbus.apis.internal.storage import AllocatePrimaryStorage, DeleteVolumeBits, InstantiateVolume
from cloudbus.apis.volume import AttachDataVolumeToVm, DetachDataVolumeFromVm
from cloudbus.core import errors
from cloudbus.core.ids import utcnow
from cloudbus.core.service import handles
from cloudbus.core.workflow import FlowChain
from cloudbus.inventory.volume import VOLUME
from cloudbus.services.common import load, set_fields
from cloudbus.services.volume_base import (
    ATTACHABLE_VM_STATES,
    LOCAL_STORAGE,
    VM_ATTACH_VOLUME,
    VM_DETACH_VOLUME,
    VolumeBase,
    vm_state_error,
)

DEVICE_ID_RETRIES = 20


class AttachHandlers(VolumeBase):
    @handles(AttachDataVolumeToVm)
    async def attach(self, msg: AttachDataVolumeToVm) -> dict[str, Any]:
        async with self.db.read() as conn:
            vol = await self.volume_row(conn, msg.volumeUuid)
            vm = await self.load_vm(conn, msg.vmInstanceUuid)
            self._check_attachable(vol, vm)
            host = await self.vm_host(conn, vm)
            if vol["installPath"] is not None:
                await self._check_reachable(conn, vol, vm, host)
        data: dict[str, Any] = {"vol": vol, "vm": vm, "host": host}
        chain = FlowChain("attach-data-volume")
        if vol["installPath"] is None:
            chain.then("allocate-capacity", self._allocate, self._return)
            chain.then("instantiate", self._instantiate, self._delete_bits)
        chain.then("record-attachment", self._record, self._unrecord)
        chain.then("hypervisor-attach", self._hypervisor_attach)
        try:
            await chain.run(data)
        except errors.CloudBusError as exc:
            raise errors.fail(VM_ATTACH_VOLUME, exc.error.details, exc.error) from None
        async with self.db.read() as conn:
            return await load(conn, VOLUME, msg.volumeUuid)

    @staticmethod
    def _check_attachable(vol: dict[str, Any], vm: dict[str, Any]) -> None:
        uuid = vol["uuid"]
        if vol["type"] != "Data":
            raise errors.invalid_argument(
                f"volume[uuid:{uuid}] is a {vol['type']} volume, only data volumes can be attached"
            )
        if vol["status"] == "Deleted":
            raise errors.operation_error(f"data volume[uuid:{uuid}] is deleted, recover it before attaching")
        if vol["state"] != "Enabled":
            raise errors.operation_error(f"data volume[uuid:{uuid}] is {vol['state']}, it can't be attached")
        if vol["vmInstanceUuid"] is not None:
            raise errors.operation_error(
                f"data volume[uuid:{uuid}] is already attached to vm[uuid:{vol['vmInstanceUuid']}]"
            )
        if vm["state"] not in ATTACHABLE_VM_STATES:
            raise vm_state_error(vm, "AttachDataVolumeToVm", ATTACHABLE_VM_STATES)

    async def _check_reachable(self, conn: Any, vol: dict[str, Any], vm: dict[str, Any], host: str | None) -> None:
        """An instantiated volume can only go to a VM that sees its primary storage (and host, if local)."""
        ps = vol["primaryStorageUuid"]
        if vm.get("clusterUuid") and vm["clusterUuid"] not in await self.ps_clusters(conn, ps):
            raise errors.operation_error(
                f"data volume[uuid:{vol['uuid']}] is on primary storage[uuid:{ps}], which is not attached "
                f"to the cluster[uuid:{vm['clusterUuid']}] of vm[uuid:{vm['uuid']}]"
            )
        if vol["hostUuid"] and host and vol["hostUuid"] != host:
            raise errors.operation_error(
                f"data volume[uuid:{vol['uuid']}] is on the local storage of host[uuid:{vol['hostUuid']}], "
                f"vm[uuid:{vm['uuid']}] is on host[uuid:{host}]"
            )

    async def _allocate(self, data: dict[str, Any]) -> None:
        vol, vm = data["vol"], data["vm"]
        if not vm.get("clusterUuid"):
            raise errors.operation_error(f"vm[uuid:{vm['uuid']}] has no cluster to find primary storage in")
        reply = await self.call(
            AllocatePrimaryStorage(
                size=vol["size"],
                clusterUuid=vm["clusterUuid"],
                hostUuid=data["host"],
                primaryStorageUuid=vol["primaryStorageUuid"],
            )
        )
        data["ps"] = reply.get("primaryStorageUuid")
        async with self.db.read() as conn:
            local = await self.ps_type(conn, data["ps"]) == LOCAL_STORAGE
        data["bits_host"] = data["host"] if local else None

    async def _return(self, data: dict[str, Any]) -> None:
        await self.return_capacity(data["ps"], data["vol"]["size"], data["bits_host"])

    async def _instantiate(self, data: dict[str, Any]) -> None:
        vol = data["vol"]
        reply = await self.call(
            InstantiateVolume(
                primaryStorageUuid=data["ps"], volumeUuid=vol["uuid"], size=vol["size"], hostUuid=data["bits_host"]
            )
        )
        data["installPath"] = reply.get("installPath") or f"simulated://{data['ps']}/{vol['uuid']}"

    async def _delete_bits(self, data: dict[str, Any]) -> None:
        await self.call(
            DeleteVolumeBits(
                primaryStorageUuid=data["ps"],
                volumeUuid=data["vol"]["uuid"],
                installPath=data["installPath"],
                hostUuid=data["bits_host"],
            )
        )

    async def _record(self, data: dict[str, Any]) -> None:
        vol, vm = data["vol"], data["vm"]
        values: dict[str, Any] = {"vmInstanceUuid": vm["uuid"], "lastAttachDate": utcnow(), "status": "Ready"}
        if "installPath" in data:
            values.update(installPath=data["installPath"], primaryStorageUuid=data["ps"], hostUuid=data["bits_host"])
        for _ in range(DEVICE_ID_RETRIES):
            try:
                async with self.db.tx() as conn:
                    values["deviceId"] = await self._free_device_id(conn, vm["uuid"])
                    result = await conn.execute(
                        update(VOLUME.table)
                        .where(VOLUME.key == vol["uuid"], VOLUME.table.c.vmInstanceUuid.is_(None))
                        .values(lastOpDate=utcnow(), **values)
                    )
                    if result.rowcount != 1:
                        raise errors.operation_error(f"data volume[uuid:{vol['uuid']}] was attached meanwhile")
                    data["attached"] = await load(conn, VOLUME, vol["uuid"])
                    return
            except IntegrityError:
                continue  # another volume took that device id: pick again
        raise errors.operation_error(f"no free device id for vm[uuid:{vm['uuid']}]")

    @staticmethod
    async def _free_device_id(conn: Any, vm_uuid: str) -> int:
        used = set(
            (
                await conn.execute(select(VOLUME.table.c.deviceId).where(VOLUME.table.c.vmInstanceUuid == vm_uuid))
            ).scalars()
        )
        device = 1
        while device in used:
            device += 1
        return device

    async def _unrecord(self, data: dict[str, Any]) -> None:
        """Put the row back exactly as it was (lastOpDate included: nothing happened)."""
        vol = data["vol"]
        keep = ("vmInstanceUuid", "deviceId", "lastAttachDate", "status", "installPath", "primaryStorageUuid")
        async with self.db.tx() as conn:
            await conn.execute(
                update(VOLUME.table)
                .where(VOLUME.key == vol["uuid"])
                .values(**{k: vol[k] for k in (*keep, "hostUuid", "lastOpDate")})
            )

    async def _hypervisor_attach(self, data: dict[str, Any]) -> None:
        await self.tell_hypervisor(data["vm"], "attachVolume", data["attached"])

    @handles(DetachDataVolumeFromVm)
    async def detach(self, msg: DetachDataVolumeFromVm) -> dict[str, Any]:
        async with self.db.read() as conn:
            vol = await self.volume_row(conn, msg.uuid)
            if vol["type"] != "Data":
                raise errors.invalid_argument(
                    f"volume[uuid:{msg.uuid}] is a {vol['type']} volume, it can't be detached"
                )
            if vol["vmInstanceUuid"] is None:
                raise errors.operation_error(f"data volume[uuid:{msg.uuid}] is not attached to any vm, can't detach")
            if msg.vmUuid is not None and msg.vmUuid != vol["vmInstanceUuid"]:
                raise errors.invalid_argument(
                    f"data volume[uuid:{msg.uuid}] is attached to vm[uuid:{vol['vmInstanceUuid']}], "
                    f"not vm[uuid:{msg.vmUuid}]"
                )
            vm = await self.load_vm(conn, vol["vmInstanceUuid"])
        if vm["state"] not in ATTACHABLE_VM_STATES:
            raise vm_state_error(vm, "DetachDataVolumeFromVm", ATTACHABLE_VM_STATES)
        try:
            await self.tell_hypervisor(vm, "detachVolume", vol)
        except errors.CloudBusError as exc:
            raise errors.fail(VM_DETACH_VOLUME, exc.error.details, exc.error) from None
        async with self.db.tx() as conn:
            now = utcnow()
            await set_fields(
                conn,
                VOLUME,
                msg.uuid,
                vmInstanceUuid=None,
                deviceId=None,
                lastVmInstanceUuid=vm["uuid"],
                lastDetachDate=now,
            )
            return await load(conn, VOLUME, msg.uuid)
