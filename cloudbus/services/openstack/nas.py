"""NAS disks on Manila (seed 000's NasDiskService), handled by the openstack service (`NasHandlers`
is mixed into OpenStackService).

A NAS disk is one NFS share, named by the disk's uuid and carrying the cloud's `TAG` metadata
(what deleting the cloud sweeps away), made in its owner's own project through the owner's
connection (`Clouds.for_account`: the admin's when the owner has no identity in the cloud).
Every value of the inventory is read back from Manila once the share is available: size,
status, share type, the preferred export path. A failed create deletes the share it made and
leaves no row. Attaching a VM grants each IP of its nics a read-write `ip` access rule, kept
in `nas_disk_vm_ref`; detaching revokes them. Blocking openstacksdk calls are the functions
below the handlers, run in worker threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from cloudbus.apis.nas import (
    AttachNasDiskToVm,
    CreateNasDisk,
    DeleteNasDisk,
    DetachNasDiskFromVm,
    GetNasDiskMountClients,
    ResizeNasDisk,
)
from cloudbus.core import errors
from cloudbus.core.auth import tenant
from cloudbus.core.ids import utcnow
from cloudbus.core.logging import get_logger
from cloudbus.core.messages import Reply
from cloudbus.core.service import handles
from cloudbus.core.units import GiB
from cloudbus.inventory.nas import NAS_DISK, nas_disk_vm_ref_table, status_of
from cloudbus.inventory.openstack import OPENSTACK_CLOUD
from cloudbus.inventory.vm_instance import VM_INSTANCE, vm_nic_table
from cloudbus.services.common import load, load_row, new_row, set_fields
from cloudbus.services.openstack.connection import TAG, Clouds, run, tag, wait
from cloudbus.services.ownership import claim

log = get_logger(__name__)

CREATE = errors.register("OPENSTACK.1100", "Unable to create the NAS disk")
RESIZE = errors.register("OPENSTACK.1101", "Unable to resize the NAS disk")
DELETE = errors.register("OPENSTACK.1102", "Unable to delete the NAS disk")
ATTACH = errors.register("OPENSTACK.1103", "Unable to attach the NAS disk to the VM")
DETACH = errors.register("OPENSTACK.1104", "Unable to detach the NAS disk from the VM")
NO_IP = errors.register("OPENSTACK.1105", "The VM has no IP address to grant the NAS disk to")
OTHER_ZONE = errors.register("OPENSTACK.1106", "The VM is not in the zone of the NAS disk")
NOT_ATTACHED = errors.register("OPENSTACK.1107", "The NAS disk is not attached to the VM")
NOT_CONNECTED = errors.register("OPENSTACK.1108", "The OpenStack cloud is not Connected")

REFS = nas_disk_vm_ref_table
# openstacksdk sends share actions without a microversion, and Manila's 2.0 calls them
# `os-extend` / `os-shrink`: 2.7 is the first that knows `extend` and `shrink`
ACTIONS_MICROVERSION = "2.7"


class NasHandlers:
    """Mixed into OpenStackService: the NasDisk APIs, and deleting NAS disks in a cascade."""

    db: Any
    clouds: Clouds
    delete_cascade: Any  # ResourceService's

    @handles(CreateNasDisk)
    async def create_nas_disk(self, msg: CreateNasDisk) -> dict[str, Any]:
        uuid = msg.new_resource_uuid()
        async with self.db.read() as db:
            cloud = await load(db, OPENSTACK_CLOUD, msg.cloudUuid)
        if cloud["status"] != "Connected":
            raise errors.fail(NOT_CONNECTED, f"openstack cloud[uuid:{cloud['uuid']}] is {cloud['status']}")
        try:
            conn = await self.clouds.for_account(cloud["uuid"], tenant())
            what = f"create share[{uuid}] in manila"
            share = await run(what, make_share, conn, uuid, msg.size // GiB, msg.shareType, tag(cloud["uuid"]))
        except errors.CloudBusError as exc:
            raise errors.fail(CREATE, exc.error.details, exc.error) from None
        row = new_row(
            uuid,
            name=msg.name,
            description=msg.description,
            cloudUuid=cloud["uuid"],
            zoneUuid=cloud["zoneUuid"],
            protocol=msg.protocol,
            **share.fields(),
        )
        try:
            async with self.db.tx() as db:
                await claim(db, NAS_DISK, row)
                await db.execute(insert(NAS_DISK.table).values(row))
                return await load(db, NAS_DISK, uuid)
        except BaseException as exc:
            await _undo(f"remove the share of failed nas disk[uuid:{uuid}]", remove_share, conn, share.id)
            if isinstance(exc, IntegrityError):
                raise errors.invalid_argument(f"a resource with uuid[{uuid}] already exists") from None
            raise

    @handles(ResizeNasDisk)
    async def resize_nas_disk(self, msg: ResizeNasDisk) -> dict[str, Any]:
        disk = await self._nas_disk(msg.uuid)
        if msg.size != disk["size"]:
            conn = await self.clouds.for_resource(disk["cloudUuid"], disk["uuid"])
            try:
                what = f"resize the share of nas disk[uuid:{disk['uuid']}] to {msg.size // GiB} GiB"
                share = await run(what, resize_share, conn, disk["shareId"], msg.size // GiB)
            except errors.CloudBusError as exc:
                await self._refresh(conn, disk)  # a refused shrink may leave the share in an error state
                raise errors.fail(RESIZE, exc.error.details, exc.error) from None
            async with self.db.tx() as db:
                await set_fields(db, NAS_DISK, disk["uuid"], **share.fields())
        async with self.db.read() as db:
            return await load(db, NAS_DISK, msg.uuid)

    @handles(AttachNasDiskToVm)
    async def attach_nas_disk(self, msg: AttachNasDiskToVm) -> dict[str, Any]:
        disk = await self._nas_disk(msg.nasDiskUuid)
        ips, granted = await self._clients(disk, msg.vmInstanceUuid)
        taken = {ip: vm for ip, vm in granted.items() if ip in ips and vm != msg.vmInstanceUuid}
        if taken:
            ip, vm = next(iter(taken.items()))
            raise errors.fail(ATTACH, f"ip[{ip}] of the vm is already granted to vm[uuid:{vm}]")
        conn = await self.clouds.for_resource(disk["cloudUuid"], disk["uuid"])
        made: list[dict[str, Any]] = []
        try:
            for ip in (ip for ip in ips if ip not in granted):
                access = await run(f"grant {ip} access to share[{disk['shareId']}]", grant, conn, disk["shareId"], ip)
                ref = {"nasDiskUuid": disk["uuid"], "ip": ip, "vmInstanceUuid": msg.vmInstanceUuid}
                made.append(ref | {"accessId": access, "createDate": utcnow()})
            if made:
                async with self.db.tx() as db:
                    await db.execute(insert(REFS), made)
        except BaseException as exc:
            for ref in made:
                await _undo(f"revoke {ref['ip']}", revoke, conn, disk["shareId"], ref["accessId"])
            if isinstance(exc, errors.CloudBusError):
                raise errors.fail(ATTACH, exc.error.details, exc.error) from None
            raise
        async with self.db.read() as db:
            return await load(db, NAS_DISK, disk["uuid"])

    @handles(DetachNasDiskFromVm)
    async def detach_nas_disk(self, msg: DetachNasDiskFromVm) -> dict[str, Any]:
        disk = await self._nas_disk(msg.nasDiskUuid)
        refs = REFS.c
        async with self.db.read() as db:
            query = select(REFS).where(refs.nasDiskUuid == disk["uuid"], refs.vmInstanceUuid == msg.vmInstanceUuid)
            rows = (await db.execute(query)).mappings().all()
        if not rows:
            raise errors.fail(
                NOT_ATTACHED, f"nas disk[uuid:{disk['uuid']}] is not attached to vm[uuid:{msg.vmInstanceUuid}]"
            )
        conn = await self.clouds.for_resource(disk["cloudUuid"], disk["uuid"])
        for row in rows:
            try:
                await run(
                    f"revoke {row['ip']} from share[{disk['shareId']}]", revoke, conn, disk["shareId"], row["accessId"]
                )
            except errors.CloudBusError as exc:
                raise errors.fail(DETACH, exc.error.details, exc.error) from None
            async with self.db.tx() as db:
                await db.execute(delete(REFS).where(refs.nasDiskUuid == disk["uuid"], refs.ip == row["ip"]))
        async with self.db.read() as db:
            return await load(db, NAS_DISK, disk["uuid"])

    @handles(GetNasDiskMountClients)
    async def mount_clients(self, msg: GetNasDiskMountClients) -> Reply:
        """The VMs whose IPs Manila's access rules of the share grant (as recorded when attached)."""
        disk = await self._nas_disk(msg.uuid)
        conn = await self.clouds.for_resource(disk["cloudUuid"], disk["uuid"])
        live = await run(f"read the access rules of share[{disk['shareId']}]", granted_ips, conn, disk["shareId"])
        async with self.db.read() as db:
            query = select(REFS.c.ip, REFS.c.vmInstanceUuid).where(REFS.c.nasDiskUuid == disk["uuid"])
            rows = (await db.execute(query.order_by(REFS.c.createDate, REFS.c.ip))).all()
        return Reply(vmInstanceUuids=list(dict.fromkeys(vm for ip, vm in rows if ip in live)))

    @handles(DeleteNasDisk)
    async def delete_nas_disk(self, msg: DeleteNasDisk) -> None:
        await self.delete_cascade("NasDisk", [msg.uuid], msg.deleteMode)

    async def delete_nas_disks(self, uuids: list[str], *, force: bool) -> None:
        """A cascade's delete of NAS disks: each share, then its rows; under Enforcing (`force`) a
        share Manila cannot delete is logged and the rows go anyway."""
        async with self.db.read() as db:
            rows = (await db.execute(select(NAS_DISK.table).where(NAS_DISK.key.in_(uuids)))).mappings().all()
        for disk in rows:
            try:
                conn = await self.clouds.for_resource(disk["cloudUuid"], disk["uuid"])
                await run(f"delete the share of nas disk[uuid:{disk['uuid']}]", remove_share, conn, disk["shareId"])
            except errors.CloudBusError as exc:
                if not force:
                    raise errors.fail(DELETE, exc.error.details, exc.error) from None
                log.warning("manila share not deleted", nasDisk=disk["uuid"], error=exc.error.details)
            async with self.db.tx() as db:
                await db.execute(delete(REFS).where(REFS.c.nasDiskUuid == disk["uuid"]))
                await db.execute(delete(NAS_DISK.table).where(NAS_DISK.key == disk["uuid"]))

    async def _nas_disk(self, uuid: str) -> dict[str, Any]:
        async with self.db.read() as db:
            return await load_row(db, NAS_DISK, uuid)

    async def _clients(self, disk: dict[str, Any], vm_uuid: str) -> tuple[list[str], dict[str, str]]:
        """(the IPs of the VM's nics, the disk's granted IP -> VM); OTHER_ZONE or NO_IP when the VM
        cannot mount the disk."""
        nics = vm_nic_table.c
        async with self.db.read() as db:
            vm = await load_row(db, VM_INSTANCE, vm_uuid)
            query = select(nics.ip).where(nics.vmInstanceUuid == vm_uuid, nics.ip.is_not(None))
            ips = list((await db.execute(query.order_by(nics.deviceId))).scalars())
            granted = select(REFS.c.ip, REFS.c.vmInstanceUuid).where(REFS.c.nasDiskUuid == disk["uuid"])
            refs = (await db.execute(granted)).all()
        if vm["zoneUuid"] != disk["zoneUuid"]:
            where = f"zone[uuid:{vm['zoneUuid']}], not zone[uuid:{disk['zoneUuid']}]"
            raise errors.fail(OTHER_ZONE, f"vm[uuid:{vm_uuid}] is in {where} of nas disk[uuid:{disk['uuid']}]")
        if not ips:
            raise errors.fail(NO_IP, f"vm[uuid:{vm_uuid}] has no nic with an IP address")
        return ips, dict(refs)

    async def _refresh(self, conn: Any, disk: dict[str, Any]) -> None:
        """Record what Manila now says of the share (best effort: the caller is failing already)."""
        try:
            share = await run(f"read share[{disk['shareId']}]", read_share, conn, disk["shareId"])
        except errors.CloudBusError as exc:
            log.warning("manila share not read", nasDisk=disk["uuid"], error=exc.error.details)
            return
        async with self.db.tx() as db:
            await set_fields(db, NAS_DISK, disk["uuid"], **share.fields())


async def _undo(what: str, fn: Any, *args: Any) -> None:
    """Roll back one step of a failing operation: a failure here is logged, so the caller's own
    error is the one the user gets."""
    try:
        await run(what, fn, *args)
    except errors.CloudBusError as exc:
        log.warning("manila rollback failed", what=what, error=exc.error.details)


# --- blocking helpers (worker threads) ------------------------------------------------------


@dataclass(frozen=True)
class Share:
    """What the inventory holds of a Manila share, as Manila reports it."""

    id: str
    gib: int
    status: str
    shareType: str
    exportPath: str | None

    def fields(self) -> dict[str, Any]:
        return {
            "shareId": self.id,
            "size": self.gib * GiB,
            "status": status_of(self.status),
            "shareType": self.shareType,
            "exportPath": self.exportPath,
        }


def make_share(conn: Any, name: str, gib: int, share_type: str | None, label: str) -> Share:
    """An NFS share of `gib` GiB, available; on any failure the share made is removed."""
    sfs = conn.shared_file_system
    extra = {"share_type": share_type} if share_type else {}  # none: Manila's default type
    made = sfs.create_share(name=name, size=gib, share_proto="NFS", metadata={TAG: label}, **extra)
    try:
        wait(
            f"create share[{name}]",
            lambda: sfs.find_share(made.id, ignore_missing=True),
            lambda s: s is not None and s.status == "available",
            failed=_failed,
        )
        return read_share(conn, made.id)
    except BaseException:
        remove_share(conn, made.id)
        raise


def read_share(conn: Any, share_id: str) -> Share:
    sfs = conn.shared_file_system
    share = sfs.get_share(share_id)
    locations = [e for e in sfs.export_locations(share_id) if not e.is_admin]
    preferred = next((e.path for e in locations if e.is_preferred), locations[0].path if locations else None)
    return Share(share.id, int(share.size), share.status, share.share_type_name or share.share_type, preferred)


def resize_share(conn: Any, share_id: str, gib: int) -> Share:
    """Extend or shrink the share to `gib` GiB and wait until Manila has."""
    from openstack import exceptions

    sfs = conn.shared_file_system
    action = "extend" if gib > int(sfs.get_share(share_id).size) else "shrink"
    body = {action: {"new_size": gib}}
    exceptions.raise_from_response(sfs.post(f"/shares/{share_id}/action", json=body, microversion=ACTIONS_MICROVERSION))
    wait(
        f"{action} share[{share_id}]",
        lambda: sfs.get_share(share_id),
        lambda s: s.status == "available" and int(s.size) == gib,
        failed=_failed,
    )
    return read_share(conn, share_id)


def remove_share(conn: Any, share_id: str) -> None:
    """Delete a share (its access rules go with it) once no operation holds it, and wait until it is gone."""
    sfs = conn.shared_file_system
    busy = ("creating", "extending", "shrinking", "manage_starting")
    read = lambda: sfs.find_share(share_id, ignore_missing=True)  # noqa: E731
    wait(f"share[{share_id}]: wait for it to settle", read, lambda s: s is None or s.status not in busy)
    sfs.delete_share(share_id, ignore_missing=True)
    wait(f"delete share[{share_id}]", read, lambda s: s is None, failed=_failed)


def grant(conn: Any, share_id: str, ip: str) -> str:
    """A read-write `ip` rule for `ip`, active; its id. A rule that fails is removed."""
    sfs = conn.shared_file_system
    rule = sfs.create_access_rule(share_id, access_type="ip", access_to=ip, access_level="rw")
    try:
        wait(
            f"grant {ip} access to share[{share_id}]",
            lambda: _rule(conn, rule.id),
            lambda r: r is not None and r.state == "active",
            failed=lambda r: f"access rule went {r.state}" if r.state == "error" else None,
        )
    except BaseException:
        revoke(conn, share_id, rule.id)
        raise
    return str(rule.id)


def revoke(conn: Any, share_id: str, access_id: str) -> None:
    conn.shared_file_system.delete_access_rule(access_id, share_id, ignore_missing=True)
    wait(f"revoke access rule[{access_id}] of share[{share_id}]", lambda: _rule(conn, access_id), lambda r: r is None)


def granted_ips(conn: Any, share_id: str) -> set[str]:
    """The addresses the share's access rules grant (not failed ones)."""
    return {r.access_to for r in conn.shared_file_system.access_rules(share_id) if r.state != "error"}


def _rule(conn: Any, access_id: str) -> Any:
    from openstack import exceptions

    try:
        return conn.shared_file_system.get_access_rule(access_id)
    except exceptions.NotFoundException:
        return None


def _failed(share: Any) -> str | None:
    return f"share went {share.status}" if "error" in share.status else None
