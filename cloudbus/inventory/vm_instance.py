"""VM instances (VmInstanceInventory) and their nics (VmNicInventory).

A VM carries its `vmNics` and `allVolumes` (embedded). `vm_instance` keeps no foreign
key to the volume, image, offering or L3 tables (they reference each other or are
expunged on their own schedule); the placement columns point at zone/cluster/host with
ON DELETE SET NULL, as ZStack's VmInstanceEO does: a stopped VM outlives its last host.

Also adds the expanded queries other inventories have towards VMs and nics:
Zone.vmInstance, Cluster.vmInstance, Host.vmInstance, L3Network.vmNic,
InstanceOffering.vmInstance.
"""

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, String, Table

from cloudbus.inventory.cluster import CLUSTER
from cloudbus.inventory.declarations import OWNED, Inventory, Join, part_of, register
from cloudbus.inventory.host import HOST
from cloudbus.inventory.l3_network import L3_NETWORK
from cloudbus.inventory.offering import INSTANCE_OFFERING
from cloudbus.inventory.schema import UtcDateTime, common_columns, metadata, uuid_column
from cloudbus.inventory.zone import ZONE

vm_instance_table = Table(
    "vm_instance",
    metadata,
    *common_columns(),
    uuid_column("zoneUuid", ForeignKey("zone.uuid", ondelete="SET NULL"), index=True),
    uuid_column("clusterUuid", ForeignKey("cluster.uuid", ondelete="SET NULL"), index=True),
    uuid_column("imageUuid"),
    uuid_column("hostUuid", ForeignKey("host.uuid", ondelete="SET NULL"), index=True),
    uuid_column("lastHostUuid", ForeignKey("host.uuid", ondelete="SET NULL")),
    uuid_column("instanceOfferingUuid", index=True),
    uuid_column("rootVolumeUuid", index=True),
    Column("platform", String(255)),
    Column("architecture", String(32)),
    uuid_column("defaultL3NetworkUuid"),
    Column("type", String(64), nullable=False),
    Column("hypervisorType", String(64)),
    Column("memorySize", BigInteger, nullable=False),
    Column("reservedMemorySize", BigInteger, nullable=False, default=0),
    Column("cpuNum", Integer, nullable=False),
    Column("cpuSpeed", BigInteger, nullable=False, default=0),
    Column("allocatorStrategy", String(64)),
    Column("state", String(64), nullable=False),
    Column("guestOsType", String(255)),
    # JustCreate: disk offerings to instantiate as data volumes on the first start (JSON list)
    Column("pendingDataDiskOfferingUuids", String(4096)),
)

vm_nic_table = Table(
    "vm_nic",
    metadata,
    uuid_column(primary_key=True),
    uuid_column("vmInstanceUuid", ForeignKey("vm_instance.uuid", ondelete="CASCADE"), nullable=False, index=True),
    uuid_column("usedIpUuid", index=True),
    uuid_column("l3NetworkUuid", nullable=False, index=True),
    Column("ip", String(64)),
    Column("mac", String(17), nullable=False, unique=True),
    Column("netmask", String(64)),
    Column("gateway", String(64)),
    Column("hypervisorType", String(64)),
    Column("metaData", String(255)),
    Column("ipVersion", Integer),
    Column("driverType", String(64)),
    Column("internalName", String(255)),
    Column("deviceId", Integer, nullable=False),
    Column("type", String(32), nullable=False),
    Column("state", String(32), nullable=False),
    Column("createDate", UtcDateTime(), nullable=False),
    Column("lastOpDate", UtcDateTime(), nullable=False),
)

VM_INSTANCE = register(
    Inventory(
        name="VmInstance",
        table=vm_instance_table,
        service_id="vmInstance",
        tenancy=OWNED,
        # None: the VM service resolves the VMs below that parent itself (reference 4.4)
        parents={
            "Zone": "zoneUuid",
            "Host": "hostUuid",
            "InstanceOffering": "instanceOfferingUuid",
            "PrimaryStorage": None,
            "L2Network": None,
            "L3Network": None,
            "IpRange": None,
        },
        joins={
            "zone": Join("Zone", self_key="zoneUuid"),
            "cluster": Join("Cluster", self_key="clusterUuid"),
            "host": Join("Host", self_key="hostUuid"),
            "image": Join("Image", self_key="imageUuid"),
            "instanceOffering": Join("InstanceOffering", self_key="instanceOfferingUuid"),
            "rootVolume": Join("Volume", self_key="rootVolumeUuid"),
            "vmNics": Join("VmNic", target_key="vmInstanceUuid", embed=True),
            "allVolumes": Join("Volume", target_key="vmInstanceUuid", embed=True),
        },
        hidden=frozenset({"pendingDataDiskOfferingUuids"}),
    )
)

VM_NIC = register(
    Inventory(
        name="VmNic",
        table=vm_nic_table,
        service_id="vmInstance",
        tenancy=part_of("vmInstanceUuid"),
        joins={
            "vmInstance": Join("VmInstance", self_key="vmInstanceUuid"),
            "l3Network": Join("L3Network", self_key="l3NetworkUuid"),
            "usedIp": Join("UsedIp", self_key="usedIpUuid"),
        },
        hidden=frozenset({"usedIpUuid"}),
    )
)

ZONE.joins.setdefault("vmInstance", Join("VmInstance", target_key="zoneUuid"))
CLUSTER.joins.setdefault("vmInstance", Join("VmInstance", target_key="clusterUuid"))
HOST.joins.setdefault("vmInstance", Join("VmInstance", target_key="hostUuid"))
L3_NETWORK.joins.setdefault("vmNic", Join("VmNic", target_key="l3NetworkUuid"))
INSTANCE_OFFERING.joins.setdefault("vmInstance", Join("VmInstance", target_key="instanceOfferingUuid"))
