"""bus secret: the key management nodes sign their requests to each other with

Revision ID: 0013
Revises: 0012

Each database gets its own random key here. Clients never need it: they send to the API
portal, which takes unsigned requests (core/envelope.py).
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "bus_secret",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bus_secret")),
    )
    op.bulk_insert(table, [{"id": "bus", "secret": secrets.token_hex(32)}])


def downgrade() -> None:
    op.drop_table("bus_secret")
