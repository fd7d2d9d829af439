"""security groups

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

import cloudbus.inventory.schema

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _dates() -> list[sa.Column]:
    return [
        sa.Column("createDate", cloudbus.inventory.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("lastOpDate", cloudbus.inventory.schema.UtcDateTime(timezone=True), nullable=False),
    ]


def _owner_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["securityGroupUuid"], ["security_group.uuid"], name=op.f(f"fk_{table}_securityGroupUuid_security_group")
    )


def _index(table: str, column: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f"ix_{table}_{column}"), [column], unique=False)


def upgrade() -> None:
    op.create_table(
        "security_group",
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=2048), nullable=True),
        *_dates(),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("ipVersion", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_security_group")),
    )
    op.create_table(
        "security_group_rule",
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("securityGroupUuid", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("ipVersion", sa.Integer(), nullable=False),
        sa.Column("protocol", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("description", sa.String(length=2048), nullable=True),
        sa.Column("srcIpRange", sa.String(length=1024), nullable=True),
        sa.Column("dstIpRange", sa.String(length=1024), nullable=True),
        sa.Column("srcPortRange", sa.String(length=255), nullable=True),
        sa.Column("dstPortRange", sa.String(length=255), nullable=True),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("remoteSecurityGroupUuid", sa.String(length=32), nullable=True),
        sa.Column("allowedCidr", sa.String(length=64), nullable=True),
        sa.Column("startPort", sa.Integer(), nullable=True),
        sa.Column("endPort", sa.Integer(), nullable=True),
        *_dates(),
        _owner_fk("security_group_rule"),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_security_group_rule")),
    )
    _index("security_group_rule", "remoteSecurityGroupUuid")
    _index("security_group_rule", "securityGroupUuid")

    op.create_table(
        "security_group_l3_ref",
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("securityGroupUuid", sa.String(length=32), nullable=False),
        sa.Column("l3NetworkUuid", sa.String(length=32), nullable=False),
        *_dates(),
        sa.ForeignKeyConstraint(
            ["l3NetworkUuid"],
            ["l3_network.uuid"],
            name=op.f("fk_security_group_l3_ref_l3NetworkUuid_l3_network"),
            ondelete="CASCADE",
        ),
        _owner_fk("security_group_l3_ref"),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_security_group_l3_ref")),
        sa.UniqueConstraint("l3NetworkUuid", "securityGroupUuid", name=op.f("uq_security_group_l3_ref_l3NetworkUuid")),
    )
    _index("security_group_l3_ref", "securityGroupUuid")

    op.create_table(
        "vm_nic_security_group_ref",
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("vmNicUuid", sa.String(length=32), nullable=False),
        sa.Column("securityGroupUuid", sa.String(length=32), nullable=False),
        sa.Column("vmInstanceUuid", sa.String(length=32), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        *_dates(),
        sa.ForeignKeyConstraint(
            ["vmNicUuid"],
            ["vm_nic.uuid"],
            name=op.f("fk_vm_nic_security_group_ref_vmNicUuid_vm_nic"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["vmInstanceUuid"],
            ["vm_instance.uuid"],
            name=op.f("fk_vm_nic_security_group_ref_vmInstanceUuid_vm_instance"),
            ondelete="CASCADE",
        ),
        _owner_fk("vm_nic_security_group_ref"),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_vm_nic_security_group_ref")),
        sa.UniqueConstraint("vmNicUuid", "securityGroupUuid", name=op.f("uq_vm_nic_security_group_ref_vmNicUuid")),
    )
    _index("vm_nic_security_group_ref", "securityGroupUuid")
    _index("vm_nic_security_group_ref", "vmInstanceUuid")


def downgrade() -> None:
    for table in ("vm_nic_security_group_ref", "security_group_l3_ref", "security_group_rule"):
        op.drop_table(table)
    op.drop_table("security_group")
