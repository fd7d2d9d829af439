"""L2 networks (L2NetworkInventory, L2VlanNetworkInventory) and their cluster attachments.

One table holds both types (single-table inheritance): `vlan` is null for
L2NoVlanNetwork. `L2VlanNetwork` is a second inventory over the same table restricted to
`type = L2VlanNetwork` (for QueryL2VlanNetwork). A unique (zoneUuid, physicalInterface,
vlan) keeps one vlan per physical interface per zone even under concurrent creates.

Also adds the expanded queries other inventories have towards L2 networks: Zone.l2Network,
Cluster.l2Network and Cluster.l2VlanNetwork (ZStack declares them on those inventories).
"""

from sqlalchemy import Column, ForeignKey, Integer, String, Table, UniqueConstraint

from cloudbus.inventory.cluster import CLUSTER
from cloudbus.inventory.declarations import Inventory, Join, ListField, Via, register
from cloudbus.inventory.schema import common_columns, metadata, uuid_column
from cloudbus.inventory.zone import ZONE

l2_network_table = Table(
    "l2_network",
    metadata,
    *common_columns(),
    uuid_column("zoneUuid", ForeignKey("zone.uuid"), nullable=False, index=True),
    Column("physicalInterface", String(1024), nullable=False),
    Column("type", String(32), nullable=False),
    Column("vSwitchType", String(32), nullable=False),
    Column("virtualNetworkId", Integer, nullable=False),
    Column("vlan", Integer),
    UniqueConstraint("zoneUuid", "physicalInterface", "vlan"),
)

# Rows go with either side (ZStack: L2NetworkClusterRefVO is removed by FK cascade).
l2_network_cluster_ref_table = Table(
    "l2_network_cluster_ref",
    metadata,
    uuid_column("l2NetworkUuid", ForeignKey("l2_network.uuid", ondelete="CASCADE"), primary_key=True),
    uuid_column("clusterUuid", ForeignKey("cluster.uuid", ondelete="CASCADE"), primary_key=True, index=True),
)

_CLUSTER_REF = Via(l2_network_cluster_ref_table, "l2NetworkUuid", "clusterUuid")
_L2_REF = Via(l2_network_cluster_ref_table, "clusterUuid", "l2NetworkUuid")
_ATTACHED = ListField(l2_network_cluster_ref_table, "l2NetworkUuid", "clusterUuid")


def _joins() -> dict[str, Join]:
    return {
        "zone": Join("Zone", self_key="zoneUuid"),
        "l3Network": Join("L3Network", target_key="l2NetworkUuid"),
        "cluster": Join("Cluster", via=_CLUSTER_REF),
    }


L2_NETWORK = register(
    Inventory(
        name="L2Network",
        table=l2_network_table,
        service_id="network.l2",
        parents={"Zone": "zoneUuid"},
        joins=_joins(),
        list_fields={"attachedClusterUuids": _ATTACHED},
    )
)

L2_VLAN_NETWORK = register(
    Inventory(
        name="L2VlanNetwork",
        table=l2_network_table,
        service_id="network.l2",
        joins=_joins(),
        list_fields={"attachedClusterUuids": _ATTACHED},
        where={"type": "L2VlanNetwork"},
    )
)

ZONE.joins.setdefault("l2Network", Join("L2Network", target_key="zoneUuid"))
CLUSTER.joins.setdefault("l2Network", Join("L2Network", via=_L2_REF))
CLUSTER.joins.setdefault("l2VlanNetwork", Join("L2VlanNetwork", via=_L2_REF))

# What a host realises an L2 network from (a KVM host's bridge: kvm_network.py)
REALIZED_FIELDS = ("uuid", "type", "physicalInterface", "vlan")
