"""The primary-storage service's internal contracts (cloudbus/apis/internal/storage.py).

AllocatePrimaryStorage / ReturnPrimaryStorageCapacity / SettlePrimaryStorageReservation keep
capacity exact under concurrency and node deaths (see `capacity`); InstantiateVolume,
DeleteVolumeBits and SnapshotCommand forward to the storage driver, bounded by the node's driver timeout.

Local storage: a volume lives on one host, so AllocatePrimaryStorage and
ReturnPrimaryStorageCapacity need `hostUuid` for it; the host's share is created on
demand if the host joined an attached cluster after the attach.
"""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import bindparam, select

from cloudbus.apis.internal.host import HypervisorCommand
from cloudbus.apis.internal.storage import (
    NO_PRIMARY_STORAGE,
    RESERVATION_CLOSED,
    AllocatePrimaryStorage,
    DeleteVolumeBits,
    InstantiateVolume,
    ResizeVolumeBits,
    ReturnPrimaryStorageCapacity,
    SettlePrimaryStorageReservation,
    SnapshotCommand,
)
from cloudbus.core import errors
from cloudbus.core.messages import Reply
from cloudbus.core.service import handles
from cloudbus.core.timeouts import bounded
from cloudbus.inventory.host import HOST
from cloudbus.inventory.primary_storage import PRIMARY_STORAGE
from cloudbus.inventory.primary_storage import local_storage_host_ref_table as host_ref
from cloudbus.inventory.primary_storage import primary_storage_cluster_ref_table as cluster_ref
from cloudbus.inventory.tag import system_tag_table
from cloudbus.services.common import load_row
from cloudbus.services.storage import capacity
from cloudbus.services.storage.base import SNAPSHOT_TYPES, Live

LOCAL = "LocalStorage"
SNAPSHOT_TYPE_TAG = "snapshotType::"  # a primary storage's system tag: snapshotType::internal|external
SNAPSHOT_COMMANDS = ("take", "delete", "revert")


@functools.cache
def _candidate_statement(one: bool, on_host: bool) -> Any:
    """Storage attached to :cluster with :size bytes free, roomiest first; only :ps when `one`;
    local storage only when the caller placed the VM `on_host`. Built once per shape."""
    table = PRIMARY_STORAGE.table
    query = (
        select(table)
        .where(
            table.c.uuid.in_(
                select(cluster_ref.c.primaryStorageUuid).where(cluster_ref.c.clusterUuid == bindparam("cluster"))
            ),
            table.c.state == "Enabled",
            table.c.status == "Connected",
            table.c.availableCapacity >= bindparam("size"),
        )
        .order_by(table.c.availableCapacity.desc(), table.c.uuid)
    )
    if one:
        query = query.where(table.c.uuid == bindparam("ps"))
    if not on_host:
        query = query.where(table.c.type != LOCAL)
    return query


class PrimaryStorageOps:
    """Mixed into PrimaryStorageService (which provides db, bus, node)."""

    db: Any
    node: Any
    bus: Any

    async def driver(self, ps: dict[str, Any], command: str, *args: Any, **kwargs: Any) -> Any:
        """Run a storage driver command for `ps`, bounded by the node's driver timeout."""
        method = getattr(self.node.storage(ps["type"]), command)
        what = f"primary storage command[{command}] on primary storage[uuid:{ps['uuid']}]"
        return await bounded(method(ps, *args, **kwargs), self.node.driver_timeout, what)

    async def ensure_host_share(self, ps: dict[str, Any], host: dict[str, Any]) -> None:
        """Give a Connected host of an attached cluster its share of a local primary storage."""
        async with self.db.read() as conn:
            exists = await conn.scalar(
                select(host_ref.c.hostUuid).where(
                    host_ref.c.primaryStorageUuid == ps["uuid"], host_ref.c.hostUuid == host["uuid"]
                )
            )
        if exists is not None:
            return
        facts = await self.driver(ps, "host_capacity", host)
        async with self.db.tx() as conn:
            await capacity.add_host_share(
                conn,
                ps["uuid"],
                host["uuid"],
                facts.totalCapacity,
                facts.totalPhysicalCapacity,
                facts.availablePhysicalCapacity,
            )

    @staticmethod
    def _candidate_query(msg: AllocatePrimaryStorage) -> tuple[Any, dict[str, Any]]:
        params = {"cluster": msg.clusterUuid, "size": msg.size, "ps": msg.primaryStorageUuid}
        return _candidate_statement(msg.primaryStorageUuid is not None, msg.hostUuid is not None), params

    @handles(AllocatePrimaryStorage, chain=False)
    async def allocate(self, msg: AllocatePrimaryStorage) -> Reply:
        if msg.size < 0:
            raise errors.invalid_argument(f"cannot allocate a negative size[{msg.size}]")
        # shared storage is reserved in the transaction that finds it; local storage may need
        # the host's share set up by its driver first, which cannot happen inside a transaction
        local: list[dict[str, Any]] = []
        async with self.db.tx() as conn:
            for ps in (await conn.execute(*self._candidate_query(msg))).mappings().all():
                if local or (ps["type"] == LOCAL and msg.hostUuid is not None):
                    local.append(dict(ps))
                    continue
                try:
                    await capacity.reserve(conn, ps["uuid"], msg.size, None, msg.ownerUuid)
                except capacity.NoRoom:
                    continue
                return Reply(primaryStorageUuid=ps["uuid"], hostUuid=None)
        for ps in local:
            host_uuid = msg.hostUuid if ps["type"] == LOCAL else None
            if host_uuid is not None:
                await self._ensure_share_for(ps, host_uuid, msg.clusterUuid)
            try:
                async with self.db.tx() as conn:
                    await capacity.reserve(conn, ps["uuid"], msg.size, host_uuid, msg.ownerUuid)
            except capacity.NoRoom:
                continue
            return Reply(primaryStorageUuid=ps["uuid"], hostUuid=host_uuid)
        where = f"cluster[uuid:{msg.clusterUuid}]" + (f", host[uuid:{msg.hostUuid}]" if msg.hostUuid else "")
        wanted = f"primary storage[uuid:{msg.primaryStorageUuid}]" if msg.primaryStorageUuid else "no primary storage"
        raise errors.fail(
            NO_PRIMARY_STORAGE,
            f"{wanted} attached to {where} is Enabled, Connected and has {msg.size} bytes available",
        )

    async def _ensure_share_for(self, ps: dict[str, Any], host_uuid: str, cluster_uuid: str) -> None:
        async with self.db.read() as conn:
            host = await HOST.fetch_one(conn, host_uuid)
        if host is None or host["clusterUuid"] != cluster_uuid or host["status"] != "Connected":
            return
        try:
            await self.ensure_host_share(ps, host)
        except errors.CloudBusError:
            return  # the reservation below then finds no share and tries the next storage

    @handles(ReturnPrimaryStorageCapacity, chain=False)
    async def give_back(self, msg: ReturnPrimaryStorageCapacity) -> None:
        if msg.size < 0:
            raise errors.invalid_argument(f"cannot return a negative size[{msg.size}]")
        async with self.db.tx() as conn:
            ps = await PRIMARY_STORAGE.fetch_one(conn, msg.primaryStorageUuid)
            if ps is None:
                return  # deleted with everything it held
            if ps["type"] == LOCAL and msg.hostUuid is None:
                raise errors.invalid_argument(
                    f"primary storage[uuid:{ps['uuid']}] is local storage: returning capacity needs the hostUuid"
                )
            await capacity.give_back(conn, ps["uuid"], msg.size, msg.hostUuid if ps["type"] == LOCAL else None)

    @handles(SettlePrimaryStorageReservation, chain=False)
    async def settle_reservation(self, msg: SettlePrimaryStorageReservation) -> Reply:
        async with self.db.tx() as conn:
            return Reply(settled=await capacity.settle(conn, msg.ownerUuid, give_back_bytes=msg.giveBack))

    async def _load_ps(self, uuid: str) -> dict[str, Any]:
        async with self.db.read() as conn:
            return await load_row(conn, PRIMARY_STORAGE, uuid)

    @handles(InstantiateVolume, chain=False)
    async def instantiate_volume(self, msg: InstantiateVolume) -> Reply:
        ps = await self._load_ps(msg.primaryStorageUuid)
        if ps["type"] == LOCAL and msg.hostUuid is None:
            raise errors.invalid_argument(f"volume[uuid:{msg.volumeUuid}] on local storage needs a hostUuid")
        if msg.reservedBy is not None:
            async with self.db.read() as conn:
                still_open = await capacity.is_open(conn, msg.reservedBy)
            if not still_open:
                raise errors.fail(
                    RESERVATION_CLOSED,
                    f"volume[uuid:{msg.volumeUuid}] is carved out of the reservation of owner[uuid:{msg.reservedBy}], "
                    "which was already settled",
                )
        await self.cache_image(ps, msg)  # type: ignore[attr-defined]  # TemplateOps: with progress
        path = await self.driver(
            ps,
            "instantiate_volume",
            msg.volumeUuid,
            msg.size,
            msg.hostUuid,
            msg.imageUuid,
            msg.format,
            image_path=msg.imageInstallPath,
            full_copy=msg.fullCopy,
        )
        return Reply(installPath=path)

    @handles(DeleteVolumeBits, chain=False)
    async def delete_volume_bits(self, msg: DeleteVolumeBits) -> None:
        async with self.db.read() as conn:
            ps = await PRIMARY_STORAGE.fetch_one(conn, msg.primaryStorageUuid)
        if ps is None:
            return  # the bits went with the storage
        await self.driver(ps, "delete_volume", msg.volumeUuid, msg.installPath, msg.hostUuid)

    @handles(ResizeVolumeBits, chain=False)
    async def resize_volume_bits(self, msg: ResizeVolumeBits) -> None:
        ps = await self._load_ps(msg.primaryStorageUuid)
        live = self._live(msg.hostUuid, msg.vmInstanceUuid)
        await self.driver(ps, "resize_volume", msg.installPath, msg.size, shrink=msg.shrink, live=live)

    def _live(self, host: str | None, vm: str | None) -> Live | None:
        """How a driver reaches the running domain of the volume's VM (None: no VM runs it)."""
        if not host or not vm:
            return None

        async def live(command: str, args: dict[str, Any]) -> Any:
            command_msg = HypervisorCommand(hostUuid=host, command=command, vmInstanceUuid=vm, args=args)
            return (await self.bus.call_ok(command_msg)).get("result")

        return live

    @handles(SnapshotCommand, chain=False)
    async def snapshot_command(self, msg: SnapshotCommand) -> Reply:
        if msg.command not in SNAPSHOT_COMMANDS:
            raise errors.invalid_argument(f"snapshot command[{msg.command}] is not one of {list(SNAPSHOT_COMMANDS)}")
        ps = await self._load_ps(msg.primaryStorageUuid)
        kind = msg.snapshotType or await self._snapshot_type(ps["uuid"])
        live = self._live(msg.hostUuid, msg.vmInstanceUuid)
        result = await self.driver(
            ps,
            "snapshot",
            msg.command,
            msg.volumeUuid,
            msg.volumeInstallPath,
            msg.snapshotUuid,
            msg.snapshotInstallPath,
            snapshot_type=kind,
            live=live,
        )
        if result is None:
            return Reply()
        return Reply(
            installPath=result.installPath,
            size=result.size,
            snapshotType=result.snapshotType,
            volumeInstallPath=result.volumeInstallPath,
        )

    async def _snapshot_type(self, ps_uuid: str) -> str | None:
        """The storage's `snapshotType::<internal|external>` system tag (None: the driver's default)."""
        tags = system_tag_table
        async with self.db.read() as conn:
            tag = await conn.scalar(
                select(tags.c.tag).where(tags.c.resourceUuid == ps_uuid, tags.c.tag.like(f"{SNAPSHOT_TYPE_TAG}%"))
            )
        if tag is None:
            return None
        kind = tag[len(SNAPSHOT_TYPE_TAG) :]
        if kind not in SNAPSHOT_TYPES:
            raise errors.invalid_argument(
                f"primary storage[uuid:{ps_uuid}] has tag[{tag}]: the snapshot type is one of {list(SNAPSHOT_TYPES)}"
            )
        return kind
