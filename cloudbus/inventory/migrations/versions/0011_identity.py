"""identity: accounts, their projects and users, login sessions, tenants

Revision ID: 0011
Revises: 0010

The `admin` account is created by the identity service on a node's first start (it needs
the password KDF and CLOUDBUS_ADMIN_PASSWORD), not here. Sort-field indexes as in 0009.
"""

import sqlalchemy as sa
from alembic import op

import cloudbus.inventory.schema

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def _common() -> list[sa.Column]:
    date = cloudbus.inventory.schema.UtcDateTime(timezone=True)
    return [
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=2048), nullable=True),
        sa.Column("createDate", date, nullable=False),
        sa.Column("lastOpDate", date, nullable=False),
    ]


def _sort_indexes(table: str) -> None:
    op.create_index(f"ix_{table}_createDate_uuid", table, ["createDate", "uuid"], unique=False)
    op.create_index(f"ix_{table}_lastOpDate_uuid", table, ["lastOpDate", "uuid"], unique=False)
    op.create_index(
        f"ix_{table}_name_uuid", table, ["name", "uuid"], unique=False, postgresql_ops={"name": 'COLLATE "C"'}
    )


def _owned_by_account(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["accountUuid"], ["account.uuid"], name=op.f(f"fk_{table}_accountUuid_account"))


def upgrade() -> None:
    op.create_table(
        "account",
        *_common(),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("password", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_account")),
        sa.UniqueConstraint("name", name="uq_account_name"),
    )
    _sort_indexes("account")
    op.create_table(
        "identity_user",
        *_common(),
        sa.Column("accountUuid", sa.String(length=32), nullable=False),
        sa.Column("password", sa.String(length=255), nullable=False),
        _owned_by_account("identity_user"),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_identity_user")),
        sa.UniqueConstraint("accountUuid", "name", name="uq_identity_user_accountUuid_name"),
    )
    op.create_index(op.f("ix_identity_user_accountUuid"), "identity_user", ["accountUuid"], unique=False)
    _sort_indexes("identity_user")
    op.create_table(
        "project",
        *_common(),
        sa.Column("accountUuid", sa.String(length=32), nullable=False),
        sa.Column("isDefault", sa.Boolean(), nullable=False),
        _owned_by_account("project"),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_project")),
        sa.UniqueConstraint("accountUuid", "name", name="uq_project_accountUuid_name"),
    )
    op.create_index(op.f("ix_project_accountUuid"), "project", ["accountUuid"], unique=False)
    _sort_indexes("project")
    date = cloudbus.inventory.schema.UtcDateTime(timezone=True)
    op.create_table(
        "session",
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("accountUuid", sa.String(length=32), nullable=False),
        sa.Column("userUuid", sa.String(length=32), nullable=True),
        sa.Column("userType", sa.String(length=32), nullable=False),
        sa.Column("expiredDate", date, nullable=False),
        sa.Column("createDate", date, nullable=False),
        sa.ForeignKeyConstraint(
            ["accountUuid"], ["account.uuid"], name=op.f("fk_session_accountUuid_account"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_session")),
    )
    op.create_index(op.f("ix_session_accountUuid"), "session", ["accountUuid"], unique=False)
    op.create_table(
        "tenant_serial",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("last", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_serial")),
    )
    op.execute("INSERT INTO tenant_serial (id, last) VALUES ('tenant', 0)")
    op.create_table(
        "tenant_info",
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("tenantId", sa.String(length=20), nullable=False),
        sa.Column("tenantName", sa.String(length=100), nullable=False),
        sa.Column("accountUuid", sa.String(length=32), nullable=False),
        sa.Column("projectUuid", sa.String(length=32), nullable=False),
        sa.Column("userUuid", sa.String(length=32), nullable=False),
        sa.Column("apiKeyHash", sa.String(length=64), nullable=False),
        sa.Column("createDate", date, nullable=False),
        sa.Column("lastOpDate", date, nullable=False),
        _owned_by_account("tenant_info"),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_tenant_info")),
        sa.UniqueConstraint("tenantId", name=op.f("uq_tenant_info_tenantId")),
        sa.UniqueConstraint("tenantName", name=op.f("uq_tenant_info_tenantName")),
    )
    op.create_index(op.f("ix_tenant_info_accountUuid"), "tenant_info", ["accountUuid"], unique=False)
    op.create_index("ix_tenant_info_createDate_uuid", "tenant_info", ["createDate", "uuid"], unique=False)
    op.create_index("ix_tenant_info_lastOpDate_uuid", "tenant_info", ["lastOpDate", "uuid"], unique=False)


def downgrade() -> None:
    op.drop_table("tenant_info")
    op.drop_table("tenant_serial")
    op.drop_table("session")
    op.drop_table("project")
    op.drop_table("identity_user")
    op.drop_table("account")
