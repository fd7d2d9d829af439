"""tags

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

import cloudbus.inventory.schema

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _tag_table(name: str, *extra: sa.Column) -> None:
    op.create_table(
        name,
        sa.Column("uuid", sa.String(length=32), nullable=False),
        sa.Column("resourceUuid", sa.String(length=32), nullable=False),
        sa.Column("resourceType", sa.String(length=255), nullable=False),
        sa.Column("tag", sa.String(length=1024), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        *extra,
        sa.Column("createDate", cloudbus.inventory.schema.UtcDateTime(timezone=True), nullable=False),
        sa.Column("lastOpDate", cloudbus.inventory.schema.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("uuid", name=op.f(f"pk_{name}")),
        sa.UniqueConstraint("resourceUuid", "tag", name=op.f(f"uq_{name}_resourceUuid")),
    )


def upgrade() -> None:
    _tag_table("user_tag", sa.Column("tagPatternUuid", sa.String(length=32), nullable=True))
    _tag_table("system_tag", sa.Column("inherent", sa.Boolean(), nullable=False))


def downgrade() -> None:
    op.drop_table("system_tag")
    op.drop_table("user_tag")
