"""VM lifecycle operations: create, start, stop, reboot, pause, resume, migrate.

Each operation checks the state table first, moves the VM to its intermediate state
(Starting, Stopping ...), asks the hypervisor, then settles the row. A failure puts the
row back exactly as it was (`store.Saved`) and gives back whatever was taken, so the
database after a failed operation equals the database before it. Errors of the service
that failed (HOST_ALLOCATION.1000, L3.1000, PS.1000, the hypervisor's) reach the caller
as they are.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.exc import IntegrityError

from cloudbus import inventory
from cloudbus.apis.vm_instance import CreateVmInstance, MigrateVm, StartVmInstance, StopVmInstance
from cloudbus.core import errors
from cloudbus.core.ids import utcnow
from cloudbus.inventory.host import HOST
from cloudbus.inventory.vm_instance import VM_INSTANCE
from cloudbus.services.common import row_by_key, update_by_key
from cloudbus.services.journal import Journal
from cloudbus.services.ownership import claim
from cloudbus.services.vm_instance import store
from cloudbus.services.vm_instance.calls import Calls
from cloudbus.services.vm_instance.creation import (
    FULL_COPY_TAG,
    Instantiation,
    encode_disks,
    planned_volumes,
    root_volume_storage,
)
from cloudbus.services.vm_instance.states import check_allowed

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

_INSERT_VM = insert(store.VM)
_INSERT_NIC = insert(store.NIC)


@functools.cache
def _image_defaults() -> Any:
    table = inventory.get("Image").table
    return select(table.c.platform, table.c.guestOsType, table.c.architecture).where(table.c.uuid == bindparam("image"))


@functools.cache
def _zone_of_l3() -> Any:
    table = inventory.get("L3Network").table
    return select(table.c.zoneUuid).where(table.c.uuid == bindparam("l3"))


class Lifecycle:
    def __init__(self, db: Any, calls: Calls, open_journal: Callable[..., Awaitable[Journal]]) -> None:
        self.db = db
        self.calls = calls
        self.open_journal = open_journal  # the service's (services.base.ResourceService)

    async def _journal(self, vm: dict[str, Any], op: str, **state: Any) -> Journal:
        """Journal an operation on `vm` before its first change (kind `vm.op`, recovery.py)."""
        return await self.open_journal(vm["uuid"], "vm.op", uuid=vm["uuid"], op=op, vm=vm, **state)

    # --- create / start ----------------------------------------------------------------

    async def sizing(self, conn: AsyncConnection, msg: CreateVmInstance) -> dict[str, Any]:
        """cpuNum/memorySize/... from the offering, or from the message."""
        if msg.instanceOfferingUuid:
            table = inventory.get("InstanceOffering").table
            offering = (await conn.execute(row_by_key(table), {"key": msg.instanceOfferingUuid})).mappings().first()
            if offering is None:
                raise errors.not_found(f"unable to find instance offering[uuid:{msg.instanceOfferingUuid}]")
            if offering.get("state", "Enabled") != "Enabled":
                raise errors.operation_error(f"instance offering[uuid:{msg.instanceOfferingUuid}] is Disabled")
            return {
                "instanceOfferingUuid": msg.instanceOfferingUuid,
                "cpuNum": offering["cpuNum"],
                "memorySize": offering["memorySize"],
                "cpuSpeed": offering.get("cpuSpeed") or 0,
                "reservedMemorySize": offering.get("reservedMemorySize") or 0,
                "allocatorStrategy": offering.get("allocatorStrategy") or "DefaultHostAllocatorStrategy",
            }
        if msg.cpuNum is None or msg.memorySize is None:
            raise errors.invalid_argument("CreateVmInstance needs instanceOfferingUuid, or both cpuNum and memorySize")
        return {
            "instanceOfferingUuid": None,
            "cpuNum": msg.cpuNum,
            "memorySize": msg.memorySize,
            "cpuSpeed": 0,
            "reservedMemorySize": 0,
            "allocatorStrategy": "DefaultHostAllocatorStrategy",
        }

    @staticmethod
    async def image_defaults(conn: AsyncConnection, image_uuid: str) -> dict[str, Any]:
        image = (await conn.execute(_image_defaults(), {"image": image_uuid})).mappings().first()
        if image is None:
            raise errors.not_found(f"unable to find image[uuid:{image_uuid}]")
        return dict(image)

    @staticmethod
    async def zone_of(conn: AsyncConnection, l3_uuid: str) -> str | None:
        """A VM belongs to the zone of its networks before it has a host (JustCreate)."""
        return await conn.scalar(_zone_of_l3(), {"l3": l3_uuid})

    async def create(self, msg: CreateVmInstance, chains: Any) -> dict[str, Any]:
        l3s = list(msg.l3NetworkUuids)
        if len(set(l3s)) != len(l3s):
            raise errors.invalid_argument(f"duplicate l3NetworkUuids {l3s}")
        default_l3 = msg.defaultL3NetworkUuid or l3s[0]
        if default_l3 not in l3s:
            raise errors.invalid_argument(f"defaultL3NetworkUuid[{default_l3}] is not in l3NetworkUuids {l3s}")
        async with self.db.read() as conn:
            sizing = await self.sizing(conn, msg)
            image = await self.image_defaults(conn, msg.imageUuid)
            zone = msg.zoneUuid or await self.zone_of(conn, l3s[0])
        uuid = msg.new_resource_uuid()
        now = utcnow()
        row = {
            "uuid": uuid,
            "name": msg.name,
            "description": msg.description,
            "createDate": now,
            "lastOpDate": now,
            "zoneUuid": zone,
            "clusterUuid": msg.clusterUuid,
            "imageUuid": msg.imageUuid,
            "platform": msg.platform or image["platform"],
            "guestOsType": msg.guestOsType or image["guestOsType"],
            "architecture": msg.architecture or image["architecture"],
            "defaultL3NetworkUuid": default_l3,
            "type": msg.type,
            "state": "Created" if msg.strategy == "JustCreate" else "Starting",
            "pendingDataDiskOfferingUuids": encode_disks(msg.dataDiskOfferingUuids),
            **sizing,
        }
        async with chains.run_in(f"vmInstance-{uuid}"):
            volumes = planned_volumes(row) if msg.strategy != "JustCreate" else []
            journal, nics = await self._insert(row, l3s, volumes)
            try:
                if msg.strategy != "JustCreate":
                    hints = {"zoneUuid": msg.zoneUuid, "clusterUuid": msg.clusterUuid, "hostUuid": msg.hostUuid}
                    await self.instantiate(
                        row,
                        hints,
                        volumes,
                        nics,
                        stop_after=msg.strategy == "CreateStopped",
                        full_copy=FULL_COPY_TAG in (msg.systemTags or []),
                    )
            except BaseException:
                await store.delete_vm(self.db, uuid)
                await journal.close()
                raise
            await journal.close()
            return await store.inventory(self.db, uuid)

    async def _insert(
        self, row: dict[str, Any], l3s: list[str], volumes: list[str]
    ) -> tuple[Journal, list[dict[str, Any]]]:
        """The VM row, its nics and the create's journal, in one transaction: a successor finds
        either all of them or none."""
        for _ in range(store.MAC_ATTEMPTS):
            nics = [store.nic_row(row, l3, device) for device, l3 in enumerate(l3s)]
            try:
                async with self.db.tx() as conn:
                    journal = await self._journal(row, "create", conn=conn, volumeUuids=volumes)
                    await claim(conn, VM_INSTANCE, row)
                    await conn.execute(_INSERT_VM, row)
                    await conn.execute(_INSERT_NIC, nics)
                return journal, nics
            except IntegrityError:
                async with self.db.read() as conn:
                    taken = await conn.scalar(select(store.VM.c.uuid).where(store.VM.c.uuid == row["uuid"]))
                if taken is not None:
                    raise errors.invalid_argument(f"a resource with uuid[{row['uuid']}] already exists") from None
                # else a MAC was taken: draw them again
        raise store.no_mac(row["uuid"])

    async def instantiate(
        self,
        vm: dict[str, Any],
        hints: dict[str, Any],
        volumes: list[str],
        nics: list[dict[str, Any]] | None = None,
        *,
        stop_after: bool = False,
        full_copy: bool = False,
    ) -> None:
        """Run the chain, then settle the VM row (state, placement, root volume) and its nics
        (IPs, hypervisor type) in one write."""
        if nics is None:
            nics = await store.nics(self.db, vm["uuid"])
        run = Instantiation(self.db, self.calls, vm, volumes, nics, hints, stop_after=stop_after, full_copy=full_copy)
        await run.run()
        async with self.db.tx() as conn:
            await conn.execute(
                update_by_key(store.VM), {"lastOpDate": utcnow(), **run.row_values(), "key_": vm["uuid"]}
            )
            for nic in nics:
                values = {"hypervisorType": run.placement.hypervisorType, "key_": nic["uuid"]}
                if nic["uuid"] in run.new_ips:
                    values.update({k: nic[k] for k in store.NIC_IP_FIELDS})
                await conn.execute(update_by_key(store.NIC), values)
        if stop_after:
            await self.calls.return_host(vm, run.placement.hostUuid)

    async def start(self, msg: StartVmInstance) -> dict[str, Any]:
        vm = await store.get_vm(self.db, msg.uuid)
        check_allowed(vm, "StartVmInstance")
        if vm["state"] == "Running":
            return await store.inventory(self.db, msg.uuid)
        nics = await store.nics(self.db, msg.uuid)
        volumes = planned_volumes(vm)
        without_ip = [n["uuid"] for n in nics if not n["usedIpUuid"]]
        journal = await self._journal(vm, "start", nicsWithoutIp=without_ip, volumeUuids=volumes)
        saved = await store.change(self.db, msg.uuid, state="Starting")
        hints = {"clusterUuid": msg.clusterUuid, "hostUuid": msg.hostUuid}
        try:
            await self.instantiate(vm, hints, volumes, nics)
        except BaseException:
            await saved.restore(self.db)
            await journal.close()
            raise
        await journal.close()
        return await store.inventory(self.db, msg.uuid)

    # --- stop / reboot / pause / resume ------------------------------------------------------

    async def stop(self, msg: StopVmInstance) -> dict[str, Any]:
        vm = await store.get_vm(self.db, msg.uuid)
        check_allowed(vm, "StopVmInstance")
        if vm["state"] != "Stopped":
            await self.stop_vm(vm, type=msg.type)
        return await store.inventory(self.db, msg.uuid)

    async def stop_vm(self, vm: dict[str, Any], *, type: str = "grace", ignore_failure: bool = False) -> None:
        """Stop on the hypervisor, release the host. `ignore_failure`: a dead host does not block."""
        host = vm["hostUuid"]
        journal = await self._journal(vm, "stop")
        saved = await store.change(self.db, vm["uuid"], state="Stopping")
        if host:
            try:
                await self.calls.hypervisor(host, "stopVm", vm["uuid"], type=type)
            except errors.CloudBusError:
                if not ignore_failure:
                    await saved.restore(self.db)
                    await journal.close()
                    raise
        await store.change(self.db, vm["uuid"], state="Stopped", hostUuid=None, lastHostUuid=host or vm["lastHostUuid"])
        await self.calls.return_host(vm, host)
        await journal.close()

    async def console_address(self, uuid: str) -> dict[str, Any]:
        vm = await store.get_vm(self.db, uuid)
        if vm["state"] not in ("Running", "Paused") or not vm["hostUuid"]:
            raise errors.operation_error(f"vm[uuid:{uuid}] is {vm['state']}: only a running vm has a console")
        reply = await self.calls.hypervisor(vm["hostUuid"], "consoleAddress", uuid)
        result = dict(reply.get("result") or {})
        if not result.get("port"):
            raise errors.operation_error(f"the hypervisor of vm[uuid:{uuid}] gives it no console")
        address = {k: result.get(k) for k in ("hostIp", "port", "protocol")}
        return address | ({"url": result["url"]} if result.get("url") else {})  # a cloud's console page

    async def transit(self, uuid: str, operation: str, via: str, to: str, command: str) -> dict[str, Any]:
        """Operations that keep the host: state `via` while the hypervisor runs `command`, then `to`."""
        vm = await store.get_vm(self.db, uuid)
        check_allowed(vm, operation)
        if not vm["hostUuid"]:
            raise errors.operation_error(f"vm[uuid:{uuid}] is on no host, {operation} cannot reach it")
        journal = await self._journal(vm, "transit", via=via, to=to)
        saved = await store.change(self.db, uuid, state=via)
        try:
            await self.calls.hypervisor(vm["hostUuid"], command, uuid)
        except BaseException:
            await saved.restore(self.db)
            await journal.close()
            raise
        await store.change(self.db, uuid, state=to)
        await journal.close()
        return await store.inventory(self.db, uuid)

    # --- migrate -----------------------------------------------------------------------------

    async def migration_fields(self, vm: dict[str, Any]) -> dict[str, Any]:
        nics = await store.nics(self.db, vm["uuid"])
        ps, _ = await root_volume_storage(self.db, vm)
        return {
            "cpuNum": vm["cpuNum"],
            "memorySize": vm["memorySize"],
            "l3NetworkUuids": list(dict.fromkeys(n["l3NetworkUuid"] for n in nics)),
            "excludeHostUuids": [vm["hostUuid"]] if vm["hostUuid"] else [],
            "primaryStorageUuids": [ps] if ps else [],
        }

    async def candidates(self, vm_uuid: str) -> list[dict[str, Any]]:
        vm = await store.get_vm(self.db, vm_uuid)
        check_allowed(vm, "GetVmMigrationCandidateHosts")
        uuids = await self.calls.candidate_hosts(**await self.migration_fields(vm))
        async with self.db.read() as conn:
            return await HOST.fetch(conn, uuids)

    async def migrate(self, msg: MigrateVm) -> dict[str, Any]:
        vm = await store.get_vm(self.db, msg.vmInstanceUuid)
        check_allowed(vm, "MigrateVm")
        if msg.hostUuid and msg.hostUuid == vm["hostUuid"]:
            raise errors.invalid_argument(f"the vm[uuid:{vm['uuid']}] is already on host[uuid:{msg.hostUuid}]")
        fields = await self.migration_fields(vm)
        if msg.hostUuid:
            fields["hostUuid"] = msg.hostUuid
        journal = await self._journal(vm, "migrate")
        try:
            target = await self.calls.allocate_host(ownerUuid=vm["uuid"], **fields)
        except BaseException:
            await journal.close()
            raise
        dest = str(target.get("hostUuid"))
        saved = await store.change(self.db, vm["uuid"], state="Migrating")
        try:
            await self.calls.hypervisor(vm["hostUuid"], "migrateVm", vm["uuid"], destHostUuid=dest)
        except BaseException:
            await self.calls.quietly("return capacity of a failed migration", self.calls.return_host(vm, dest))
            await saved.restore(self.db)
            await journal.close()
            raise
        await store.change(
            self.db,
            vm["uuid"],
            state="Running" if vm["state"] == "Unknown" else vm["state"],
            hostUuid=dest,
            lastHostUuid=vm["hostUuid"],
            clusterUuid=target.get("clusterUuid"),
            zoneUuid=target.get("zoneUuid"),
        )
        await self.calls.return_host(vm)
        await journal.close()
        return await store.inventory(self.db, vm["uuid"])

    # --- capacity changes of a placed VM -------------------------------------------------------

    async def resize(self, vm: dict[str, Any], cpu: int, memory: int) -> None:
        """Take or give back the difference on the VM's host (nothing to do without one)."""
        host = vm["hostUuid"]
        if not host:
            return
        more_cpu, more_mem = max(cpu - vm["cpuNum"], 0), max(memory - vm["memorySize"], 0)
        less_cpu, less_mem = max(vm["cpuNum"] - cpu, 0), max(vm["memorySize"] - memory, 0)
        if more_cpu or more_mem:
            await self.calls.allocate_host(cpuNum=more_cpu, memorySize=more_mem, hostUuid=host, ownerUuid=vm["uuid"])
        if less_cpu or less_mem:
            await self.calls.shrink_host(vm["uuid"], host, less_cpu, less_mem)
