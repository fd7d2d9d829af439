"""Identity service (`identity`): accounts, their projects and users, login sessions.

Every account has a default project from its creation (seed 004), named `default` (a
tenant's is named after the tenant id). The first start of a
database creates the SystemAdmin account `admin` with ZStack's fixed uuid; its password is
`CLOUDBUS_ADMIN_PASSWORD` when set, otherwise ZStack's `password`. Passwords are kept only as
scrypt hashes of what the client sent (core/passwords.py), hashed off the event loop.

CreateTenant (seed 000) registers a tenant `t-0000000001`, `t-0000000002`, ... with its own
account, default project and user, and returns an API key once; RegenerateApiKey replaces it.
AuthenticateApiKey is the seed's APIAuth (apis/internal/identity.py): the key, then the
platform authoriser for the resources named.

A login that fails says only that the name or the password was wrong (ID.1000), whichever
it was. A session lasts `CLOUDBUS_SESSION_TIMEOUT` seconds (7200) unless renewed, and an
account holds at most `CLOUDBUS_SESSION_MAX` live sessions (500; ID.1006 beyond).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import secrets
import urllib.request
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from cloudbus.apis.identity import (
    CreateAccount,
    CreateProject,
    CreateTenant,
    CreateUser,
    DeleteAccount,
    DeleteProject,
    DeleteUser,
    LogInByAccount,
    LogInByUser,
    LogOut,
    RegenerateApiKey,
    RenewSession,
    UpdateAccount,
    UpdateUser,
    ValidateSession,
)
from cloudbus.apis.internal.identity import AuthenticateApiKey, AuthenticateSession
from cloudbus.apis.internal.openstack import ProvisionTenant
from cloudbus.cascade.messages import CascadeStep
from cloudbus.core import errors
from cloudbus.core.auth import (
    ADMIN_ACCOUNT_UUID,
    AUTHENTICATION,
    INVALID_SESSION,
    NO_PERMISSION,
    TOO_MANY_SESSIONS,
    admin_password,
)
from cloudbus.core.ids import iso, new_uuid, utcnow
from cloudbus.core.messages import Reply
from cloudbus.core.passwords import hash_password, sha512_hex, verify_password
from cloudbus.core.periodic import Periodic
from cloudbus.core.service import handles
from cloudbus.inventory.declarations import Inventory
from cloudbus.inventory.identity import ACCOUNT, PROJECT, TENANT, USER, session_table, tenant_serial_table
from cloudbus.inventory.quota import quota_table
from cloudbus.inventory.tenancy import account_resource_ref_table, shared_resource_table
from cloudbus.services.base import ResourceService
from cloudbus.services.common import changes, load, load_row, new_row, set_fields
from cloudbus.services.identity.quotas import QuotaHandlers, default_quotas
from cloudbus.services.identity.sharing import SharingHandlers

ADMIN_UUID = ADMIN_ACCOUNT_UUID
SWEEP_INTERVAL = 300.0  # seconds between sweeps of ownership rows whose resource is gone


def session_timeout() -> int:
    return int(os.environ.get("CLOUDBUS_SESSION_TIMEOUT") or 7200)


def session_limit() -> int:
    return int(os.environ.get("CLOUDBUS_SESSION_MAX") or 500)


async def _hash(secret: str) -> str:
    return await asyncio.to_thread(hash_password, secret)


async def _matches(secret: str, stored: str) -> bool:
    return await asyncio.to_thread(verify_password, secret, stored)


# who a live session is (every API over the broker asks): built once, it runs in a fraction of
# what building it would cost (docs/performance.md)
_SESSION_CALLER = (
    select(session_table.c.accountUuid, session_table.c.userUuid, ACCOUNT.table.c.type, PROJECT.table.c.uuid)
    .select_from(session_table.join(ACCOUNT.table, ACCOUNT.key == session_table.c.accountUuid))
    .outerjoin(
        PROJECT.table,
        (PROJECT.table.c.accountUuid == session_table.c.accountUuid) & PROJECT.table.c.isDefault.is_(True),
    )
    .where(session_table.c.uuid == bindparam("session"), session_table.c.expiredDate > bindparam("now"))
)


class IdentityService(QuotaHandlers, SharingHandlers, ResourceService):
    service_id = "identity"

    def __init__(self, node: Any) -> None:
        super().__init__(node)
        # ownership rows of resources removed one by one (a VM expunged, an image deleted)
        self.sweeper = Periodic(self.sweep_ownership, SWEEP_INTERVAL, "ownership sweep")

    async def start(self) -> None:
        await self._bootstrap()
        await self.sweeper.start()

    async def stop(self) -> None:
        await self.sweeper.stop()

    async def _bootstrap(self) -> None:
        """Create `admin` on a database that has none (every node tries; one insert wins)."""
        async with self.db.read() as conn:
            if await conn.scalar(select(ACCOUNT.key).where(ACCOUNT.key == ADMIN_UUID)) is not None:
                return
        typed = admin_password()
        hashed = await _hash(sha512_hex(typed))
        try:
            async with self.db.tx() as conn:
                await _add_account(conn, ADMIN_UUID, "admin", hashed, "SystemAdmin", None)
        except IntegrityError:
            pass  # another node created it first

    async def _write(
        self, inv: Inventory, uuid: str, taken: str, write: Callable[[Any], Awaitable[Any]]
    ) -> dict[str, Any]:
        """`write(conn)`, then the inventory of `uuid`, in one transaction; a clash with a unique
        name or uuid is SYS.1007 `taken` (nothing written)."""
        try:
            async with self.db.tx() as conn:
                await write(conn)
                return await load(conn, inv, uuid)
        except IntegrityError:
            raise errors.invalid_argument(taken) from None

    # --- accounts ---------------------------------------------------------------------------

    @handles(CreateAccount)
    async def create_account(self, msg: CreateAccount) -> dict[str, Any]:
        uuid = msg.new_resource_uuid()
        hashed = await _hash(msg.password)
        taken = f"an account named {msg.name} or with uuid[{uuid}] already exists"
        return await self._write(
            ACCOUNT, uuid, taken, lambda conn: _add_account(conn, uuid, msg.name, hashed, msg.type, msg.description)
        )

    @handles(UpdateAccount)
    async def update_account(self, msg: UpdateAccount) -> dict[str, Any]:
        values = changes(msg, "name", "description")
        if msg.password is not None:
            if msg.oldPassword is not None:
                async with self.db.read() as conn:
                    row = await load_row(conn, ACCOUNT, msg.uuid)
                if not await _matches(msg.oldPassword, row["password"]):
                    raise errors.fail(AUTHENTICATION, f"the old password of account[uuid:{msg.uuid}] is wrong")
            values["password"] = await _hash(msg.password)
        taken = f"an account named {msg.name} already exists"
        return await self._write(ACCOUNT, msg.uuid, taken, lambda conn: _update(conn, ACCOUNT, msg.uuid, values))

    @handles(DeleteAccount)
    async def delete_account(self, msg: DeleteAccount) -> None:
        if msg.uuid == ADMIN_UUID:
            raise errors.operation_error(f"account admin[uuid:{ADMIN_UUID}] cannot be deleted")
        await self.delete_cascade("Account", [msg.uuid], msg.deleteMode)

    # --- projects ---------------------------------------------------------------------------

    @handles(CreateProject)
    async def create_project(self, msg: CreateProject) -> dict[str, Any]:
        uuid = msg.new_resource_uuid()
        row = new_row(uuid, name=msg.name, description=msg.description, accountUuid=msg.accountUuid, isDefault=False)
        taken = f"account[uuid:{msg.accountUuid}] already has a project named {msg.name}, or uuid[{uuid}] is taken"
        return await self._write(PROJECT, uuid, taken, lambda conn: conn.execute(insert(PROJECT.table).values(row)))

    @handles(DeleteProject)
    async def delete_project(self, msg: DeleteProject) -> None:
        async with self.db.read() as conn:
            is_default = await conn.scalar(select(PROJECT.table.c.isDefault).where(PROJECT.key == msg.uuid))
        if is_default:
            raise errors.operation_error(
                f"project[uuid:{msg.uuid}] is its account's default project: it goes only with the account"
            )
        await self.delete_cascade("Project", [msg.uuid], msg.deleteMode)

    # --- users ------------------------------------------------------------------------------

    @handles(CreateUser)
    async def create_user(self, msg: CreateUser) -> dict[str, Any]:
        uuid = msg.new_resource_uuid()
        hashed = await _hash(msg.password)
        row = new_row(uuid, name=msg.name, description=msg.description, accountUuid=msg.accountUuid, password=hashed)
        taken = f"account[uuid:{msg.accountUuid}] already has a user named {msg.name}, or uuid[{uuid}] is taken"
        return await self._write(USER, uuid, taken, lambda conn: conn.execute(insert(USER.table).values(row)))

    @handles(UpdateUser)
    async def update_user(self, msg: UpdateUser) -> dict[str, Any]:
        values = changes(msg, "name", "description")
        if msg.password is not None:
            values["password"] = await _hash(msg.password)
        taken = f"the account of user[uuid:{msg.uuid}] has a user named {msg.name}"
        return await self._write(USER, msg.uuid, taken, lambda conn: _update(conn, USER, msg.uuid, values))

    @handles(DeleteUser)
    async def delete_user(self, msg: DeleteUser) -> None:
        await self.delete_cascade("User", [msg.uuid], msg.deleteMode)

    async def on_delete(self, inv: Inventory, step: CascadeStep, *, force: bool) -> None:
        """The rows, and what hangs on them: sessions, quotas, ownership and sharing rows (the
        resources an account or project owned went first: they are its cascade children)."""
        sessions, quotas = session_table.c, quota_table.c
        refs, shares = account_resource_ref_table.c, shared_resource_table.c
        async with self.db.tx() as conn:
            if inv.name == "Account":
                await conn.execute(delete(session_table).where(sessions.accountUuid.in_(step.uuids)))
                await conn.execute(delete(quota_table).where(quotas.accountUuid.in_(step.uuids)))
                await conn.execute(delete(account_resource_ref_table).where(refs.accountUuid.in_(step.uuids)))
                await conn.execute(
                    delete(shared_resource_table).where(
                        shares.receiverAccountUuid.in_(step.uuids) | shares.ownerAccountUuid.in_(step.uuids)
                    )
                )
            elif inv.name == "Project":
                await conn.execute(delete(quota_table).where(quotas.identityUuid.in_(step.uuids)))
                await conn.execute(delete(account_resource_ref_table).where(refs.projectUuid.in_(step.uuids)))
            elif inv.name == "User":
                await conn.execute(delete(session_table).where(sessions.userUuid.in_(step.uuids)))
            await conn.execute(delete(inv.table).where(inv.key.in_(step.uuids)))

    # --- tenants (seed 000) -------------------------------------------------------------------

    @handles(CreateTenant)
    async def create_tenant(self, msg: CreateTenant) -> Reply:
        """An account, its default project and a user, all named after the new tenant id, and
        an API key returned this once (only its SHA-256 is kept)."""
        key = new_api_key()
        hashed = await _hash(sha512_hex(secrets.token_urlsafe(32)))  # a password nobody knows
        now = utcnow()
        try:
            async with self.db.tx() as conn:
                if await conn.scalar(select(TENANT.key).where(TENANT.table.c.tenantName == msg.tenantName)):
                    raise errors.invalid_argument(f"a tenant named {msg.tenantName} already exists")
                tenant_id = await _next_tenant_id(conn)
                account = new_uuid()
                project = await _add_account(conn, account, tenant_id, hashed, "Normal", None, project=tenant_id)
                user = new_row(new_uuid(), name=tenant_id, description=None, accountUuid=account, password=hashed)
                await conn.execute(insert(USER.table).values(user))
                row = {
                    "uuid": new_uuid(),
                    "tenantId": tenant_id,
                    "tenantName": msg.tenantName,
                    "accountUuid": account,
                    "projectUuid": project,
                    "userUuid": user["uuid"],
                    "apiKeyHash": api_key_hash(key),
                    "createDate": now,
                    "lastOpDate": now,
                }
                await conn.execute(insert(TENANT.table).values(row))
        except IntegrityError:  # a concurrent registration of the same name won
            raise errors.invalid_argument(f"a tenant named {msg.tenantName} already exists") from None
        try:  # its own identity in each OpenStack cloud, or the registration is undone
            await self.bus.call_ok(
                ProvisionTenant(tenantUuid=row["uuid"], tenantId=tenant_id, tenantName=msg.tenantName)
            )
        except errors.CloudBusError as exc:
            await self.delete_cascade("Account", [account], "Permissive")
            await _give_back_tenant_id(self.db, tenant_id)
            raise errors.operation_error(
                f"tenant {msg.tenantName} could not be registered in OpenStack", exc.error
            ) from None
        return Reply(tenantId=tenant_id, apikey=key)

    @handles(RegenerateApiKey)
    async def regenerate_api_key(self, msg: RegenerateApiKey) -> Reply:
        key = new_api_key()
        async with self.db.tx() as conn:
            changed = await conn.execute(
                TENANT.table.update()
                .where(TENANT.table.c.tenantId == msg.tenantId)
                .values(apiKeyHash=api_key_hash(key), lastOpDate=utcnow())
            )
            if changed.rowcount != 1:
                raise errors.not_found(f"unable to find tenant[tenantId:{msg.tenantId}]")
        return Reply(tenantId=msg.tenantId, apikey=key)

    @handles(AuthenticateApiKey, chain=False)
    async def authenticate_api_key(self, msg: AuthenticateApiKey) -> Reply:
        async with self.db.read() as conn:
            row = (
                (await conn.execute(select(TENANT.table).where(TENANT.table.c.tenantId == msg.tenantId)))
                .mappings()
                .first()
            )
        if row is None or not hmac.compare_digest(row["apiKeyHash"], api_key_hash(msg.apikey)):
            raise errors.fail(AUTHENTICATION, f"wrong or replaced API key for tenant[{msg.tenantId}]")
        url = os.environ.get("CLOUDBUS_PLATFORM_AUTH_URL")
        if msg.resourceUuids and url:
            await platform_allows(url, msg.tenantId, msg.platformUserId, msg.resourceUuids)
        return Reply(
            accountUuid=row["accountUuid"], projectUuid=row["projectUuid"], userUuid=row["userUuid"], admin=False
        )

    @handles(AuthenticateSession, chain=False)
    async def authenticate_session(self, msg: AuthenticateSession) -> Reply:
        async with self.db.read() as conn:
            row = (await conn.execute(_SESSION_CALLER, {"session": msg.sessionUuid, "now": utcnow()})).first()
        if row is None:
            raise errors.fail(INVALID_SESSION, "the session is unknown or expired: log in again")
        account, user, kind, project = row
        return Reply(accountUuid=account, projectUuid=project, userUuid=user, admin=kind == "SystemAdmin")

    # --- sessions ---------------------------------------------------------------------------

    @handles(LogInByAccount)
    async def log_in_by_account(self, msg: LogInByAccount) -> dict[str, Any]:
        async with self.db.read() as conn:
            account = (
                (await conn.execute(select(ACCOUNT.table).where(ACCOUNT.table.c.name == msg.accountName)))
                .mappings()
                .first()
            )
        if account is None or not await _matches(msg.password, account["password"]):
            raise errors.fail(AUTHENTICATION, "wrong account name or password")
        return await self._open_session(account["uuid"], None, "AccountVO")

    @handles(LogInByUser)
    async def log_in_by_user(self, msg: LogInByUser) -> dict[str, Any]:
        if (msg.accountName is None) == (msg.accountUuid is None):
            raise errors.invalid_argument("exactly one of accountName and accountUuid must be given")
        a, u = ACCOUNT.table, USER.table
        which = a.c.name == msg.accountName if msg.accountName is not None else a.c.uuid == msg.accountUuid
        query = select(u).select_from(u.join(a, a.c.uuid == u.c.accountUuid)).where(which, u.c.name == msg.userName)
        async with self.db.read() as conn:
            user = (await conn.execute(query)).mappings().first()
        if user is None or not await _matches(msg.password, user["password"]):
            raise errors.fail(AUTHENTICATION, "wrong account, user name or password")
        return await self._open_session(user["accountUuid"], user["uuid"], "UserVO")

    async def _open_session(self, account: str, user: str | None, user_type: str) -> dict[str, Any]:
        now = utcnow()
        s = session_table.c
        row = {
            "uuid": new_uuid(),
            "accountUuid": account,
            "userUuid": user,
            "userType": user_type,
            "expiredDate": now + timedelta(seconds=session_timeout()),
            "createDate": now,
        }
        async with self.db.tx() as conn:
            await conn.execute(delete(session_table).where(s.accountUuid == account, s.expiredDate <= now))
            live = await conn.scalar(select(func.count()).select_from(session_table).where(s.accountUuid == account))
            if live >= session_limit():
                raise errors.fail(
                    TOO_MANY_SESSIONS, f"account[uuid:{account}] already has {live} live sessions, the most allowed"
                )
            await conn.execute(insert(session_table).values(row))
        return _session_inventory(row)

    @handles(LogOut)
    async def log_out(self, msg: LogOut) -> None:
        if msg.sessionUuid:
            async with self.db.tx() as conn:
                await conn.execute(delete(session_table).where(session_table.c.uuid == msg.sessionUuid))

    @handles(ValidateSession)
    async def validate_session(self, msg: ValidateSession) -> Reply:
        return Reply(validSession=await self._live(msg.sessionUuid) is not None)

    @handles(RenewSession)
    async def renew_session(self, msg: RenewSession) -> dict[str, Any]:
        now = utcnow()
        s = session_table.c
        async with self.db.tx() as conn:
            renewed = await conn.execute(
                session_table.update()
                .where(s.uuid == msg.sessionUuid, s.expiredDate > now)
                .values(expiredDate=now + timedelta(seconds=msg.duration))
            )
            if renewed.rowcount != 1:
                raise errors.fail(INVALID_SESSION, f"session[uuid:{msg.sessionUuid}] is unknown or expired")
            row = (await conn.execute(select(session_table).where(s.uuid == msg.sessionUuid))).mappings().one()
        return _session_inventory(dict(row))

    async def _live(self, session_uuid: str) -> dict[str, Any] | None:
        s = session_table.c
        async with self.db.read() as conn:
            row = (
                (await conn.execute(select(session_table).where(s.uuid == session_uuid, s.expiredDate > utcnow())))
                .mappings()
                .first()
            )
        return dict(row) if row is not None else None


async def _add_account(
    conn: Any, uuid: str, name: str, hashed: str, kind: str, description: str | None, *, project: str = "default"
) -> str:
    """The account row and its default project (named `project`); returns the project's uuid."""
    await conn.execute(
        insert(ACCOUNT.table).values(new_row(uuid, name=name, description=description, type=kind, password=hashed))
    )
    row = new_row(new_uuid(), name=project, description=None, accountUuid=uuid, isDefault=True)
    await conn.execute(insert(PROJECT.table).values(row))
    if kind == "Normal":
        await conn.execute(insert(quota_table), default_quotas(uuid))
    return str(row["uuid"])


async def _update(conn: Any, inv: Inventory, uuid: str, values: dict[str, Any]) -> None:
    await load(conn, inv, uuid)  # SYS.1003 for a resource gone meanwhile
    await set_fields(conn, inv, uuid, **values)


async def _next_tenant_id(conn: Any) -> str:
    """`t-` + the next serial, taken in the caller's transaction: the row's lock (PostgreSQL) or the
    write lock (SQLite) orders concurrent registrations, and a rolled-back one gives its number back."""
    serial = tenant_serial_table.c
    taken = await conn.execute(
        tenant_serial_table.update().where(serial.id == "tenant").values(last=serial.last + 1).returning(serial.last)
    )
    last = taken.scalar()
    if last is None:
        raise errors.fail(errors.INTERNAL, "the tenant serial row is missing (migration 0011 creates it)")
    return f"t-{int(last):010d}"


async def _give_back_tenant_id(db: Any, tenant_id: str) -> None:
    """A registration undone after its commit gives its number back, unless a later one took the next."""
    serial = tenant_serial_table.c
    async with db.tx() as conn:
        await conn.execute(
            tenant_serial_table.update()
            .where(serial.id == "tenant", serial.last == int(tenant_id.removeprefix("t-")))
            .values(last=serial.last - 1)
        )


async def platform_allows(url: str, tenant_id: str, platform_user: str, resources: list[str]) -> None:
    """Ask the cloud-management platform (seed 000's second check): POST JSON
    `{tenantId, platformUserId, resourceUuids}`; only HTTP 200 with `{"allowed": true}` allows.
    Anything else, a refusal, an error or no answer in time, denies with ID.1002."""
    timeout = float(os.environ.get("CLOUDBUS_PLATFORM_AUTH_TIMEOUT") or 5)
    body = json.dumps({"tenantId": tenant_id, "platformUserId": platform_user, "resourceUuids": resources})

    def ask() -> bool:
        request = urllib.request.Request(
            url, data=body.encode(), headers={"Content-Type": "application/json"}, method="POST"
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status == 200 and json.loads(response.read() or b"{}").get("allowed") is True

    what = f"platform user[{platform_user}] of tenant[{tenant_id}] on resources {resources}"
    try:
        allowed = await asyncio.to_thread(ask)
    except (OSError, ValueError) as exc:  # refused, unreachable, timed out, not JSON
        raise errors.fail(NO_PERMISSION, f"the platform authoriser did not allow {what}: {exc}") from None
    if not allowed:
        raise errors.fail(NO_PERMISSION, f"the platform authoriser denied {what}")


def new_api_key() -> str:
    return secrets.token_urlsafe(24)


def api_key_hash(key: str) -> str:
    """A random 192-bit key needs no slow KDF: its SHA-256 is as hard to reverse."""
    return hashlib.sha256(key.encode()).hexdigest()


def _session_inventory(row: dict[str, Any]) -> dict[str, Any]:
    return {**row, "expiredDate": iso(row["expiredDate"]), "createDate": iso(row["createDate"])}
