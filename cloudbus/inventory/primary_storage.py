"""Primary storage (PrimaryStorageInventory), its cluster attachments and local storage's per-host shares.

- `primary_storage`: one table for every type (SimulatorPrimaryStorage, LocalStorage, NFS);
- `primary_storage_cluster_ref`: AttachPrimaryStorageToCluster (`attachedClusterUuids`);
  rows go with the cluster or the primary storage (ON DELETE CASCADE, as ZStack's
  PrimaryStorageClusterRefVO), so deleting a cluster needs nothing from this service;
- `local_storage_host_ref`: a local primary storage's capacity on each host
  (LocalStorageHostRefInventory); the primary storage's totals are the sums of its rows.
  A host's rows are a cascade child of the host (`LocalStorageHostRef`, resolved by the
  primary-storage service) so that deleting a host also takes its share off the totals;
- `primary_storage_reservation`: capacity reserved for an owner (a VM being created) and not
  yet carved into its volumes. Written in the transaction that takes the capacity, so
  settling it ("keep it, the volumes hold it now" or "give it back") is exact and idempotent
  whoever asks, however far a dead node got.
"""

from sqlalchemy import BigInteger, Column, ForeignKey, String, Table

from cloudbus.inventory.declarations import Inventory, Join, ListField, Via, register
from cloudbus.inventory.schema import Bytes, UtcDateTime, common_columns, metadata, uuid_column

primary_storage_table = Table(
    "primary_storage",
    metadata,
    *common_columns(),
    uuid_column("zoneUuid", ForeignKey("zone.uuid"), nullable=False, index=True),
    Column("url", String(2048), nullable=False),
    Column("totalCapacity", Bytes, nullable=False, default=0),
    Column("availableCapacity", Bytes, nullable=False, default=0),
    Column("totalPhysicalCapacity", Bytes, nullable=False, default=0),
    Column("availablePhysicalCapacity", Bytes, nullable=False, default=0),
    Column("systemUsedCapacity", Bytes),
    Column("type", String(64), nullable=False),
    Column("state", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("mountPath", String(2048)),
)

primary_storage_cluster_ref_table = Table(
    "primary_storage_cluster_ref",
    metadata,
    uuid_column("primaryStorageUuid", ForeignKey("primary_storage.uuid", ondelete="CASCADE"), primary_key=True),
    uuid_column("clusterUuid", ForeignKey("cluster.uuid", ondelete="CASCADE"), primary_key=True, index=True),
    Column("createDate", UtcDateTime(), nullable=False),
)

local_storage_host_ref_table = Table(
    "local_storage_host_ref",
    metadata,
    uuid_column("primaryStorageUuid", ForeignKey("primary_storage.uuid", ondelete="CASCADE"), primary_key=True),
    uuid_column("hostUuid", ForeignKey("host.uuid", ondelete="CASCADE"), primary_key=True, index=True),
    Column("totalCapacity", Bytes, nullable=False),
    Column("availableCapacity", Bytes, nullable=False),
    Column("totalPhysicalCapacity", Bytes, nullable=False),
    Column("availablePhysicalCapacity", Bytes, nullable=False),
    Column("createDate", UtcDateTime(), nullable=False),
    Column("lastOpDate", UtcDateTime(), nullable=False),
)

primary_storage_reservation_table = Table(
    "primary_storage_reservation",
    metadata,
    Column("ownerUuid", String(32), primary_key=True),
    uuid_column(
        "primaryStorageUuid", ForeignKey("primary_storage.uuid", ondelete="CASCADE"), nullable=False, index=True
    ),
    Column("hostUuid", String(32)),  # local storage: the host whose share it came from
    Column("size", BigInteger, nullable=False),
    Column("createDate", UtcDateTime(), nullable=False),
)

PRIMARY_STORAGE = register(
    Inventory(
        name="PrimaryStorage",
        table=primary_storage_table,
        service_id="storage.primary",
        parents={"Zone": "zoneUuid"},
        joins={
            "zone": Join("Zone", self_key="zoneUuid"),
            "cluster": Join("Cluster", via=Via(primary_storage_cluster_ref_table, "primaryStorageUuid", "clusterUuid")),
            "volume": Join("Volume", target_key="primaryStorageUuid"),
            "volumeSnapshot": Join("VolumeSnapshot", target_key="primaryStorageUuid"),
        },
        list_fields={
            "attachedClusterUuids": ListField(primary_storage_cluster_ref_table, "primaryStorageUuid", "clusterUuid")
        },
    )
)

# A cascade node only: the local-storage shares of hosts being deleted. Its steps carry
# host uuids (a host's shares on every local primary storage go together).
LOCAL_STORAGE_HOST_REF = register(
    Inventory(
        name="LocalStorageHostRef",
        table=local_storage_host_ref_table,
        service_id="storage.primary",
        parents={"Host": None},
        joins={
            "primaryStorage": Join("PrimaryStorage", self_key="primaryStorageUuid"),
            "host": Join("Host", self_key="hostUuid"),
        },
    )
)

# What a host realises a primary storage's pool from (a KVM host's libvirt pool)
POOL_FIELDS = ("uuid", "type", "url")
