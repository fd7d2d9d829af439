"""IP ranges of L3 networks (IpRangeInventory) and the IPs in use (UsedIpInventory).

`used_ip` has UNIQUE(l3NetworkUuid, ip): that constraint, not a lock, is what makes IP
allocation exact when many allocations race on one L3 (on SQLite and PostgreSQL).
Used IPs go with their range and their L3 (the network service removes them; the FKs
cascade as a safety net).
"""

from sqlalchemy import BigInteger, Column, ForeignKey, Integer, String, Table, UniqueConstraint

from cloudbus.inventory.declarations import Inventory, Join, part_of, register
from cloudbus.inventory.schema import UtcDateTime, common_columns, metadata, uuid_column

ip_range_table = Table(
    "ip_range",
    metadata,
    *common_columns(),
    uuid_column("l3NetworkUuid", ForeignKey("l3_network.uuid"), nullable=False, index=True),
    Column("startIp", String(64), nullable=False),
    Column("endIp", String(64), nullable=False),
    Column("netmask", String(64), nullable=False),
    Column("gateway", String(64), nullable=False),
    Column("networkCidr", String(64), nullable=False),
    Column("ipVersion", Integer, nullable=False),
    Column("addressMode", String(32)),
    Column("prefixLen", Integer, nullable=False),
    Column("ipRangeType", String(32), nullable=False),
)

used_ip_table = Table(
    "used_ip",
    metadata,
    uuid_column(primary_key=True),
    uuid_column("ipRangeUuid", ForeignKey("ip_range.uuid", ondelete="CASCADE"), nullable=False, index=True),
    uuid_column("l3NetworkUuid", ForeignKey("l3_network.uuid", ondelete="CASCADE"), nullable=False),
    Column("ipVersion", Integer, nullable=False),
    Column("ip", String(64), nullable=False),
    Column("netmask", String(64), nullable=False),
    Column("gateway", String(64), nullable=False),
    Column("usedFor", String(64)),
    Column("ipInLong", BigInteger, nullable=False),
    uuid_column("vmNicUuid", index=True),
    Column("createDate", UtcDateTime(), nullable=False),
    Column("lastOpDate", UtcDateTime(), nullable=False),
    UniqueConstraint("l3NetworkUuid", "ip"),
)

IP_RANGE = register(
    Inventory(
        name="IpRange",
        table=ip_range_table,
        service_id="network.l3",
        tenancy=part_of("l3NetworkUuid"),
        parents={"L3Network": "l3NetworkUuid"},
        joins={
            "l3Network": Join("L3Network", self_key="l3NetworkUuid"),
            "usedIp": Join("UsedIp", target_key="ipRangeUuid"),
        },
    )
)

USED_IP = register(
    Inventory(
        name="UsedIp",
        table=used_ip_table,
        service_id="network.l3",
        tenancy=part_of("l3NetworkUuid"),
        joins={
            "l3Network": Join("L3Network", self_key="l3NetworkUuid"),
            "ipRange": Join("IpRange", self_key="ipRangeUuid"),
        },
    )
)
