"""identity: accounts, their projects and users, login sessions

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


def downgrade() -> None:
    op.drop_table("session")
    op.drop_table("project")
    op.drop_table("identity_user")
    op.drop_table("account")
