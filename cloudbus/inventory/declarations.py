"""Inventory declarations: each resource type is declared once and that declaration
serves storage (its table), JSON (rendering rows as inventories), queries (fields and
expanded joins), CLI completion, API reference checks and the cascade graph (parents).

It also derives the indexes queries rely on (`index_facts`): every key a join, a list field
or a parent link is followed by, and every sort field (`SORT_FIELDS`, with the primary key
the engine breaks ties by). `declare_indexes()` adds the missing ones to the tables, so
the metadata, migration 0009 and tests/test_bench_query.py all answer to these declarations.

    register(Inventory(
        name="Host", table=host_table, service_id="host",
        parents={"Cluster": "clusterUuid"},
        joins={"cluster": Join("Cluster", self_key="clusterUuid")},
    ))
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache, cached_property
from operator import itemgetter
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    ARRAY,
    Index,
    Select,
    String,
    Table,
    UniqueConstraint,
    any_,
    bindparam,
    func,
    literal_column,
    select,
    type_coerce,
)

from cloudbus.core.ids import iso

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection


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


@dataclass(frozen=True)
class Tenancy:
    """What a normal account sees of an inventory (inventory/tenancy.py compiles it to SQL).

    `by="resource"`: the row is visible when the resource whose uuid is in `column` is owned
    by the account (account_resource_ref) or shared with it -- `column="uuid"` for a resource
    accounts own (OWNED), the parent's key for a part of one (a VM's nics). `by="account"`:
    `column` holds the account's own uuid (its projects, users, quotas). An inventory with no
    tenancy is the cloud's infrastructure: a normal account sees only rows shared with it.
    """

    column: str
    by: str = "resource"


OWNED = Tenancy("uuid")


def part_of(column: str) -> Tenancy:
    return Tenancy(column)


def of_account(column: str) -> Tenancy:
    return Tenancy(column, "account")


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
    tenancy: Tenancy | None = None
    # deleted after its siblings in a cascade: it holds what deleting them needs (an OpenStack
    # cloud's login, which the drivers removing its servers and volumes use)
    cascade_last: bool = False

    @property
    def parent_types(self) -> list[str]:
        """The cascade's parents: the declared ones, and for a resource accounts own its project
        (deleting a project, or its account, deletes what it owns: account_resource_ref)."""
        owned = ["Project"] if self.tenancy == OWNED and "Project" not in self.parents else []
        return [*self.parents, *owned]

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
        return list(self._shown.names)

    @cached_property
    def _shown(self) -> _Shown:
        return _Shown.of(self.table, self.hidden)

    def render_columns(self, dialect: str) -> tuple[Any, ...]:
        """What to select for `render`: the table's columns, dates already ISO-8601 (`_as_iso`)."""
        return self._shown.selected(dialect)

    def primitive_fields(self) -> list[str]:
        """Fields a query may filter, sort or select on."""
        return self.columns() + list(self.list_fields)

    def render_row(self, row: Any) -> dict[str, Any]:
        mapping = row._mapping if hasattr(row, "_mapping") else row
        return self._shown.dated({name: mapping[name] for name in self._shown.names})

    def render_rows(self, rows: Sequence[Any]) -> list[dict[str, Any]]:
        """`render_row` of each row; rows of `select(table)` are read by position (a page of
        nested inventories is hundreds of rows: the per-field lookups were most of its cost)."""
        shown = self._shown
        if not rows or getattr(rows[0], "_fields", None) != shown.all_names:
            return [self.render_row(row) for row in rows]
        names, pick = shown.names, shown.pick
        return shown.dated_all([dict(zip(names, pick(row))) for row in rows])  # noqa: B905 (same length)

    async def render(self, conn: AsyncConnection, rows: Sequence[Any]) -> list[dict[str, Any]]:
        """Rows -> inventories, with list fields and embedded joins filled in."""
        inventories = self.render_rows(rows)
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
        statement = by_keys(target, join.target_key, conn.dialect.name)
        rows = (await conn.execute(statement, {"keys": own_keys})).all()
        children = await target.render(conn, rows)
        by_key: dict[Any, list[dict[str, Any]]] = {}
        for child in children:
            by_key.setdefault(child[join.target_key], []).append(child)
        for inv in inventories:
            inv[name] = by_key.get(inv.get(join.self_key), [])

    async def fetch(self, conn: AsyncConnection, uuids: Sequence[str]) -> list[dict[str, Any]]:
        statement = by_keys(self, "uuid", conn.dialect.name)
        rows = (await conn.execute(statement, {"keys": list(uuids)})).all()
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


@dataclass(frozen=True)
class _Shown:
    """How a table's rows render: the columns shown, where they sit in a row, which hold dates."""

    all_names: tuple[str, ...]
    names: tuple[str, ...]
    pick: Callable[[Any], tuple[Any, ...]]
    dates: tuple[str, ...]
    table: Table

    @classmethod
    def of(cls, table: Table, hidden: frozenset[str]) -> _Shown:
        all_names = tuple(c.name for c in table.columns)
        names = tuple(n for n in all_names if n not in hidden)
        positions = [all_names.index(n) for n in names]
        pick = itemgetter(*positions) if len(positions) > 1 else (lambda row: (row[positions[0]],))
        dates = tuple(n for n in names if _python_type(table.c[n]) is datetime)
        return cls(all_names, names, pick, dates, table)

    def selected(self, dialect: str) -> tuple[Any, ...]:
        """Every column, dates rendered by the database (`_as_iso`): a page no longer turns each
        date from text into a datetime only to print it back as text."""
        return tuple(_as_iso(c, dialect).label(c.name) if c.name in self.dates else c for c in self.table.columns)

    def dated(self, inv: dict[str, Any]) -> dict[str, Any]:
        return self.dated_all([inv])[0]

    def dated_all(self, invs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Dates as ISO-8601 text, as users see them (`iso`); rows read with `selected` have them so already."""
        for name in self.dates:
            for inv in invs:
                value = inv[name]
                if value is not None and value.__class__ is not str:
                    inv[name] = iso(value)
        return invs


def _as_iso(column: Any, dialect: str) -> Any:
    """The date as `iso` renders it (`2024-05-01T12:00:00.250000Z`, no fraction when it is zero),
    made by the database from its UTC text: SQLite stores `2024-05-01 12:00:00.250000`
    (UtcDateTime), PostgreSQL prints it with `to_char`. tests/test_bench_query.py holds the two to `iso`."""
    if dialect == "postgresql":
        utc = func.timezone(literal_column("'UTC'"), column)
        text = func.to_char(utc, literal_column('\'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\''))
    else:
        stored = type_coerce(column, String)
        text = func.replace(stored, literal_column("' '"), literal_column("'T'"), type_=String).concat(
            literal_column("'Z'")
        )
    return func.replace(text, literal_column("'.000000Z'"), literal_column("'Z'"))


def _python_type(column: Any) -> Any:
    # a TypeDecorator (UtcDateTime) answers `object`: ask the type it decorates
    type_ = getattr(column.type, "impl_instance", None) or column.type
    try:
        return type_.python_type
    except NotImplementedError:
        return None


def by_keys(inv: Inventory, column: str, dialect: str) -> Select[Any]:
    """`SELECT * FROM <inv's table> WHERE <column> IN :keys` (inv's own rows), built once per
    inventory: rendering a page runs one per embedded child table. PostgreSQL takes the keys as
    one array (`= ANY`), not one bound parameter each."""
    return _by_keys(inv.table, tuple(inv.where.items()), inv.hidden, column, dialect)


@cache
def _by_keys(
    table: Table, where: tuple[tuple[str, Any], ...], hidden: frozenset[str], column: str, dialect: str
) -> Select[Any]:
    if dialect == "postgresql":
        keys = table.c[column] == any_(bindparam("keys", type_=ARRAY(String)))
    else:
        keys = table.c[column].in_(bindparam("keys", expanding=True))
    return select(*_Shown.of(table, hidden).selected(dialect)).where(keys, *(table.c[k] == v for k, v in where))


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


# ---------------------------------------------------------------------------------------
# Indexes derived from the declarations

# Fields a listing is sorted by (ZStack's UI and CLI sort by these): each gets an index
# `(field, primary key...)`, the engine's exact ORDER BY, so a sorted page is read in index
# order and stops at its limit, and a deep page skips index entries instead of rows.
SORT_FIELDS = ("createDate", "lastOpDate", "name")

# PostgreSQL identifiers are at most 63 bytes.
_MAX_NAME = 63


@dataclass(frozen=True)
class IndexFact:
    """The query engine reads `table` by `columns` (leading columns of some index); `why` names the declaration."""

    table: Table
    columns: tuple[str, ...]
    why: str

    @property
    def name(self) -> str:
        name = f"ix_{self.table.name}_{'_'.join(self.columns)}"
        if len(name) > _MAX_NAME:
            digest = hashlib.sha1(name.encode()).hexdigest()[:8]
            name = f"{name[: _MAX_NAME - 9]}_{digest}"
        return name

    @property
    def bytewise(self) -> bool:
        """A string sort field: the engine sorts it bytewise (COLLATE "C" on PostgreSQL), so must its index."""
        return len(self.columns) > 1 and isinstance(self.table.c[self.columns[0]].type, String)


def _join_facts(inv: Inventory) -> list[IndexFact]:
    facts = []
    for name, join in inv.joins.items():
        why = f"{inv.name}.joins[{name}]"
        target = get(join.target).table
        facts.append(IndexFact(inv.table, (join.self_key,), why))
        if join.via is None:
            facts.append(IndexFact(target, (join.target_key,), why))
        else:
            facts.append(IndexFact(join.via.table, (join.via.self_col,), why))
            facts.append(IndexFact(join.via.table, (join.via.target_col,), why))
    for name, spec in inv.list_fields.items():
        facts.append(IndexFact(spec.table, (spec.key_col,), f"{inv.name}.list_fields[{name}]"))
    for parent, column in inv.parents.items():
        if column is not None:
            facts.append(IndexFact(inv.table, (column,), f"{inv.name}.parents[{parent}]"))
    return facts


def _sort_facts(inv: Inventory) -> list[IndexFact]:
    keys = tuple(c.name for c in inv.table.primary_key.columns)
    return [
        IndexFact(inv.table, (name, *keys), f"{inv.name} sortBy={name}")
        for name in SORT_FIELDS
        if name in inv.table.c and name not in keys
    ]


def index_facts() -> list[IndexFact]:
    """Every index the query engine relies on, once per (table, columns), in a stable order."""
    found: dict[tuple[str, tuple[str, ...]], IndexFact] = {}
    for inv in sorted(INVENTORIES.values(), key=lambda i: i.name):
        for fact in [*_join_facts(inv), *_sort_facts(inv)]:
            found.setdefault((fact.table.name, fact.columns), fact)
    return sorted(found.values(), key=lambda f: (f.table.name, f.columns))


def _leading_columns(table: Table) -> list[tuple[str, ...]]:
    """Column lists of the table's primary key, unique constraints and indexes."""
    lists = [tuple(c.name for c in table.primary_key.columns)]
    lists += [tuple(c.name for c in u.columns) for u in table.constraints if isinstance(u, UniqueConstraint)]
    lists += [tuple(c.name for c in i.columns) for i in table.indexes]
    return lists


def is_indexed(table: Table, columns: Sequence[str]) -> bool:
    """Some index (primary key and unique constraints included) starts with `columns`."""
    wanted = tuple(columns)
    return any(have[: len(wanted)] == wanted for have in _leading_columns(table))


def declare_indexes() -> None:
    """Add to the tables the indexes `index_facts()` asks for and no declared one gives (run at start-up).

    A string sort field is indexed `COLLATE "C"` on PostgreSQL, the collation the engine sorts it by."""
    for fact in index_facts():
        if is_indexed(fact.table, fact.columns):
            continue
        ops = {fact.columns[0]: 'COLLATE "C"'} if fact.bytewise else {}
        Index(fact.name, *(fact.table.c[c] for c in fact.columns), postgresql_ops=ops, info={"derived": fact.why})
