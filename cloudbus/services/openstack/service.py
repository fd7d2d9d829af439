"""OpenStack service: registers OpenStack clouds and keeps cloudbus's picture of them.

AddOpenStackCloud logs in with the admin credentials (kept encrypted, core/secrets.py), then
discovers (discovery.py) and makes each resource through its own service's API, recording
what it stands for in `openstack_resource` before making it, so the drivers find it while it
connects. A failure anywhere removes what was made and the cloud, and fails OPENSTACK.1000
with the cause. SyncOpenStackCloud (and every `CLOUDBUS_OPENSTACK_SYNC_INTERVAL` seconds, default
300, each node for the clouds the ring gives it) discovers again: what vanished is deleted (through the
cascade), what appeared is made, and the hosts are reconnected, which has the VM service
correct every VM from what Nova reports (vm_instance/tracer.py); a data volume Cinder shows
detached since cloudbus attached it is detached in cloudbus too. Deleting a cloud deletes what
discovery made, then sweeps away everything cloudbus made in the cloud (discovery.sweep):
it is the last of a zone's children deleted, so the drivers removing servers and volumes
still have its login.

A tenant registered while clouds are Connected gets its own Keystone domain, project and user in
each (ProvisionTenant, keystone.py), kept as OpenStackTenant rows below the tenant and the cloud:
deleting either removes the Keystone identity.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from secrets import token_urlsafe
from typing import Any

from sqlalchemy import delete, insert, select

from cloudbus.apis.backup_storage import AttachBackupStorageToZone, DeleteBackupStorage
from cloudbus.apis.cluster import DeleteCluster
from cloudbus.apis.host import DeleteHost, ReconnectHost
from cloudbus.apis.internal.openstack import (
    AddDiscoveredBackupStorage,
    AddDiscoveredCluster,
    AddDiscoveredHost,
    AddDiscoveredImage,
    AddDiscoveredL2Network,
    AddDiscoveredPrimaryStorage,
    DeleteDiscoveredImage,
    ProvisionTenant,
)
from cloudbus.apis.l2_network import AttachL2NetworkToCluster, DeleteL2Network
from cloudbus.apis.offering import CreateInstanceOffering, DeleteInstanceOffering
from cloudbus.apis.openstack import (
    AddOpenStackCloud,
    DeleteOpenStackCloud,
    ImportOpenStackFlavors,
    SyncOpenStackCloud,
)
from cloudbus.apis.primary_storage import AttachPrimaryStorageToCluster, DeletePrimaryStorage
from cloudbus.apis.volume import DetachDataVolumeFromVm
from cloudbus.cascade.messages import CascadeStep
from cloudbus.core import errors, secrets
from cloudbus.core.ids import new_uuid
from cloudbus.core.logging import get_logger
from cloudbus.core.messages import Message, Reply
from cloudbus.core.periodic import Periodic
from cloudbus.core.service import handles
from cloudbus.core.units import MiB
from cloudbus.inventory.declarations import Inventory
from cloudbus.inventory.identity import tenant_table
from cloudbus.inventory.offering import INSTANCE_OFFERING
from cloudbus.inventory.openstack import OPENSTACK_CLOUD, OPENSTACK_TENANT, openstack_resource_table
from cloudbus.inventory.volume import VOLUME
from cloudbus.inventory.zone import ZONE
from cloudbus.services.base import ResourceService
from cloudbus.services.common import load, new_row, set_fields
from cloudbus.services.openstack import discovery, keystone
from cloudbus.services.openstack.compute import volume_id
from cloudbus.services.openstack.connection import LOGIN_FIELDS, Login, check, clouds_of, connect, run, tag
from cloudbus.services.openstack.discovery import (
    BACKUP,
    CLUSTER,
    FLAVOR,
    FLAVORS,
    HOST,
    IMAGE,
    KINDS,
    L2,
    PRIMARY,
    Found,
)
from cloudbus.services.openstack.nas import NasHandlers
from cloudbus.services.openstack.quota_mirror import QuotaMirrorHandlers

log = get_logger(__name__)

ADD_CLOUD = errors.register("OPENSTACK.1000", "Unable to add the OpenStack cloud")
SYNC_CLOUD = errors.register("OPENSTACK.1005", "Unable to sync the OpenStack cloud")

HYPERVISOR = "OpenStack"
CINDER, GLANCE, NEUTRON = "OpenStackCinder", "OpenStackGlance", "OpenStackNeutron"
DELETES: dict[str, type[Message]] = {
    HOST: DeleteHost,
    CLUSTER: DeleteCluster,
    PRIMARY: DeletePrimaryStorage,
    BACKUP: DeleteBackupStorage,
    L2: DeleteL2Network,
    IMAGE: DeleteDiscoveredImage,
}
RESOURCE = openstack_resource_table


class OpenStackService(NasHandlers, QuotaMirrorHandlers, ResourceService):
    service_id = "openstack"

    def __init__(self, node: Any) -> None:
        super().__init__(node)
        self.clouds = clouds_of(node)
        interval = float(os.environ.get("CLOUDBUS_OPENSTACK_SYNC_INTERVAL") or 300)
        self.syncer = Periodic(self.sync_all, interval, "openstack sync", now=False)

    async def start(self) -> None:
        await self.syncer.start()

    async def stop(self) -> None:
        await self.syncer.stop()

    async def sync_all(self) -> None:
        """One round of the periodic reconcile: sync each Connected cloud this node owns."""
        uuids = [u for u in await self._connected_clouds() if self.bus.owner(u) in (None, self.bus.node_uuid)]
        for uuid in uuids:
            try:
                await self.bus.call_ok(SyncOpenStackCloud(uuid=uuid))
            except errors.CloudBusError as exc:
                log.warning("openstack cloud not synced", cloud=uuid, error=exc.error.details)

    @handles(AddOpenStackCloud)
    async def add(self, msg: AddOpenStackCloud) -> dict[str, Any]:
        login = Login(**{name: getattr(msg, name) for name in LOGIN_FIELDS})
        try:
            conn = await run(f"log in to {msg.authUrl} as {msg.username}", _logged_in, login)
        except errors.CloudBusError as exc:
            raise errors.fail(ADD_CLOUD, exc.error.details, exc.error) from None
        uuid = msg.new_resource_uuid()
        async with self.db.tx() as db:
            await load(db, ZONE, msg.zoneUuid)
            kept = vars(login) | {"password": secrets.encrypt(msg.password)}  # never the password itself
            row = new_row(uuid, name=msg.name, description=msg.description, zoneUuid=msg.zoneUuid, **kept)
            row["status"] = "Connecting"
            await db.execute(insert(OPENSTACK_CLOUD.table).values(row))
        try:
            cloud = await self._load(uuid)
            await self._discover(cloud, conn)
            for tenant in await self._tenants():  # those registered before the cloud get theirs now
                await self._provision(uuid, tenant)
                await self.mirror_tenant_quotas(tenant["uuid"])
        except BaseException as exc:
            await self._release_identities(OPENSTACK_TENANT.table.c.cloudUuid == uuid)
            await self._remove(uuid, "Permissive", sweep=False)
            if isinstance(exc, errors.CloudBusError):
                raise errors.fail(ADD_CLOUD, exc.error.details, exc.error) from None
            raise
        async with self.db.tx() as db:
            await set_fields(db, OPENSTACK_CLOUD, uuid, status="Connected")
            return await load(db, OPENSTACK_CLOUD, uuid)

    @handles(SyncOpenStackCloud)
    async def sync(self, msg: SyncOpenStackCloud) -> Reply:
        cloud = await self._load(msg.uuid)
        try:
            conn = await self.clouds.connection(msg.uuid)
            changed = await self._discover(cloud, conn)
        except errors.CloudBusError as exc:
            raise errors.fail(SYNC_CLOUD, exc.error.details, exc.error) from None
        for row in await self._mapped(msg.uuid, HOST):
            try:
                await self.bus.call_ok(ReconnectHost(uuid=row["resourceUuid"]))
            except errors.CloudBusError as exc:
                changed.setdefault("disconnected", []).append(row["resourceUuid"])
                log.warning("openstack compute not reconnected", host=row["resourceUuid"], error=exc.error.details)
        changed["detached"] = await self._reconcile_volumes(msg.uuid, conn)
        if any(changed.values()):
            log.info("openstack cloud synced", cloud=msg.uuid, **changed)
        async with self.db.read() as db:
            inv = await load(db, OPENSTACK_CLOUD, msg.uuid)
        return Reply(inventory=inv, changes=changed)

    @handles(DeleteOpenStackCloud)
    async def delete(self, msg: DeleteOpenStackCloud) -> None:
        await self.delete_cascade("OpenStackCloud", [msg.uuid], msg.deleteMode)

    async def on_delete(self, inv: Inventory, step: CascadeStep, *, force: bool) -> None:
        if inv is OPENSTACK_TENANT:
            await self._release_identities(OPENSTACK_TENANT.table.c.uuid.in_(step.uuids))
            return
        if inv.name == "NasDisk":
            await self.delete_nas_disks(step.uuids, force=force)
            return
        for uuid in step.uuids:
            await self._remove(uuid, step.deleteMode, sweep=True)

    # -- tenants (seeds 000 and 004) -------------------------------------------------------

    @handles(ProvisionTenant)
    async def provision_tenant(self, msg: ProvisionTenant) -> Reply:
        clouds = await self._connected_clouds()
        tenant = {"uuid": msg.tenantUuid, "tenantId": msg.tenantId, "tenantName": msg.tenantName}
        try:
            for cloud in clouds:
                await self._provision(cloud, tenant)
            await self.mirror_tenant_quotas(msg.tenantUuid)
        except BaseException:
            await self._release_identities(OPENSTACK_TENANT.table.c.tenantUuid == msg.tenantUuid)
            raise
        return Reply(clouds=clouds)

    async def _provision(self, cloud: str, tenant: dict[str, Any]) -> None:
        """Make a tenant's Keystone identity in a cloud and keep it as an OpenStackTenant row."""
        conn = await self.clouds.connection(cloud)
        password = token_urlsafe(24)
        what = f"make the keystone identity of tenant[{tenant['tenantId']}] in openstack cloud[uuid:{cloud}]"
        identity = await run(what, keystone.make_identity, conn, tenant["tenantId"], tenant["tenantName"], password)
        row = new_row(
            new_uuid(),
            tenantUuid=tenant["uuid"],
            cloudUuid=cloud,
            tenantId=tenant["tenantId"],
            password=secrets.encrypt(password),
            **vars(identity),
        )
        try:
            async with self.db.tx() as db:
                await db.execute(insert(OPENSTACK_TENANT.table).values(row))
        except BaseException:
            await self._release_identity(cloud, identity)
            raise

    async def _tenants(self) -> list[dict[str, Any]]:
        """Every registered tenant (the identity service's table, read only)."""
        t = tenant_table.c
        async with self.db.read() as db:
            query = select(t.uuid, t.tenantId, t.tenantName).order_by(t.tenantId)
            return [dict(r) for r in (await db.execute(query)).mappings()]

    async def _release_identities(self, where: Any) -> None:
        """Remove the Keystone identities of the OpenStackTenant rows `where` selects, and the rows."""
        table = OPENSTACK_TENANT.table
        async with self.db.read() as db:
            rows = (await db.execute(select(table).where(where))).mappings().all()
        for row in rows:
            identity = keystone.Identity(row["domainId"], row["projectId"], row["userId"])
            await self._release_identity(row["cloudUuid"], identity)
        async with self.db.tx() as db:
            await db.execute(delete(table).where(table.c.uuid.in_([r["uuid"] for r in rows])))

    async def _release_identity(self, cloud: str, identity: keystone.Identity) -> None:
        try:
            conn = await self.clouds.connection(cloud)
            await run("remove a tenant's keystone identity", keystone.remove_identity, conn, identity)
        except errors.CloudBusError as exc:  # the tenant's rows go anyway: logged for the operator
            log.warning(
                "keystone identity of a tenant not removed",
                cloud=cloud,
                identity=vars(identity),
                error=exc.error.details,
            )

    # -- discovery -----------------------------------------------------------------------

    async def _discover(self, cloud: dict[str, Any], conn: Any) -> dict[str, list[str]]:
        """Make cloudbus's resources match what the cloud has; returns the uuids added and removed."""
        found = await run(f"discover openstack cloud[uuid:{cloud['uuid']}]", discovery.read_cloud, conn)
        wanted = {f.key: f for f in found}
        mapped = await self._mapped(cloud["uuid"])
        have = {discovery.key_of(row): row for row in mapped if row["resourceType"] in KINDS}  # not FLAVOR
        vanished = [row for key, row in have.items() if key not in wanted]
        changed: dict[str, list[str]] = {"added": [], "removed": await self._delete_discovered(vanished, "Permissive")}
        uuids = {key: row["resourceUuid"] for key, row in have.items() if key in wanted}
        for kind in KINDS:
            for item in found:
                if item.kind == kind and item.key not in uuids:
                    uuids[item.key] = await self._make(cloud, item, uuids)
                    changed["added"].append(uuids[item.key])
        await self._attach_all(cloud, uuids, set(changed["added"]))
        return changed

    async def _make(self, cloud: dict[str, Any], item: Found, uuids: dict[tuple[str, str], str]) -> str:
        uuid = new_uuid()
        async with self.db.tx() as db:
            await db.execute(
                insert(RESOURCE).values(
                    resourceUuid=uuid,
                    cloudUuid=cloud["uuid"],
                    resourceType=item.kind,
                    openstackId=item.openstackId,
                    openstackName=item.name,
                )
            )
        name = f"{cloud['name']}-{item.name}"
        origin = f"discovered in openstack cloud[uuid:{cloud['uuid']}]"
        try:
            await self.bus.call_ok(_creation(cloud, item, uuid, name, origin, uuids))
        except BaseException:
            async with self.db.tx() as db:
                await db.execute(delete(RESOURCE).where(RESOURCE.c.resourceUuid == uuid))
            raise
        return uuid

    async def _attach_all(self, cloud: dict[str, Any], uuids: dict[tuple[str, str], str], new: set[str]) -> None:
        """Every storage and L2 of the cloud attached to every one of its clusters (new pairs only)."""
        clusters = [u for (kind, _), u in uuids.items() if kind == CLUSTER]
        for (kind, _), uuid in uuids.items():
            for cluster in clusters:
                if uuid not in new and cluster not in new:
                    continue
                if kind == PRIMARY:
                    await self.bus.call_ok(AttachPrimaryStorageToCluster(primaryStorageUuid=uuid, clusterUuid=cluster))
                elif kind == L2:
                    await self.bus.call_ok(AttachL2NetworkToCluster(l2NetworkUuid=uuid, clusterUuid=cluster))
            if kind == BACKUP and uuid in new:
                await self.bus.call_ok(AttachBackupStorageToZone(backupStorageUuid=uuid, zoneUuid=cloud["zoneUuid"]))

    # -- removal ---------------------------------------------------------------------------

    async def _remove(self, uuid: str, mode: str, *, sweep: bool) -> None:
        """Delete what discovery made (hosts first), sweep what cloudbus made in the cloud, forget it."""
        await self._delete_discovered(await self._mapped(uuid), mode)
        if sweep:
            try:
                conn = await self.clouds.connection(uuid)
                removed = await run(
                    f"remove what cloudbus made in openstack cloud[uuid:{uuid}]", discovery.sweep, conn, tag(uuid)
                )
                log.info("openstack cloud swept", cloud=uuid, **removed)
            except errors.CloudBusError as exc:
                # the cloud's own resources are not cloudbus's to keep: its rows go regardless
                log.warning("openstack cloud not swept", cloud=uuid, error=exc.error.details)
        async with self.db.tx() as db:
            await db.execute(delete(RESOURCE).where(RESOURCE.c.cloudUuid == uuid))
            await db.execute(delete(OPENSTACK_CLOUD.table).where(OPENSTACK_CLOUD.key == uuid))
        self.clouds.forget(uuid)

    async def _delete_discovered(self, rows: list[dict[str, Any]], mode: str) -> list[str]:
        """Delete what these mapping rows stand for through the cascade, hosts first (KINDS in
        reverse), and the rows with them; returns the uuids deleted."""
        gone = []
        for kind in reversed(KINDS):
            for row in (r for r in rows if r["resourceType"] == kind):
                await self.bus.call_ok(DELETES[kind](uuid=row["resourceUuid"], deleteMode=mode))
                async with self.db.tx() as db:
                    await db.execute(delete(RESOURCE).where(RESOURCE.c.resourceUuid == row["resourceUuid"]))
                gone.append(row["resourceUuid"])
        return gone

    async def _reconcile_volumes(self, cloud_uuid: str, conn: Any) -> list[str]:
        """Data volumes cloudbus has attached but Cinder shows detached since (behind cloudbus's
        back) are detached in cloudbus too, through DetachDataVolumeFromVm (the driver finds no
        attachment left to remove); returns their uuids. A volume being attached right now is
        not one: Cinder's last change to it is older than cloudbus's attach, or it is not
        `available`."""
        storages = [row["resourceUuid"] for row in await self._mapped(cloud_uuid, PRIMARY)]
        v = VOLUME.table.c
        query = select(v.uuid, v.installPath, v.lastAttachDate).where(
            v.primaryStorageUuid.in_(storages), v.type == "Data", v.vmInstanceUuid.is_not(None)
        )
        async with self.db.read() as db:
            rows = [dict(r) for r in (await db.execute(query)).mappings()]
        if not rows:
            return []
        found = await run("read the attachments of cloudbus's volumes", _detached_in_cinder, conn, rows)
        detached = []
        for uuid in found:
            try:
                await self.bus.call_ok(DetachDataVolumeFromVm(uuid=uuid))
                detached.append(uuid)
            except errors.CloudBusError as exc:
                log.warning("volume detached in openstack stays attached", volume=uuid, error=exc.error.details)
        return detached

    async def _connected_clouds(self) -> list[str]:
        table = OPENSTACK_CLOUD.table
        async with self.db.read() as db:
            return list((await db.execute(select(table.c.uuid).where(table.c.status == "Connected"))).scalars())

    async def _mapped(self, cloud_uuid: str, kind: str | None = None) -> list[dict[str, Any]]:
        query = select(RESOURCE).where(RESOURCE.c.cloudUuid == cloud_uuid)
        if kind:
            query = query.where(RESOURCE.c.resourceType == kind)
        async with self.db.read() as db:
            return [dict(r) for r in (await db.execute(query.order_by(RESOURCE.c.openstackName))).mappings()]

    async def _load(self, uuid: str) -> dict[str, Any]:
        async with self.db.read() as db:
            return await load(db, OPENSTACK_CLOUD, uuid)

    # -- flavors as instance offerings ---------------------------------------------------

    @handles(ImportOpenStackFlavors)
    async def import_flavors(self, msg: ImportOpenStackFlavors) -> Reply:
        """An offering per public flavor not imported yet (one whose FLAVOR mapping row names an
        offering that still exists); a failure deletes the offerings this call made."""
        cloud = await self._load(msg.cloudUuid)
        try:
            conn = await self.clouds.connection(msg.cloudUuid)
            what = f"list the flavors of openstack cloud[uuid:{msg.cloudUuid}]"
            flavors = await run(what, discovery.read_flavors, conn, msg.flavorIds)
        except errors.CloudBusError as exc:
            raise errors.fail(FLAVORS, exc.error.details, exc.error) from None
        imported = await self._imported_flavors(msg.cloudUuid)
        made: list[dict[str, Any]] = []
        try:
            for flavor in (f for f in flavors if f.id not in imported):
                made.append(await self._import_flavor(cloud, flavor))
        except BaseException as exc:
            await self._unimport([m["uuid"] for m in made])
            if isinstance(exc, errors.CloudBusError):
                raise errors.fail(FLAVORS, exc.error.details, exc.error) from None
            raise
        return Reply(inventories=made)

    async def _imported_flavors(self, cloud_uuid: str) -> set[str]:
        offerings = INSTANCE_OFFERING.table
        query = select(RESOURCE.c.openstackId).where(
            RESOURCE.c.cloudUuid == cloud_uuid,
            RESOURCE.c.resourceType == FLAVOR,
            RESOURCE.c.resourceUuid.in_(select(offerings.c.uuid)),
        )
        async with self.db.read() as db:
            return set((await db.execute(query)).scalars())

    async def _import_flavor(self, cloud: dict[str, Any], flavor: Any) -> dict[str, Any]:
        uuid = new_uuid()
        mapping = RESOURCE.c.cloudUuid == cloud["uuid"], RESOURCE.c.resourceType == FLAVOR
        async with self.db.tx() as db:  # a row of an offering deleted since is stale
            await db.execute(delete(RESOURCE).where(*mapping, RESOURCE.c.openstackId == flavor.id))
            await db.execute(
                insert(RESOURCE).values(
                    resourceUuid=uuid,
                    cloudUuid=cloud["uuid"],
                    resourceType=FLAVOR,
                    openstackId=flavor.id,
                    openstackName=flavor.name,
                )
            )
        create = CreateInstanceOffering(
            name=flavor.name,
            cpuNum=flavor.vcpus,
            memorySize=flavor.ram * MiB,
            description=f"imported from flavor[id:{flavor.id}] of openstack cloud[uuid:{cloud['uuid']}]",
            resourceUuid=uuid,
        )
        try:
            return (await self.bus.call_ok(create)).inventory
        except BaseException:
            await self._unimport([uuid])
            raise

    async def _unimport(self, uuids: list[str]) -> None:
        for uuid in uuids:
            reply = await self.bus.call(DeleteInstanceOffering(uuid=uuid))
            if not reply.success:  # the import's own failure is what the user hears about
                log.warning("imported instance offering not removed", offering=uuid, error=reply.error)
        async with self.db.tx() as db:
            await db.execute(delete(RESOURCE).where(RESOURCE.c.resourceUuid.in_(uuids)))


def _detached_in_cinder(conn: Any, rows: list[dict[str, Any]]) -> list[str]:
    """The volumes (rows: uuid, installPath, lastAttachDate) Cinder holds `available`, with no
    attachment, changed after cloudbus attached them (one listing, whatever the number of rows)."""
    available = {v.id: v for v in conn.block_storage.volumes(all_projects=True, status="available")}
    found = []
    for row in rows:
        volume = available.get(volume_id(row["installPath"]))
        if volume is None or volume.attachments or row["lastAttachDate"] is None:
            continue
        changed = datetime.fromisoformat(volume.updated_at).replace(tzinfo=UTC)
        if changed > row["lastAttachDate"]:
            found.append(row["uuid"])
    return found


def _logged_in(login: Login) -> Any:
    conn = connect(login)
    check(conn)
    return conn


def _creation(
    cloud: dict[str, Any], item: Found, uuid: str, name: str, origin: str, uuids: dict[tuple[str, str], str]
) -> Message:
    """The message that makes the cloudbus resource standing for `item`."""
    zone = cloud["zoneUuid"]
    if item.kind == CLUSTER:
        return AddDiscoveredCluster(
            name=name, zoneUuid=zone, hypervisorType=HYPERVISOR, description=origin, resourceUuid=uuid
        )
    if item.kind == HOST:
        cluster = uuids[(CLUSTER, item.details["zone"])]
        return AddDiscoveredHost(
            name=item.name,
            managementIp=item.details["managementIp"],
            clusterUuid=cluster,
            hypervisorType=HYPERVISOR,
            description=origin,
            resourceUuid=uuid,
        )
    if item.kind == PRIMARY:
        url = f"openstack://{cloud['uuid']}/volumetype/{item.name}"
        return AddDiscoveredPrimaryStorage(
            name=name, zoneUuid=zone, url=url, type=CINDER, description=origin, resourceUuid=uuid
        )
    if item.kind == BACKUP:
        url = f"openstack://{cloud['uuid']}/glance"
        return AddDiscoveredBackupStorage(name=name, url=url, type=GLANCE, description=origin, resourceUuid=uuid)
    if item.kind == IMAGE:  # named as in Glance, where its users know it
        return AddDiscoveredImage(
            name=item.name,
            backupStorageUuid=uuids[(BACKUP, "glance")],
            installPath=f"glance://{item.openstackId}",
            description=origin,
            resourceUuid=uuid,
            **item.details,
        )
    vlan = item.details.get("vlan") if item.details.get("type") == "vlan" else None
    return AddDiscoveredL2Network(
        name=name,
        zoneUuid=zone,
        physicalInterface=str(item.details["physnet"])[:128],
        vlan=None if vlan is None else int(vlan),
        type=NEUTRON,
        description=origin,
        resourceUuid=uuid,
    )
