"""Templates made from volumes (reference 2.8), for the image service:
CreateRootVolumeTemplateFromRootVolume and CreateDataVolumeTemplateFromVolume.

The image is recorded Creating; then, for each backup storage, as ZStack does it:
the backup storage says where the file goes (AskTemplateInstallPath), the volume's
primary storage writes a flat copy of the volume there (CreateTemplateFromVolume: its
whole backing chain, `qemu-img convert` on real storage, progress under the API's id),
and the backup storage measures it and takes its size (CommitTemplateToBackupStorage), and
answers where the copy is kept (Glance: the id of the image the upload made).
The image is then Ready with the size, actualSize and md5Sum of the first copy.

All or nothing: a failure at any step deletes every copy made so far and the image's rows.
A volume's VM must be Stopped (a running QEMU holds the disk), unless the volume's storage
copies a point in time itself (`copies_in_use_volumes`: OpenStack Cinder clones it): otherwise
SYS.1006 before anything is made. Without `backupStorageUuids` the roomiest Enabled and Connected backup
storage attached to the volume's zone is used.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update

from cloudbus.apis.backup_storage import DeleteImageFromBackupStorage
from cloudbus.apis.image import CreateDataVolumeTemplateFromVolume, CreateRootVolumeTemplateFromRootVolume
from cloudbus.apis.internal.storage import (
    AskTemplateInstallPath,
    CommitTemplateToBackupStorage,
    CreateTemplateFromVolume,
)
from cloudbus.core import errors
from cloudbus.core.ids import utcnow
from cloudbus.core.logging import get_logger
from cloudbus.core.messages import Reply
from cloudbus.core.service import current_message_id, handles
from cloudbus.inventory.backup_storage import BACKUP_STORAGE, backup_storage_zone_ref_table
from cloudbus.inventory.image import IMAGE, image_backup_storage_ref_table
from cloudbus.inventory.primary_storage import PRIMARY_STORAGE
from cloudbus.inventory.vm_instance import VM_INSTANCE
from cloudbus.inventory.volume import VOLUME
from cloudbus.services.common import load, load_row, new_row, set_fields
from cloudbus.services.ownership import claim

log = get_logger(__name__)

TEMPLATE = errors.register("IMAGE.1001", "Unable to create a template from the volume")
ALLOCATE = errors.register("BS.1003", "Unable to allocate backup storage")

refs = image_backup_storage_ref_table
zone_ref = backup_storage_zone_ref_table


async def insert_image(db: Any, row: dict[str, Any], storages: list[str], install_path: str | None = None) -> None:
    """An image's row (owned by the caller's account) and a ref to each backup storage it is
    going to, in the image's status, in one transaction (AddImage, the templates, and the
    images discovery found in place, at `install_path`)."""
    now = utcnow()
    ref_rows = [
        {
            "imageUuid": row["uuid"],
            "backupStorageUuid": bs,
            "status": row["status"],
            "installPath": install_path,
            "createDate": now,
            "lastOpDate": now,
        }
        for bs in storages
    ]
    async with db.tx() as conn:
        await claim(conn, IMAGE, row)
        await conn.execute(insert(IMAGE.table).values(row))
        await conn.execute(insert(refs).values(ref_rows))


class TemplateHandlers:
    """Mixed into ImageService (which provides db and bus)."""

    db: Any
    bus: Any
    node: Any

    @handles(CreateRootVolumeTemplateFromRootVolume)
    async def create_root_template(self, msg: CreateRootVolumeTemplateFromRootVolume) -> dict[str, Any]:
        vol = await self._source(msg.rootVolumeUuid, root=True)
        base = await self._root_image(vol)
        fields = {
            "mediaType": "RootVolumeTemplate",
            "guestOsType": msg.guestOsType or base.get("guestOsType"),
            "platform": msg.platform or base.get("platform") or "Linux",
            "architecture": msg.architecture or base.get("architecture") or "x86_64",
            "system": msg.system,
        }
        return await self._make(msg, vol, fields)

    @handles(CreateDataVolumeTemplateFromVolume)
    async def create_data_template(self, msg: CreateDataVolumeTemplateFromVolume) -> dict[str, Any]:
        vol = await self._source(msg.volumeUuid, root=False)
        return await self._make(msg, vol, {"mediaType": "DataVolumeTemplate", "system": False})

    # -- checks ---------------------------------------------------------------------------

    async def _source(self, volume_uuid: str, *, root: bool) -> dict[str, Any]:
        """The volume, if a template can be made of it now."""
        async with self.db.read() as conn:
            vol = await load_row(conn, VOLUME, volume_uuid)
            vm = await VM_INSTANCE.fetch_one(conn, vol["vmInstanceUuid"]) if vol["vmInstanceUuid"] else None
            ps = await PRIMARY_STORAGE.fetch_one(conn, vol["primaryStorageUuid"]) if vol["primaryStorageUuid"] else None
        if root and vol["type"] != "Root":
            raise errors.invalid_argument(
                f"volume[uuid:{volume_uuid}] is a {vol['type']} volume: "
                "CreateRootVolumeTemplateFromRootVolume takes a root volume"
            )
        if vol["status"] != "Ready" or not vol["installPath"] or ps is None:
            raise errors.operation_error(
                f"volume[uuid:{volume_uuid}] is {vol['status']}: a template is made from a Ready volume that has bits"
            )
        in_use_ok = self.node.storage(ps["type"]).copies_in_use_volumes
        if vm is not None and vm["state"] != "Stopped" and not in_use_ok:
            raise errors.operation_error(
                f"volume[uuid:{volume_uuid}] belongs to vm[uuid:{vm['uuid']}], which is {vm['state']}: "
                "stop the vm first (a running vm holds its disk)"
            )
        return {**vol, "zoneUuid": ps["zoneUuid"]}

    async def _root_image(self, vol: dict[str, Any]) -> dict[str, Any]:
        if not vol.get("rootImageUuid"):
            return {}
        async with self.db.read() as conn:
            return await IMAGE.fetch_one(conn, vol["rootImageUuid"]) or {}

    async def _storages(self, wanted: list[str] | None, zone_uuid: str) -> list[str]:
        bs = BACKUP_STORAGE.table
        in_zone = select(zone_ref.c.backupStorageUuid).where(zone_ref.c.zoneUuid == zone_uuid)
        async with self.db.read() as conn:
            if wanted is not None:
                attached = set((await conn.execute(in_zone)).scalars())
                for uuid in dict.fromkeys(wanted):
                    if uuid not in attached:
                        raise errors.invalid_argument(
                            f"backup storage[uuid:{uuid}] is not attached to zone[uuid:{zone_uuid}] of the volume"
                        )
                return list(dict.fromkeys(wanted))
            found = await conn.scalar(
                select(bs.c.uuid)
                .where(bs.c.uuid.in_(in_zone), bs.c.state == "Enabled", bs.c.status == "Connected")
                .order_by(bs.c.availableCapacity.desc(), bs.c.uuid)
                .limit(1)
            )
        if found is None:
            raise errors.fail(
                ALLOCATE, f"no Enabled and Connected backup storage is attached to zone[uuid:{zone_uuid}]"
            )
        return [found]

    # -- making it ------------------------------------------------------------------------

    async def _make(self, msg: Any, vol: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
        storages = await self._storages(msg.backupStorageUuids, vol["zoneUuid"])
        uuid = msg.new_resource_uuid()
        await self._record(uuid, msg, vol, fields, storages)
        made: list[dict[str, Any]] = []
        try:
            for bs_uuid in storages:
                await self._copy_to(bs_uuid, vol, uuid, made)
        except errors.CloudBusError as exc:
            await self._undo(uuid, made)
            raise errors.fail(TEMPLATE, exc.error.details, exc.error) from None
        except BaseException:
            await self._undo(uuid, made)
            raise
        return await self._ready(uuid, made)

    async def _record(
        self, uuid: str, msg: Any, vol: dict[str, Any], fields: dict[str, Any], storages: list[str]
    ) -> None:
        row = new_row(
            uuid,
            name=msg.name,
            description=msg.description,
            state="Enabled",
            status="Creating",
            size=vol["size"],
            actualSize=0,
            url=f"volume://{vol['uuid']}",
            type="zstack",
            format="qcow2",
            virtio=True,
            **fields,
        )
        await insert_image(self.db, row, storages)

    async def _copy_to(self, bs_uuid: str, vol: dict[str, Any], image_uuid: str, made: list[dict[str, Any]]) -> None:
        asked = await self.bus.call_ok(AskTemplateInstallPath(backupStorageUuid=bs_uuid, imageUuid=image_uuid))
        copy = {"bs": bs_uuid, "installPath": asked.get("installPath"), "size": 0}
        made.append(copy)  # from here on a failure removes the file (if any was made)
        await self.bus.call_ok(
            CreateTemplateFromVolume(
                primaryStorageUuid=vol["primaryStorageUuid"],
                volumeUuid=vol["uuid"],
                volumeInstallPath=vol["installPath"],
                hostUuid=vol.get("hostUuid"),
                imageUuid=image_uuid,
                templatePath=copy["installPath"],
                apiId=current_message_id.get(),
            )
        )
        reply = await self.bus.call_ok(
            CommitTemplateToBackupStorage(
                backupStorageUuid=bs_uuid, imageUuid=image_uuid, installPath=copy["installPath"], sizeHint=vol["size"]
            )
        )
        copy.update(
            installPath=reply.get("installPath") or copy["installPath"],
            size=reply.get("size"),
            actualSize=reply.get("actualSize"),
            md5Sum=reply.get("md5Sum"),
        )

    async def _ready(self, uuid: str, made: list[dict[str, Any]]) -> dict[str, Any]:
        first = made[0]
        async with self.db.tx() as conn:
            for copy in made:
                await conn.execute(
                    update(refs)
                    .where(refs.c.imageUuid == uuid, refs.c.backupStorageUuid == copy["bs"])
                    .values(installPath=copy["installPath"], status="Ready", lastOpDate=utcnow())
                )
            await set_fields(
                conn,
                IMAGE,
                uuid,
                status="Ready",
                size=first["size"],
                actualSize=first["actualSize"],
                md5Sum=first["md5Sum"],
            )
            return await load(conn, IMAGE, uuid)

    async def _undo(self, uuid: str, made: list[dict[str, Any]]) -> None:
        """Remove the copies made (capacity given back), then the image's rows."""
        for copy in reversed(made):
            removal = DeleteImageFromBackupStorage(
                backupStorageUuid=copy["bs"], imageUuid=uuid, installPath=copy["installPath"], size=copy["size"]
            )
            reply: Reply = await self.bus.call(removal)
            if not reply.success:  # the API's own error is what the user hears about
                log.warning("template copy not removed", image_uuid=uuid, path=copy["installPath"], error=reply.error)
        async with self.db.tx() as conn:
            await conn.execute(delete(refs).where(refs.c.imageUuid == uuid))
            await conn.execute(delete(IMAGE.table).where(IMAGE.key == uuid))
