"""Cluster service: create, update, change state, delete (through the cascade)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert

from cloudbus.apis.cluster import ChangeClusterState, CreateCluster, DeleteCluster, UpdateCluster
from cloudbus.apis.internal.openstack import AddDiscoveredCluster
from cloudbus.core.service import handles
from cloudbus.inventory.cluster import CLUSTER
from cloudbus.inventory.zone import ZONE
from cloudbus.services.base import ResourceService
from cloudbus.services.common import STATE_EVENTS, changes, load, new_row, set_fields


class ClusterService(ResourceService):
    service_id = "cluster"

    @handles(CreateCluster)
    async def create(self, msg: CreateCluster) -> dict[str, Any]:
        return await self._create(msg)

    @handles(AddDiscoveredCluster)
    async def add_discovered(self, msg: AddDiscoveredCluster) -> dict[str, Any]:
        """A cloud's availability zone (hypervisorType OpenStack), which no user creates by hand."""
        return await self._create(msg)

    async def _create(self, msg: CreateCluster | AddDiscoveredCluster) -> dict[str, Any]:
        uuid = msg.new_resource_uuid()
        async with self.db.tx() as conn:
            await load(conn, ZONE, msg.zoneUuid)
            row = new_row(
                uuid,
                name=msg.name,
                description=msg.description,
                state="Enabled",
                hypervisorType=msg.hypervisorType,
                zoneUuid=msg.zoneUuid,
                type=msg.type,
                architecture=msg.architecture,
            )
            await conn.execute(insert(CLUSTER.table).values(row))
            return await load(conn, CLUSTER, uuid)

    @handles(UpdateCluster)
    async def update(self, msg: UpdateCluster) -> dict[str, Any]:
        async with self.db.tx() as conn:
            await load(conn, CLUSTER, msg.uuid)
            await set_fields(conn, CLUSTER, msg.uuid, **changes(msg, "name", "description"))
            return await load(conn, CLUSTER, msg.uuid)

    @handles(ChangeClusterState)
    async def change_state(self, msg: ChangeClusterState) -> dict[str, Any]:
        async with self.db.tx() as conn:
            await load(conn, CLUSTER, msg.uuid)
            await set_fields(conn, CLUSTER, msg.uuid, state=STATE_EVENTS[msg.stateEvent])
            return await load(conn, CLUSTER, msg.uuid)

    @handles(DeleteCluster)
    async def delete(self, msg: DeleteCluster) -> None:
        await self.delete_cascade("Cluster", [msg.uuid], msg.deleteMode)
