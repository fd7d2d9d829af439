"""Instantiating a VM: the FlowChain behind CreateVmInstance and a first (or any) start.

    select-backup-storage -> allocate-host -> allocate-primary-storage -> create-volumes
    -> allocate-ips -> start-vm [-> stop-vm for CreateStopped]

Steps that have nothing to do are skipped (a stopped VM already has its volumes; a nic
that kept its IP needs none). Every step undoes itself when a later one fails, so host
capacity, primary-storage capacity, volumes and IPs all come back; the caller restores
the VM row (or removes it, for a create).

Primary storage is reserved as the VM's (a record the storage service keeps) and the
volumes are carved out of it; once they all exist the reservation is settled keeping its
bytes, and from then on each volume holds its own. Undoing asks the storage service to give
the reservation back and learns whether it was still open: if so it covered the volumes
too, which then go without returning anything, so every byte comes back exactly once,
here or in a successor's takeover (recovery.py), whichever messages were lost.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from cloudbus import inventory
from cloudbus.core.db import Database
from cloudbus.core.ids import new_uuid
from cloudbus.core.workflow import FlowChain, Step
from cloudbus.services.vm_instance import store
from cloudbus.services.vm_instance.calls import Calls


@dataclass
class Placement:
    hostUuid: str | None = None
    clusterUuid: str | None = None
    zoneUuid: str | None = None
    hypervisorType: str | None = None


@dataclass
class Instantiation:
    """One run of the chain for VM `vm` (its row as read before the run)."""

    db: Database
    calls: Calls
    vm: dict[str, Any]
    # the uuids this run's volumes get (root first), journaled before it starts, so a
    # successor rolling it back removes exactly these (recovery.py)
    volume_uuids: list[str]
    nics: list[dict[str, Any]]  # the VM's nic rows; IPs allocated by this run are filled in here
    hints: dict[str, str | None] = field(default_factory=dict)
    stop_after: bool = False  # CreateStopped: start, then cold-stop
    full_copy: bool = False  # the root volume a whole copy of the image (FULL_COPY_TAG), not an overlay
    placement: Placement = field(default_factory=Placement)
    image_size: int = 0
    image_path: str | None = None  # the image's installPath on the selected backup storage
    disk_sizes: list[tuple[str, int]] = field(default_factory=list)
    ps_uuid: str | None = None
    reservation_open: bool = False  # False once settled, or never made
    volumes: list[dict[str, Any]] = field(default_factory=list)
    allocated_ips: list[tuple[str, str]] = field(default_factory=list)  # (nicUuid, usedIpUuid)
    started: bool = False

    @property
    def needs_volumes(self) -> bool:
        return not self.vm.get("rootVolumeUuid")

    async def run(self) -> None:
        # steps doing several things undo their own part-done work before failing
        # (FlowChain rolls back only the steps that completed)
        chain = FlowChain(f"instantiate-vm-{self.vm['uuid']}")
        if self.needs_volumes:
            chain.then("select-backup-storage", self.select_backup_storage)
        chain.then("allocate-host", self.allocate_host, self.return_host)
        if self.needs_volumes:
            chain.then("allocate-primary-storage", self.allocate_primary_storage, self.give_back_reservation)
            chain.then("create-volumes", _atomic(self.create_volumes, self.expunge_volumes), self.expunge_volumes)
        chain.then("allocate-ips", _atomic(self.allocate_ips, self.return_ips), self.return_ips)
        chain.then("start-vm", self.start_vm, self.destroy_vm)
        if self.stop_after:
            chain.then("stop-vm", self.stop_vm)
        await chain.run()

    # --- steps -----------------------------------------------------------------------

    async def select_backup_storage(self, _: dict[str, Any]) -> None:
        reply = await self.calls.select_backup_storage(self.vm["imageUuid"], self.hints.get("zoneUuid"))
        self.image_size = int(reply.get("size") or 0)
        self.image_path = reply.get("installPath")
        self.disk_sizes = await _disk_sizes(self.db, store.pending_disks(self.vm))

    def disk_size(self) -> int:
        return self.image_size + sum(size for _, size in self.disk_sizes)

    async def allocate_host(self, _: dict[str, Any]) -> None:
        fields: dict[str, Any] = {
            "cpuNum": self.vm["cpuNum"],
            "memorySize": self.vm["memorySize"],
            "l3NetworkUuids": list(dict.fromkeys(n["l3NetworkUuid"] for n in self.nics)),
            "diskSize": self.disk_size() if self.needs_volumes else 0,
            **{k: v for k, v in self.hints.items() if v},
        }
        if not self.needs_volumes:
            ps, volume_host = await root_volume_storage(self.db, self.vm)
            fields["primaryStorageUuids"] = [ps] if ps else []
            if volume_host:  # local storage: the VM can only run where its root volume lives
                fields["hostUuid"] = volume_host
        reply = await self.calls.allocate_host(ownerUuid=self.vm["uuid"], **fields)
        self.placement = Placement(
            reply.get("hostUuid"), reply.get("clusterUuid"), reply.get("zoneUuid"), reply.get("hypervisorType")
        )

    async def return_host(self, _: dict[str, Any]) -> None:
        # what the VM held before this run stays (a Stopped VM holds nothing)
        await self.calls.release_hosts(self.vm["uuid"], self.vm.get("hostUuid"))

    async def allocate_primary_storage(self, _: dict[str, Any]) -> None:
        self.ps_uuid = await self.calls.reserve_primary_storage(
            self.vm["uuid"], self.disk_size(), str(self.placement.clusterUuid), self.placement.hostUuid
        )
        self.reservation_open = True

    async def give_back_reservation(self, _: dict[str, Any] | None = None) -> bool:
        """Give the reservation back if it is open; True if it was (it covered the volumes)."""
        if not self.reservation_open:
            return False
        was_open = await self.calls.settle_primary_storage(self.vm["uuid"], give_back=True)
        self.reservation_open = False
        return was_open

    async def create_volumes(self, _: dict[str, Any]) -> None:
        vm = self.vm
        specs: list[dict[str, Any]] = [
            {
                "type": "Root",
                "name": f"ROOT-for-{vm['name']}",
                "size": self.image_size,
                "rootImageUuid": vm["imageUuid"],
                "imageInstallPath": self.image_path,
                "fullCopy": self.full_copy,
            }
        ]
        for device, (offering, size) in enumerate(self.disk_sizes, start=1):
            specs.append(
                {"type": "Data", "name": f"DATA-for-{vm['name']}", "size": size, "diskOfferingUuid": offering}
                | {"deviceId": device}
            )
        for uuid, spec in zip(self.volume_uuids, specs, strict=False):
            volume = await self.calls.create_volume(
                resourceUuid=uuid,
                vmInstanceUuid=vm["uuid"],
                primaryStorageUuid=self.ps_uuid,
                hostUuid=self.placement.hostUuid,
                reservedBy=vm["uuid"],
                **spec,
            )
            self.volumes.append(volume)
        await self.calls.settle_primary_storage(vm["uuid"], give_back=False)
        self.reservation_open = False

    async def expunge_volumes(self, _: dict[str, Any]) -> None:
        covered = await self.give_back_reservation()
        await self.calls.expunge_volumes([v["uuid"] for v in self.volumes], return_capacity=not covered)

    async def allocate_ips(self, _: dict[str, Any]) -> None:
        # the nic rows get their IPs when the run settles (Lifecycle.instantiate); until then a
        # successor frees them by nic (recovery.py), so nothing is written here
        for nic in self.nics:
            if nic["usedIpUuid"]:
                continue
            reply = await self.calls.allocate_ip(nic["l3NetworkUuid"], nic["uuid"])
            self.allocated_ips.append((nic["uuid"], str(reply.get("usedIpUuid"))))
            nic.update(ip_fields(reply))

    async def return_ips(self, _: dict[str, Any]) -> None:
        await self.calls.return_ips([used for _, used in self.allocated_ips])
        for nic in self.nics:
            if nic["uuid"] in self.new_ips:
                nic.update(store.NO_IP)
        self.allocated_ips.clear()

    @property
    def new_ips(self) -> set[str]:
        """Nics given an IP by this run."""
        return {nic_uuid for nic_uuid, _ in self.allocated_ips}

    async def start_vm(self, _: dict[str, Any]) -> None:
        await self.calls.hypervisor(str(self.placement.hostUuid), "startVm", self.vm["uuid"], **await self.spec())
        self.started = True

    async def destroy_vm(self, _: dict[str, Any]) -> None:
        await self.calls.quietly(
            "destroy a half-created vm",
            self.calls.hypervisor(str(self.placement.hostUuid), "destroyVm", self.vm["uuid"]),
        )

    async def stop_vm(self, _: dict[str, Any]) -> None:
        await self.calls.hypervisor(str(self.placement.hostUuid), "stopVm", self.vm["uuid"], type="cold")

    async def spec(self) -> dict[str, Any]:
        """What the hypervisor is told to start: sizes, volumes (their files), nics (their L3s)."""
        volumes = self.volumes or await _attached_volumes(self.db, self.vm["uuid"])
        return {
            "cpuNum": self.vm["cpuNum"],
            "memorySize": self.vm["memorySize"],
            "nics": [
                {
                    "uuid": n["uuid"],
                    "mac": n["mac"],
                    "ip": n["ip"],
                    "deviceId": n["deviceId"],
                    "l3NetworkUuid": n["l3NetworkUuid"],
                }
                for n in self.nics
            ],
            "volumeUuids": [v["uuid"] for v in volumes] or [self.vm.get("rootVolumeUuid")],
            "volumes": [{k: v.get(k) for k in VOLUME_SPEC} for v in volumes],
        }

    # --- what the VM row becomes ---------------------------------------------------------

    def row_values(self) -> dict[str, Any]:
        values: dict[str, Any] = {
            "clusterUuid": self.placement.clusterUuid,
            "zoneUuid": self.placement.zoneUuid,
            "hypervisorType": self.placement.hypervisorType,
        }
        if self.volumes:
            values["rootVolumeUuid"] = self.volumes[0]["uuid"]
            values["pendingDataDiskOfferingUuids"] = None
        if self.stop_after:
            values.update(state="Stopped", hostUuid=None, lastHostUuid=self.placement.hostUuid)
        else:
            values.update(state="Running", hostUuid=self.placement.hostUuid)
        return values


def _atomic(run: Step, undo: Step) -> Step:
    async def step(data: dict[str, Any]) -> None:
        try:
            await run(data)
        except BaseException:
            await undo(data)
            raise

    return step


def ip_fields(reply: Any) -> dict[str, Any]:
    """Nic columns from an AllocateIp reply."""
    return {
        "usedIpUuid": reply.get("usedIpUuid"),
        "ip": reply.get("ip"),
        "netmask": reply.get("netmask"),
        "gateway": reply.get("gateway"),
        "ipVersion": reply.get("ipVersion"),
    }


async def _disk_sizes(db: Database, offering_uuids: list[str]) -> list[tuple[str, int]]:
    if not offering_uuids:
        return []
    table = inventory.get("DiskOffering").table
    async with db.read() as conn:
        rows = await conn.execute(select(table.c.uuid, table.c.diskSize).where(table.c.uuid.in_(offering_uuids)))
        sizes = {row[0]: row[1] for row in rows}
    # an offering deleted since JustCreate is skipped (ZStack nulls the offering, keeps going)
    return [(u, int(sizes[u])) for u in offering_uuids if u in sizes]


async def root_volume_storage(db: Database, vm: dict[str, Any]) -> tuple[str | None, str | None]:
    """(primary storage, host for local storage) of the VM's root volume, from the volume table."""
    if not vm.get("rootVolumeUuid"):
        return None, None
    table = inventory.get("Volume").table
    host = table.c.hostUuid if "hostUuid" in table.c else None
    columns = [table.c.primaryStorageUuid] + ([host] if host is not None else [])
    async with db.read() as conn:
        row = (await conn.execute(select(*columns).where(table.c.uuid == vm["rootVolumeUuid"]))).first()
    if row is None:
        return None, None
    return row[0], (row[1] if host is not None else None)


VOLUME_SPEC = ("uuid", "installPath", "format", "deviceId", "type")


async def _attached_volumes(db: Database, vm_uuid: str) -> list[dict[str, Any]]:
    """The VM's volumes a start gives the hypervisor: root and attached data volumes, by device."""
    table = inventory.get("Volume").table
    query = (
        select(*(table.c[k] for k in VOLUME_SPEC))
        .where(table.c.vmInstanceUuid == vm_uuid, table.c.deviceId.is_not(None))
        .order_by(table.c.deviceId)
    )
    async with db.read() as conn:
        return [dict(row) for row in (await conn.execute(query)).mappings()]


# a CreateVmInstance system tag: the root volume is a whole (flat) copy of the image, so it
# does not depend on the image cache (the seed's "full-copy"); an overlay otherwise
FULL_COPY_TAG = "rootVolume::fullCopy"


def planned_volumes(vm: dict[str, Any]) -> list[str]:
    """Uuids for the volumes instantiating `vm` may create: its root and each pending data disk."""
    if vm.get("rootVolumeUuid"):
        return []
    return [new_uuid() for _ in range(1 + len(store.pending_disks(vm)))]


def encode_disks(offering_uuids: list[str] | None) -> str | None:
    return json.dumps(offering_uuids) if offering_uuids else None
