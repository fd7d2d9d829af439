"""L3 networks (L3NetworkInventory) and their DNS servers.

An L3 carries its `dns` (a list field, in the order added), its `ipRanges` and its
`networkServices` (embedded); the IP ranges, used IPs and network service tables are
declared in `ip_range` and `network_service`. Adds Zone.l3Network.
"""

from sqlalchemy import Boolean, Column, ForeignKey, Integer, String, Table

from cloudbus.inventory.declarations import OWNED, Inventory, Join, ListField, Via, register
from cloudbus.inventory.network_service import network_service_l3_network_ref_table
from cloudbus.inventory.schema import UtcDateTime, common_columns, metadata, uuid_column
from cloudbus.inventory.zone import ZONE

l3_network_table = Table(
    "l3_network",
    metadata,
    *common_columns(),
    Column("type", String(32), nullable=False),
    uuid_column("zoneUuid", ForeignKey("zone.uuid"), nullable=False, index=True),
    uuid_column("l2NetworkUuid", ForeignKey("l2_network.uuid"), nullable=False, index=True),
    Column("state", String(32), nullable=False),
    Column("dnsDomain", String(255)),
    Column("system", Boolean, nullable=False),
    Column("category", String(32), nullable=False),
    Column("ipVersion", Integer, nullable=False),
    Column("enableIPAM", Boolean, nullable=False),
)

l3_network_dns_table = Table(
    "l3_network_dns",
    metadata,
    uuid_column("l3NetworkUuid", ForeignKey("l3_network.uuid", ondelete="CASCADE"), primary_key=True),
    Column("dns", String(255), primary_key=True),
    Column("createDate", UtcDateTime(), nullable=False),
)

L3_NETWORK = register(
    Inventory(
        name="L3Network",
        table=l3_network_table,
        service_id="network.l3",
        tenancy=OWNED,
        parents={"L2Network": "l2NetworkUuid"},
        joins={
            "zone": Join("Zone", self_key="zoneUuid"),
            "l2Network": Join("L2Network", self_key="l2NetworkUuid"),
            "ipRanges": Join("IpRange", target_key="l3NetworkUuid", embed=True),
            "usedIp": Join("UsedIp", target_key="l3NetworkUuid"),
            "networkServices": Join("NetworkServiceL3NetworkRef", target_key="l3NetworkUuid", embed=True),
            "serviceProvider": Join(
                "NetworkServiceProvider",
                via=Via(network_service_l3_network_ref_table, "l3NetworkUuid", "networkServiceProviderUuid"),
            ),
        },
        list_fields={"dns": ListField(l3_network_dns_table, "l3NetworkUuid", "dns", order_col="createDate")},
    )
)

ZONE.joins.setdefault("l3Network", Join("L3Network", target_key="zoneUuid"))
