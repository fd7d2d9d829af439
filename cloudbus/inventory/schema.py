"""Shared table metadata and the column types every resource table uses."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, MetaData, String, TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_name)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite stores naive UTC text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def uuid_column(name: str = "uuid", *args: Any, **kwargs: Any) -> Column[str]:
    return Column(name, String(32), *args, **kwargs)


def common_columns() -> list[Column[Any]]:
    """uuid, name, description, createDate, lastOpDate: on every resource table."""
    return [
        uuid_column(primary_key=True),
        Column("name", String(255), nullable=False),
        Column("description", String(2048)),
        Column("createDate", UtcDateTime(), nullable=False),
        Column("lastOpDate", UtcDateTime(), nullable=False),
    ]


Bytes = BigInteger
