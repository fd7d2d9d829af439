"""networks: L2 networks and their cluster refs, L3 networks with DNS, IP ranges, used IPs,
network service providers and the services attached to L3 networks

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

import cloudbus.inventory.schema

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _common() -> list[sa.Column]:
    return [
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=2048), nullable=True),
        sa.Column("createDate", cloudbus.inventory.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("lastOpDate", cloudbus.inventory.schema.UtcDateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "l2_network",
        *_common(),
        sa.Column("zoneUuid", sa.String(length=32), nullable=False),
        sa.Column("physicalInterface", sa.String(length=1024), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("vSwitchType", sa.String(length=32), nullable=False),
        sa.Column("virtualNetworkId", sa.Integer(), nullable=False),
        sa.Column("vlan", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["zoneUuid"], ["zone.uuid"], name=op.f("fk_l2_network_zoneUuid_zone")),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_l2_network")),
        sa.UniqueConstraint("zoneUuid", "physicalInterface", "vlan", name=op.f("uq_l2_network_zoneUuid")),
    )
    op.create_index(op.f("ix_l2_network_zoneUuid"), "l2_network", ["zoneUuid"], unique=False)

    op.create_table(
        "l2_network_cluster_ref",
        sa.Column("l2NetworkUuid", sa.String(length=32), nullable=False),
        sa.Column("clusterUuid", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["clusterUuid"],
            ["cluster.uuid"],
            name=op.f("fk_l2_network_cluster_ref_clusterUuid_cluster"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["l2NetworkUuid"],
            ["l2_network.uuid"],
            name=op.f("fk_l2_network_cluster_ref_l2NetworkUuid_l2_network"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("l2NetworkUuid", "clusterUuid", name=op.f("pk_l2_network_cluster_ref")),
    )
    op.create_index(
        op.f("ix_l2_network_cluster_ref_clusterUuid"), "l2_network_cluster_ref", ["clusterUuid"], unique=False
    )

    op.create_table(
        "l3_network",
        *_common(),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("zoneUuid", sa.String(length=32), nullable=False),
        sa.Column("l2NetworkUuid", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("dnsDomain", sa.String(length=255), nullable=True),
        sa.Column("system", sa.Boolean(), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("ipVersion", sa.Integer(), nullable=False),
        sa.Column("enableIPAM", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["l2NetworkUuid"], ["l2_network.uuid"], name=op.f("fk_l3_network_l2NetworkUuid_l2_network")
        ),
        sa.ForeignKeyConstraint(["zoneUuid"], ["zone.uuid"], name=op.f("fk_l3_network_zoneUuid_zone")),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_l3_network")),
    )
    op.create_index(op.f("ix_l3_network_l2NetworkUuid"), "l3_network", ["l2NetworkUuid"], unique=False)
    op.create_index(op.f("ix_l3_network_zoneUuid"), "l3_network", ["zoneUuid"], unique=False)

    op.create_table(
        "l3_network_dns",
        sa.Column("l3NetworkUuid", sa.String(length=32), nullable=False),
        sa.Column("dns", sa.String(length=255), nullable=False),
        sa.Column("createDate", cloudbus.inventory.schema.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["l3NetworkUuid"],
            ["l3_network.uuid"],
            name=op.f("fk_l3_network_dns_l3NetworkUuid_l3_network"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("l3NetworkUuid", "dns", name=op.f("pk_l3_network_dns")),
    )

    op.create_table(
        "ip_range",
        *_common(),
        sa.Column("l3NetworkUuid", sa.String(length=32), nullable=False),
        sa.Column("startIp", sa.String(length=64), nullable=False),
        sa.Column("endIp", sa.String(length=64), nullable=False),
        sa.Column("netmask", sa.String(length=64), nullable=False),
        sa.Column("gateway", sa.String(length=64), nullable=False),
        sa.Column("networkCidr", sa.String(length=64), nullable=False),
        sa.Column("ipVersion", sa.Integer(), nullable=False),
        sa.Column("addressMode", sa.String(length=32), nullable=True),
        sa.Column("prefixLen", sa.Integer(), nullable=False),
        sa.Column("ipRangeType", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["l3NetworkUuid"], ["l3_network.uuid"], name=op.f("fk_ip_range_l3NetworkUuid_l3_network")
        ),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_ip_range")),
    )
    op.create_index(op.f("ix_ip_range_l3NetworkUuid"), "ip_range", ["l3NetworkUuid"], unique=False)

    op.create_table(
        "used_ip",
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("ipRangeUuid", sa.String(length=32), nullable=False),
        sa.Column("l3NetworkUuid", sa.String(length=32), nullable=False),
        sa.Column("ipVersion", sa.Integer(), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("netmask", sa.String(length=64), nullable=False),
        sa.Column("gateway", sa.String(length=64), nullable=False),
        sa.Column("usedFor", sa.String(length=64), nullable=True),
        sa.Column("ipInLong", sa.BigInteger(), nullable=False),
        sa.Column("vmNicUuid", sa.String(length=32), nullable=True),
        sa.Column("createDate", cloudbus.inventory.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("lastOpDate", cloudbus.inventory.schema.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ipRangeUuid"], ["ip_range.uuid"], name=op.f("fk_used_ip_ipRangeUuid_ip_range"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["l3NetworkUuid"],
            ["l3_network.uuid"],
            name=op.f("fk_used_ip_l3NetworkUuid_l3_network"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_used_ip")),
        sa.UniqueConstraint("l3NetworkUuid", "ip", name=op.f("uq_used_ip_l3NetworkUuid")),
    )
    op.create_index(op.f("ix_used_ip_ipRangeUuid"), "used_ip", ["ipRangeUuid"], unique=False)
    op.create_index(op.f("ix_used_ip_vmNicUuid"), "used_ip", ["vmNicUuid"], unique=False)

    op.create_table(
        "network_service_provider",
        *_common(),
        sa.Column("type", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_network_service_provider")),
        sa.UniqueConstraint("type", name=op.f("uq_network_service_provider_type")),
    )

    op.create_table(
        "network_service_type",
        sa.Column("providerUuid", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["providerUuid"],
            ["network_service_provider.uuid"],
            name=op.f("fk_network_service_type_providerUuid_network_service_provider"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("providerUuid", "type", name=op.f("pk_network_service_type")),
    )

    op.create_table(
        "nsp_l2_network_ref",
        sa.Column("providerUuid", sa.String(length=32), nullable=False),
        sa.Column("l2NetworkUuid", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(
            ["l2NetworkUuid"],
            ["l2_network.uuid"],
            name=op.f("fk_nsp_l2_network_ref_l2NetworkUuid_l2_network"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["providerUuid"],
            ["network_service_provider.uuid"],
            name=op.f("fk_nsp_l2_network_ref_providerUuid_network_service_provider"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("providerUuid", "l2NetworkUuid", name=op.f("pk_nsp_l2_network_ref")),
    )

    op.create_table(
        "network_service_l3_network_ref",
        sa.Column("l3NetworkUuid", sa.String(length=32), nullable=False),
        sa.Column("networkServiceProviderUuid", sa.String(length=32), nullable=False),
        sa.Column("networkServiceType", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["l3NetworkUuid"],
            ["l3_network.uuid"],
            name=op.f("fk_network_service_l3_network_ref_l3NetworkUuid_l3_network"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "l3NetworkUuid",
            "networkServiceProviderUuid",
            "networkServiceType",
            name=op.f("pk_network_service_l3_network_ref"),
        ),
    )


def downgrade() -> None:
    op.drop_table("network_service_l3_network_ref")
    op.drop_table("nsp_l2_network_ref")
    op.drop_table("network_service_type")
    op.drop_table("network_service_provider")
    op.drop_index(op.f("ix_used_ip_vmNicUuid"), table_name="used_ip")
    op.drop_index(op.f("ix_used_ip_ipRangeUuid"), table_name="used_ip")
    op.drop_table("used_ip")
    op.drop_index(op.f("ix_ip_range_l3NetworkUuid"), table_name="ip_range")
    op.drop_table("ip_range")
    op.drop_table("l3_network_dns")
    op.drop_index(op.f("ix_l3_network_zoneUuid"), table_name="l3_network")
    op.drop_index(op.f("ix_l3_network_l2NetworkUuid"), table_name="l3_network")
    op.drop_table("l3_network")
    op.drop_index(op.f("ix_l2_network_cluster_ref_clusterUuid"), table_name="l2_network_cluster_ref")
    op.drop_table("l2_network_cluster_ref")
    op.drop_index(op.f("ix_l2_network_zoneUuid"), table_name="l2_network")
    op.drop_table("l2_network")
