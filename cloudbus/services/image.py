"""Image service (`image`): add onto backup storages, update, state, delete/recover/expunge.

AddImage records the image as Downloading, asks each backup storage to download it (in
parallel; the backup-storage service takes the size off its capacity), keeps the copies
that succeeded and answers Ready with the `size`; if every download fails the API fails
with BS.1000 and nothing is left. The simulated size is 1 GiB, or `size::<bytes>` given
as a system tag. Downloads report progress under the API's id (core/progress.py).
Templates made from volumes: services/image_template.py. Images an OpenStack cloud already
has in Glance are added Ready by its discovery (AddDiscoveredImage) and, once gone from Glance,
deleted and their rows removed at once (DeleteDiscoveredImage); the Glance driver never deletes
their bits (they carry no cloudbus tag), whoever expunges them.

Deletion policy (ZStack's `image.deletionPolicy`, default Delay): DeleteImage marks the
image and its references Deleted (RecoverImage makes them Ready again, ExpungeImage
deletes the bits, gives the capacity back and removes them); `Direct` expunges at once.
`backupStorageUuids` narrows each of the three to some copies; the image itself is
Deleted when no live copy is left and removed when no copy is left at all.

Cascade: Image is a child of BackupStorage, resolved through the reference table.
Under a backup storage being deleted only the references to it go (the bits stay, as in
ZStack), and images left without references are removed.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import delete, select, update

from cloudbus.apis.backup_storage import DeleteImageFromBackupStorage, DownloadImageToBackupStorage
from cloudbus.apis.image import (
    AddImage,
    ChangeImageState,
    DeleteImage,
    ExpungeImage,
    RecoverImage,
    UpdateImage,
)
from cloudbus.apis.internal.openstack import AddDiscoveredImage, DeleteDiscoveredImage
from cloudbus.apis.internal.storage import SelectBackupStorage
from cloudbus.cascade.messages import CascadeStep
from cloudbus.core import errors
from cloudbus.core.ids import utcnow
from cloudbus.core.messages import Reply
from cloudbus.core.service import current_message_id, handles
from cloudbus.inventory.backup_storage import BACKUP_STORAGE, backup_storage_zone_ref_table
from cloudbus.inventory.declarations import Inventory
from cloudbus.inventory.image import IMAGE, image_backup_storage_ref_table
from cloudbus.services.base import ResourceService
from cloudbus.services.common import STATE_EVENTS, changes, load, load_row, new_row, set_fields
from cloudbus.services.image_template import TemplateHandlers, insert_image

DOWNLOAD = errors.register("BS.1000", "Unable to download the image to backup storage")
ALLOCATE = errors.register("BS.1003", "Unable to allocate backup storage")

refs = image_backup_storage_ref_table
SIZE_TAG = "size::"


def size_hint(tags: list[str] | None) -> int | None:
    for tag in tags or ():
        if tag.startswith(SIZE_TAG):
            value = tag.removeprefix(SIZE_TAG)
            if not value.isdigit():
                raise errors.invalid_argument(f"system tag[{tag}]: the size is a number of bytes")
            return int(value)
    return None


class ImageService(TemplateHandlers, ResourceService):
    service_id = "image"
    deletion_policy = "Delay"  # or "Direct"

    async def _refs(self, conn: Any, image_uuid: str) -> list[dict[str, Any]]:
        rows = await conn.execute(select(refs).where(refs.c.imageUuid == image_uuid).order_by(refs.c.backupStorageUuid))
        return [dict(r) for r in rows.mappings().all()]

    # -- add -------------------------------------------------------------------------

    @handles(AddImage)
    async def add(self, msg: AddImage) -> dict[str, Any]:
        hint = size_hint(msg.systemTags)
        storages = list(dict.fromkeys(msg.backupStorageUuids))
        uuid = msg.new_resource_uuid()
        fmt = msg.format or ("iso" if msg.mediaType == "ISO" else "qcow2")
        row = new_row(
            uuid,
            name=msg.name,
            description=msg.description,
            state="Enabled",
            status="Downloading",
            size=0,
            actualSize=0,
            url=msg.url,
            mediaType=msg.mediaType,
            guestOsType=msg.guestOsType,
            type=msg.type,
            platform=msg.platform,
            architecture=msg.architecture,
            format=fmt,
            system=msg.system,
            virtio=msg.virtio,
        )
        await insert_image(self.db, row, storages)

        async def download(bs_uuid: str) -> Reply:
            download = DownloadImageToBackupStorage(
                backupStorageUuid=bs_uuid,
                imageUuid=uuid,
                url=msg.url,
                format=fmt,
                sizeHint=hint,
                apiId=current_message_id.get(),
            )
            return await self.bus.call(download)

        replies = await asyncio.gather(*(download(bs) for bs in storages))
        done = {bs: r for bs, r in zip(storages, replies, strict=True) if r.success}
        failed = [bs for bs, r in zip(storages, replies, strict=True) if not r.success]
        async with self.db.tx() as conn:
            if failed:
                await conn.execute(delete(refs).where(refs.c.imageUuid == uuid, refs.c.backupStorageUuid.in_(failed)))
            if not done:
                await conn.execute(delete(IMAGE.table).where(IMAGE.key == uuid))
            else:
                for bs, reply in done.items():
                    await conn.execute(
                        update(refs)
                        .where(refs.c.imageUuid == uuid, refs.c.backupStorageUuid == bs)
                        .values(installPath=reply.get("installPath"), status="Ready", lastOpDate=utcnow())
                    )
                first = next(iter(done.values()))
                await set_fields(
                    conn,
                    IMAGE,
                    uuid,
                    status="Ready",
                    size=first.get("size"),
                    actualSize=first.get("actualSize"),
                    md5Sum=first.get("md5Sum"),
                )
                return await load(conn, IMAGE, uuid)
        cause = replies[0].error
        details = "; ".join(
            f"backup storage[uuid:{bs}]: {r.error.details if r.error else 'failed'}"
            for bs, r in zip(storages, replies, strict=True)
        )
        raise errors.fail(DOWNLOAD, f"unable to download image[{msg.url}] to any backup storage: {details}", cause)

    # -- update, state ---------------------------------------------------------------

    @handles(UpdateImage)
    async def update(self, msg: UpdateImage) -> dict[str, Any]:
        names = ("name", "description", "guestOsType", "mediaType", "format", "system", "platform", "architecture")
        async with self.db.tx() as conn:
            await load(conn, IMAGE, msg.uuid)
            await set_fields(conn, IMAGE, msg.uuid, **changes(msg, *names, "virtio"))
            return await load(conn, IMAGE, msg.uuid)

    @handles(ChangeImageState)
    async def change_state(self, msg: ChangeImageState) -> dict[str, Any]:
        async with self.db.tx() as conn:
            await load(conn, IMAGE, msg.uuid)
            await set_fields(conn, IMAGE, msg.uuid, state=STATE_EVENTS[msg.stateEvent])
            return await load(conn, IMAGE, msg.uuid)

    # -- delete, recover, expunge ----------------------------------------------------

    def _pick(self, image_uuid: str, held: list[dict[str, Any]], wanted: list[str] | None) -> list[dict[str, Any]]:
        if wanted is None:
            return held
        by_bs = {r["backupStorageUuid"]: r for r in held}
        missing = [bs for bs in wanted if bs not in by_bs]
        if missing:
            raise errors.invalid_argument(f"image[uuid:{image_uuid}] is not on backup storage[uuid:{missing[0]}]")
        return [by_bs[bs] for bs in dict.fromkeys(wanted)]

    @handles(DeleteImage)
    async def delete(self, msg: DeleteImage) -> None:
        async with self.db.read() as conn:
            held = await self._refs(conn, msg.uuid)
        targets = self._pick(msg.uuid, held, msg.backupStorageUuids)
        live = [r for r in held if r["status"] != "Deleted"]
        if {r["backupStorageUuid"] for r in live} <= {r["backupStorageUuid"] for r in targets}:
            await self.delete_cascade("Image", [msg.uuid], msg.deleteMode)
            return
        # some copies stay: only those go (not a deletion of the image)
        await self._delete_copies(msg.uuid, [r for r in targets if r["status"] != "Deleted"])

    async def _delete_copies(self, image_uuid: str, targets: list[dict[str, Any]]) -> None:
        if self.deletion_policy == "Direct":
            await self._expunge(image_uuid, targets)
            return
        async with self.db.tx() as conn:
            await conn.execute(
                update(refs)
                .where(
                    refs.c.imageUuid == image_uuid,
                    refs.c.backupStorageUuid.in_([r["backupStorageUuid"] for r in targets]),
                )
                .values(status="Deleted", lastOpDate=utcnow())
            )
            left = [r for r in await self._refs(conn, image_uuid) if r["status"] != "Deleted"]
            if not left:
                await set_fields(conn, IMAGE, image_uuid, status="Deleted")

    @handles(RecoverImage)
    async def recover(self, msg: RecoverImage) -> dict[str, Any]:
        async with self.db.tx() as conn:
            image = await load(conn, IMAGE, msg.imageUuid)
            targets = self._pick(msg.imageUuid, await self._refs(conn, msg.imageUuid), msg.backupStorageUuids)
            deleted = [r["backupStorageUuid"] for r in targets if r["status"] == "Deleted"]
            if not deleted:
                raise errors.operation_error(
                    f"image[uuid:{msg.imageUuid}] is {image['status']}, only a Deleted image can be recovered"
                )
            await conn.execute(
                update(refs)
                .where(refs.c.imageUuid == msg.imageUuid, refs.c.backupStorageUuid.in_(deleted))
                .values(status="Ready", lastOpDate=utcnow())
            )
            await set_fields(conn, IMAGE, msg.imageUuid, status="Ready")
            return await load(conn, IMAGE, msg.imageUuid)

    @handles(ExpungeImage)
    async def expunge(self, msg: ExpungeImage) -> None:
        async with self.db.read() as conn:
            image = await load(conn, IMAGE, msg.imageUuid)
            targets = self._pick(msg.imageUuid, await self._refs(conn, msg.imageUuid), msg.backupStorageUuids)
        live = [r["backupStorageUuid"] for r in targets if r["status"] != "Deleted"]
        if live:
            raise errors.operation_error(
                f"image[uuid:{msg.imageUuid}] is {image['status']} on backup storage[uuid:{live[0]}]: "
                "only a deleted image can be expunged"
            )
        await self._expunge(msg.imageUuid, targets)

    async def _expunge(self, image_uuid: str, targets: list[dict[str, Any]]) -> None:
        """Delete the bits of these copies (capacity returned), then their rows; no copy left, no image."""
        async with self.db.read() as conn:
            size = await conn.scalar(select(IMAGE.table.c.size).where(IMAGE.key == image_uuid)) or 0
        for ref in targets:
            await self.bus.call_ok(
                DeleteImageFromBackupStorage(
                    backupStorageUuid=ref["backupStorageUuid"],
                    imageUuid=image_uuid,
                    installPath=ref["installPath"],
                    size=size,
                )
            )
            async with self.db.tx() as conn:
                await conn.execute(
                    delete(refs).where(
                        refs.c.imageUuid == image_uuid, refs.c.backupStorageUuid == ref["backupStorageUuid"]
                    )
                )
        await self._drop_orphans([image_uuid])

    async def _drop_orphans(self, image_uuids: list[str]) -> None:
        async with self.db.tx() as conn:
            await conn.execute(
                delete(IMAGE.table).where(IMAGE.key.in_(image_uuids), IMAGE.key.not_in(select(refs.c.imageUuid)))
            )

    # -- cascade ---------------------------------------------------------------------

    async def on_resolve(self, inv: Inventory, step: CascadeStep) -> list[str]:
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(refs.c.imageUuid).where(refs.c.backupStorageUuid.in_(step.parentUuids)).distinct()
            )
            return sorted(rows.scalars())

    async def on_delete(self, inv: Inventory, step: CascadeStep, *, force: bool) -> None:
        if step.parentType == "BackupStorage":
            gone = step.parentUuids or list(step.context.get("backupStorageUuids") or [])
            async with self.db.tx() as conn:
                await conn.execute(
                    delete(refs).where(refs.c.imageUuid.in_(step.uuids), refs.c.backupStorageUuid.in_(gone))
                )
            await self._drop_orphans(step.uuids)
            return
        for image_uuid in step.uuids:  # the images themselves are deleted
            async with self.db.read() as conn:
                held = [r for r in await self._refs(conn, image_uuid) if r["status"] != "Deleted"]
            if self.deletion_policy == "Direct":
                try:
                    await self._expunge(image_uuid, await self._all_refs(image_uuid))
                except errors.CloudBusError:
                    if not force:
                        raise
                continue
            await self._delete_copies(image_uuid, held)
            async with self.db.tx() as conn:
                await set_fields(conn, IMAGE, image_uuid, status="Deleted")

    async def _all_refs(self, image_uuid: str) -> list[dict[str, Any]]:
        async with self.db.read() as conn:
            return await self._refs(conn, image_uuid)

    # -- internal: images found in place (OpenStack discovery) -------------------------

    @handles(AddDiscoveredImage)
    async def add_discovered(self, msg: AddDiscoveredImage) -> dict[str, Any]:
        uuid = msg.new_resource_uuid()
        row = new_row(
            uuid,
            name=msg.name,
            description=msg.description,
            state="Enabled",
            status="Ready",
            size=msg.size,
            actualSize=msg.actualSize,
            md5Sum=msg.md5Sum,
            url=msg.installPath,
            mediaType=msg.mediaType,
            type="zstack",
            platform=msg.platform,
            architecture="x86_64",
            format=msg.format,
            system=False,
            virtio=True,
        )
        await insert_image(self.db, row, [msg.backupStorageUuid], msg.installPath)
        async with self.db.read() as conn:
            return await load(conn, IMAGE, uuid)

    @handles(DeleteDiscoveredImage)
    async def delete_discovered(self, msg: DeleteDiscoveredImage) -> None:
        async with self.db.read() as conn:
            if await IMAGE.fetch_one(conn, msg.uuid) is None:
                return
        await self.delete_cascade("Image", [msg.uuid], msg.deleteMode)
        async with self.db.tx() as conn:  # the bits were Glance's, and took no capacity: only rows go
            await conn.execute(delete(refs).where(refs.c.imageUuid == msg.uuid))
        await self._drop_orphans([msg.uuid])

    # -- internal: which copy a VM is created from ------------------------------------

    @handles(SelectBackupStorage, chain=False)
    async def select_backup_storage(self, msg: SelectBackupStorage) -> Reply:
        bs = BACKUP_STORAGE.table
        async with self.db.read() as conn:
            image = await load_row(conn, IMAGE, msg.imageUuid)
            if image["status"] != "Ready" or image["state"] != "Enabled":
                raise errors.operation_error(
                    f"image[uuid:{image['uuid']}] is {image['state']} and {image['status']}: "
                    "only an Enabled and Ready image can be used"
                )
            query = (
                select(refs.c.backupStorageUuid, refs.c.installPath)
                .select_from(refs.join(bs, bs.c.uuid == refs.c.backupStorageUuid))
                .where(
                    refs.c.imageUuid == msg.imageUuid,
                    refs.c.status == "Ready",
                    bs.c.state == "Enabled",
                    bs.c.status == "Connected",
                )
                .order_by(bs.c.availableCapacity.desc(), bs.c.uuid)
            )
            if msg.zoneUuid is not None:
                zone_ref = backup_storage_zone_ref_table
                query = query.where(
                    refs.c.backupStorageUuid.in_(
                        select(zone_ref.c.backupStorageUuid).where(zone_ref.c.zoneUuid == msg.zoneUuid)
                    )
                )
            found = (await conn.execute(query)).first()
        if found is None:
            where = f" attached to zone[uuid:{msg.zoneUuid}]" if msg.zoneUuid else ""
            raise errors.fail(
                ALLOCATE,
                f"no Enabled and Connected backup storage{where} holds a Ready copy of image[uuid:{msg.imageUuid}]",
            )
        return Reply(
            backupStorageUuid=found.backupStorageUuid,
            installPath=found.installPath,
            size=image["size"],
            format=image["format"],
            mediaType=image["mediaType"],
        )
