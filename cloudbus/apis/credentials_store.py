"""What the CLI presents to the cloud between commands: a kept login session, or an API key.

`cloudbus LogInByAccount ...` (or LogInByUser) keeps the session it got in
`$CLOUDBUS_HOME/sessions.json`, under the cloud that issued it (`cloud`: the broker URL
without its password and the bus namespace, or an embedded cloud's database URL), so a
session is only ever sent to the cloud it belongs to. Only what sending it needs is kept:
the session uuid, its account and when it expires; never a password. The file is created
with mode 0600 and replaced whole (written beside it, then renamed): it is never readable by
others, not even for a moment, and never seen half-written.

`CLOUDBUS_API_KEY`, `CLOUDBUS_TENANT_ID` and `CLOUDBUS_PLATFORM_USER_ID`, all three set,
present seed 000's API key instead of any kept session (`api_key_from_env`).

`CliCredentials` follows the commands: it keeps the session of a successful login (and the
new expiry of a RenewSession of it), forgets it after its LogOut (a LogOut naming no session
logs out the kept one) and after the cloud refused it with ID.1001, and never presents an
expired one.
"""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cloudbus.apis.identity import LogInByAccount, LogInByUser, LogOut, RenewSession
from cloudbus.core.auth import INVALID_SESSION, Credentials
from cloudbus.core.messages import APIMessage, Reply

FILE_NAME = "sessions.json"
API_KEY_VARIABLES = ("CLOUDBUS_API_KEY", "CLOUDBUS_TENANT_ID", "CLOUDBUS_PLATFORM_USER_ID")


class IncompleteApiKey(Exception):
    """Some but not all of API_KEY_VARIABLES are set (the CLI exits 1 with this one line)."""


def api_key_from_env(env: Mapping[str, str] | None = None) -> Credentials | None:
    """The API key the environment presents; None when none of its variables is set."""
    env = os.environ if env is None else env
    values = {name: env.get(name) or "" for name in API_KEY_VARIABLES}
    missing = [name for name, value in values.items() if not value]
    if len(missing) == len(API_KEY_VARIABLES):
        return None
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        key, tenant, user = API_KEY_VARIABLES
        raise IncompleteApiKey(
            f"{' and '.join(missing)} {verb} not set: an API key needs {key}, {tenant} and {user} together"
        )
    key, tenant, user = values.values()
    return Credentials(apikey=key, tenantId=tenant, platformUserId=user)


@dataclass(frozen=True)
class StoredSession:
    """A kept session: what a LogInBy* reply's SessionInventory says, minus what is not needed."""

    uuid: str
    accountUuid: str
    expiredDate: str  # ISO 8601, as the SessionInventory gives it

    @classmethod
    def from_inventory(cls, inv: Mapping[str, Any]) -> StoredSession:
        return cls(uuid=str(inv["uuid"]), accountUuid=str(inv["accountUuid"]), expiredDate=str(inv["expiredDate"]))

    def expired(self, now: datetime | None = None) -> bool:
        try:
            until = datetime.fromisoformat(self.expiredDate)
        except ValueError:
            return True  # an unreadable date proves nothing: do not send the session
        if until.tzinfo is None:
            until = until.replace(tzinfo=UTC)
        return until <= (now or datetime.now(UTC))


class SessionStore:
    """The session kept for one cloud, in the file shared by every cloud used from this home."""

    def __init__(self, home: Path, cloud: str) -> None:
        self.home = home
        self.cloud = cloud

    @property
    def path(self) -> Path:
        return self.home / FILE_NAME

    def load(self) -> StoredSession | None:
        """The kept session, unless there is none or it has expired."""
        entry = self._read().get(self.cloud)
        try:
            found = StoredSession(**entry) if isinstance(entry, dict) else None
        except TypeError:  # keys this version does not write: not ours to trust
            return None
        return None if found is None or found.expired() else found

    def save(self, session: StoredSession) -> None:
        self._write({**self._read(), self.cloud: asdict(session)})

    def forget(self) -> None:
        kept = self._read()
        if kept.pop(self.cloud, None) is None:
            return
        if kept:
            self._write(kept)
        else:
            self.path.unlink(missing_ok=True)

    def _read(self) -> dict[str, Any]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}  # none kept yet, or a damaged file: as if logged out
        return data if isinstance(data, dict) else {}

    def _write(self, data: dict[str, Any]) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        # A fresh file opened 0600 from the start (a chmod after writing would leave a window),
        # then renamed over the old one so a concurrent reader never sees half of it.
        temp = self.home / f".{FILE_NAME}.{os.getpid()}.{secrets.token_hex(4)}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2, sort_keys=True)
            os.replace(temp, self.path)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise


class CliCredentials:
    """Who the CLI calls as, for one cloud: the environment's API key, else the kept session."""

    def __init__(self, home: Path, cloud: str) -> None:
        self.api_key = api_key_from_env()
        self.store = SessionStore(home, cloud)
        self.kept = self.store.load()

    def credentials(self) -> Credentials | None:
        if self.api_key is not None:
            return self.api_key
        return Credentials(session=self.kept.uuid) if self.kept is not None else None

    def fill(self, msg: APIMessage) -> APIMessage:
        """A LogOut naming no session logs out the kept one."""
        if isinstance(msg, LogOut) and msg.sessionUuid is None and self.kept is not None:
            return msg.model_copy(update={"sessionUuid": self.kept.uuid})
        return msg

    def follow(self, msg: APIMessage, reply: Reply, sent: Credentials | None) -> bool:
        """Keep, renew or forget the session as `msg` and its reply say; True if it changed."""
        kept = self.kept.uuid if self.kept is not None else None
        if reply.success and reply.inventory and isinstance(msg, LogInByAccount | LogInByUser):
            return self._keep(StoredSession.from_inventory(reply.inventory))
        if reply.success and reply.inventory and isinstance(msg, RenewSession) and msg.sessionUuid == kept:
            return self._keep(StoredSession.from_inventory(reply.inventory))
        if reply.success and isinstance(msg, LogOut) and msg.sessionUuid in (None, kept):
            return self._forget()  # None: no live one to fill in, but an expired one is dropped too
        if reply.success or reply.error is None or reply.error.code != INVALID_SESSION or kept is None:
            return False
        # Only the kept session itself refused counts: the portal checked what was sent, or a
        # RenewSession named it; a RenewSession of some other uuid says nothing about ours.
        refused = msg.needs_session and sent is not None and sent.session == kept
        if refused or getattr(msg, "sessionUuid", None) == kept:
            print("cloudbus: the kept login session is expired or unknown to this cloud: log in again", file=sys.stderr)
            return self._forget()
        return False

    def _keep(self, session: StoredSession) -> bool:
        self.kept = session
        try:
            self.store.save(session)
        except OSError as exc:  # the login worked; only later commands will go without it
            print(f"cloudbus: cannot keep the session in [{self.store.path}]: {exc.strerror or exc}", file=sys.stderr)
        return True

    def _forget(self) -> bool:
        changed, self.kept = self.kept is not None, None
        try:
            self.store.forget()
        except OSError as exc:
            print(f"cloudbus: cannot forget the session in [{self.store.path}]: {exc.strerror or exc}", file=sys.stderr)
        return changed
