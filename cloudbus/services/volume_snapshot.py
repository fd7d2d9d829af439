"""Volume snapshots of the volume service (reference 1.3, 2.7, 12): create, delete with
descendants, revert, update.

Tree semantics: the first snapshot of a volume (or the first after its trees lost their
latest snapshot) starts a tree (`volume_snapshot_tree`, `current` true); each new snapshot
is a child of the volume's latest one, in the same tree, `distance` = parent's + 1, and
becomes the only `latest`. Reverting makes the reverted snapshot latest, so the next
snapshot branches off it. Deleting a snapshot deletes its subtree (leaves first); if the
latest was in it, the deleted snapshot's parent becomes latest; an emptied tree is removed.

Every operation that changes a volume's snapshots runs in that volume's chain queue
(`volume-<volumeUuid>`, the queue of the volume's own APIs), so they never interleave.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update

from cloudbus.apis.internal.storage import SnapshotCommand
from cloudbus.apis.volume_snapshot import (
    CreateVolumeSnapshot,
    DeleteVolumeSnapshot,
    RevertVolumeFromSnapshot,
    UpdateVolumeSnapshot,
)
from cloudbus.cascade.messages import CascadeStep
from cloudbus.core import errors
from cloudbus.core.ids import new_uuid, utcnow
from cloudbus.core.service import handles
from cloudbus.inventory.volume import VOLUME, VOLUME_SNAPSHOT, VOLUME_SNAPSHOT_TREE
from cloudbus.services.common import changes, load, load_row, new_row, set_fields
from cloudbus.services.ownership import claim
from cloudbus.services.volume_base import SNAPSHOT_STATUS, VolumeBase, vm_state_error

SNAP = VOLUME_SNAPSHOT.table
TREE = VOLUME_SNAPSHOT_TREE.table


class SnapshotHandlers(VolumeBase):
    def volume_chain(self, volume_uuid: str) -> Any:
        return self.chains.run_in(f"{self.service_id}-{volume_uuid}")

    async def snapshot_row(self, uuid: str) -> dict[str, Any]:
        async with self.db.read() as conn:
            return await load_row(conn, VOLUME_SNAPSHOT, uuid)

    @handles(CreateVolumeSnapshot)
    async def create_snapshot(self, msg: CreateVolumeSnapshot) -> dict[str, Any]:
        async with self.db.read() as conn:
            vol = await self.volume_row(conn, msg.volumeUuid)
        if vol["status"] != "Ready":
            raise errors.operation_error(
                f"volume[uuid:{vol['uuid']}] is {vol['status']}, only a Ready volume can be snapshotted"
            )
        uuid = msg.new_resource_uuid()
        async with self.db.read() as conn:
            if await conn.scalar(select(SNAP.c.uuid).where(SNAP.c.uuid == uuid)):
                raise errors.invalid_argument(f"a resource with uuid[{uuid}] already exists")
            running = await self._running_on(conn, vol)
        reply = await self.call(
            SnapshotCommand(
                primaryStorageUuid=vol["primaryStorageUuid"],
                command="take",
                volumeUuid=vol["uuid"],
                volumeInstallPath=vol["installPath"],
                snapshotUuid=uuid,
                **running,
            )
        )
        kind, current = reply.get("snapshotType"), reply.get("volumeInstallPath")
        try:
            async with self.db.tx() as conn:
                await self._insert_snapshot(
                    conn, msg, vol, uuid, reply.get("installPath"), reply.get("size") or 0, kind
                )
                if current:  # external: the volume goes on in a new overlay
                    await set_fields(conn, VOLUME, vol["uuid"], installPath=current)
                return await load(conn, VOLUME_SNAPSHOT, uuid)
        except Exception:
            if current is None:  # an external snapshot's file is the volume's data: never removed here
                await self._delete_snapshot_bits(vol, uuid, reply.get("installPath"), kind, quiet=True)
            raise

    async def _running_on(self, conn: Any, vol: dict[str, Any]) -> dict[str, Any]:
        """hostUuid/vmInstanceUuid of a SnapshotCommand when the volume's VM runs (its domain has a part)."""
        return self.running_domain(await self.load_vm(conn, vol["vmInstanceUuid"]) if vol["vmInstanceUuid"] else None)

    async def _insert_snapshot(
        self,
        conn: Any,
        msg: CreateVolumeSnapshot,
        vol: dict[str, Any],
        uuid: str,
        path: str | None,
        size: int,
        kind: str | None,
    ) -> None:
        parent = (await conn.execute(select(SNAP).where(SNAP.c.volumeUuid == vol["uuid"], SNAP.c.latest))).first()
        if parent is None:
            tree_uuid = new_uuid()
            now = utcnow()
            await conn.execute(
                update(TREE).where(TREE.c.volumeUuid == vol["uuid"]).values(current=False, lastOpDate=now)
            )
            await conn.execute(
                insert(TREE).values(
                    uuid=tree_uuid,
                    volumeUuid=vol["uuid"],
                    current=True,
                    status="Completed",
                    createDate=now,
                    lastOpDate=now,
                )
            )
            parent_uuid, distance = None, 0
        else:
            tree_uuid, parent_uuid, distance = parent.treeUuid, parent.uuid, parent.distance + 1
            await conn.execute(update(SNAP).where(SNAP.c.uuid == parent.uuid).values(latest=False))
        row = new_row(
            uuid,
            name=msg.name,
            description=msg.description,
            type="Hypervisor",
            volumeUuid=vol["uuid"],
            treeUuid=tree_uuid,
            parentUuid=parent_uuid,
            primaryStorageUuid=vol["primaryStorageUuid"],
            primaryStorageInstallPath=path,
            volumeType=vol["type"],
            format=vol["format"],
            latest=True,
            size=size,
            distance=distance,
            state="Enabled",
            status="Ready",
            snapshotType=kind,
        )
        await claim(conn, VOLUME_SNAPSHOT, row)
        await conn.execute(insert(SNAP).values(row))

    async def _delete_snapshot_bits(
        self, vol: dict[str, Any], uuid: str, path: str | None, kind: str | None, *, quiet: bool = False
    ) -> None:
        try:
            async with self.db.read() as conn:
                vol = await VOLUME.fetch_one(conn, vol["uuid"]) or vol  # its current file, as of now
                running = await self._running_on(conn, vol)
            await self.call(
                SnapshotCommand(
                    primaryStorageUuid=vol["primaryStorageUuid"],
                    command="delete",
                    volumeUuid=vol["uuid"],
                    volumeInstallPath=vol["installPath"],
                    snapshotUuid=uuid,
                    snapshotInstallPath=path,
                    snapshotType=kind,
                    **running,
                )
            )
        except errors.CloudBusError:
            if not quiet:
                raise

    @handles(UpdateVolumeSnapshot)
    async def update_snapshot(self, msg: UpdateVolumeSnapshot) -> dict[str, Any]:
        async with self.db.tx() as conn:
            await load(conn, VOLUME_SNAPSHOT, msg.uuid)
            await set_fields(conn, VOLUME_SNAPSHOT, msg.uuid, **changes(msg, "name", "description"))
            return await load(conn, VOLUME_SNAPSHOT, msg.uuid)

    @handles(DeleteVolumeSnapshot)
    async def delete_snapshot(self, msg: DeleteVolumeSnapshot) -> None:
        await self.delete_cascade("VolumeSnapshot", [msg.uuid], msg.deleteMode)

    async def delete_snapshots(self, step: CascadeStep, *, force: bool) -> None:
        """Cascade step: root = DeleteVolumeSnapshot (bits and subtree); else the volume's rows go (DBOnly)."""
        if step.parentType is not None:
            async with self.db.tx() as conn:
                await conn.execute(delete(SNAP).where(SNAP.c.uuid.in_(step.uuids)))
            return
        for uuid in step.uuids:
            async with self.db.read() as conn:
                volume_uuid = await conn.scalar(select(SNAP.c.volumeUuid).where(SNAP.c.uuid == uuid))
            if volume_uuid is None:
                continue  # gone with an ancestor's subtree
            async with self.volume_chain(volume_uuid):
                await self._delete_subtree(uuid, force=force)

    async def _delete_subtree(self, uuid: str, *, force: bool) -> None:
        async with self.db.read() as conn:
            top = (await conn.execute(select(SNAP).where(SNAP.c.uuid == uuid))).first()
            if top is None:
                return
            tree = [
                dict(r._mapping)
                for r in (await conn.execute(select(SNAP).where(SNAP.c.treeUuid == top.treeUuid))).all()
            ]
            vol = await self.volume_row(conn, top.volumeUuid)
        children: dict[str | None, list[dict[str, Any]]] = {}
        for snap in tree:
            children.setdefault(snap["parentUuid"], []).append(snap)
        doomed: list[dict[str, Any]] = []

        def post_order(snap: dict[str, Any]) -> None:
            for child in sorted(children.get(snap["uuid"], []), key=lambda s: s["uuid"]):
                post_order(child)
            doomed.append(snap)

        post_order(next(s for s in tree if s["uuid"] == uuid))
        deleted: set[str] = set()
        try:
            for snap in doomed:
                path, kind = snap["primaryStorageInstallPath"], snap["snapshotType"]
                await self._delete_snapshot_bits(vol, snap["uuid"], path, kind, quiet=force)
                async with self.db.tx() as conn:
                    await conn.execute(delete(SNAP).where(SNAP.c.uuid == snap["uuid"]))
                deleted.add(snap["uuid"])
        finally:
            await self._after_delete(top, tree, deleted)

    async def _after_delete(self, top: Any, tree: list[dict[str, Any]], deleted: set[str]) -> None:
        """The parent of the deleted subtree inherits `latest`; an empty tree goes."""
        latest_gone = any(s["latest"] and s["uuid"] in deleted for s in tree)
        async with self.db.tx() as conn:
            if latest_gone and top.parentUuid is not None and top.uuid in deleted:
                await conn.execute(update(SNAP).where(SNAP.c.uuid == top.parentUuid).values(latest=True))
            if not await conn.scalar(select(SNAP.c.uuid).where(SNAP.c.treeUuid == top.treeUuid).limit(1)):
                await conn.execute(delete(TREE).where(TREE.c.uuid == top.treeUuid))

    @handles(RevertVolumeFromSnapshot, chain=False)
    async def revert(self, msg: RevertVolumeFromSnapshot) -> dict[str, Any]:
        snap = await self.snapshot_row(msg.uuid)
        async with self.volume_chain(snap["volumeUuid"]):
            snap = await self.snapshot_row(msg.uuid)
            if snap["status"] != "Ready" or snap["state"] != "Enabled":
                raise errors.fail(
                    SNAPSHOT_STATUS,
                    f"volume snapshot[uuid:{msg.uuid}] is {snap['state']}/{snap['status']}, "
                    "only an Enabled and Ready snapshot can be reverted to",
                )
            async with self.db.read() as conn:
                vol = await self.volume_row(conn, snap["volumeUuid"])
                vm = await self.load_vm(conn, vol["vmInstanceUuid"]) if vol["vmInstanceUuid"] else None
            if vm is not None and vm["state"] != "Stopped":
                error = vm_state_error(vm, "RevertVolumeFromSnapshot", ("Stopped",))
                error.error.details = (
                    f"unable to revert volume[uuid:{vol['uuid']}] to snapshot[uuid:{msg.uuid}], "
                    f"the vm[uuid:{vm['uuid']}] the volume is attached to is not Stopped, its state is {vm['state']}"
                )
                raise error
            reply = await self.call(
                SnapshotCommand(
                    primaryStorageUuid=snap["primaryStorageUuid"] or vol["primaryStorageUuid"],
                    command="revert",
                    volumeUuid=vol["uuid"],
                    volumeInstallPath=vol["installPath"],
                    snapshotUuid=snap["uuid"],
                    snapshotInstallPath=snap["primaryStorageInstallPath"],
                    snapshotType=snap["snapshotType"],
                )
            )
            async with self.db.tx() as conn:
                now = utcnow()
                await conn.execute(update(SNAP).where(SNAP.c.volumeUuid == vol["uuid"]).values(latest=False))
                await conn.execute(update(SNAP).where(SNAP.c.uuid == snap["uuid"]).values(latest=True, lastOpDate=now))
                await conn.execute(update(TREE).where(TREE.c.volumeUuid == vol["uuid"]).values(current=False))
                await conn.execute(
                    update(TREE).where(TREE.c.uuid == snap["treeUuid"]).values(current=True, lastOpDate=now)
                )
                path = reply.get("volumeInstallPath")
                if path:
                    await set_fields(conn, VOLUME, vol["uuid"], installPath=path)
                return await load(conn, VOLUME, vol["uuid"])
