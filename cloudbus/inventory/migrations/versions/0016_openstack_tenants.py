"""A cloudbus tenant's Keystone identity in each OpenStack cloud

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

from cloudbus.inventory.schema import UtcDateTime

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "openstack_tenant",
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("tenantUuid", sa.String(length=32), nullable=False),
        sa.Column("cloudUuid", sa.String(length=32), nullable=False),
        sa.Column("tenantId", sa.String(length=20), nullable=False),
        sa.Column("domainId", sa.String(length=64), nullable=False),
        sa.Column("projectId", sa.String(length=64), nullable=False),
        sa.Column("userId", sa.String(length=64), nullable=False),
        sa.Column("password", sa.String(length=1024), nullable=False),
        sa.Column("createDate", UtcDateTime(), nullable=False),
        sa.Column("lastOpDate", UtcDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenantUuid"], ["tenant_info.uuid"], name="fk_openstack_tenant_tenantUuid_tenant_info", ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["cloudUuid"],
            ["openstack_cloud.uuid"],
            name="fk_openstack_tenant_cloudUuid_openstack_cloud",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("uuid", name="pk_openstack_tenant"),
    )
    for columns in (["tenantUuid"], ["cloudUuid"], ["createDate", "uuid"], ["lastOpDate", "uuid"]):
        op.create_index(f"ix_openstack_tenant_{'_'.join(columns)}", "openstack_tenant", columns)


def downgrade() -> None:
    op.drop_table("openstack_tenant")
