"""KVM hosts: the ssh login and libvirt URI a KVM host is reached with

Revision ID: 0014
Revises: 0013

Columns on the host table (single-table inheritance), null for the other hypervisor types.
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


def downgrade() -> None:
    with op.batch_alter_table("host") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
