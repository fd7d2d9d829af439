"""volumes and snapshots

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

import cloudbus.inventory.schema

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _dates() -> list[sa.Column]:
    return [
        sa.Column("createDate", cloudbus.inventory.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("lastOpDate", cloudbus.inventory.schema.UtcDateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "volume",
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=2048), nullable=True),
        *_dates(),
        sa.Column("primaryStorageUuid", sa.String(length=32), nullable=True),
        sa.Column("vmInstanceUuid", sa.String(length=32), nullable=True),
        sa.Column("diskOfferingUuid", sa.String(length=32), nullable=True),
        sa.Column("rootImageUuid", sa.String(length=32), nullable=True),
        sa.Column("installPath", sa.String(length=2048), nullable=True),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("format", sa.String(length=32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("actualSize", sa.BigInteger(), nullable=True),
        sa.Column("deviceId", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("isShareable", sa.Boolean(), nullable=False),
        sa.Column("lastDetachDate", cloudbus.inventory.schema.UtcDateTime(timezone=True), nullable=True),
        sa.Column("lastVmInstanceUuid", sa.String(length=32), nullable=True),
        sa.Column("lastAttachDate", cloudbus.inventory.schema.UtcDateTime(timezone=True), nullable=True),
        sa.Column("hostUuid", sa.String(length=32), nullable=True),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_volume")),
        sa.UniqueConstraint("vmInstanceUuid", "deviceId", name="uq_volume_vmInstanceUuid_deviceId"),
    )
    with op.batch_alter_table("volume", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_volume_primaryStorageUuid"), ["primaryStorageUuid"], unique=False)
        batch_op.create_index(batch_op.f("ix_volume_vmInstanceUuid"), ["vmInstanceUuid"], unique=False)
        batch_op.create_index(batch_op.f("ix_volume_diskOfferingUuid"), ["diskOfferingUuid"], unique=False)

    op.create_table(
        "volume_snapshot_tree",
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("volumeUuid", sa.String(length=32), nullable=False),
        sa.Column("current", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        *_dates(),
        sa.ForeignKeyConstraint(
            ["volumeUuid"], ["volume.uuid"], name=op.f("fk_volume_snapshot_tree_volumeUuid_volume")
        ),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_volume_snapshot_tree")),
    )
    with op.batch_alter_table("volume_snapshot_tree", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_volume_snapshot_tree_volumeUuid"), ["volumeUuid"], unique=False)

    op.create_table(
        "volume_snapshot",
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=2048), nullable=True),
        *_dates(),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("volumeUuid", sa.String(length=32), nullable=False),
        sa.Column("treeUuid", sa.String(length=32), nullable=False),
        sa.Column("parentUuid", sa.String(length=32), nullable=True),
        sa.Column("primaryStorageUuid", sa.String(length=32), nullable=True),
        sa.Column("primaryStorageInstallPath", sa.String(length=2048), nullable=True),
        sa.Column("volumeType", sa.String(length=32), nullable=False),
        sa.Column("format", sa.String(length=32), nullable=False),
        sa.Column("latest", sa.Boolean(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("distance", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["volumeUuid"], ["volume.uuid"], name=op.f("fk_volume_snapshot_volumeUuid_volume")),
        sa.ForeignKeyConstraint(
            ["treeUuid"], ["volume_snapshot_tree.uuid"], name=op.f("fk_volume_snapshot_treeUuid_volume_snapshot_tree")
        ),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_volume_snapshot")),
    )
    with op.batch_alter_table("volume_snapshot", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_volume_snapshot_volumeUuid"), ["volumeUuid"], unique=False)
        batch_op.create_index(batch_op.f("ix_volume_snapshot_treeUuid"), ["treeUuid"], unique=False)
        batch_op.create_index(batch_op.f("ix_volume_snapshot_parentUuid"), ["parentUuid"], unique=False)


def downgrade() -> None:
    op.drop_table("volume_snapshot")
    op.drop_table("volume_snapshot_tree")
    op.drop_table("volume")
