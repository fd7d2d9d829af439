"""KVM hosts and real disks: the ssh login and libvirt URI a KVM host is reached with; the type
(internal/external) of a volume snapshot

Revision ID: 0014
Revises: 0013

Host columns are null for the other hypervisor types (single-table inheritance); snapshots
taken before this revision were simulated and have no type.
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

COLUMNS = (
    ("username", sa.String(length=255)),
    ("password", sa.String(length=255)),
    ("sshPort", sa.Integer()),
    ("libvirtUri", sa.String(length=1024)),
)


def upgrade() -> None:
    with op.batch_alter_table("host") as batch:
        for name, type_ in COLUMNS:
            batch.add_column(sa.Column(name, type_, nullable=True))
    with op.batch_alter_table("volume_snapshot") as batch:
        batch.add_column(sa.Column("snapshotType", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("volume_snapshot") as batch:
        batch.drop_column("snapshotType")
    with op.batch_alter_table("host") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
