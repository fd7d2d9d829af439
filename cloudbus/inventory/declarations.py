"""Inventory declarations: each resource type is declared once and that declaration
serves storage (its table), JSON (rendering rows as inventories), queries (fields and
expanded joins), CLI completion, API reference checks and the cascade graph (parents).

    register(Inventory(
        name="Host", table=host_table, service_id="host",
        parents={"Cluster": "clusterUuid"},
        joins={"cluster": Join("Cluster", self_key="clusterUuid")},
    ))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncConnection

from cloudbus.core.ids import iso


@dataclass(frozen=True)
class Via:
    """A mapping table between two resources (e.g. PrimaryStorageClusterRef)."""

    table: Table
    self_col: str
    target_col: str


@dataclass(frozen=True)
class Join:
    """An expanded query: `field.path` through to another inventory.

    Rows of this inventory whose `self_key` is in the set of `target_key` values of the
    matching target rows (through `via` when the relation is many-to-many).
    `embed=True` also renders the related inventories inside this one.
    """

    target: str
    self_key: str = "uuid"
    target_key: str = "uuid"
    via: Via | None = None
    embed: bool = False


@dataclass(frozen=True)
class ListField:
    """A primitive list field stored in a mapping table (`attachedClusterUuids`, `dns`)."""

    table: Table
    key_col: str
    value_col: str
    # column giving the list its order (e.g. the order DNS servers were added); None = by value
    order_col: str | None = None


@dataclass
class Inventory:
    name: str
    table: Table
    service_id: str
    # parent type -> this table's foreign key to it; None = the owning service resolves
    # the children itself (e.g. VMs below a primary storage, found through their root volume)
    parents: dict[str, str | None] = field(default_factory=dict)
    joins: dict[str, Join] = field(default_factory=dict)
    list_fields: dict[str, ListField] = field(default_factory=dict)
    hidden: frozenset[str] = frozenset()
    # column -> value every row of this inventory has: a subtype inventory over a shared
    # table (L2VlanNetwork = the l2_network rows whose type is L2VlanNetwork)
    where: dict[str, Any] = field(default_factory=dict)

    def restrict(self, table: Any = None) -> list[Any]:
        """The `where` clauses on `table` (this inventory's table or an alias of it)."""
        table = self.table if table is None else table
        return [table.c[column] == value for column, value in self.where.items()]

    @property
    def resource_type(self) -> str:
        """ZStack's VO name, used in messages: `ZoneVO`."""
        return f"{self.name}VO"

    @property
    def key(self) -> Any:
        return self.table.c.uuid

    def columns(self) -> list[str]:
        return [c.name for c in self.table.columns if c.name not in self.hidden]

    def primitive_fields(self) -> list[str]:
        """Fields a query may filter, sort or select on."""
        return self.columns() + list(self.list_fields)

    def render_row(self, row: Any) -> dict[str, Any]:
        mapping = row._mapping if hasattr(row, "_mapping") else row
        out: dict[str, Any] = {}
        for name in self.columns():
            value = mapping[name]
            out[name] = iso(value) if isinstance(value, datetime) else value
        return out

    async def render(self, conn: AsyncConnection, rows: Sequence[Any]) -> list[dict[str, Any]]:
        """Rows -> inventories, with list fields and embedded joins filled in."""
        inventories = [self.render_row(row) for row in rows]
        if not inventories:
            return inventories
        # (keys only when needed: a mapping-row inventory such as a ref has no uuid)
        keys = [inv["uuid"] for inv in inventories] if self.list_fields else []
        for name, spec in self.list_fields.items():
            values = await _group(conn, spec, keys)
            for inv in inventories:
                inv[name] = values.get(inv["uuid"], [])
        for name, join in self.joins.items():
            if join.embed:
                await self._embed(conn, name, join, inventories)
        return inventories

    async def _embed(self, conn: AsyncConnection, name: str, join: Join, inventories: list[dict[str, Any]]) -> None:
        target = get(join.target)
        own_keys = [inv[join.self_key] for inv in inventories if inv.get(join.self_key) is not None]
        column = target.table.c[join.target_key]
        query = select(target.table).where(column.in_(own_keys), *target.restrict())
        rows = (await conn.execute(query)).all()
        children = await target.render(conn, rows)
        by_key: dict[Any, list[dict[str, Any]]] = {}
        for child in children:
            by_key.setdefault(child[join.target_key], []).append(child)
        for inv in inventories:
            inv[name] = by_key.get(inv.get(join.self_key), [])

    async def fetch(self, conn: AsyncConnection, uuids: Sequence[str]) -> list[dict[str, Any]]:
        query = select(self.table).where(self.key.in_(list(uuids)), *self.restrict())
        rows = (await conn.execute(query)).all()
        by_uuid = {inv["uuid"]: inv for inv in await self.render(conn, rows)}
        return [by_uuid[u] for u in uuids if u in by_uuid]

    async def fetch_one(self, conn: AsyncConnection, uuid: str) -> dict[str, Any] | None:
        found = await self.fetch(conn, [uuid])
        return found[0] if found else None


async def _group(conn: AsyncConnection, spec: ListField, keys: list[str]) -> dict[str, list[Any]]:
    table = spec.table
    order = table.c[spec.order_col or spec.value_col]
    rows = await conn.execute(
        select(table.c[spec.key_col], table.c[spec.value_col]).where(table.c[spec.key_col].in_(keys)).order_by(order)
    )
    grouped: dict[str, list[Any]] = {}
    for key, value in rows.all():
        grouped.setdefault(key, []).append(value)
    return grouped


INVENTORIES: dict[str, Inventory] = {}


def register(inventory: Inventory) -> Inventory:
    if inventory.name in INVENTORIES:
        raise ValueError(f"inventory[{inventory.name}] is declared twice")
    INVENTORIES[inventory.name] = inventory
    return inventory


def get(name: str) -> Inventory:
    try:
        return INVENTORIES[name]
    except KeyError:
        raise KeyError(f"no inventory named [{name}]") from None


def validate() -> None:
    """Check every declaration refers to things that exist (run at start-up)."""
    for inv in INVENTORIES.values():
        for parent, column in inv.parents.items():
            get(parent)
            if column is not None and column not in inv.table.c:
                raise ValueError(f"{inv.name}.parents[{parent}] names unknown column [{column}]")
        for name, join in inv.joins.items():
            target = get(join.target)
            if join.self_key not in inv.table.c or join.target_key not in target.table.c:
                raise ValueError(f"{inv.name}.joins[{name}] names an unknown key column")
            if name in inv.columns():
                raise ValueError(f"{inv.name}.joins[{name}] shadows a field of the same name")
        for column in inv.where:
            if column not in inv.table.c:
                raise ValueError(f"{inv.name}.where names unknown column [{column}]")
