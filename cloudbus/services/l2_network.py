"""L2 network service (`network.l2`): no-vlan and vlan networks, attaching them to clusters.

Attaching realises the L2 on the cluster's hosts (a KVM host makes its bridge, through the
host service's ApplyL2Network); a host that cannot undoes the attachment, which fails with
L2.1000 naming the host's error. Detaching and deleting take the bridges down again.

DetachL2NetworkFromCluster removes the attachment, then runs the `detach` cascade with
`{"clusterUuid": ...}` so that the VM service detaches the nics of that cluster's VMs on
this L2's L3 networks (ZStack's `l2Network.detach`); if the cascade cannot even start,
the attachment is put back.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from cloudbus.apis.internal.host import ApplyL2Network
from cloudbus.apis.internal.openstack import AddDiscoveredL2Network
from cloudbus.apis.l2_network import (
    ATTACH_L2_NETWORK,
    AttachL2NetworkToCluster,
    CreateL2NoVlanNetwork,
    CreateL2VlanNetwork,
    DeleteL2Network,
    DetachL2NetworkFromCluster,
    UpdateL2Network,
)
from cloudbus.cascade.engine import cascade_detach
from cloudbus.cascade.messages import CascadeStep
from cloudbus.core import errors
from cloudbus.core.logging import get_logger
from cloudbus.core.service import handles
from cloudbus.inventory.cluster import CLUSTER
from cloudbus.inventory.declarations import Inventory
from cloudbus.inventory.l2_network import L2_NETWORK, REALIZED_FIELDS, l2_network_cluster_ref_table
from cloudbus.inventory.zone import ZONE
from cloudbus.services.base import ResourceService
from cloudbus.services.common import changes, load, new_row, set_fields

log = get_logger(__name__)


class L2NetworkService(ResourceService):
    service_id = "network.l2"

    @handles(CreateL2NoVlanNetwork, CreateL2VlanNetwork, AddDiscoveredL2Network)
    async def create(self, msg: CreateL2NoVlanNetwork | AddDiscoveredL2Network) -> dict[str, Any]:
        vlan = msg.vlan if isinstance(msg, CreateL2VlanNetwork | AddDiscoveredL2Network) else None
        if isinstance(msg, AddDiscoveredL2Network):
            kind, switch = msg.type, msg.type  # the cloud's own network service switches it
        else:
            kind, switch = ("L2NoVlanNetwork" if vlan is None else "L2VlanNetwork"), msg.vSwitchType
        uuid = msg.new_resource_uuid()
        table = L2_NETWORK.table
        try:
            async with self.db.tx() as conn:
                await load(conn, ZONE, msg.zoneUuid)
                if vlan is not None:
                    query = select(table.c.uuid).where(
                        table.c.zoneUuid == msg.zoneUuid,
                        table.c.physicalInterface == msg.physicalInterface,
                        table.c.vlan == vlan,
                    )
                    if await conn.scalar(query) is not None:
                        raise _duplicate_vlan(msg, vlan)
                row = new_row(
                    uuid,
                    name=msg.name,
                    description=msg.description,
                    zoneUuid=msg.zoneUuid,
                    physicalInterface=msg.physicalInterface,
                    type=kind,
                    vSwitchType=switch,
                    virtualNetworkId=vlan or 0,
                    vlan=vlan,
                )
                await conn.execute(insert(table).values(row))
                return await load(conn, L2_NETWORK, uuid)
        except IntegrityError:
            raise _duplicate_vlan(msg, vlan) from None  # lost a race with the same vlan

    @handles(UpdateL2Network)
    async def update(self, msg: UpdateL2Network) -> dict[str, Any]:
        async with self.db.tx() as conn:
            await load(conn, L2_NETWORK, msg.uuid)
            await set_fields(conn, L2_NETWORK, msg.uuid, **changes(msg, "name", "description"))
            return await load(conn, L2_NETWORK, msg.uuid)

    @handles(DeleteL2Network)
    async def delete(self, msg: DeleteL2Network) -> None:
        await self.delete_cascade("L2Network", [msg.uuid], msg.deleteMode)

    @handles(AttachL2NetworkToCluster)
    async def attach(self, msg: AttachL2NetworkToCluster) -> dict[str, Any]:
        ref = l2_network_cluster_ref_table
        table = L2_NETWORK.table
        async with self.db.tx() as conn:
            l2 = await load(conn, L2_NETWORK, msg.l2NetworkUuid)
            cluster = await load(conn, CLUSTER, msg.clusterUuid)
            attached = await conn.scalar(
                select(ref.c.clusterUuid).where(
                    ref.c.l2NetworkUuid == msg.l2NetworkUuid, ref.c.clusterUuid == msg.clusterUuid
                )
            )
            if attached is not None:
                raise errors.invalid_argument(
                    f"l2Network[uuid:{msg.l2NetworkUuid}] has attached to cluster[uuid:{msg.clusterUuid}], "
                    "can't attach again"
                )
            if cluster["zoneUuid"] != l2["zoneUuid"]:
                raise errors.fail(
                    ATTACH_L2_NETWORK,
                    f"l2Network[uuid:{l2['uuid']}] is in zone[uuid:{l2['zoneUuid']}] but cluster"
                    f"[uuid:{cluster['uuid']}] is in zone[uuid:{cluster['zoneUuid']}]",
                )
            same_vlan = table.c.vlan.is_(None) if l2["vlan"] is None else table.c.vlan == l2["vlan"]
            clash = (
                await conn.execute(
                    select(table.c.uuid, table.c.name)
                    .select_from(table.join(ref, ref.c.l2NetworkUuid == table.c.uuid))
                    .where(
                        ref.c.clusterUuid == msg.clusterUuid,
                        table.c.physicalInterface == l2["physicalInterface"],
                        same_vlan,
                    )
                )
            ).first()
            if clash is not None:
                vlan = "" if l2["vlan"] is None else f", vlan[{l2['vlan']}]"
                raise errors.fail(
                    ATTACH_L2_NETWORK,
                    f"there has been a l2Network[uuid:{clash.uuid}, name:{clash.name}] attached to cluster"
                    f"[uuid:{msg.clusterUuid}] that has physical interface[{l2['physicalInterface']}]"
                    f"{vlan}. "
                    f"Failed to attach l2Network[uuid:{l2['uuid']}]",
                )
            await conn.execute(insert(ref).values(l2NetworkUuid=msg.l2NetworkUuid, clusterUuid=msg.clusterUuid))
            l2 = await load(conn, L2_NETWORK, msg.l2NetworkUuid)
        reply = await self.bus.call_ok(ApplyL2Network(clusterUuids=[msg.clusterUuid], l2Network=_realized(l2)))
        if reply.get("failed"):
            host, error = next(iter(reply.get("failed").items()))
            await self.bus.call_ok(
                ApplyL2Network(clusterUuids=[msg.clusterUuid], l2Network=_realized(l2), realize=False)
            )
            async with self.db.tx() as conn:
                await conn.execute(
                    delete(ref).where(ref.c.l2NetworkUuid == msg.l2NetworkUuid, ref.c.clusterUuid == msg.clusterUuid)
                )
            raise errors.fail(
                ATTACH_L2_NETWORK,
                f"host[uuid:{host}] of cluster[uuid:{msg.clusterUuid}] cannot realize l2Network[uuid:{l2['uuid']}]",
                errors.ErrorCode.model_validate(error),
            )
        return l2

    @handles(DetachL2NetworkFromCluster)
    async def detach(self, msg: DetachL2NetworkFromCluster) -> dict[str, Any]:
        ref = l2_network_cluster_ref_table
        pair = (ref.c.l2NetworkUuid == msg.l2NetworkUuid, ref.c.clusterUuid == msg.clusterUuid)
        async with self.db.tx() as conn:
            if (await conn.execute(delete(ref).where(*pair))).rowcount == 0:
                raise errors.invalid_argument(
                    f"l2Network[uuid:{msg.l2NetworkUuid}] has not attached to cluster[uuid:{msg.clusterUuid}]"
                )
        try:
            await cascade_detach(self.bus, "L2Network", [msg.l2NetworkUuid], {"clusterUuid": msg.clusterUuid})
        except errors.CloudBusError as exc:
            async with self.db.tx() as conn:
                await conn.execute(insert(ref).values(l2NetworkUuid=msg.l2NetworkUuid, clusterUuid=msg.clusterUuid))
            raise errors.operation_error(
                f"failed to detach l2Network[uuid:{msg.l2NetworkUuid}] from cluster[uuid:{msg.clusterUuid}]",
                exc.error,
            ) from None
        async with self.db.read() as conn:
            l2 = await load(conn, L2_NETWORK, msg.l2NetworkUuid)
        await self._unrealize(l2, [msg.clusterUuid])
        return l2

    async def on_delete(self, inv: Inventory, step: CascadeStep, *, force: bool) -> None:
        ref = l2_network_cluster_ref_table
        for l2 in await self.fetch(inv, step.uuids):
            async with self.db.read() as conn:
                rows = await conn.execute(select(ref.c.clusterUuid).where(ref.c.l2NetworkUuid == l2["uuid"]))
                clusters = [row[0] for row in rows]
            if clusters:
                await self._unrealize(l2, clusters)
        await super().on_delete(inv, step, force=force)

    async def _unrealize(self, l2: dict[str, Any], clusters: list[str]) -> None:
        """Take the L2's bridges down; a host that cannot is logged, the L2 goes anyway."""
        reply = await self.bus.call_ok(ApplyL2Network(clusterUuids=clusters, l2Network=_realized(l2), realize=False))
        for host, error in (reply.get("failed") or {}).items():
            log.warning("l2 network left realized on a host", l2=l2["uuid"], host=host, error=error)


def _realized(l2: dict[str, Any]) -> dict[str, Any]:
    return {k: l2[k] for k in REALIZED_FIELDS}


def _duplicate_vlan(msg: CreateL2NoVlanNetwork, vlan: int | None) -> errors.CloudBusError:
    return errors.invalid_argument(
        f"There has been a L2VlanNetwork having vlan[{vlan}] on physical interface[{msg.physicalInterface}] "
        f"in zone[uuid:{msg.zoneUuid}]"
    )
