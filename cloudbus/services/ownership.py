"""Claiming a new resource for the calling account, inside its quotas (shared by every service).

A service inserting a row of an OWNED inventory calls `await claim(conn, INV, row)` in the
same transaction. For a normal account (`core.auth.current_caller`) it:

1. takes the account's row lock (PostgreSQL `FOR UPDATE`; SQLite's writers are serialised
   already), so concurrent creates of one account check and claim one after the other;
2. checks each quota the row counts towards (inventory/quota.py), at the account's level and
   at its project's -- seed 004's strict two levels -- and fails with ID.1003 naming the
   quota, the limit and the usage when the row would pass either; the transaction then rolls
   back and nothing was created;
3. records the account and project owning the row (account_resource_ref).

An admin's (or the node's own) resources get no row: they are the admin account's.
The identity service owns the tables; this module only appends to them in the creating
service's transaction, as ZStack's DatabaseFacade persists an AccountResourceRefVO with
every owned VO.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, insert, select

from cloudbus.core import errors
from cloudbus.core.auth import QUOTA_EXCEEDED, Caller, current_caller
from cloudbus.core.ids import utcnow
from cloudbus.inventory.declarations import Inventory
from cloudbus.inventory.identity import account_table
from cloudbus.inventory.quota import costs, quota_table, usage_statement
from cloudbus.inventory.tenancy import account_resource_ref_table

_LOCK = select(account_table.c.uuid).where(account_table.c.uuid == bindparam("account")).with_for_update()
_LIMITS = select(quota_table.c.identityUuid, quota_table.c.name, quota_table.c.value).where(
    quota_table.c.identityUuid.in_(bindparam("identities", expanding=True)),
    quota_table.c.name.in_(bindparam("names", expanding=True)),
)
_CLAIM = insert(account_resource_ref_table)


async def claim(conn: Any, inv: Inventory, row: dict[str, Any]) -> None:
    """Make the new `row` of `inv` the calling normal account's, within its quotas (ID.1003)."""
    caller = current_caller.get()
    if caller is None or caller.admin or caller.projectUuid is None:
        return
    await claim_for(conn, caller, inv, row)


async def claim_for(conn: Any, owner: Caller, inv: Inventory, row: dict[str, Any]) -> None:
    """Make `row` of `inv` the account and project of `owner`, within their quotas (ID.1003)."""
    needed = costs(inv.name, row)
    if needed:
        await _check_quotas(conn, owner, inv.name, needed)
    now = utcnow()
    await conn.execute(
        _CLAIM,
        {
            "resourceUuid": row["uuid"],
            "resourceType": inv.resource_type,
            "accountUuid": owner.accountUuid,
            "projectUuid": owner.projectUuid,
            "createDate": now,
            "lastOpDate": now,
        },
    )


async def _check_quotas(conn: Any, owner: Caller, inventory: str, needed: dict[str, int]) -> None:
    account, project = owner.accountUuid, owner.projectUuid
    await conn.execute(_LOCK, {"account": account})
    limits: dict[tuple[str, str], int] = {
        (identity, name): value
        for identity, name, value in await conn.execute(
            _LIMITS, {"identities": [account, project], "names": list(needed)}
        )
    }
    if not limits:
        return
    levels = [("account", account, False)]
    if any(identity == project for identity, _ in limits):
        levels.append(("project", project, True))
    for level, identity, by_project in levels:
        if not any((identity, name) in limits for name in needed):
            continue
        usage = (await conn.execute(usage_statement(inventory, project=by_project), {level: identity})).mappings().one()
        for name, cost in needed.items():
            limit = limits.get((identity, name))
            if limit is not None and usage[name] + cost > limit:
                raise errors.fail(
                    QUOTA_EXCEEDED,
                    f"quota exceeded: {level}[uuid:{identity}] quota[{name}] limit {limit}, "
                    f"usage {usage[name]}, this request needs {cost} more",
                )
