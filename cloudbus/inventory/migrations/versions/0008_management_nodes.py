"""management nodes, API records, operation journals, host allocations

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

import cloudbus.inventory.schema

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _date(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, cloudbus.inventory.schema.UtcDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "management_node",
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("hostName", sa.String(length=255), nullable=False),
        _date("heartbeat"),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("version", sa.String(length=32), nullable=False),
        _date("createDate"),
        _date("lastOpDate"),
        sa.Column("beatAt", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_management_node")),
    )
    op.create_table(
        "api_record",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("apiName", sa.String(length=255), nullable=False),
        sa.Column("nodeUuid", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        _date("createDate"),
        _date("finishDate", nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_record")),
    )
    op.create_index(op.f("ix_api_record_state"), "api_record", ["state"], unique=False)
    op.create_table(
        "operation_journal",
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("nodeUuid", sa.String(length=32), nullable=False),
        sa.Column("serviceId", sa.String(length=64), nullable=False),
        sa.Column("resourceUuid", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("apiId", sa.String(length=32), nullable=True),
        sa.Column("state", sa.Text(), nullable=False),
        _date("createDate"),
        _date("lastOpDate"),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_operation_journal")),
    )
    op.create_index(op.f("ix_operation_journal_nodeUuid"), "operation_journal", ["nodeUuid"], unique=False)
    op.create_index("ix_operation_journal_resourceUuid", "operation_journal", ["resourceUuid"], unique=False)
    op.create_table(
        "host_allocation",
        sa.Column("ownerUuid", sa.String(length=32), nullable=False),
        sa.Column("hostUuid", sa.String(length=32), nullable=False),
        sa.Column("cpuNum", sa.BigInteger(), nullable=False),
        sa.Column("memorySize", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["hostUuid"], ["host.uuid"], name=op.f("fk_host_allocation_hostUuid_host"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("ownerUuid", "hostUuid", name=op.f("pk_host_allocation")),
    )
    # VMs placed before this revision hold what their row says
    op.execute(
        'INSERT INTO host_allocation ("ownerUuid", "hostUuid", "cpuNum", "memorySize") '
        'SELECT uuid, "hostUuid", "cpuNum", "memorySize" FROM vm_instance WHERE "hostUuid" IS NOT NULL'
    )


def downgrade() -> None:
    op.drop_table("host_allocation")
    op.drop_table("operation_journal")
    op.drop_table("api_record")
    op.drop_table("management_node")
