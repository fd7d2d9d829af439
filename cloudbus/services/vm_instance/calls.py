"""What the VM service asks of other services, as small awaitables over the bus.

Hosts (placement, capacity, hypervisor commands), primary storage, images, IPs and
volumes all belong to other services: the VM service only sends their internal
contracts (cloudbus/apis/internal/*) and never touches their rows.
"""

from __future__ import annotations

from typing import Any

from cloudbus.apis.internal.host import (
    AllocateHost,
    HypervisorCommand,
    HypervisorCommands,
    ReturnHostCapacity,
    VmCommand,
)
from cloudbus.apis.internal.network import AllocateIp, ReturnIp
from cloudbus.apis.internal.storage import (
    AllocatePrimaryStorage,
    SelectBackupStorage,
    SettlePrimaryStorageReservation,
)
from cloudbus.apis.internal.volume import CreateVmVolume, DetachVmVolumes, ExpungeVolumes
from cloudbus.core import errors
from cloudbus.core.logging import get_logger
from cloudbus.core.messages import Reply
from cloudbus.core.service import current_message_id

log = get_logger(__name__)

# nics whose IPs one ReturnIp of a batch frees: its DELETE binds each nic's uuid and IP uuid,
# far below PostgreSQL's 32,767 bound parameters however many nics a VM of the batch has
NICS_PER_RETURN = 5000


class Calls:
    """Bound to a bus; every method raises the callee's error on failure."""

    def __init__(self, bus: Any) -> None:
        self.bus = bus

    async def allocate_host(self, **fields: Any) -> Reply:
        return await self.bus.call_ok(AllocateHost(**fields))

    async def candidate_hosts(self, **fields: Any) -> list[str]:
        reply = await self.bus.call_ok(AllocateHost(dryRun=True, **fields))
        return list(reply.get("hostUuids") or [])

    async def return_host(self, vm: dict[str, Any], host_uuid: str | None = None) -> None:
        """Give back everything the VM holds on `host_uuid` (default: its current host)."""
        host = host_uuid or vm.get("hostUuid")
        if host:
            await self.bus.call_ok(ReturnHostCapacity(ownerUuid=vm["uuid"], hostUuid=host))

    async def release_hosts(self, vm_uuid: str, keep_host_uuid: str | None) -> None:
        """Give back what the VM holds anywhere but on `keep_host_uuid` (its settled host)."""
        await self.bus.call_ok(ReturnHostCapacity(ownerUuid=vm_uuid, keepHostUuid=keep_host_uuid))

    async def shrink_host(self, vm_uuid: str, host_uuid: str, cpu: int, memory: int) -> None:
        await self.bus.call_ok(ReturnHostCapacity(ownerUuid=vm_uuid, hostUuid=host_uuid, cpuNum=cpu, memorySize=memory))

    async def hypervisor(self, host_uuid: str, command: str, vm_uuid: str, **args: Any) -> Reply:
        return await self.bus.call_ok(
            HypervisorCommand(hostUuid=host_uuid, command=command, vmInstanceUuid=vm_uuid, args=args)
        )

    async def select_backup_storage(self, image_uuid: str, zone_uuid: str | None) -> Reply:
        return await self.bus.call_ok(SelectBackupStorage(imageUuid=image_uuid, zoneUuid=zone_uuid))

    async def reserve_primary_storage(self, owner: str, size: int, cluster_uuid: str, host_uuid: str | None) -> str:
        """Reserve `size` bytes as `owner`'s; settle_primary_storage closes it."""
        reply = await self.bus.call_ok(
            AllocatePrimaryStorage(size=size, clusterUuid=cluster_uuid, hostUuid=host_uuid, ownerUuid=owner)
        )
        return str(reply.get("primaryStorageUuid"))

    async def settle_primary_storage(self, owner_uuid: str, *, give_back: bool) -> bool:
        """Close `owner_uuid`'s reservation (idempotent); True if it was still open."""
        reply = await self.bus.call_ok(SettlePrimaryStorageReservation(ownerUuid=owner_uuid, giveBack=give_back))
        return bool(reply.get("settled"))

    async def create_volume(self, **fields: Any) -> dict[str, Any]:
        # the API being handled (CreateVmInstance): a first copy of the image reports progress
        reply = await self.bus.call_ok(CreateVmVolume(**fields, apiId=current_message_id.get()))
        return dict(reply.inventory or {})

    async def expunge_volumes(self, uuids: list[str], *, keep_bits: bool = False, return_capacity: bool = True) -> None:
        if uuids:
            await self.bus.call_ok(
                ExpungeVolumes(volumeUuids=uuids, keepBits=keep_bits, returnCapacity=return_capacity)
            )

    async def detach_volumes(self, vm_uuid: str) -> None:
        await self.bus.call_ok(DetachVmVolumes(vmInstanceUuid=vm_uuid))

    async def allocate_ip(self, l3_uuid: str, nic_uuid: str, required_ip: str | None = None) -> Reply:
        return await self.bus.call_ok(AllocateIp(l3NetworkUuid=l3_uuid, vmNicUuid=nic_uuid, requiredIp=required_ip))

    async def return_nic_ips(self, nic_uuids: list[str]) -> None:
        """Free every IP recorded for these nics (idempotent)."""
        if nic_uuids:
            await self.bus.call_ok(ReturnIp(vmNicUuids=nic_uuids))

    async def return_ips(self, used_ip_uuids: list[str | None]) -> None:
        uuids = [u for u in used_ip_uuids if u]
        if uuids:
            await self.bus.call_ok(ReturnIp(usedIpUuids=uuids))

    async def quietly(self, what: str, coro: Any) -> None:
        """Best effort (rollbacks, forced cascades): log a failure and go on."""
        try:
            await coro
        except errors.CloudBusError as exc:
            log.warning("ignored failure", what=what, code=exc.error.code, details=exc.error.details)

    # --- batches: a cascade deleting or detaching many VMs, one message per kind of work ---

    async def hypervisor_quietly(self, what: str, host_uuid: str, command: str, vms: list[VmCommand]) -> None:
        """`command` for each of `vms` on one host, best effort: every failure is logged."""
        if not vms:
            return
        try:
            reply = await self.bus.call_ok(HypervisorCommands(hostUuid=host_uuid, command=command, vms=vms))
        except errors.CloudBusError as exc:
            log.warning(
                "ignored failure", what=what, hostUuid=host_uuid, code=exc.error.code, details=exc.error.details
            )
            return
        for vm_uuid, error in (reply.get("failed") or {}).items():
            log.warning(
                "ignored failure", what=what, vmUuid=vm_uuid, code=error.get("code"), details=error.get("details")
            )

    async def release_hosts_of(self, vm_uuids: list[str]) -> None:
        """Give back everything these VMs hold, on every host (idempotent)."""
        if vm_uuids:
            await self.bus.call_ok(ReturnHostCapacity(ownerUuids=vm_uuids))

    async def return_ips_of(self, nics: list[dict[str, Any]]) -> None:
        """Free the IPs of these nics, by nic and by recorded IP (idempotent): one message per
        `NICS_PER_RETURN` nics, so its DELETE binds at most twice that many uuids."""
        for start in range(0, len(nics), NICS_PER_RETURN):
            part = nics[start : start + NICS_PER_RETURN]
            used = [n["usedIpUuid"] for n in part if n["usedIpUuid"]]
            await self.bus.call_ok(ReturnIp(vmNicUuids=[n["uuid"] for n in part], usedIpUuids=used))

    async def detach_volumes_of(self, vm_uuids: list[str]) -> None:
        """Detach the data volumes of each of these VMs (rows only)."""
        if vm_uuids:
            await self.bus.call_ok(DetachVmVolumes(vmInstanceUuids=vm_uuids))
