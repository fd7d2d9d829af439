"""OpenStack clouds and what discovery mapped onto cloudbus resources

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

from cloudbus.inventory.schema import UtcDateTime

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "openstack_cloud",
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=2048), nullable=True),
        sa.Column("createDate", UtcDateTime(), nullable=False),
        sa.Column("lastOpDate", UtcDateTime(), nullable=False),
        sa.Column("zoneUuid", sa.String(length=32), nullable=False),
        sa.Column("authUrl", sa.String(length=1024), nullable=False),
        sa.Column("regionName", sa.String(length=255), nullable=False),
        sa.Column("username", sa.String(length=255), nullable=False),
        sa.Column("password", sa.String(length=1024), nullable=False),
        sa.Column("projectName", sa.String(length=255), nullable=False),
        sa.Column("userDomainName", sa.String(length=255), nullable=False),
        sa.Column("projectDomainName", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.ForeignKeyConstraint(["zoneUuid"], ["zone.uuid"], name="fk_openstack_cloud_zoneUuid_zone"),
        sa.PrimaryKeyConstraint("uuid", name="pk_openstack_cloud"),
    )
    op.create_index("ix_openstack_cloud_zoneUuid", "openstack_cloud", ["zoneUuid"])
    # the query engine's sort indexes (see 0009)
    op.create_index("ix_openstack_cloud_createDate_uuid", "openstack_cloud", ["createDate", "uuid"])
    op.create_index("ix_openstack_cloud_lastOpDate_uuid", "openstack_cloud", ["lastOpDate", "uuid"])
    op.create_index(
        "ix_openstack_cloud_name_uuid", "openstack_cloud", ["name", "uuid"], postgresql_ops={"name": 'COLLATE "C"'}
    )
    op.create_table(
        "openstack_resource",
        sa.Column("resourceUuid", sa.String(length=32), nullable=False),
        sa.Column("cloudUuid", sa.String(length=32), nullable=False),
        sa.Column("resourceType", sa.String(length=64), nullable=False),
        sa.Column("openstackId", sa.String(length=255), nullable=True),
        sa.Column("openstackName", sa.String(length=255), nullable=False),
        sa.ForeignKeyConstraint(
            ["cloudUuid"],
            ["openstack_cloud.uuid"],
            name="fk_openstack_resource_cloudUuid_openstack_cloud",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("resourceUuid", name="pk_openstack_resource"),
    )
    op.create_index("ix_openstack_resource_cloudUuid", "openstack_resource", ["cloudUuid"])


def downgrade() -> None:
    op.drop_index("ix_openstack_resource_cloudUuid", table_name="openstack_resource")
    op.drop_table("openstack_resource")
    for index in ("zoneUuid", "createDate_uuid", "lastOpDate_uuid", "name_uuid"):
        op.drop_index(f"ix_openstack_cloud_{index}", table_name="openstack_cloud")
    op.drop_table("openstack_cloud")
