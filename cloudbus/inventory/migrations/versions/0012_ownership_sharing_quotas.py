"""ownership, sharing and quotas: who owns each resource, what is shared, the limits

Revision ID: 0012
Revises: 0011

Resources created before this revision have no owner row: they are the admin account's,
as every resource an admin creates is. Normal accounts made before it get no default quota
rows (no row is no limit); CreateAccount and CreateTenant write them from now on.
Sort-field indexes as in 0009.
"""

import sqlalchemy as sa
from alembic import op

import cloudbus.inventory.schema

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _dates() -> list[sa.Column]:
    date = cloudbus.inventory.schema.UtcDateTime(timezone=True)
    return [sa.Column("createDate", date, nullable=False), sa.Column("lastOpDate", date, nullable=False)]


def _date_indexes(table: str, key: str) -> None:
    op.create_index(f"ix_{table}_createDate_{key}", table, ["createDate", key], unique=False)
    op.create_index(f"ix_{table}_lastOpDate_{key}", table, ["lastOpDate", key], unique=False)


def upgrade() -> None:
    op.create_table(
        "account_resource_ref",
        sa.Column("resourceUuid", sa.String(length=32), nullable=False),
        sa.Column("resourceType", sa.String(length=64), nullable=False),
        sa.Column("accountUuid", sa.String(length=32), nullable=False),
        sa.Column("projectUuid", sa.String(length=32), nullable=False),
        *_dates(),
        sa.PrimaryKeyConstraint("resourceUuid", name=op.f("pk_account_resource_ref")),
    )
    for owner in ("accountUuid", "projectUuid"):  # covering: an owner's resource uuids from the index alone
        op.create_index(
            f"ix_account_resource_ref_{owner}_resourceUuid", "account_resource_ref", [owner, "resourceUuid"]
        )
    _date_indexes("account_resource_ref", "resourceUuid")

    op.create_table(
        "quota",
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("identityUuid", sa.String(length=32), nullable=False),
        sa.Column("identityType", sa.String(length=16), nullable=False),
        sa.Column("accountUuid", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("description", sa.String(length=2048), nullable=True),
        *_dates(),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_quota")),
        sa.UniqueConstraint("identityUuid", "name", name="uq_quota_identityUuid_name"),
    )
    op.create_index(op.f("ix_quota_accountUuid"), "quota", ["accountUuid"])
    _date_indexes("quota", "uuid")
    op.create_index("ix_quota_name_uuid", "quota", ["name", "uuid"], postgresql_ops={"name": 'COLLATE "C"'})

    op.create_table(
        "shared_resource",
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("ownerAccountUuid", sa.String(length=32), nullable=False),
        sa.Column("receiverAccountUuid", sa.String(length=32), nullable=True),
        sa.Column("toPublic", sa.Boolean(), nullable=False),
        sa.Column("resourceType", sa.String(length=64), nullable=False),
        sa.Column("resourceUuid", sa.String(length=32), nullable=False),
        *_dates(),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_shared_resource")),
    )
    op.create_index(op.f("ix_shared_resource_receiverAccountUuid"), "shared_resource", ["receiverAccountUuid"])
    op.create_index(op.f("ix_shared_resource_resourceUuid"), "shared_resource", ["resourceUuid"])
    _date_indexes("shared_resource", "uuid")


def downgrade() -> None:
    op.drop_table("shared_resource")
    op.drop_table("quota")
    op.drop_table("account_resource_ref")
