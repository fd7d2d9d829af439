"""Quota APIs of the identity service: ZStack's (UpdateQuota, GetAccountQuotaUsage) and seed
004's limits (CreateLimit, UpdateLimit, DeleteLimit), over the one `quota` table.

Strict two levels (seed 004): a project's limit may not exceed its account's, so an account's
limit may not be lowered below one of its projects' either (ID.1004). Lowering a limit below
the current usage is allowed: it only blocks later creates (services/ownership.py checks
them). A normal account gets ZStack's defaults (inventory/quota.py) when it is created.

A change to a tenant's account's quotas, or to its default project's, is mirrored into OpenStack
(MirrorQuotas to the openstack service, after the change is committed); if that fails, the row is
put back as it was and the API fails with OpenStack's error as the cause. Other accounts cost
no message.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, insert, select

from cloudbus.apis.identity import CreateLimit, DeleteLimit, GetAccountQuotaUsage, UpdateLimit, UpdateQuota
from cloudbus.apis.internal.openstack import MirrorQuotas
from cloudbus.core import errors
from cloudbus.core.auth import INVALID_QUOTA
from cloudbus.core.ids import new_uuid, utcnow
from cloudbus.core.messages import Reply
from cloudbus.core.service import handles
from cloudbus.inventory.identity import ACCOUNT, PROJECT, TENANT
from cloudbus.inventory.quota import QUOTA, QUOTAS, quota_table, usage_statement
from cloudbus.services.common import load, set_fields

q = quota_table.c


def default_quotas(account: str) -> list[dict[str, Any]]:
    """The rows a new normal account starts with: ZStack's defaults (reference fact 20)."""
    now = utcnow()
    return [
        _row(account, "Account", account, quota.name, quota.default, None, now) | {"uuid": new_uuid()}
        for quota in QUOTAS.values()
    ]


def _row(identity: str, kind: str, account: str, name: str, value: int, description: str | None, now: Any) -> dict:
    return {
        "name": name,
        "identityUuid": identity,
        "identityType": kind,
        "accountUuid": account,
        "value": value,
        "description": description,
        "createDate": now,
        "lastOpDate": now,
    }


async def _identity(conn: Any, uuid: str) -> tuple[str, str]:
    """(`Account` | `Project`, the account) of an identity uuid; SYS.1003 for neither."""
    if await conn.scalar(select(ACCOUNT.key).where(ACCOUNT.key == uuid)) is not None:
        return "Account", uuid
    account = await conn.scalar(select(PROJECT.table.c.accountUuid).where(PROJECT.key == uuid))
    if account is None:
        raise errors.not_found(f"unable to find an account or a project with uuid[{uuid}]")
    return "Project", str(account)


async def _check_levels(conn: Any, kind: str, identity: str, account: str, name: str, value: int) -> None:
    """ID.1004 when `value` for quota `name` of `identity` would break the two levels."""
    if kind == "Project":
        ceiling = await conn.scalar(select(q.value).where(q.identityUuid == account, q.name == name))
        if ceiling is not None and value > ceiling:
            raise errors.fail(
                INVALID_QUOTA,
                f"the limit {value} of quota[{name}] for project[uuid:{identity}] exceeds its "
                f"account[uuid:{account}]'s limit {ceiling}",
            )
        return
    floor = await conn.scalar(
        select(func.max(q.value)).where(q.accountUuid == account, q.identityType == "Project", q.name == name)
    )
    if floor is not None and value < floor:
        raise errors.fail(
            INVALID_QUOTA,
            f"the limit {value} of quota[{name}] for account[uuid:{account}] is below the limit {floor} "
            "one of its projects has: lower the project's first",
        )


class QuotaHandlers:
    """Mixed into IdentityService."""

    db: Any
    bus: Any

    @handles(UpdateQuota)
    async def update_quota(self, msg: UpdateQuota) -> dict[str, Any]:
        async with self.db.tx() as conn:
            kind, account = await _identity(conn, msg.identityUuid)
            await _check_levels(conn, kind, msg.identityUuid, account, msg.name, msg.value)
            before = await _raw(conn, (q.identityUuid == msg.identityUuid) & (q.name == msg.name))
            if before is None:
                uuid = new_uuid()
                row = _row(msg.identityUuid, kind, account, msg.name, msg.value, None, utcnow())
                await conn.execute(insert(quota_table).values(uuid=uuid, **row))
            else:
                uuid = before["uuid"]
                await set_fields(conn, QUOTA, uuid, value=msg.value)
            inv = await load(conn, QUOTA, uuid)
        await self._mirror(inv, before)
        return inv

    @handles(CreateLimit)
    async def create_limit(self, msg: CreateLimit) -> dict[str, Any]:
        if (msg.accountUuid is None) == (msg.projectUuid is None):
            raise errors.invalid_argument("a limit is on an account or on a project: give exactly one of them")
        identity = msg.accountUuid or msg.projectUuid or ""
        async with self.db.tx() as conn:
            kind, account = await _identity(conn, identity)
            if await conn.scalar(select(q.uuid).where(q.identityUuid == identity, q.name == msg.name)) is not None:
                raise errors.invalid_argument(
                    f"{kind.lower()}[uuid:{identity}] already has a limit on {msg.name}: use UpdateLimit"
                )
            await _check_levels(conn, kind, identity, account, msg.name, msg.value)
            uuid = new_uuid()
            row = _row(identity, kind, account, msg.name, msg.value, msg.description, utcnow())
            await conn.execute(insert(quota_table).values(uuid=uuid, **row))
            inv = await load(conn, QUOTA, uuid)
        await self._mirror(inv, None)
        return inv

    @handles(UpdateLimit)
    async def update_limit(self, msg: UpdateLimit) -> dict[str, Any]:
        async with self.db.tx() as conn:
            row = await load(conn, QUOTA, msg.uuid)
            before = await _raw(conn, q.uuid == msg.uuid)
            values: dict[str, Any] = {}
            if msg.value is not None:
                kind, identity = row["identityType"], row["identityUuid"]
                await _check_levels(conn, kind, identity, row["accountUuid"], row["name"], msg.value)
                values["value"] = msg.value
            if msg.description is not None:
                values["description"] = msg.description
            if values:
                await set_fields(conn, QUOTA, msg.uuid, **values)
            inv = await load(conn, QUOTA, msg.uuid)
        if "value" in values:
            await self._mirror(inv, before)
        return inv

    @handles(DeleteLimit)
    async def delete_limit(self, msg: DeleteLimit) -> None:
        async with self.db.read() as conn:
            before = await _raw(conn, q.uuid == msg.uuid)
        await self.delete_cascade("Quota", [msg.uuid], msg.deleteMode)  # type: ignore[attr-defined]
        if before is not None:
            await self._mirror(before, before)

    async def _mirror(self, row: dict[str, Any], before: dict[str, Any] | None) -> None:
        """Mirror the quotas of `row`'s account into OpenStack when they are a tenant's; on
        failure put the row back as `before` held it (None: there was no row)."""
        async with self.db.read() as conn:
            default_project = await conn.scalar(
                select(TENANT.table.c.projectUuid).where(TENANT.table.c.accountUuid == row["accountUuid"])
            )
        if default_project is None or (row["identityType"] == "Project" and row["identityUuid"] != default_project):
            return
        try:
            await self.bus.call_ok(MirrorQuotas(accountUuid=row["accountUuid"]))
        except errors.CloudBusError as exc:
            if exc.error.code == errors.UNKNOWN_MESSAGE:
                return  # no openstack service on this bus: nothing to mirror into
            async with self.db.tx() as conn:
                await conn.execute(delete(quota_table).where(q.uuid == row["uuid"]))
                if before is not None:
                    await conn.execute(insert(quota_table).values(before))
            raise errors.operation_error(
                f"quota[{row['name']}] of {row['identityType'].lower()}[uuid:{row['identityUuid']}] "
                "could not be mirrored into OpenStack",
                exc.error,
            ) from None

    @handles(GetAccountQuotaUsage, chain=False)
    async def get_account_quota_usage(self, msg: GetAccountQuotaUsage) -> Reply:
        async with self.db.read() as conn:
            limits = (await conn.execute(select(quota_table).where(q.accountUuid == msg.uuid))).mappings().all()
            projects = list(
                (await conn.execute(select(PROJECT.key).where(PROJECT.table.c.accountUuid == msg.uuid))).scalars()
            )
            account_usage = await _usage(conn, project=None, account=msg.uuid)
            by_project = {p: await _usage(conn, project=p, account=msg.uuid) for p in projects}
        totals = {(row["identityUuid"], row["name"]): row["value"] for row in limits}
        usages = [{"name": name, "total": totals.get((msg.uuid, name)), "used": account_usage[name]} for name in QUOTAS]
        per_project = [
            {
                "projectUuid": project,
                "usages": [{"name": name, "total": totals.get((project, name)), "used": used[name]} for name in QUOTAS],
            }
            for project, used in by_project.items()
        ]
        return Reply(usages=usages, projects=per_project)


async def _raw(conn: Any, where: Any) -> dict[str, Any] | None:
    """The quota row as stored (to be put back as it was), or None."""
    row = (await conn.execute(select(quota_table).where(where))).mappings().first()
    return dict(row) if row is not None else None


async def _usage(conn: Any, *, project: str | None, account: str) -> dict[str, int]:
    found: dict[str, int] = {}
    for inventory in sorted({quota.inventory for quota in QUOTAS.values()}):
        statement = usage_statement(inventory, project=project is not None)
        params = {"project": project} if project is not None else {"account": account}
        found.update({k: int(v) for k, v in (await conn.execute(statement, params)).mappings().one().items()})
    return found
