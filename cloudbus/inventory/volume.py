"""Volumes, volume snapshots and snapshot trees (VolumeInventory, VolumeSnapshotInventory).

Owned by the `volume` service. `vmInstanceUuid` / `lastVmInstanceUuid` are plain uuid
columns (the VM and volume tables reference each other, so neither carries a foreign key
to the other). `hostUuid` (hidden) remembers the host whose local storage holds the bits,
null on shared storage. A data volume has `(vmInstanceUuid, deviceId)` unique so two
concurrent attaches to one VM can never get the same device id.
"""

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Integer, String, Table, UniqueConstraint

from cloudbus.inventory.declarations import OWNED, Inventory, Join, part_of, register
from cloudbus.inventory.schema import UtcDateTime, common_columns, metadata, uuid_column

volume_table = Table(
    "volume",
    metadata,
    *common_columns(),
    uuid_column("primaryStorageUuid", index=True),
    uuid_column("vmInstanceUuid", index=True),
    uuid_column("diskOfferingUuid", index=True),
    uuid_column("rootImageUuid"),
    Column("installPath", String(2048)),
    Column("type", String(32), nullable=False),
    Column("format", String(32), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("actualSize", BigInteger),
    Column("deviceId", Integer),
    Column("state", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("isShareable", Boolean, nullable=False, default=False),
    Column("lastDetachDate", UtcDateTime()),
    uuid_column("lastVmInstanceUuid"),
    Column("lastAttachDate", UtcDateTime()),
    uuid_column("hostUuid"),
    UniqueConstraint("vmInstanceUuid", "deviceId", name="uq_volume_vmInstanceUuid_deviceId"),
)

volume_snapshot_tree_table = Table(
    "volume_snapshot_tree",
    metadata,
    uuid_column(primary_key=True),
    uuid_column("volumeUuid", ForeignKey("volume.uuid"), nullable=False, index=True),
    Column("current", Boolean, nullable=False),
    Column("status", String(32), nullable=False),
    Column("createDate", UtcDateTime(), nullable=False),
    Column("lastOpDate", UtcDateTime(), nullable=False),
)

volume_snapshot_table = Table(
    "volume_snapshot",
    metadata,
    *common_columns(),
    Column("type", String(32), nullable=False),
    uuid_column("volumeUuid", ForeignKey("volume.uuid"), nullable=False, index=True),
    uuid_column("treeUuid", ForeignKey("volume_snapshot_tree.uuid"), nullable=False, index=True),
    uuid_column("parentUuid", index=True),
    uuid_column("primaryStorageUuid"),
    Column("primaryStorageInstallPath", String(2048)),
    Column("volumeType", String(32), nullable=False),
    Column("format", String(32), nullable=False),
    Column("latest", Boolean, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("distance", Integer, nullable=False),
    Column("state", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    # internal (in the volume's qcow2) or external (a frozen file under an overlay); null on
    # storage without the choice (the simulator's)
    Column("snapshotType", String(16)),
)

VOLUME = register(
    Inventory(
        name="Volume",
        table=volume_table,
        service_id="volume",
        tenancy=OWNED,
        # Data volumes of a deleted primary storage go DBOnly; root volumes go with their
        # VMs (the VM service runs first: "VmInstance" sorts before "Volume").
        parents={"PrimaryStorage": "primaryStorageUuid", "DiskOffering": "diskOfferingUuid"},
        joins={
            "vmInstance": Join("VmInstance", self_key="vmInstanceUuid"),
            "snapshot": Join("VolumeSnapshot", target_key="volumeUuid"),
            "diskOffering": Join("DiskOffering", self_key="diskOfferingUuid"),
            "primaryStorage": Join("PrimaryStorage", self_key="primaryStorageUuid"),
            "image": Join("Image", self_key="rootImageUuid"),
        },
        hidden=frozenset({"hostUuid"}),
    )
)

VOLUME_SNAPSHOT_TREE = register(
    Inventory(
        name="VolumeSnapshotTree",
        table=volume_snapshot_tree_table,
        service_id="volume",
        tenancy=part_of("volumeUuid"),
        joins={"volume": Join("Volume", self_key="volumeUuid")},
    )
)

VOLUME_SNAPSHOT = register(
    Inventory(
        name="VolumeSnapshot",
        table=volume_snapshot_table,
        service_id="volume",
        tenancy=OWNED,
        parents={"Volume": "volumeUuid"},
        joins={
            "volume": Join("Volume", self_key="volumeUuid"),
            "tree": Join("VolumeSnapshotTree", self_key="treeUuid"),
            "primaryStorage": Join("PrimaryStorage", self_key="primaryStorageUuid"),
        },
    )
)
