"""NAS disks (Manila shares) and the VMs mounting them

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

from cloudbus.inventory.schema import UtcDateTime

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "nas_disk",
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=2048), nullable=True),
        sa.Column("createDate", UtcDateTime(), nullable=False),
        sa.Column("lastOpDate", UtcDateTime(), nullable=False),
        sa.Column("cloudUuid", sa.String(length=32), nullable=False),
        sa.Column("zoneUuid", sa.String(length=32), nullable=False),
        sa.Column("protocol", sa.String(length=32), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("shareType", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("exportPath", sa.String(length=2048), nullable=True),
        sa.Column("shareId", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["cloudUuid"], ["openstack_cloud.uuid"], name="fk_nas_disk_cloudUuid_openstack_cloud"),
        sa.ForeignKeyConstraint(["zoneUuid"], ["zone.uuid"], name="fk_nas_disk_zoneUuid_zone"),
        sa.PrimaryKeyConstraint("uuid", name="pk_nas_disk"),
    )
    for columns in (["cloudUuid"], ["zoneUuid"], ["createDate", "uuid"], ["lastOpDate", "uuid"]):
        op.create_index(f"ix_nas_disk_{'_'.join(columns)}", "nas_disk", columns)
    # the query engine's sort by name (see 0009)
    op.create_index("ix_nas_disk_name_uuid", "nas_disk", ["name", "uuid"], postgresql_ops={"name": 'COLLATE "C"'})
    op.create_table(
        "nas_disk_vm_ref",
        sa.Column("nasDiskUuid", sa.String(length=32), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=False),
        sa.Column("vmInstanceUuid", sa.String(length=32), nullable=False),
        sa.Column("accessId", sa.String(length=64), nullable=False),
        sa.Column("createDate", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["nasDiskUuid"], ["nas_disk.uuid"], name="fk_nas_disk_vm_ref_nasDiskUuid_nas_disk", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["vmInstanceUuid"],
            ["vm_instance.uuid"],
            name="fk_nas_disk_vm_ref_vmInstanceUuid_vm_instance",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("nasDiskUuid", "ip", name="pk_nas_disk_vm_ref"),
    )
    op.create_index("ix_nas_disk_vm_ref_vmInstanceUuid", "nas_disk_vm_ref", ["vmInstanceUuid"])


def downgrade() -> None:
    op.drop_table("nas_disk_vm_ref")
    op.drop_table("nas_disk")
