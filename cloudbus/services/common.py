"""Helpers every resource service shares: load-or-404, partial updates, state events."""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncConnection

from cloudbus.core import errors
from cloudbus.core.ids import utcnow
from cloudbus.inventory.declarations import Inventory

# stateEvent -> state, for resources with Enabled/Disabled administrative state.
STATE_EVENTS = {"enable": "Enabled", "disable": "Disabled"}


async def load(conn: AsyncConnection, inv: Inventory, uuid: str) -> dict[str, Any]:
    found = await inv.fetch_one(conn, uuid)
    if found is None:
        raise errors.not_found(f"unable to find {inv.name.lower()}[uuid:{uuid}], it may have been deleted")
    return found


async def set_fields(conn: AsyncConnection, inv: Inventory, uuid: str, **values: Any) -> None:
    await conn.execute(update(inv.table).where(inv.key == uuid).values(lastOpDate=utcnow(), **values))


def changes(msg: Any, *names: str) -> dict[str, Any]:
    """The fields of an Update* message that were given (None means 'leave as is')."""
    return {name: getattr(msg, name) for name in names if getattr(msg, name) is not None}


def new_row(uuid: str, **values: Any) -> dict[str, Any]:
    now = utcnow()
    return {"uuid": uuid, "createDate": now, "lastOpDate": now, **values}
