"""Backup storage (BackupStorageInventory + SftpBackupStorage fields) and its zone attachments.

One table for every type; the sftp fields (`hostname`, `username`, `password`, `sshPort`)
are null for the others, and `password` is never rendered.

Backup storages have no parent. `backup_storage_zone_ref` rows (AttachBackupStorageToZone,
`attachedZoneUuids`) go with the zone or the backup storage by ON DELETE CASCADE, exactly
as ZStack's BackupStorageZoneRefVO: deleting a zone therefore only detaches its backup
storages and never deletes them.
"""

from sqlalchemy import Column, ForeignKey, Integer, String, Table

from cloudbus.inventory.declarations import Inventory, Join, ListField, Via, register
from cloudbus.inventory.schema import Bytes, UtcDateTime, common_columns, metadata, uuid_column

backup_storage_table = Table(
    "backup_storage",
    metadata,
    *common_columns(),
    Column("url", String(2048), nullable=False),
    Column("totalCapacity", Bytes, nullable=False, default=0),
    Column("availableCapacity", Bytes, nullable=False, default=0),
    Column("type", String(64), nullable=False),
    Column("state", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("hostname", String(255)),
    Column("username", String(255)),
    Column("password", String(255)),
    Column("sshPort", Integer),
)

backup_storage_zone_ref_table = Table(
    "backup_storage_zone_ref",
    metadata,
    uuid_column("backupStorageUuid", ForeignKey("backup_storage.uuid", ondelete="CASCADE"), primary_key=True),
    uuid_column("zoneUuid", ForeignKey("zone.uuid", ondelete="CASCADE"), primary_key=True, index=True),
    Column("createDate", UtcDateTime(), nullable=False),
)

BACKUP_STORAGE = register(
    Inventory(
        name="BackupStorage",
        table=backup_storage_table,
        service_id="storage.backup",
        joins={
            "zone": Join("Zone", via=Via(backup_storage_zone_ref_table, "backupStorageUuid", "zoneUuid")),
        },
        list_fields={"attachedZoneUuids": ListField(backup_storage_zone_ref_table, "backupStorageUuid", "zoneUuid")},
        hidden=frozenset({"password"}),
    )
)
