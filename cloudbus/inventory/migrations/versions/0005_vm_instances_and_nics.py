"""vm instances and nics

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op

import cloudbus.inventory.schema

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "vm_instance",
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=2048), nullable=True),
        sa.Column("createDate", cloudbus.inventory.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("lastOpDate", cloudbus.inventory.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("zoneUuid", sa.String(length=32), nullable=True),
        sa.Column("clusterUuid", sa.String(length=32), nullable=True),
        sa.Column("imageUuid", sa.String(length=32), nullable=True),
        sa.Column("hostUuid", sa.String(length=32), nullable=True),
        sa.Column("lastHostUuid", sa.String(length=32), nullable=True),
        sa.Column("instanceOfferingUuid", sa.String(length=32), nullable=True),
        sa.Column("rootVolumeUuid", sa.String(length=32), nullable=True),
        sa.Column("platform", sa.String(length=255), nullable=True),
        sa.Column("architecture", sa.String(length=32), nullable=True),
        sa.Column("defaultL3NetworkUuid", sa.String(length=32), nullable=True),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("hypervisorType", sa.String(length=64), nullable=True),
        sa.Column("memorySize", sa.BigInteger(), nullable=False),
        sa.Column("reservedMemorySize", sa.BigInteger(), nullable=False),
        sa.Column("cpuNum", sa.Integer(), nullable=False),
        sa.Column("cpuSpeed", sa.BigInteger(), nullable=False),
        sa.Column("allocatorStrategy", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("guestOsType", sa.String(length=255), nullable=True),
        sa.Column("pendingDataDiskOfferingUuids", sa.String(length=4096), nullable=True),
        sa.ForeignKeyConstraint(
            ["clusterUuid"], ["cluster.uuid"], name=op.f("fk_vm_instance_clusterUuid_cluster"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["hostUuid"], ["host.uuid"], name=op.f("fk_vm_instance_hostUuid_host"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["lastHostUuid"], ["host.uuid"], name=op.f("fk_vm_instance_lastHostUuid_host"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["zoneUuid"], ["zone.uuid"], name=op.f("fk_vm_instance_zoneUuid_zone"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_vm_instance")),
    )
    with op.batch_alter_table("vm_instance", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vm_instance_clusterUuid"), ["clusterUuid"], unique=False)
        batch_op.create_index(batch_op.f("ix_vm_instance_hostUuid"), ["hostUuid"], unique=False)
        batch_op.create_index(batch_op.f("ix_vm_instance_instanceOfferingUuid"), ["instanceOfferingUuid"], unique=False)
        batch_op.create_index(batch_op.f("ix_vm_instance_rootVolumeUuid"), ["rootVolumeUuid"], unique=False)
        batch_op.create_index(batch_op.f("ix_vm_instance_zoneUuid"), ["zoneUuid"], unique=False)

    op.create_table(
        "vm_nic",
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("vmInstanceUuid", sa.String(length=32), nullable=False),
        sa.Column("usedIpUuid", sa.String(length=32), nullable=True),
        sa.Column("l3NetworkUuid", sa.String(length=32), nullable=False),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("mac", sa.String(length=17), nullable=False),
        sa.Column("netmask", sa.String(length=64), nullable=True),
        sa.Column("gateway", sa.String(length=64), nullable=True),
        sa.Column("hypervisorType", sa.String(length=64), nullable=True),
        sa.Column("metaData", sa.String(length=255), nullable=True),
        sa.Column("ipVersion", sa.Integer(), nullable=True),
        sa.Column("driverType", sa.String(length=64), nullable=True),
        sa.Column("internalName", sa.String(length=255), nullable=True),
        sa.Column("deviceId", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("createDate", cloudbus.inventory.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("lastOpDate", cloudbus.inventory.schema.UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["vmInstanceUuid"],
            ["vm_instance.uuid"],
            name=op.f("fk_vm_nic_vmInstanceUuid_vm_instance"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("uuid", name=op.f("pk_vm_nic")),
        sa.UniqueConstraint("mac", name=op.f("uq_vm_nic_mac")),
    )
    with op.batch_alter_table("vm_nic", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_vm_nic_l3NetworkUuid"), ["l3NetworkUuid"], unique=False)
        batch_op.create_index(batch_op.f("ix_vm_nic_usedIpUuid"), ["usedIpUuid"], unique=False)
        batch_op.create_index(batch_op.f("ix_vm_nic_vmInstanceUuid"), ["vmInstanceUuid"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("vm_nic", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vm_nic_vmInstanceUuid"))
        batch_op.drop_index(batch_op.f("ix_vm_nic_usedIpUuid"))
        batch_op.drop_index(batch_op.f("ix_vm_nic_l3NetworkUuid"))
    op.drop_table("vm_nic")
    with op.batch_alter_table("vm_instance", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_vm_instance_zoneUuid"))
        batch_op.drop_index(batch_op.f("ix_vm_instance_rootVolumeUuid"))
        batch_op.drop_index(batch_op.f("ix_vm_instance_instanceOfferingUuid"))
        batch_op.drop_index(batch_op.f("ix_vm_instance_hostUuid"))
        batch_op.drop_index(batch_op.f("ix_vm_instance_clusterUuid"))
    op.drop_table("vm_instance")
