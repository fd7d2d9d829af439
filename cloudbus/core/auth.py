"""Who is calling: the credentials a client presents and the caller they resolve to.

A client presents `Credentials` with an API message: a session uuid (from LogInByAccount /
LogInByUser), or seed 000's API key (`apikey`, `tenantId`, `platformUserId`, optionally the
`resourceUuids` the platform authoriser is asked about). The API portal resolves them to a
`Caller`: the account (and its project and user) the message acts for, and whether that
account is a SystemAdmin.

Both travel like the deadline does: in a context variable while a message is handled, so
every call a handler makes carries them on; on the broker in the request envelope (`auth`
from a client, `caller` between nodes; docs/wire-protocol.md). A node takes `auth` from
anyone and `caller` only on its service queues, never on the portal's: only the portal turns
credentials into a caller.

The ID.* codes of authentication and authorisation live here, beside what they are about.
"""

from __future__ import annotations

import contextvars
import os
from dataclasses import asdict, dataclass, field
from typing import Any

from cloudbus.core import errors

PORTAL = "api.portal"  # the service every API message enters through
ADMIN_ACCOUNT_UUID = "36c27e8ff05c4780bf6d2fa65700f22e"  # ZStack's AccountConstant.INITIAL_SYSTEM_ADMIN_UUID

AUTHENTICATION = errors.register("ID.1000", "Authentication failed")
INVALID_SESSION = errors.register("ID.1001", "Invalid or expired session")
NO_PERMISSION = errors.register("ID.1002", "Permission denied")
QUOTA_EXCEEDED = errors.register("ID.1003", "Quota exceeded")
INVALID_QUOTA = errors.register("ID.1004", "Invalid quota operation")
TOO_MANY_SESSIONS = errors.register("ID.1006", "Too many active sessions")


@dataclass(frozen=True)
class Credentials:
    """What a client presents: `session`, or `apikey` + `tenantId` + `platformUserId`."""

    session: str | None = None
    apikey: str | None = None
    tenantId: str | None = None
    platformUserId: str | None = None
    resourceUuids: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v}

    @classmethod
    def from_json(cls, data: Any) -> Credentials | None:
        """The envelope's `auth`; None for an absent or empty one; SYS.1007 for a malformed one."""
        if data is None:
            return None
        if not isinstance(data, dict):
            raise errors.invalid_argument("malformed envelope: auth must be an object")
        known = {k: data.get(k) for k in ("session", "apikey", "tenantId", "platformUserId")}
        if any(v is not None and not isinstance(v, str) for v in known.values()):
            raise errors.invalid_argument("malformed envelope: auth values must be strings")
        resources = data.get("resourceUuids") or []
        if not isinstance(resources, list) or not all(isinstance(r, str) for r in resources):
            raise errors.invalid_argument("malformed envelope: auth.resourceUuids must be a list of strings")
        found = cls(**known, resourceUuids=resources)  # type: ignore[arg-type]
        return found if found.to_json() else None


@dataclass(frozen=True)
class Caller:
    """The account a message acts for; `admin` for a SystemAdmin account."""

    accountUuid: str
    projectUuid: str | None = None
    userUuid: str | None = None
    admin: bool = False

    def to_json(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_json(cls, data: Any) -> Caller | None:
        if not isinstance(data, dict) or not isinstance(data.get("accountUuid"), str):
            return None
        return cls(
            accountUuid=data["accountUuid"],
            projectUuid=data.get("projectUuid"),
            userUuid=data.get("userUuid"),
            admin=data.get("admin") is True,
        )

    @property
    def tenant(self) -> str | None:
        """The account whose view applies (queries filtered, quotas counted); None for an admin."""
        return None if self.admin else self.accountUuid


def admin_password() -> str:
    """The password `admin` gets on a new database: CLOUDBUS_ADMIN_PASSWORD, else ZStack's."""
    return os.environ.get("CLOUDBUS_ADMIN_PASSWORD") or "password"


# The embedded CLI's caller: whoever opens the local database file owns the cloud anyway.
EMBEDDED_ADMIN = Caller(accountUuid=ADMIN_ACCOUNT_UUID, admin=True)

current_credentials: contextvars.ContextVar[Credentials | None] = contextvars.ContextVar("credentials", default=None)
current_caller: contextvars.ContextVar[Caller | None] = contextvars.ContextVar("caller", default=None)


def tenant() -> str | None:
    """The account whose view the current message has (None: an admin, or internal work)."""
    caller = current_caller.get()
    return caller.tenant if caller is not None else None
