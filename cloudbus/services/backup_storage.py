"""Backup storage service (`storage.backup`): add, update, state, reconnect, zone attach, delete.

Types: SimulatorBackupStorage (capacity as declared), SftpBackupStorage (hostname,
username, password — never shown —, sshPort; transport simulated, size reported by the
driver: 1 TiB on the simulator) and LocalDirBackupStorage (real image files in a directory
of the management node, `services/storage/localdir.py`; size: its file system's).

Backup storages are cascade roots. Deleting one runs the cascade with the context
`{"backupStorageUuids": [...]}` so that the image service removes only the references to
these storages (and drops images left without any). Zone deletion only detaches backup
storages: their `backup_storage_zone_ref` rows go with the zone (ON DELETE CASCADE).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from cloudbus.apis.backup_storage import (
    AddLocalDirBackupStorage,
    AddSftpBackupStorage,
    AddSimulatorBackupStorage,
    AttachBackupStorageToZone,
    ChangeBackupStorageState,
    DeleteBackupStorage,
    DeleteImageFromBackupStorage,
    DetachBackupStorageFromZone,
    DownloadImageToBackupStorage,
    ReconnectBackupStorage,
    UpdateBackupStorage,
    UpdateSftpBackupStorage,
)
from cloudbus.apis.internal.openstack import AddDiscoveredBackupStorage
from cloudbus.apis.internal.storage import AskTemplateInstallPath, CommitTemplateToBackupStorage
from cloudbus.cascade.messages import CascadeStep
from cloudbus.core import errors
from cloudbus.core.ids import utcnow
from cloudbus.core.messages import Event, Reply
from cloudbus.core.progress import reporter
from cloudbus.core.service import handles
from cloudbus.core.timeouts import bounded
from cloudbus.inventory.backup_storage import BACKUP_STORAGE, backup_storage_zone_ref_table
from cloudbus.inventory.declarations import Inventory
from cloudbus.inventory.zone import ZONE
from cloudbus.services.base import ResourceService
from cloudbus.services.common import STATE_EVENTS, changes, load, load_row, new_row, set_fields

DOWNLOAD = errors.register("BS.1000", "Unable to download the image to backup storage")
ATTACH = errors.register("BS.1001", "Unable to attach backup storage to zone")
DETACH = errors.register("BS.1002", "Unable to detach backup storage from zone")
ALLOCATE = errors.register("BS.1003", "Unable to allocate backup storage")
CONNECT = errors.register("BS.1500", "Unable to connect backup storage")

zone_ref = backup_storage_zone_ref_table
LOCAL_DIR = "LocalDirBackupStorage"


class BackupStorageService(ResourceService):
    service_id = "storage.backup"

    async def driver(self, bs: dict[str, Any], command: str, *args: Any, **kwargs: Any) -> Any:
        method = getattr(self.node.storage(bs["type"]), command)
        what = f"backup storage command[{command}] on backup storage[uuid:{bs['uuid']}]"
        return await bounded(method(bs, *args, **kwargs), self.node.driver_timeout, what)

    # -- add -------------------------------------------------------------------------

    @handles(AddSimulatorBackupStorage)
    async def add_simulator(self, msg: AddSimulatorBackupStorage) -> dict[str, Any]:
        available = msg.totalCapacity if msg.availableCapacity is None else msg.availableCapacity
        if available > msg.totalCapacity:
            raise errors.invalid_argument("availableCapacity cannot exceed totalCapacity")
        return await self._add(
            msg, "SimulatorBackupStorage", {"totalCapacity": msg.totalCapacity, "availableCapacity": available}
        )

    @handles(AddSftpBackupStorage)
    async def add_sftp(self, msg: AddSftpBackupStorage) -> dict[str, Any]:
        fields = {
            "hostname": msg.hostname,
            "username": msg.username,
            "password": msg.password,
            "sshPort": msg.sshPort,
            "totalCapacity": 0,
            "availableCapacity": 0,
        }
        return await self._add(msg, "SftpBackupStorage", fields)

    @handles(AddLocalDirBackupStorage)
    async def add_local_dir(self, msg: AddLocalDirBackupStorage) -> dict[str, Any]:
        table = BACKUP_STORAGE.table
        async with self.db.read() as conn:
            taken = await conn.scalar(
                select(table.c.uuid).where(table.c.type == LOCAL_DIR, table.c.url == msg.url).limit(1)
            )
        if taken is not None:  # two would share one images directory, and delete each other's files
            raise errors.invalid_argument(f"backup storage[uuid:{taken}] already keeps its images in url[{msg.url}]")
        return await self._add(msg, LOCAL_DIR, {"totalCapacity": 0, "availableCapacity": 0})

    @handles(AddDiscoveredBackupStorage)
    async def add_discovered(self, msg: AddDiscoveredBackupStorage) -> dict[str, Any]:
        return await self._add(msg, msg.type, {"totalCapacity": 0, "availableCapacity": 0})

    async def _add(self, msg: Any, bs_type: str, fields: dict[str, Any]) -> dict[str, Any]:
        uuid = msg.new_resource_uuid()
        row = new_row(
            uuid,
            name=msg.name,
            description=msg.description,
            url=msg.url,
            type=bs_type,
            state="Enabled",
            status="Connecting",
            **fields,
        )
        async with self.db.tx() as conn:
            await conn.execute(insert(BACKUP_STORAGE.table).values(row))
        try:
            return await self._connect(uuid)
        except errors.CloudBusError as exc:
            await self.delete_rows(BACKUP_STORAGE, [uuid])
            raise errors.fail(CONNECT, exc.error.details, exc.error) from None

    async def _connect(self, uuid: str) -> dict[str, Any]:
        async with self.db.tx() as conn:
            bs = await self._load_full(conn, uuid)
            await set_fields(conn, BACKUP_STORAGE, uuid, status="Connecting")
        try:
            facts = await self.driver(bs, "connect")
        except errors.CloudBusError:
            async with self.db.tx() as conn:
                await set_fields(conn, BACKUP_STORAGE, uuid, status="Disconnected")
            await self._status_changed(bs, "Disconnected")
            raise
        async with self.db.tx() as conn:
            bs = await self._load_full(conn, uuid)
            used = bs["totalCapacity"] - bs["availableCapacity"]
            await set_fields(
                conn,
                BACKUP_STORAGE,
                uuid,
                status="Connected",
                totalCapacity=facts.totalCapacity,
                availableCapacity=facts.totalCapacity - used,
            )
            connected = await load(conn, BACKUP_STORAGE, uuid)
        await self._status_changed(bs, "Connected")
        return connected

    async def _load_full(self, conn: Any, uuid: str) -> dict[str, Any]:
        """The row with its hidden fields (the driver needs the password)."""
        return await load_row(conn, BACKUP_STORAGE, uuid)

    async def _status_changed(self, bs: dict[str, Any], status: str) -> None:
        data = {"backupStorageUuid": bs["uuid"], "oldStatus": bs["status"], "newStatus": status}
        await self.bus.publish(Event(name="backupStorage.status.changed", data=data))

    # -- update, state, reconnect ----------------------------------------------------

    @handles(UpdateBackupStorage)
    async def update(self, msg: UpdateBackupStorage) -> dict[str, Any]:
        async with self.db.tx() as conn:
            await load(conn, BACKUP_STORAGE, msg.uuid)
            await set_fields(conn, BACKUP_STORAGE, msg.uuid, **changes(msg, "name", "description"))
            return await load(conn, BACKUP_STORAGE, msg.uuid)

    @handles(UpdateSftpBackupStorage)
    async def update_sftp(self, msg: UpdateSftpBackupStorage) -> dict[str, Any]:
        async with self.db.tx() as conn:
            bs = await load(conn, BACKUP_STORAGE, msg.uuid)
            if bs["type"] != "SftpBackupStorage":
                raise errors.invalid_argument(f"backup storage[uuid:{msg.uuid}] is not an sftp backup storage")
            fields = changes(msg, "name", "description", "hostname", "username", "password", "sshPort")
            await set_fields(conn, BACKUP_STORAGE, msg.uuid, **fields)
            return await load(conn, BACKUP_STORAGE, msg.uuid)

    @handles(ChangeBackupStorageState)
    async def change_state(self, msg: ChangeBackupStorageState) -> dict[str, Any]:
        async with self.db.tx() as conn:
            await load(conn, BACKUP_STORAGE, msg.uuid)
            await set_fields(conn, BACKUP_STORAGE, msg.uuid, state=STATE_EVENTS[msg.stateEvent])
            return await load(conn, BACKUP_STORAGE, msg.uuid)

    @handles(ReconnectBackupStorage)
    async def reconnect(self, msg: ReconnectBackupStorage) -> dict[str, Any]:
        try:
            return await self._connect(msg.uuid)
        except errors.CloudBusError as exc:
            raise errors.fail(CONNECT, exc.error.details, exc.error) from None

    # -- zones -----------------------------------------------------------------------

    @handles(AttachBackupStorageToZone)
    async def attach(self, msg: AttachBackupStorageToZone) -> dict[str, Any]:
        try:
            async with self.db.tx() as conn:
                await load(conn, BACKUP_STORAGE, msg.backupStorageUuid)
                await load(conn, ZONE, msg.zoneUuid)
                row = {"backupStorageUuid": msg.backupStorageUuid, "zoneUuid": msg.zoneUuid, "createDate": utcnow()}
                await conn.execute(insert(zone_ref).values(row))
        except IntegrityError:
            raise errors.fail(
                ATTACH,
                f"backup storage[uuid:{msg.backupStorageUuid}] has been attached to zone[uuid:{msg.zoneUuid}]",
            ) from None
        async with self.db.read() as conn:
            return await load(conn, BACKUP_STORAGE, msg.backupStorageUuid)

    @handles(DetachBackupStorageFromZone)
    async def detach(self, msg: DetachBackupStorageFromZone) -> dict[str, Any]:
        async with self.db.tx() as conn:
            await load(conn, BACKUP_STORAGE, msg.backupStorageUuid)
            gone = await conn.execute(
                delete(zone_ref).where(
                    zone_ref.c.backupStorageUuid == msg.backupStorageUuid, zone_ref.c.zoneUuid == msg.zoneUuid
                )
            )
            if gone.rowcount != 1:
                raise errors.fail(
                    DETACH,
                    f"backup storage[uuid:{msg.backupStorageUuid}] has not been attached to zone[uuid:{msg.zoneUuid}]",
                )
            return await load(conn, BACKUP_STORAGE, msg.backupStorageUuid)

    # -- images (internal) -------------------------------------------------------------

    @handles(DownloadImageToBackupStorage, chain=False)
    async def download(self, msg: DownloadImageToBackupStorage) -> Reply:
        async with self.db.read() as conn:
            bs = await self._load_full(conn, msg.backupStorageUuid)
        if bs["state"] != "Enabled" or bs["status"] != "Connected":
            raise errors.fail(
                DOWNLOAD,
                f"backup storage[uuid:{bs['uuid']}] is {bs['state']} and {bs['status']}: "
                "images can only be added to an Enabled and Connected backup storage",
            )
        image = {"uuid": msg.imageUuid, "url": msg.url, "format": msg.format}
        progress = reporter(self.bus, msg.apiId, "downloading image", msg.imageUuid)
        try:
            result = await self.driver(bs, "download", image, msg.sizeHint, progress=progress)
        except errors.CloudBusError as exc:
            raise errors.fail(DOWNLOAD, exc.error.details, exc.error) from None
        finally:
            if progress is not None:
                await progress.close()
        await self._take(bs, result)
        if progress is not None:
            progress(100)
            await progress.close()
        return Reply(
            installPath=result.installPath, size=result.size, actualSize=result.actualSize, md5Sum=result.md5Sum
        )

    @handles(AskTemplateInstallPath, chain=False)
    async def ask_template_path(self, msg: AskTemplateInstallPath) -> Reply:
        bs = await self._usable(msg.backupStorageUuid, "templates")
        return Reply(installPath=await self.driver(bs, "template_path", msg.imageUuid, msg.format))

    @handles(CommitTemplateToBackupStorage, chain=False)
    async def commit_template(self, msg: CommitTemplateToBackupStorage) -> Reply:
        async with self.db.read() as conn:
            bs = await self._load_full(conn, msg.backupStorageUuid)
        result = await self.driver(bs, "commit_template", msg.imageUuid, msg.installPath, msg.format, msg.sizeHint)
        await self._take(bs, result)
        return Reply(
            installPath=result.installPath, size=result.size, actualSize=result.actualSize, md5Sum=result.md5Sum
        )

    async def _usable(self, uuid: str, what: str) -> dict[str, Any]:
        async with self.db.read() as conn:
            bs = await self._load_full(conn, uuid)
        if bs["state"] != "Enabled" or bs["status"] != "Connected":
            raise errors.operation_error(
                f"backup storage[uuid:{bs['uuid']}] is {bs['state']} and {bs['status']}: "
                f"{what} can only be added to an Enabled and Connected backup storage"
            )
        return bs

    async def _take(self, bs: dict[str, Any], result: Any) -> None:
        """Take a new image's size off the storage's capacity, or remove its bits (BS.1000)."""
        table = BACKUP_STORAGE.table
        async with self.db.tx() as conn:
            taken = await conn.execute(
                update(table)
                .where(table.c.uuid == bs["uuid"], table.c.availableCapacity >= result.size)
                .values(availableCapacity=table.c.availableCapacity - result.size)
            )
        if taken.rowcount != 1:
            await self._delete_bits(bs, result.installPath, force=True)
            raise errors.fail(
                DOWNLOAD, f"backup storage[uuid:{bs['uuid']}] has not {result.size} bytes available for the image"
            )

    async def _delete_bits(self, bs: dict[str, Any], path: str | None, *, force: bool) -> None:
        if not path:
            return
        try:
            await self.driver(bs, "delete_bits", path)
        except errors.CloudBusError:
            if not force:
                raise

    @handles(DeleteImageFromBackupStorage, chain=False)
    async def delete_image(self, msg: DeleteImageFromBackupStorage) -> None:
        async with self.db.read() as conn:
            row = (
                (await conn.execute(select(BACKUP_STORAGE.table).where(BACKUP_STORAGE.key == msg.backupStorageUuid)))
                .mappings()
                .first()
            )
        if row is None:
            return  # the storage is gone, and the bits with it
        await self._delete_bits(dict(row), msg.installPath, force=False)
        table = BACKUP_STORAGE.table
        grown = table.c.availableCapacity + msg.size
        async with self.db.tx() as conn:
            await conn.execute(
                update(table)
                .where(table.c.uuid == msg.backupStorageUuid)
                .values(availableCapacity=case((grown > table.c.totalCapacity, table.c.totalCapacity), else_=grown))
            )

    # -- delete ----------------------------------------------------------------------

    @handles(DeleteBackupStorage)
    async def delete(self, msg: DeleteBackupStorage) -> None:
        await self.delete_cascade("BackupStorage", [msg.uuid], msg.deleteMode, {"backupStorageUuids": [msg.uuid]})

    async def on_delete(self, inv: Inventory, step: CascadeStep, *, force: bool) -> None:
        async with self.db.read() as conn:
            rows = (await conn.execute(select(inv.table).where(inv.key.in_(step.uuids)))).mappings().all()
        for bs in rows:
            try:
                await self.driver(dict(bs), "delete")
            except errors.CloudBusError:
                if not force:
                    raise
        async with self.db.tx() as conn:
            await conn.execute(delete(zone_ref).where(zone_ref.c.backupStorageUuid.in_(step.uuids)))
            await conn.execute(delete(inv.table).where(inv.key.in_(step.uuids)))
