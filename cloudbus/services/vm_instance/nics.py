"""Nics of a VM: attach an L3 (new nic, next deviceId, an IP), detach a nic (IP freed).

Used by AttachL3NetworkToVm / DetachL3NetworkFromVm and by the cascade (deleting an
L3 network or an IP range, detaching an L2 network from a cluster detach nics).
"""

from __future__ import annotations

from typing import Any

from cloudbus.apis.internal.host import VmCommand
from cloudbus.apis.vm_instance import AttachL3NetworkToVm
from cloudbus.core import errors
from cloudbus.inventory.vm_instance import VM_NIC
from cloudbus.services.common import missing
from cloudbus.services.vm_instance import store
from cloudbus.services.vm_instance.calls import Calls
from cloudbus.services.vm_instance.creation import ip_fields
from cloudbus.services.vm_instance.states import VM_ATTACH_NETWORK, check_allowed

# States in which a VM holds IPs (Created was never instantiated, Destroyed gave them back).
HOLDS_IPS = frozenset({"Starting", "Running", "Stopped", "Paused", "Stopping", "Rebooting", "Unknown", "Migrating"})


class Nics:
    def __init__(self, db: Any, calls: Calls) -> None:
        self.db = db
        self.calls = calls

    async def attach(self, msg: AttachL3NetworkToVm) -> dict[str, Any]:
        vm = await store.get_vm(self.db, msg.vmInstanceUuid)
        check_allowed(vm, "AttachL3NetworkToVm")
        if any(n["l3NetworkUuid"] == msg.l3NetworkUuid for n in await store.nics(self.db, vm["uuid"])):
            raise errors.invalid_argument(
                f"vm[uuid:{vm['uuid']}] already has a nic on l3Network[uuid:{msg.l3NetworkUuid}]"
            )
        host = vm["hostUuid"]
        if host and not await self.calls.candidate_hosts(
            cpuNum=0, memorySize=0, hostUuid=host, l3NetworkUuids=[msg.l3NetworkUuid]
        ):
            raise errors.fail(
                VM_ATTACH_NETWORK,
                f"the cluster of host[uuid:{host}] running vm[uuid:{vm['uuid']}] is not attached to "
                f"the l2 network of l3Network[uuid:{msg.l3NetworkUuid}]",
            )
        nic = await store.insert_nic(self.db, vm, msg.l3NetworkUuid, driver_type=msg.driverType)
        used_ip = None
        try:
            if vm["state"] in HOLDS_IPS:
                reply = await self.calls.allocate_ip(msg.l3NetworkUuid, nic["uuid"], msg.staticIp)
                used_ip = reply.get("usedIpUuid")
                await store.set_nic(self.db, nic["uuid"], **ip_fields(reply))
                nic.update(ip_fields(reply))
            if host:
                # the nic as a start describes it, for hypervisors that realise its L3 themselves
                spec = {k: nic.get(k) for k in ("uuid", "mac", "ip", "deviceId", "l3NetworkUuid")}
                await self.calls.hypervisor(
                    host, "attachNic", vm["uuid"], nicUuid=nic["uuid"], mac=nic["mac"], nics=[spec]
                )
        except BaseException:
            await self.calls.quietly("return the ip of a failed nic", self.calls.return_ips([used_ip]))
            await store.delete_nics(self.db, [nic["uuid"]])
            raise
        if not vm["defaultL3NetworkUuid"]:
            await store.change(self.db, vm["uuid"], defaultL3NetworkUuid=msg.l3NetworkUuid)
        return await store.inventory(self.db, vm["uuid"])

    async def vm_of(self, nic_uuid: str) -> str:
        async with self.db.read() as conn:
            vm_uuid = await conn.scalar(
                store.NIC.select().with_only_columns(store.NIC.c.vmInstanceUuid).where(store.NIC.c.uuid == nic_uuid)
            )
        if vm_uuid is None:
            raise missing(VM_NIC, nic_uuid)
        return str(vm_uuid)

    async def detach(self, nic_uuid: str, *, force: bool = False) -> dict[str, Any]:
        """Detach one nic: hypervisor first (a failure changes nothing unless forced), then IP and row."""
        vm = await store.get_vm(self.db, await self.vm_of(nic_uuid))
        if not force:
            check_allowed(vm, "DetachL3NetworkFromVm")
        await self.detach_nics(vm, [n for n in await store.nics(self.db, vm["uuid"]) if n["uuid"] == nic_uuid], force)
        return await store.inventory(self.db, vm["uuid"])

    async def detach_nics(self, vm: dict[str, Any], nics: list[dict[str, Any]], force: bool) -> None:
        if not nics:
            return
        host = vm["hostUuid"]
        for nic in nics:
            if host:
                call = self.calls.hypervisor(host, "detachNic", vm["uuid"], nicUuid=nic["uuid"], mac=nic["mac"])
                if force:
                    await self.calls.quietly("detach a nic from a vm", call)
                else:
                    await call
        await self.calls.quietly(
            "return the ips of detached nics", self.calls.return_ips([n["usedIpUuid"] for n in nics])
        )
        gone = {n["uuid"] for n in nics}
        await store.delete_nics(self.db, sorted(gone))
        if vm["defaultL3NetworkUuid"] in {n["l3NetworkUuid"] for n in nics}:
            left = [n for n in await store.nics(self.db, vm["uuid"])]
            await store.change(self.db, vm["uuid"], defaultL3NetworkUuid=left[0]["l3NetworkUuid"] if left else None)

    async def detach_from_many(self, vms: list[dict[str, Any]], nics: list[dict[str, Any]]) -> None:
        """`detach_nics(force=True)` for the nics of many VMs (a cascade's batch): one
        hypervisor message per host, one to return the IPs, one DELETE; a VM whose default
        L3 lost its nic moves to its first nic left, as `detach_nics` does."""
        if not nics:
            return
        by_uuid = {vm["uuid"]: vm for vm in vms}
        per_host: dict[str, list[VmCommand]] = {}
        for nic in nics:
            host = by_uuid[nic["vmInstanceUuid"]]["hostUuid"]
            if host:
                args = {"nicUuid": nic["uuid"], "mac": nic["mac"]}
                per_host.setdefault(host, []).append(VmCommand(vmInstanceUuid=nic["vmInstanceUuid"], args=args))
        for host, commands in sorted(per_host.items()):
            await self.calls.hypervisor_quietly("detach a nic from a vm", host, "detachNic", commands)
        await self.calls.quietly(
            "return the ips of detached nics", self.calls.return_ips([n["usedIpUuid"] for n in nics])
        )
        await store.delete_nics(self.db, sorted({n["uuid"] for n in nics}))
        lost = {
            n["vmInstanceUuid"]
            for n in nics
            if by_uuid[n["vmInstanceUuid"]]["defaultL3NetworkUuid"] == n["l3NetworkUuid"]
        }
        await self._move_defaults(sorted(lost))

    async def _move_defaults(self, vm_uuids: list[str]) -> None:
        """Each VM's default L3 becomes that of its first nic left (none without nics)."""
        if not vm_uuids:
            return
        first: dict[str, str] = {}
        for nic in await store.nics_of(self.db, vm_uuids):
            first.setdefault(nic["vmInstanceUuid"], nic["l3NetworkUuid"])
        by_default: dict[str | None, list[str]] = {}
        for vm_uuid in vm_uuids:
            by_default.setdefault(first.get(vm_uuid), []).append(vm_uuid)
        for default, same in by_default.items():
            await store.change_vms(self.db, same, defaultL3NetworkUuid=default)

    async def release_ips(self, vm_uuid: str) -> None:
        """Give back every nic's IP, keeping the nic rows (destroy).

        By nic as well as by recorded IP: an IP allocated for a nic whose row was not yet
        updated (its node died in between) is freed too."""
        every = await store.nics(self.db, vm_uuid)
        nics = [n for n in every if n["usedIpUuid"]]
        await self.calls.return_nic_ips([n["uuid"] for n in every])
        await self.calls.return_ips([n["usedIpUuid"] for n in nics])
        for nic in nics:
            await store.set_nic(self.db, nic["uuid"], **store.NO_IP)
