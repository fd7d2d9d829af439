"""primary-storage reservations: capacity held for a VM being created, by owner

Revision ID: 0010
Revises: 0009

Before this revision a VM creation's reservation lived only in its operation journal, so a
node dying between two steps could leave it counted twice or not at all. Nothing needs
carrying over: a reservation is settled when its creation ends.
"""

import sqlalchemy as sa
from alembic import op

import cloudbus.inventory.schema

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "primary_storage_reservation",
        sa.Column("ownerUuid", sa.String(length=32), nullable=False),
        sa.Column("primaryStorageUuid", sa.String(length=32), nullable=False),
        sa.Column("hostUuid", sa.String(length=32), nullable=True),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("createDate", cloudbus.inventory.schema.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["primaryStorageUuid"],
            ["primary_storage.uuid"],
            name=op.f("fk_primary_storage_reservation_primaryStorageUuid_primary_storage"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ownerUuid", name=op.f("pk_primary_storage_reservation")),
    )
    op.create_index(
        op.f("ix_primary_storage_reservation_primaryStorageUuid"),
        "primary_storage_reservation",
        ["primaryStorageUuid"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("primary_storage_reservation")
