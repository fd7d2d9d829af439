"""Images (ImageInventory) and their copies on backup storages (ImageBackupStorageRefInventory).

An image has no parent table; it lives on backup storages through
`image_backup_storage_ref` rows, shown as the embedded `backupStorageRefs`. In the
cascade it is a child of BackupStorage resolved by the image service through that ref
table (`parents={"BackupStorage": None}`).
"""

from sqlalchemy import Boolean, Column, ForeignKey, String, Table

from cloudbus.inventory.backup_storage import BACKUP_STORAGE, backup_storage_table
from cloudbus.inventory.declarations import OWNED, Inventory, Join, Via, part_of, register
from cloudbus.inventory.schema import Bytes, UtcDateTime, common_columns, metadata, uuid_column

image_table = Table(
    "image",
    metadata,
    *common_columns(),
    Column("state", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("size", Bytes, nullable=False, default=0),
    Column("actualSize", Bytes, nullable=False, default=0),
    Column("md5Sum", String(255)),
    Column("url", String(2048), nullable=False),
    Column("mediaType", String(64), nullable=False),
    Column("guestOsType", String(255)),
    Column("type", String(32), nullable=False),
    Column("platform", String(64)),
    Column("architecture", String(32)),
    Column("format", String(64), nullable=False),
    Column("system", Boolean, nullable=False, default=False),
    Column("virtio", Boolean, nullable=False, default=True),
)

image_backup_storage_ref_table = Table(
    "image_backup_storage_ref",
    metadata,
    uuid_column("imageUuid", ForeignKey("image.uuid", ondelete="CASCADE"), primary_key=True),
    uuid_column(
        "backupStorageUuid",
        ForeignKey(backup_storage_table.c.uuid, ondelete="CASCADE"),
        primary_key=True,
        index=True,
    ),
    Column("installPath", String(2048)),
    Column("status", String(32), nullable=False),
    Column("exportUrl", String(2048)),
    Column("exportMd5Sum", String(255)),
    Column("createDate", UtcDateTime(), nullable=False),
    Column("lastOpDate", UtcDateTime(), nullable=False),
)

IMAGE_BACKUP_STORAGE_REF = register(
    Inventory(
        name="ImageBackupStorageRef",
        table=image_backup_storage_ref_table,
        service_id="image",
        tenancy=part_of("imageUuid"),
        joins={
            "image": Join("Image", self_key="imageUuid"),
            "backupStorage": Join("BackupStorage", self_key="backupStorageUuid"),
        },
    )
)

IMAGE = register(
    Inventory(
        name="Image",
        table=image_table,
        service_id="image",
        tenancy=OWNED,
        parents={"BackupStorage": None},
        joins={
            "backupStorageRefs": Join("ImageBackupStorageRef", target_key="imageUuid", embed=True),
            "backupStorage": Join(
                "BackupStorage", via=Via(image_backup_storage_ref_table, "imageUuid", "backupStorageUuid")
            ),
            "volume": Join("Volume", target_key="rootImageUuid"),
        },
    )
)

# BackupStorage's expanded `image` goes through this module's ref table (declared here to
# keep the import order backup_storage -> image).
BACKUP_STORAGE.joins["image"] = Join("Image", via=Via(image_backup_storage_ref_table, "backupStorageUuid", "imageUuid"))
