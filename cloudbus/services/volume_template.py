"""Data volumes made from a DataVolumeTemplate image (CreateDataVolumeFromVolumeTemplate), for
the volume service.

The image service picks a Ready copy of the image on a backup storage of the primary
storage's zone; the primary storage reserves the image's size and makes the volume's bits
from that copy (on SharedMountPoint: a qcow2 overlay on the image cached on that storage,
the cache copy reporting progress under the API's id). The volume is Ready, attached to
nothing. A failure removes the row and gives the capacity back.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select

from cloudbus import inventory
from cloudbus.apis.internal.storage import AllocatePrimaryStorage, InstantiateVolume, SelectBackupStorage
from cloudbus.apis.volume import CreateDataVolumeFromVolumeTemplate
from cloudbus.core import errors
from cloudbus.core.service import current_message_id, handles
from cloudbus.inventory.volume import VOLUME
from cloudbus.services.common import load, load_row, new_row, set_fields
from cloudbus.services.ownership import claim
from cloudbus.services.volume_base import LOCAL_STORAGE, VolumeBase


class TemplateVolumeHandlers(VolumeBase):
    @handles(CreateDataVolumeFromVolumeTemplate)
    async def create_from_template(self, msg: CreateDataVolumeFromVolumeTemplate) -> dict[str, Any]:
        ps, cluster, host = await self._placement(msg)
        chosen = await self.call(SelectBackupStorage(imageUuid=msg.imageUuid, zoneUuid=ps["zoneUuid"]))
        if chosen.get("mediaType") != "DataVolumeTemplate":
            raise errors.invalid_argument(
                f"image[uuid:{msg.imageUuid}] is a {chosen.get('mediaType')}: a data volume is made from a "
                "DataVolumeTemplate"
            )
        size = int(chosen.get("size") or 0)
        uuid = msg.new_resource_uuid()
        await self._insert(msg, uuid, size, host)
        try:
            await self.call(
                AllocatePrimaryStorage(size=size, clusterUuid=cluster, hostUuid=host, primaryStorageUuid=ps["uuid"])
            )
        except errors.CloudBusError:
            await self.drop_rows([uuid])
            raise
        try:
            made = await self.call(
                InstantiateVolume(
                    primaryStorageUuid=ps["uuid"],
                    volumeUuid=uuid,
                    size=size,
                    hostUuid=host,
                    imageUuid=msg.imageUuid,
                    imageInstallPath=chosen.get("installPath"),
                    apiId=current_message_id.get(),
                )
            )
        except BaseException:
            await self.return_capacity(ps["uuid"], size, host, quiet=True)
            await self.drop_rows([uuid])
            raise
        async with self.db.tx() as conn:
            await set_fields(conn, VOLUME, uuid, status="Ready", installPath=made.get("installPath"))
            return await load(conn, VOLUME, uuid)

    async def _placement(self, msg: CreateDataVolumeFromVolumeTemplate) -> tuple[dict[str, Any], str, str | None]:
        """The primary storage, a cluster it is attached to, and (local storage) the host."""
        async with self.db.read() as conn:
            ps = await load_row(conn, inventory.get("PrimaryStorage"), msg.primaryStorageUuid)
            clusters = await self.ps_clusters(conn, ps["uuid"])
            host_cluster = None
            if msg.hostUuid is not None:
                hosts = inventory.get("Host")
                host_cluster = await conn.scalar(select(hosts.table.c.clusterUuid).where(hosts.key == msg.hostUuid))
        local = ps["type"] == LOCAL_STORAGE
        if local and msg.hostUuid is None:
            raise errors.invalid_argument(f"primary storage[uuid:{ps['uuid']}] is local storage: give the hostUuid")
        if host_cluster is not None and host_cluster not in clusters:
            raise errors.invalid_argument(
                f"host[uuid:{msg.hostUuid}] is not in a cluster primary storage[uuid:{ps['uuid']}] is attached to"
            )
        if not clusters:
            raise errors.operation_error(f"primary storage[uuid:{ps['uuid']}] is not attached to any cluster")
        return ps, host_cluster or clusters[0], msg.hostUuid if local else None

    async def _insert(self, msg: CreateDataVolumeFromVolumeTemplate, uuid: str, size: int, host: str | None) -> None:
        row = new_row(
            uuid,
            name=msg.name,
            description=msg.description,
            primaryStorageUuid=msg.primaryStorageUuid,
            rootImageUuid=msg.imageUuid,
            type="Data",
            format="qcow2",
            size=size,
            state="Enabled",
            status="Creating",
            isShareable=False,
            hostUuid=host,
        )
        async with self.db.tx() as conn:
            await claim(conn, VOLUME, row)
            await conn.execute(insert(VOLUME.table).values(row))
