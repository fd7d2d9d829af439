"""Cluster: a group of hosts of one hypervisor type in a zone (ClusterInventory)."""

from sqlalchemy import Column, ForeignKey, String, Table

from cloudbus.inventory.declarations import Inventory, Join, Via, register
from cloudbus.inventory.primary_storage import primary_storage_cluster_ref_table
from cloudbus.inventory.schema import common_columns, metadata, uuid_column

cluster_table = Table(
    "cluster",
    metadata,
    *common_columns(),
    Column("state", String(32), nullable=False),
    Column("hypervisorType", String(32), nullable=False),
    uuid_column("zoneUuid", ForeignKey("zone.uuid"), nullable=False, index=True),
    Column("type", String(32), nullable=False),
    Column("architecture", String(32)),
)

CLUSTER = register(
    Inventory(
        name="Cluster",
        table=cluster_table,
        service_id="cluster",
        parents={"Zone": "zoneUuid"},
        joins={
            "zone": Join("Zone", self_key="zoneUuid"),
            "host": Join("Host", target_key="clusterUuid"),
            "primaryStorage": Join(
                "PrimaryStorage", via=Via(primary_storage_cluster_ref_table, "clusterUuid", "primaryStorageUuid")
            ),
        },
    )
)
