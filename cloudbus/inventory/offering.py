"""Instance and disk offerings (InstanceOfferingInventory, DiskOfferingInventory).

Both are cascade roots. Who uses them declares them as parents (VMs null their
`instanceOfferingUuid`, volumes their `diskOfferingUuid`); deleting an offering removes
only its own row.
"""

from sqlalchemy import BigInteger, Column, Integer, String, Table

from cloudbus.inventory.declarations import OWNED, Inventory, register
from cloudbus.inventory.schema import Bytes, common_columns, metadata

instance_offering_table = Table(
    "instance_offering",
    metadata,
    *common_columns(),
    Column("cpuNum", Integer, nullable=False),
    Column("cpuSpeed", BigInteger, nullable=False, default=0),
    Column("memorySize", Bytes, nullable=False),
    Column("reservedMemorySize", Bytes, nullable=False, default=0),
    Column("type", String(64), nullable=False),
    Column("allocatorStrategy", String(255)),
    Column("sortKey", Integer, nullable=False, default=0),
    Column("state", String(32), nullable=False),
)

disk_offering_table = Table(
    "disk_offering",
    metadata,
    *common_columns(),
    Column("diskSize", Bytes, nullable=False),
    Column("sortKey", Integer, nullable=False, default=0),
    Column("state", String(32), nullable=False),
    Column("type", String(64), nullable=False),
    Column("allocatorStrategy", String(255)),
)

INSTANCE_OFFERING = register(
    Inventory(name="InstanceOffering", table=instance_offering_table, service_id="configuration", tenancy=OWNED)
)

DISK_OFFERING = register(
    Inventory(name="DiskOffering", table=disk_offering_table, service_id="configuration", tenancy=OWNED)
)
