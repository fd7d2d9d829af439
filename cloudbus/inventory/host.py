"""Host: a hypervisor machine in a cluster (HostInventory + SimulatorHostInventory + KVMHostInventory).

Hypervisor-specific fields live on the same table (single-table inheritance) and are
null for other hypervisor types: the simulator's `cpuCapacity` / `memoryCapacity`; KVM's
`username` / `password` / `sshPort` / `libvirtUri` (`password` is never rendered).
"""

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, String, Table

from cloudbus.inventory.declarations import Inventory, Join, register
from cloudbus.inventory.schema import common_columns, metadata, uuid_column

host_table = Table(
    "host",
    metadata,
    *common_columns(),
    uuid_column("zoneUuid", ForeignKey("zone.uuid"), nullable=False, index=True),
    uuid_column("clusterUuid", ForeignKey("cluster.uuid"), nullable=False, index=True),
    Column("managementIp", String(255), nullable=False, unique=True),
    Column("hypervisorType", String(32), nullable=False),
    Column("state", String(32), nullable=False),
    Column("status", String(32), nullable=False),
    Column("totalCpuCapacity", BigInteger, nullable=False, default=0),
    Column("availableCpuCapacity", BigInteger, nullable=False, default=0),
    Column("cpuSockets", Integer),
    Column("cpuNum", Integer),
    Column("totalMemoryCapacity", BigInteger, nullable=False, default=0),
    Column("availableMemoryCapacity", BigInteger, nullable=False, default=0),
    Column("architecture", String(32)),
    Column("cpuCapacity", BigInteger),
    Column("memoryCapacity", BigInteger),
    Column("username", String(255)),
    Column("password", String(255)),
    Column("sshPort", Integer),
    Column("libvirtUri", String(1024)),
)

HOST = register(
    Inventory(
        name="Host",
        table=host_table,
        service_id="host",
        hidden=frozenset({"password"}),
        parents={"Cluster": "clusterUuid"},
        joins={
            "zone": Join("Zone", self_key="zoneUuid"),
            "cluster": Join("Cluster", self_key="clusterUuid"),
        },
    )
)

# What each owner (a VM) holds on each host: written in the same transaction as the host's
# available capacity, so giving back "what VM X holds" is exact and idempotent, whoever
# asks and however often (a rollback replayed by the node that took over a dead one).
host_allocation_table = Table(
    "host_allocation",
    metadata,
    Column("ownerUuid", String(32), primary_key=True),
    Column("hostUuid", String(32), ForeignKey("host.uuid", ondelete="CASCADE"), primary_key=True),
    Column("cpuNum", BigInteger, nullable=False),
    Column("memorySize", BigInteger, nullable=False),
)
