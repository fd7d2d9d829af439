"""Network service providers (NetworkServiceProviderInventory) and the services an L3 uses
(NetworkServiceL3NetworkRefInventory: which provider gives which service type to which L3).

Providers are not created by users: the L3 service makes sure the built-in ones exist
when it starts (`Flat`, `SecurityGroup`); `type` is unique so several nodes starting
together cannot create a provider twice.
"""

from sqlalchemy import Column, ForeignKey, String, Table

from cloudbus.inventory.declarations import Inventory, Join, ListField, part_of, register
from cloudbus.inventory.schema import common_columns, metadata, uuid_column

network_service_provider_table = Table(
    "network_service_provider",
    metadata,
    *common_columns(),
    Column("type", String(255), nullable=False, unique=True),
)

# (constraint names derive from table and column names: kept short for PostgreSQL's 63)
network_service_type_table = Table(
    "network_service_type",
    metadata,
    uuid_column("providerUuid", ForeignKey("network_service_provider.uuid", ondelete="CASCADE"), primary_key=True),
    Column("type", String(255), primary_key=True),
)

network_service_provider_l2_network_ref_table = Table(
    "nsp_l2_network_ref",
    metadata,
    uuid_column("providerUuid", ForeignKey("network_service_provider.uuid", ondelete="CASCADE"), primary_key=True),
    uuid_column("l2NetworkUuid", ForeignKey("l2_network.uuid", ondelete="CASCADE"), primary_key=True),
)

network_service_l3_network_ref_table = Table(
    "network_service_l3_network_ref",
    metadata,
    uuid_column("l3NetworkUuid", ForeignKey("l3_network.uuid", ondelete="CASCADE"), primary_key=True),
    # no foreign key: its name would pass 63 characters; built-in providers are never deleted
    uuid_column("networkServiceProviderUuid", primary_key=True),
    Column("networkServiceType", String(255), primary_key=True),
)

NETWORK_SERVICE_PROVIDER = register(
    Inventory(
        name="NetworkServiceProvider",
        table=network_service_provider_table,
        service_id="network.l3",
        list_fields={
            "networkServiceTypes": ListField(network_service_type_table, "providerUuid", "type"),
            "attachedL2NetworkUuids": ListField(
                network_service_provider_l2_network_ref_table, "providerUuid", "l2NetworkUuid"
            ),
        },
    )
)

NETWORK_SERVICE_L3_NETWORK_REF = register(
    Inventory(
        name="NetworkServiceL3NetworkRef",
        table=network_service_l3_network_ref_table,
        service_id="network.l3",
        tenancy=part_of("l3NetworkUuid"),
        joins={
            "l3Network": Join("L3Network", self_key="l3NetworkUuid"),
            "serviceProvider": Join("NetworkServiceProvider", self_key="networkServiceProviderUuid"),
        },
    )
)
