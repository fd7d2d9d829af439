"""Resource identifiers and timestamps in ZStack's formats.

Uuids are UUIDv4 rendered as 32 lowercase hex chars without dashes. Dates are
timezone-aware UTC and rendered ISO-8601 (cloudbus differs from ZStack's Gson dates on purpose).
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

UUID_PATTERN = re.compile(r"^[0-9a-f]{32}$")


def new_uuid() -> str:
    return uuid.uuid4().hex


def is_uuid(value: object) -> bool:
    return isinstance(value, str) and bool(UUID_PATTERN.match(value))


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
