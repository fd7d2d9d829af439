"""Zone: the top of the physical topology (ZoneInventory)."""

from sqlalchemy import Boolean, Column, String, Table

from cloudbus.inventory.backup_storage import backup_storage_zone_ref_table
from cloudbus.inventory.declarations import Inventory, Join, Via, register
from cloudbus.inventory.schema import common_columns, metadata

zone_table = Table(
    "zone",
    metadata,
    *common_columns(),
    Column("state", String(32), nullable=False),
    Column("type", String(32), nullable=False),
    Column("isDefault", Boolean, nullable=False),
)

ZONE = register(
    Inventory(
        name="Zone",
        table=zone_table,
        service_id="zone",
        joins={
            "cluster": Join("Cluster", target_key="zoneUuid"),
            "host": Join("Host", target_key="zoneUuid"),
            "primaryStorage": Join("PrimaryStorage", target_key="zoneUuid"),
            "backupStorage": Join(
                "BackupStorage", via=Via(backup_storage_zone_ref_table, "zoneUuid", "backupStorageUuid")
            ),
        },
    )
)
