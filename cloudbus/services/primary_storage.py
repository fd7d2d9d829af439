"""Primary storage service (`storage.primary`): add, update, state, reconnect, attach/detach, delete.

Types: SimulatorPrimaryStorage (capacity as declared), NFS (`server:/export`, mounted on
`/opt/zstack/nfsprimarystorage/prim-<uuid>`, size reported by the driver),
LocalStorage (a directory on each host: the totals are the sum of the hosts' shares in
`local_storage_host_ref`; a host's share is recorded when its cluster is attached or
when it connects later, with the size the driver reports — 1 TiB per host on the simulator)
and SharedMountPoint (a directory every host mounts at `url`, holding real qcow2 files:
`services/storage/qcow2.py`; its size is the file system's).

Cascade: PrimaryStorage is a child of Zone; LocalStorageHostRef (a host's share) is a
child of Host. DetachPrimaryStorageFromCluster removes the ref first, then tells the
dependents through `cascade_detach` (the VM service stops affected VMs); if that fails
the ref is restored.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from cloudbus.apis.internal.host import ApplyStoragePool
from cloudbus.apis.internal.openstack import AddDiscoveredPrimaryStorage
from cloudbus.apis.internal.storage import NO_PRIMARY_STORAGE  # noqa: F401 - registers PS.1000
from cloudbus.apis.primary_storage import (
    AddLocalPrimaryStorage,
    AddNfsPrimaryStorage,
    AddSharedMountPointPrimaryStorage,
    AddSimulatorPrimaryStorage,
    AttachPrimaryStorageToCluster,
    ChangePrimaryStorageState,
    DeletePrimaryStorage,
    DetachPrimaryStorageFromCluster,
    ReconnectPrimaryStorage,
    UpdatePrimaryStorage,
    _absolute_path,
    _mount_point,
    _nfs_url,
)
from cloudbus.cascade.engine import cascade_detach
from cloudbus.cascade.messages import CascadeStep
from cloudbus.core import errors
from cloudbus.core.ids import utcnow
from cloudbus.core.logging import get_logger
from cloudbus.core.messages import Event
from cloudbus.core.service import handles
from cloudbus.core.workflow import FlowChain
from cloudbus.inventory.cluster import CLUSTER
from cloudbus.inventory.declarations import Inventory
from cloudbus.inventory.host import HOST
from cloudbus.inventory.primary_storage import POOL_FIELDS, PRIMARY_STORAGE
from cloudbus.inventory.primary_storage import local_storage_host_ref_table as host_ref
from cloudbus.inventory.primary_storage import primary_storage_cluster_ref_table as cluster_ref
from cloudbus.services.base import ResourceService
from cloudbus.services.common import changes, load, new_row, set_fields
from cloudbus.services.storage import capacity
from cloudbus.services.storage.primary_ops import LOCAL, PrimaryStorageOps
from cloudbus.services.storage.template_ops import TemplateOps

log = get_logger(__name__)

SHARED_MOUNT_POINT = "SharedMountPoint"
URL_CHECKS = {LOCAL: _absolute_path, "NFS": _nfs_url, SHARED_MOUNT_POINT: _mount_point}

ATTACH = errors.register("PS.1001", "Unable to attach primary storage to cluster")
DETACH = errors.register("PS.1002", "Unable to detach primary storage from cluster")
DISCONNECTED = errors.register("PS.1003", "Primary storage is disconnected")

STATES = {"enable": "Enabled", "disable": "Disabled", "maintain": "Maintenance", "deleting": "Deleting"}


class PrimaryStorageService(PrimaryStorageOps, TemplateOps, ResourceService):
    service_id = "storage.primary"

    async def start(self) -> None:
        await self.bus.subscribe("host.status.changed", self._on_host_status)

    # -- add -------------------------------------------------------------------------

    @handles(AddSimulatorPrimaryStorage)
    async def add_simulator(self, msg: AddSimulatorPrimaryStorage) -> dict[str, Any]:
        available = msg.totalCapacity if msg.availableCapacity is None else msg.availableCapacity
        physical = msg.totalCapacity if msg.totalPhysicalCapacity is None else msg.totalPhysicalCapacity
        physical_available = available if msg.availablePhysicalCapacity is None else msg.availablePhysicalCapacity
        if available > msg.totalCapacity or physical_available > physical:
            raise errors.invalid_argument("availableCapacity cannot exceed totalCapacity")
        sizes = {
            "totalCapacity": msg.totalCapacity,
            "availableCapacity": available,
            "totalPhysicalCapacity": physical,
            "availablePhysicalCapacity": physical_available,
        }
        return await self._add(msg, "SimulatorPrimaryStorage", sizes)

    @handles(AddLocalPrimaryStorage)
    async def add_local(self, msg: AddLocalPrimaryStorage) -> dict[str, Any]:
        return await self._add(msg, LOCAL, {})

    @handles(AddNfsPrimaryStorage)
    async def add_nfs(self, msg: AddNfsPrimaryStorage) -> dict[str, Any]:
        return await self._add(msg, "NFS", {})

    @handles(AddSharedMountPointPrimaryStorage)
    async def add_shared_mount_point(self, msg: AddSharedMountPointPrimaryStorage) -> dict[str, Any]:
        return await self._add(msg, SHARED_MOUNT_POINT, {})

    @handles(AddDiscoveredPrimaryStorage)
    async def add_discovered(self, msg: AddDiscoveredPrimaryStorage) -> dict[str, Any]:
        return await self._add(msg, msg.type, {})

    async def _add(self, msg: Any, ps_type: str, sizes: dict[str, int]) -> dict[str, Any]:
        uuid = msg.new_resource_uuid()
        async with self.db.tx() as conn:
            await self._check_url_free(conn, ps_type, msg.zoneUuid, msg.url)
            row = new_row(
                uuid,
                name=msg.name,
                description=msg.description,
                zoneUuid=msg.zoneUuid,
                url=msg.url,
                type=ps_type,
                state="Enabled",
                status="Connecting",
                systemUsedCapacity=0,
                **sizes,
            )
            await conn.execute(insert(PRIMARY_STORAGE.table).values(row))
        try:
            return await self._connect(uuid)
        except errors.CloudBusError as exc:
            await self.delete_rows(PRIMARY_STORAGE, [uuid])
            raise errors.fail(errors.CREATE, exc.error.details, exc.error) from None

    async def _check_url_free(self, conn: Any, ps_type: str, zone_uuid: str, url: str, *, but: str = "") -> None:
        """Two NFS or local storages of one zone cannot share a url (they would share the bits)."""
        if ps_type == "SimulatorPrimaryStorage":
            return
        table = PRIMARY_STORAGE.table
        query = select(table.c.uuid).where(
            table.c.zoneUuid == zone_uuid, table.c.type == ps_type, table.c.url == url, table.c.uuid != but
        )
        if await conn.scalar(query) is not None:
            raise errors.invalid_argument(f"there has been a {ps_type} primary storage having url[{url}] in the zone")

    async def _connect(self, uuid: str) -> dict[str, Any]:
        """Connecting -> driver.connect -> Connected with fresh sizes (what is in use stays in use)."""
        async with self.db.tx() as conn:
            ps = await load(conn, PRIMARY_STORAGE, uuid)
            await set_fields(conn, PRIMARY_STORAGE, uuid, status="Connecting")
        try:
            facts = await self.driver(ps, "connect")
        except errors.CloudBusError:
            async with self.db.tx() as conn:
                await set_fields(conn, PRIMARY_STORAGE, uuid, status="Disconnected")
            await self._status_changed(ps, "Disconnected")
            raise
        async with self.db.tx() as conn:
            ps = await load(conn, PRIMARY_STORAGE, uuid)
            values: dict[str, Any] = {"status": "Connected", "mountPath": facts.mountPath}
            if ps["type"] != LOCAL:  # local storage sizes are the sum of the host shares
                used = ps["totalCapacity"] - ps["availableCapacity"]
                values |= {
                    "totalCapacity": facts.totalCapacity,
                    "availableCapacity": facts.totalCapacity - used,
                    "totalPhysicalCapacity": facts.totalPhysicalCapacity,
                    "availablePhysicalCapacity": facts.availablePhysicalCapacity,
                }
            await set_fields(conn, PRIMARY_STORAGE, uuid, **values)
            connected = await load(conn, PRIMARY_STORAGE, uuid)
        await self._status_changed(ps, "Connected")
        return connected

    async def _status_changed(self, ps: dict[str, Any], status: str) -> None:
        data = {"primaryStorageUuid": ps["uuid"], "oldStatus": ps["status"], "newStatus": status}
        await self.bus.publish(Event(name="primaryStorage.status.changed", data=data))

    # -- update, state, reconnect ----------------------------------------------------

    @handles(UpdatePrimaryStorage)
    async def update(self, msg: UpdatePrimaryStorage) -> dict[str, Any]:
        async with self.db.tx() as conn:
            ps = await load(conn, PRIMARY_STORAGE, msg.uuid)
            if msg.url is not None:
                try:
                    if ps["type"] in URL_CHECKS:
                        URL_CHECKS[ps["type"]](msg.url)
                except ValueError as exc:
                    raise errors.invalid_argument(f"invalid url[{msg.url}]: {exc}") from None
                await self._check_url_free(conn, ps["type"], ps["zoneUuid"], msg.url, but=msg.uuid)
            await set_fields(conn, PRIMARY_STORAGE, msg.uuid, **changes(msg, "name", "description", "url"))
            return await load(conn, PRIMARY_STORAGE, msg.uuid)

    @handles(ChangePrimaryStorageState)
    async def change_state(self, msg: ChangePrimaryStorageState) -> dict[str, Any]:
        async with self.db.tx() as conn:
            await load(conn, PRIMARY_STORAGE, msg.uuid)
            await set_fields(conn, PRIMARY_STORAGE, msg.uuid, state=STATES[msg.stateEvent])
            return await load(conn, PRIMARY_STORAGE, msg.uuid)

    @handles(ReconnectPrimaryStorage)
    async def reconnect(self, msg: ReconnectPrimaryStorage) -> dict[str, Any]:
        try:
            return await self._connect(msg.uuid)
        except errors.CloudBusError as exc:
            raise errors.fail(DISCONNECTED, exc.error.details, exc.error) from None

    # -- attach / detach -------------------------------------------------------------

    async def _attached(self, conn: Any, ps_uuid: str, cluster_uuid: str) -> bool:
        found = await conn.scalar(
            select(cluster_ref.c.clusterUuid).where(
                cluster_ref.c.primaryStorageUuid == ps_uuid, cluster_ref.c.clusterUuid == cluster_uuid
            )
        )
        return found is not None

    @handles(AttachPrimaryStorageToCluster)
    async def attach(self, msg: AttachPrimaryStorageToCluster) -> dict[str, Any]:
        async with self.db.read() as conn:
            ps = await load(conn, PRIMARY_STORAGE, msg.primaryStorageUuid)
            cluster = await load(conn, CLUSTER, msg.clusterUuid)
            if ps["zoneUuid"] != cluster["zoneUuid"]:
                raise errors.fail(
                    ATTACH,
                    f"primary storage[uuid:{ps['uuid']}] and cluster[uuid:{cluster['uuid']}] are not in the same zone",
                )
            if await self._attached(conn, ps["uuid"], cluster["uuid"]):
                raise errors.fail(
                    ATTACH, f"primary storage[uuid:{ps['uuid']}] has been attached to cluster[uuid:{cluster['uuid']}]"
                )
            rows = await conn.execute(
                select(HOST.table).where(
                    HOST.table.c.clusterUuid == cluster["uuid"], HOST.table.c.status == "Connected"
                )
            )
            hosts = await HOST.render(conn, rows.all())

        async def mount(data: dict[str, Any]) -> None:
            await self.driver(ps, "attach", cluster, hosts)

        async def unmount(data: dict[str, Any]) -> None:
            await self.driver(ps, "detach", cluster)

        async def add_ref(data: dict[str, Any]) -> None:
            try:
                async with self.db.tx() as conn:
                    row = {"primaryStorageUuid": ps["uuid"], "clusterUuid": cluster["uuid"], "createDate": utcnow()}
                    await conn.execute(insert(cluster_ref).values(row))
            except IntegrityError:
                raise errors.fail(ATTACH, f"primary storage[uuid:{ps['uuid']}] is being attached already") from None

        async def remove_ref(data: dict[str, Any]) -> None:
            await self._remove_ref(ps["uuid"], cluster["uuid"])

        async def host_shares(data: dict[str, Any]) -> None:
            if ps["type"] == LOCAL:
                for host in hosts:
                    await self.ensure_host_share(ps, host)

        async def drop_host_shares(data: dict[str, Any]) -> None:
            async with self.db.tx() as conn:
                await capacity.remove_host_shares(
                    conn,
                    host_ref.c.primaryStorageUuid == ps["uuid"],
                    host_ref.c.hostUuid.in_([h["uuid"] for h in hosts]),
                )

        async def pools(data: dict[str, Any]) -> None:
            await self._pools(ps, [cluster["uuid"]], realize=True)

        async def drop_pools(data: dict[str, Any]) -> None:
            await self._pools(ps, [cluster["uuid"]], realize=False)

        chain = FlowChain("attach-primary-storage")
        chain.then("mount", mount, unmount).then("add-ref", add_ref, remove_ref).then(
            "host-shares", host_shares, drop_host_shares
        )
        chain.then("pools", pools, drop_pools)
        try:
            await chain.run()
        except errors.CloudBusError as exc:
            if exc.error.code == ATTACH:
                raise
            raise errors.fail(ATTACH, exc.error.details, exc.error) from None
        async with self.db.read() as conn:
            return await load(conn, PRIMARY_STORAGE, ps["uuid"])

    async def _pools(self, ps: dict[str, Any], clusters: list[str], *, realize: bool) -> None:
        """Realise the storage's pool on the clusters' hosts (a host that cannot fails the
        attach), or take it down (a host that cannot is logged: the storage goes anyway)."""
        storage = {k: ps[k] for k in POOL_FIELDS}
        reply = await self.bus.call_ok(ApplyStoragePool(clusterUuids=clusters, primaryStorage=storage, realize=realize))
        for host, error in (reply.get("failed") or {}).items():
            if realize:
                raise errors.fail(
                    ATTACH,
                    f"host[uuid:{host}] cannot realize primary storage[uuid:{ps['uuid']}]",
                    errors.ErrorCode.model_validate(error),
                )
            log.warning("primary storage pool left on a host", ps=ps["uuid"], host=host, error=error)

    async def _remove_ref(self, ps_uuid: str, cluster_uuid: str) -> dict[str, Any] | None:
        """Delete the attachment row; returns it as it was (to restore it on failure)."""
        where = (cluster_ref.c.primaryStorageUuid == ps_uuid, cluster_ref.c.clusterUuid == cluster_uuid)
        async with self.db.tx() as conn:
            row = (await conn.execute(select(cluster_ref).where(*where))).mappings().first()
            await conn.execute(delete(cluster_ref).where(*where))
        return dict(row) if row is not None else None

    @handles(DetachPrimaryStorageFromCluster)
    async def detach(self, msg: DetachPrimaryStorageFromCluster) -> dict[str, Any]:
        async with self.db.read() as conn:
            ps = await load(conn, PRIMARY_STORAGE, msg.primaryStorageUuid)
            cluster = await load(conn, CLUSTER, msg.clusterUuid)
            if not await self._attached(conn, ps["uuid"], cluster["uuid"]):
                raise errors.fail(
                    DETACH,
                    f"primary storage[uuid:{ps['uuid']}] has not been attached to cluster[uuid:{cluster['uuid']}]",
                )
        removed = await self._remove_ref(ps["uuid"], cluster["uuid"])
        try:
            await cascade_detach(self.bus, "PrimaryStorage", [ps["uuid"]], {"clusterUuid": cluster["uuid"]})
            await self.driver(ps, "detach", cluster)
            await self._pools(ps, [cluster["uuid"]], realize=False)
        except errors.CloudBusError as exc:
            if removed is not None:
                async with self.db.tx() as conn:
                    await conn.execute(insert(cluster_ref).values(removed))
            raise errors.fail(DETACH, exc.error.details, exc.error) from None
        if ps["type"] == LOCAL:
            async with self.db.tx() as conn:
                in_cluster = select(HOST.key).where(HOST.table.c.clusterUuid == cluster["uuid"])
                await capacity.remove_host_shares(
                    conn, host_ref.c.primaryStorageUuid == ps["uuid"], host_ref.c.hostUuid.in_(in_cluster)
                )
        async with self.db.read() as conn:
            return await load(conn, PRIMARY_STORAGE, ps["uuid"])

    async def _on_host_status(self, event: Event) -> None:
        """A host that connects in a cluster attached to local storage gets its share."""
        if event.data.get("newStatus") != "Connected":
            return
        try:
            async with self.db.read() as conn:
                host = await HOST.fetch_one(conn, event.data["hostUuid"])
                if host is None:
                    return
                table = PRIMARY_STORAGE.table
                attached = select(cluster_ref.c.primaryStorageUuid).where(
                    cluster_ref.c.clusterUuid == host["clusterUuid"]
                )
                rows = await conn.execute(select(table).where(table.c.type == LOCAL, table.c.uuid.in_(attached)))
                storages = await PRIMARY_STORAGE.render(conn, rows.all())
            for ps in storages:
                await self.ensure_host_share(ps, host)
        except Exception as exc:  # an event handler must not fail the publisher
            log.warning(
                "could not record the local storage share of a host", host=event.data.get("hostUuid"), error=str(exc)
            )

    # -- delete ----------------------------------------------------------------------

    @handles(DeletePrimaryStorage)
    async def delete(self, msg: DeletePrimaryStorage) -> None:
        await self.delete_cascade("PrimaryStorage", [msg.uuid], msg.deleteMode)

    async def on_resolve(self, inv: Inventory, step: CascadeStep) -> list[str]:
        if inv.name != "LocalStorageHostRef":
            return await super().on_resolve(inv, step)
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(host_ref.c.hostUuid).where(host_ref.c.hostUuid.in_(step.parentUuids)).distinct()
            )
            return sorted(rows.scalars())

    async def on_delete(self, inv: Inventory, step: CascadeStep, *, force: bool) -> None:
        if inv.name == "LocalStorageHostRef":  # uuids are host uuids: their shares go
            async with self.db.tx() as conn:
                await capacity.remove_host_shares(conn, host_ref.c.hostUuid.in_(step.uuids))
            return
        for ps in await self.fetch(inv, step.uuids):
            async with self.db.read() as conn:
                rows = await conn.execute(
                    select(cluster_ref.c.clusterUuid).where(cluster_ref.c.primaryStorageUuid == ps["uuid"])
                )
                clusters = [row[0] for row in rows]
            if clusters:
                await self._pools(ps, clusters, realize=False)
            try:
                await self.driver(ps, "delete")
            except errors.CloudBusError:
                if not force:
                    raise
        async with self.db.tx() as conn:
            await conn.execute(delete(host_ref).where(host_ref.c.primaryStorageUuid.in_(step.uuids)))
            await conn.execute(delete(cluster_ref).where(cluster_ref.c.primaryStorageUuid.in_(step.uuids)))
            await conn.execute(delete(inv.table).where(inv.key.in_(step.uuids)))
