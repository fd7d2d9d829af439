"""Helpers every resource service shares: load-or-404, partial updates, state events."""

from __future__ import annotations

import functools
import re
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, bindparam, select, update

from cloudbus.core import errors
from cloudbus.core.ids import utcnow
from cloudbus.inventory.declarations import Inventory

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

# stateEvent -> state, for resources with Enabled/Disabled administrative state.
STATE_EVENTS = {"enable": "Enabled", "disable": "Disabled"}


def missing(inv: Inventory, uuid: str) -> errors.CloudBusError:
    """SYS.1003 for a resource that is gone: `unable to find volume snapshot[uuid:...]`."""
    words = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", inv.name).lower()
    return errors.not_found(f"unable to find {words}[uuid:{uuid}], it may have been deleted")


async def load(conn: AsyncConnection, inv: Inventory, uuid: str) -> dict[str, Any]:
    """The resource's inventory (rendered for users), or SYS.1003."""
    found = await inv.fetch_one(conn, uuid)
    if found is None:
        raise missing(inv, uuid)
    return found


async def load_row(conn: AsyncConnection, inv: Inventory, uuid: str) -> dict[str, Any]:
    """The resource's raw row (hidden columns included, dates as datetimes), or SYS.1003."""
    row = (await conn.execute(row_by_key(inv.table), {"key": uuid})).mappings().first()
    if row is None:
        raise missing(inv, uuid)
    return dict(row)


async def set_fields(conn: AsyncConnection, inv: Inventory, uuid: str, **values: Any) -> Any:
    """UPDATE the given columns (and lastOpDate) of one resource; the result tells the rowcount."""
    return await conn.execute(update_by_key(inv.table), {"lastOpDate": utcnow(), **values, "key_": uuid})


# Statements built once per table: building and cache-keying a statement costs several
# times what running it does on SQLite (docs/performance.md).
@functools.cache
def row_by_key(table: Table) -> Any:
    """SELECT the whole row whose primary key is :key."""
    [key] = table.primary_key.columns
    return select(table).where(key == bindparam("key"))


@functools.cache
def update_by_key(table: Table) -> Any:
    """UPDATE the row whose primary key is :key_, setting the columns the parameters name."""
    [key] = table.primary_key.columns
    return update(table).where(key == bindparam("key_"))


def changes(msg: Any, *names: str) -> dict[str, Any]:
    """The fields of an Update* message that were given (None means 'leave as is')."""
    return {name: getattr(msg, name) for name in names if getattr(msg, name) is not None}


def new_row(uuid: str, **values: Any) -> dict[str, Any]:
    now = utcnow()
    return {"uuid": uuid, "createDate": now, "lastOpDate": now, **values}
