"""The query engine: ZStack's query language (APIQueryMessage) compiled to SQL.

Owns: resolving field paths against the inventory declarations (`resolve_path`),
coercing condition values to column types, compiling conditions to SQLAlchemy Core
expressions, and paging / sorting / counting / projecting the result (`run_query`).
It is generic: everything it knows about a resource comes from its `Inventory`
declaration (columns, `hidden`, `joins`, `list_fields`).

Semantics (reference section 3, docs/query.md):
- conditions are AND-ed; every hop of a field path `a.b.c` is a semi-join of its own
  (`_semi_join`: `EXISTS (SELECT 1 FROM target WHERE target_key = self_key AND ...)`, or
  the same set as `self_key IN (SELECT target_key FROM target WHERE ...)`), so a condition
  through a join means "some related row matches" (also for `!=`, `not in`, `not like`),
  and two conditions on one join may be met by two different related rows;
- a `ListField` is a semi-join on its mapping table: some element matches;
- the pseudo-fields `__userTag__` / `__systemTag__` (every inventory, also at the end of a
  path) search the tags: positive ops are "some tag matches", negative ops (`!=`, `not in`,
  `not like`) are "no tag matches the positive op" so untagged resources match; `is null` =
  no tag of that kind, `is not null` = at least one (reference 3.4);
- values arrive as strings and are coerced by column type (int, bool, ISO-8601 date ...);
- `=` / `!=` / `in` are case-sensitive and `like` / `not like` case-insensitive on both
  SQLite and PostgreSQL; string ordering (`<`, `>`, sortBy) is bytewise on both.
Nothing is filtered in Python: rows are only loaded for the requested page.

Speed (docs/performance/query.md): join keys and sort fields are indexed (declarations'
`index_facts`, migration 0009); a page is read in index order and stops at its limit; a
deep page finds its keys first and reads only its own rows; embedded inventories cost one
statement per child table per page; a query's statements are built once per shape (`_Shape`:
inventory, condition paths and operators, sort) with every value bound. PostgreSQL plans
EXISTS and IN as the same semi-join; SQLite cannot, so `_Query.page` chooses between them
(EXISTS for an early stop, IN for one pass over a child table).
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    Float,
    Integer,
    Numeric,
    String,
    Table,
    and_,
    bindparam,
    cast,
    func,
    literal_column,
    select,
    true,
    tuple_,
)
from sqlalchemy.sql.type_api import TypeEngine

from cloudbus.core import errors
from cloudbus.core.messages import APIQueryMessage, QueryCondition, Reply
from cloudbus.inventory.declarations import Inventory, Join, ListField, by_keys, get, is_indexed
from cloudbus.inventory.tag import TAG_TABLES
from cloudbus.inventory.tenancy import visible

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

# Ops that compare against a value (all but the null tests).
_NULL_OPS = frozenset({"is null", "is not null"})
_LIST_OPS = frozenset({"in", "not in"})
_LIKE_OPS = frozenset({"like", "not like"})
_RANGE_OPS = frozenset({">", ">=", "<", "<="})
# A negative op on a tag pseudo-field is the negation of its positive op (untagged included).
_TAG_NEGATIONS = {"!=": "=", "not in": "in", "not like": "like"}

_INT64 = (-(2**63), 2**63 - 1)

_COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    "=": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    ">=": operator.ge,
    "<": operator.lt,
    "<=": operator.le,
}


class FieldPath(NamedTuple):
    """Where a query field path ends: the inventory that owns the last segment, and its name.

    Unpacks as `(inventory, field)`; `column` / `type` describe the field's storage.
    """

    inventory: Inventory
    field: str

    def __repr__(self) -> str:
        return f"FieldPath({self.inventory.name}.{self.field})"

    @property
    def list_field(self) -> ListField | None:
        return self.inventory.list_fields.get(self.field)

    @property
    def column(self) -> Any:
        """The column holding the field's values (the value column for a list field)."""
        spec = self.list_field
        if spec is not None:
            return spec.table.c[spec.value_col]
        return self.inventory.table.c[self.field]

    @property
    def type(self) -> TypeEngine[Any]:
        return self.column.type


class _Hop(NamedTuple):
    owner: Inventory
    name: str
    join: Join


def _no_field(inv: Inventory, path: str, why: str) -> errors.CloudBusError:
    return errors.invalid_argument(f"inventory[{inv.name}] has no field[{path}]: {why}")


def _walk(inv: Inventory, path: str) -> tuple[list[_Hop], FieldPath]:
    """Split `a.b.c` into join hops and the final field; SYS.1007 naming `path` if invalid."""
    segments = path.split(".")
    hops: list[_Hop] = []
    current = inv
    for segment in segments[:-1]:
        join = current.joins.get(segment)
        if join is None:
            if segment in current.primitive_fields():
                why = f"[{segment}] is a field of inventory[{current.name}], not an expanded query"
            else:
                expanded = ", ".join(sorted(current.joins)) or "none"
                why = f"inventory[{current.name}] has no expanded query[{segment}] (it has: {expanded})"
            raise _no_field(inv, path, why)
        hops.append(_Hop(current, segment, join))
        current = get(join.target)
    last = segments[-1]
    if last in TAG_TABLES and "uuid" in current.table.c:
        return hops, FieldPath(current, last)
    if last not in current.primitive_fields():
        if last in current.joins:
            why = f"[{last}] is an expanded query of inventory[{current.name}]; query its fields, e.g. {last}.uuid"
        elif hops:
            why = f"inventory[{current.name}] has no field[{last}]"
        else:
            raise errors.invalid_argument(f"inventory[{inv.name}] has no field[{path}]")
        raise _no_field(inv, path, why)
    return hops, FieldPath(current, last)


def resolve_path(inv: Inventory, path: str) -> FieldPath:
    """Validate a query field path (`cluster.zone.name`) against `inv`'s declarations.

    Returns `(inventory, field)` of the last segment; raises CloudBusError SYS.1007
    naming the path and the inventory when a segment is unknown. Pure: no database.
    """
    return _walk(inv, path)[1]


# ---------------------------------------------------------------------------------------
# Value coercion


def _type_kind(type_: TypeEngine[Any]) -> str:
    """Classify a column type; TypeDecorators (UtcDateTime) are judged by their impl."""
    impl = getattr(type_, "impl_instance", None) or getattr(type_, "impl", None)
    probe = impl if isinstance(impl, TypeEngine) else type_
    if isinstance(probe, Boolean):
        return "bool"
    if isinstance(probe, Integer):  # BigInteger and SmallInteger are Integers
        return "int"
    if isinstance(probe, Float):  # Float is a Numeric: test it first
        return "float"
    if isinstance(probe, Numeric):
        return "decimal"
    if isinstance(probe, DateTime):
        return "datetime"
    if isinstance(probe, Date):
        return "date"
    return "str"


def _parse_int(text: str) -> int:
    try:
        value = int(text.strip())
    except ValueError:
        raise ValueError("not an integer") from None
    if not _INT64[0] <= value <= _INT64[1]:
        raise ValueError("out of the 64-bit integer range")
    return value


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    raise ValueError("expected true or false")


def _parse_decimal(text: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError("not a number") from None
    if not value.is_finite():
        raise ValueError("not a finite number")
    return value


def _parse_float(text: str) -> float:
    return float(_parse_decimal(text))


def _parse_datetime(text: str) -> datetime:
    # fromisoformat (3.11) takes `Z`, offsets and date-only values; naive means UTC.
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError("e.g. 2024-05-01 or 2024-05-01T12:00:00Z") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError("e.g. 2024-05-01") from None


_PARSERS: dict[str, tuple[Callable[[str], Any], str]] = {
    "int": (_parse_int, "an integer"),
    "bool": (_parse_bool, "a boolean"),
    "float": (_parse_float, "a number"),
    "decimal": (_parse_decimal, "a number"),
    "datetime": (_parse_datetime, "an ISO-8601 date or date-time"),
    "date": (_parse_date, "an ISO-8601 date"),
}


def _coerce(inv: Inventory, path: str, kind: str, text: str) -> Any:
    if kind == "str":
        return text  # as given: spaces are significant, like ZStack
    parse, expected = _PARSERS[kind]
    try:
        return parse(text)
    except ValueError as exc:
        raise errors.invalid_argument(
            f"invalid value[{text}] of field[{path}] of inventory[{inv.name}]: expected {expected} ({exc})"
        ) from None


# ---------------------------------------------------------------------------------------
# Compilation


def _operand(inv: Inventory, path: str, target: FieldPath, cond: QueryCondition) -> Any:
    """The condition's value coerced to the field's type (a list for `in` / `not in`); SYS.1007
    naming the field when it does not convert or the operator does not apply."""
    op = cond.op
    if op in _NULL_OPS:
        return None
    if cond.value is None:
        raise errors.invalid_argument(f"condition[{path} {op}] of inventory[{inv.name}] needs a value")
    kind = _type_kind(target.type)
    if op in _LIKE_OPS:
        # Patterns are strings; integers are matched on their decimal text (same on both
        # databases). Booleans and dates render differently per database: refused.
        if kind not in ("str", "int"):
            raise errors.invalid_argument(
                f"operator[{op}] is not supported on field[{path}] of inventory[{inv.name}]: it is not a string"
            )
        return cond.value
    if op in _LIST_OPS:
        # ZStack splits on every comma: a value containing a comma cannot be matched.
        return [_coerce(inv, path, kind, item) for item in cond.value.split(",")]
    return _coerce(inv, path, kind, cond.value)


def _leaf(target: FieldPath, column: Any, op: str, dialect: str, key: str) -> ColumnElement[bool]:
    """`column <op> :key`: the value is bound at execution (`_operand`), so one compiled
    statement serves every value."""
    if op == "is null":
        return column.is_(None)
    if op == "is not null":
        return column.is_not(None)
    kind = _type_kind(target.type)
    # Integers are bound as BIGINT so an int4 column compared with a large value
    # (cpuNum > 10000000000) does not overflow the parameter on PostgreSQL.
    type_ = BigInteger() if kind == "int" and op not in _LIKE_OPS else None
    value = bindparam(key, type_=type_, expanding=op in _LIST_OPS)
    if op in _LIKE_OPS:
        text = column if kind == "str" else cast(column, String)
        # ilike: case-insensitive on both databases (PostgreSQL ILIKE, SQLite lower() LIKE lower()).
        return text.ilike(value) if op == "like" else text.not_ilike(value)
    if kind == "str" and dialect == "postgresql" and op in _RANGE_OPS:
        # Bytewise ordering like SQLite's BINARY collation, whatever the database locale.
        column = column.collate("C")
    if op in _LIST_OPS:
        return column.in_(value) if op == "in" else column.not_in(value)
    return _COMPARE[op](column, value)


def _semi_join(key: Any, link: Any, source: Any, predicate: Any, correlated: bool) -> ColumnElement[bool]:
    """`key` has some row of `source` whose `link` equals it and that matches `predicate`.

    Correlated, it is `EXISTS (SELECT 1 FROM source WHERE link = key AND predicate)`: probed
    through the index on `link` for each candidate, so a sorted, limited page stops as soon as
    it has its rows. Uncorrelated, `key IN (SELECT link FROM source WHERE predicate)`: the
    matching set is built once by one pass over `source` (SQLite's better plan for a count or a
    selective predicate; PostgreSQL plans both as the same semi-join)."""
    if correlated:
        return select(literal_column("1")).select_from(source).where(link == key, predicate).exists()
    return key.in_(select(link).select_from(source).where(predicate).correlate(None))


def _condition(
    inv: Inventory, cond: QueryCondition, dialect: str, correlated: bool, key: str, viewer: bool = False
) -> ColumnElement[bool]:
    """Compile one condition, its value bound as `:key`; each join hop becomes a nested
    semi-join (`_semi_join`). With `viewer`, every joined row must be in the view of the
    account bound as `:viewer` too (a condition never matches through a hidden resource)."""
    hops, target = _walk(inv, cond.name)

    # Each hop's target gets its own alias so a path that loops back to a table already
    # in the statement (QueryHost cluster.host.name=...) never correlates with it.
    tables: list[Table | Any] = [inv.table] + [get(hop.join.target).table.alias() for hop in hops]
    last = tables[-1]

    spec = None if target.field in TAG_TABLES else target.list_field
    if target.field in TAG_TABLES:
        predicate: ColumnElement[bool] = _tag_condition(cond, target, last, dialect, correlated, key)
    elif spec is not None:
        mapping = spec.table.alias()
        inner = _leaf(target, mapping.c[spec.value_col], cond.op, dialect, key)
        owner_key = last.c[target.inventory.key.name]
        predicate = _semi_join(owner_key, mapping.c[spec.key_col], mapping, inner, correlated)
    else:
        predicate = _leaf(target, last.c[target.field], cond.op, dialect, key)

    # Wrap from the innermost hop outwards.
    for index in range(len(hops) - 1, -1, -1):
        join = hops[index].join
        owner, child = tables[index], tables[index + 1]
        # a subtype target (Inventory.where) only matches its own rows
        target_inv = get(join.target)
        predicate = and_(predicate, *target_inv.restrict(child))
        if viewer:
            predicate = and_(predicate, visible(target_inv, child, bindparam("viewer")))
        source, link = child, child.c[join.target_key]
        if join.via is not None:
            via = join.via.table.alias()
            source = via.join(child, via.c[join.via.target_col] == child.c[join.target_key])
            link = via.c[join.via.self_col]
        predicate = _semi_join(owner.c[join.self_key], link, source, predicate, correlated)
    return predicate


def _tag_condition(
    cond: QueryCondition, target: FieldPath, owner: Any, dialect: str, correlated: bool, key: str
) -> ColumnElement[bool]:
    """`__userTag__` / `__systemTag__`: the owner's uuid against the resourceUuids of its tags."""
    tags = TAG_TABLES[target.field].alias()
    uuid = owner.c[target.inventory.key.name]
    if cond.op in _NULL_OPS:
        tagged = _semi_join(uuid, tags.c.resourceUuid, tags, true(), correlated)
        return ~tagged if cond.op == "is null" else tagged
    positive = _TAG_NEGATIONS.get(cond.op, cond.op)
    matching = _leaf(_tag_field(), tags.c.tag, positive, dialect, key)
    found = _semi_join(uuid, tags.c.resourceUuid, tags, matching, correlated)
    # a negative op is the negation of its positive op: untagged resources match
    return ~found if cond.op in _TAG_NEGATIONS else found


def _tag_field() -> FieldPath:
    return FieldPath(get("UserTag"), "tag")  # both tag tables share the `tag` column type


def _needs_subquery(inv: Inventory, cond: QueryCondition) -> bool:
    """The condition goes through a join, a list field or the tags (a semi-join)."""
    hops, target = _walk(inv, cond.name)
    return bool(hops) or target.field in TAG_TABLES or target.list_field is not None


def _unique(conditions: Sequence[QueryCondition]) -> list[QueryCondition]:
    """Duplicates are harmless; compile each once."""
    seen: set[tuple[str, str, str | None]] = set()
    unique = []
    for cond in conditions:
        key = (cond.name, cond.op, cond.value)
        if key not in seen:
            seen.add(key)
            unique.append(cond)
    return unique


def _sort_keys(inv: Inventory, msg: APIQueryMessage) -> list[str]:
    """The columns a page is ordered by: the sort field (creation order by default), then the primary key."""
    keys = [k.name for k in inv.table.primary_key.columns]
    if msg.sortBy is None:
        # No order requested: creation order when the table has one, so pages are stable.
        first = ["createDate"] if "createDate" in inv.table.c else []
        return [*first, *keys]
    if msg.sortBy not in inv.columns():
        if msg.sortBy in inv.list_fields:
            why = f"[{msg.sortBy}] is a list field of inventory[{inv.name}], which cannot sort"
        else:
            why = f"inventory[{inv.name}] has no primitive field[{msg.sortBy}]"
        raise errors.invalid_argument(f"invalid sortBy[{msg.sortBy}]: {why}")
    return [msg.sortBy, *(k for k in keys if k != msg.sortBy)]


def _order_by(inv: Inventory, msg: APIQueryMessage, dialect: str) -> list[Any]:
    names = _sort_keys(inv, msg)
    desc = msg.sortBy is not None and msg.sortDirection == "desc"
    order = []
    for position, name in enumerate(names):
        column = inv.table.c[name]
        if position == 0 and msg.sortBy is not None and dialect == "postgresql" and _type_kind(column.type) == "str":
            column = column.collate("C")  # bytewise, like SQLite; the sort index is COLLATE "C" too
        ordered = column.desc() if desc else column.asc()
        if inv.table.c[name].nullable:
            # NULL sorts as the smallest value on both databases (SQLite's and MySQL's rule).
            # Only said for nullable columns: PostgreSQL reads a plain index in either direction.
            ordered = ordered.nulls_last() if desc else ordered.nulls_first()
        order.append(ordered)
    return order


def _projection(inv: Inventory, fields: Sequence[str] | None) -> list[str] | None:
    if fields is None:
        return None
    wanted: list[str] = []
    for name in fields:
        if not name:  # `fields=uuid,` from the CLI
            continue
        if name not in inv.primitive_fields():
            raise errors.invalid_argument(
                f"invalid fields[{name}]: inventory[{inv.name}] has no primitive field[{name}]"
            )
        if name not in wanted:
            wanted.append(name)
    return wanted or None


# SQLite has no semi-join planning: it runs a correlated EXISTS once per candidate row, and
# builds an IN set by one pass over the child table. A page sorted along an index tries EXISTS
# on its first PROBE_FACTOR x (start + limit) candidates, at most PROBE_MAX_ROWS -- enough when
# one candidate in PROBE_FACTOR matches, and then it stops early -- and takes the IN form when
# they do not fill it (a selective condition: the probe cost at most PROBE_MAX_ROWS lookups).
PROBE_FACTOR = 20
PROBE_MAX_ROWS = 2000


@dataclasses.dataclass
class _Shape:
    """A Query* message compiled for one inventory, whatever its values: the clauses and the
    statements run for it, built once and kept (`_shape`). Values, limit and start are bound
    parameters, so SQLAlchemy reuses the compiled SQL and skips rebuilding the expressions."""

    inv: Inventory
    dialect: str
    sort_keys: list[str]
    descending: bool
    order: list[Any]
    own: list[Any]  # the inventory's restriction and conditions on its own columns
    exists: list[Any]  # the conditions answered by a semi-join, correlated
    within: list[Any]  # the IN form of `exists`
    statements: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def build(
        cls, inv: Inventory, conditions: list[QueryCondition], msg: APIQueryMessage, dialect: str, viewer: bool
    ) -> _Shape:
        own, exists, within = list(inv.restrict()), [], []
        if viewer:
            own.append(visible(inv, inv.table, bindparam("viewer")))
        for index, cond in enumerate(conditions):
            key = f"v{index}"
            if _needs_subquery(inv, cond):
                exists.append(_condition(inv, cond, dialect, True, key, viewer))
                within.append(_condition(inv, cond, dialect, False, key, viewer))
            else:
                own.append(_condition(inv, cond, dialect, True, key))
        descending = msg.sortBy is not None and msg.sortDirection == "desc"
        return cls(inv, dialect, _sort_keys(inv, msg), descending, _order_by(inv, msg, dialect), own, exists, within)

    def statement(self, name: str) -> Any:
        """The statement `name` (`count`, `count-in`, `page`, `page-in`, `probe`, `bound`; a
        `-keys` page selects the keys only), built on first use."""
        if name not in self.statements:
            self.statements[name] = self._build(name)
        return self.statements[name]

    def _build(self, name: str) -> Any:
        table = self.inv.table
        semi = self.within if "-in" in name else self.exists
        if name.startswith("count"):
            return select(func.count()).select_from(table).where(*self.own, *semi)
        sort = [table.c[n] for n in self.sort_keys]
        if name == "bound":  # the sort key of the last candidate a probe looks at
            return select(*sort).where(*self.own).order_by(*self.order).offset(bindparam("budget")).limit(1)
        where = [*self.own, *semi]
        if name.startswith("probe"):
            bound = tuple_(*(bindparam(f"b{i}", type_=c.type) for i, c in enumerate(sort)))
            where.append(tuple_(*sort) >= bound if self.descending else tuple_(*sort) <= bound)
        columns = [self.inv.key] if name.endswith("-keys") else self.inv.render_columns(self.dialect)
        limit, start = bindparam("limit", type_=Integer()), bindparam("start", type_=Integer())
        return select(*columns).where(*where).order_by(*self.order).limit(limit).offset(start)


_SHAPES: dict[tuple[Any, ...], _Shape] = {}
_MAX_SHAPES = 512


def _shape(
    inv: Inventory, conditions: list[QueryCondition], msg: APIQueryMessage, dialect: str, viewer: bool
) -> _Shape:
    # the table itself (not only the name) keys it: a throwaway declaration never meets a stale shape
    key = (
        inv.table,
        inv.name,
        tuple(inv.where.items()),
        dialect,
        tuple((c.name, c.op) for c in conditions),
        msg.sortBy,
        msg.sortDirection,
        viewer,
    )
    found = _SHAPES.get(key)
    if found is None:
        if len(_SHAPES) >= _MAX_SHAPES:
            _SHAPES.clear()
        found = _SHAPES[key] = _Shape.build(inv, conditions, msg, dialect, viewer)
    return found


@dataclasses.dataclass
class _Query:
    """One Query* message: its shape, and the values bound to it."""

    shape: _Shape
    msg: APIQueryMessage
    values: dict[str, Any]

    @classmethod
    def compile(cls, inv: Inventory, msg: APIQueryMessage, dialect: str, viewer: str | None = None) -> _Query:
        """Every path and value is checked here, in the order given, before any statement runs (SYS.1007).
        `viewer`: the normal account whose view the answer is limited to (None: everything)."""
        conditions = _unique(msg.conditions)
        values: dict[str, Any] = {}
        for index, cond in enumerate(conditions):
            target = _walk(inv, cond.name)[1]
            target = _tag_field() if target.field in TAG_TABLES else target
            values[f"v{index}"] = _operand(inv, cond.name, target, cond)
        if viewer is not None:
            values["viewer"] = viewer
        shape = _shape(inv, conditions, msg, dialect, viewer is not None)
        return cls(shape, msg, values)

    async def count(self, conn: AsyncConnection) -> int:
        # every row is visited: on SQLite one pass per child table beats one probe per row
        name = "count-in" if self.shape.dialect == "sqlite" and self.shape.exists else "count"
        return int(await conn.scalar(self.shape.statement(name), self.values) or 0)

    async def page(self, conn: AsyncConnection) -> Sequence[Any]:
        shape, msg = self.shape, self.msg
        if not shape.exists or shape.dialect != "sqlite":
            return await self._fetch(conn, "page")
        if msg.start + msg.limit <= PROBE_MAX_ROWS and self._sorted_by_index():
            rows = await self._probe(conn)
            if rows is not None:
                return rows
        return await self._fetch(conn, "page-in")

    def _sorted_by_index(self) -> bool:
        """The page order is an index's (and holds no NULL, so a row value bounds it)."""
        table = self.shape.inv.table
        return is_indexed(table, self.shape.sort_keys) and not any(table.c[n].nullable for n in self.shape.sort_keys)

    async def _probe(self, conn: AsyncConnection) -> Sequence[Any] | None:
        """The page by EXISTS over the first candidates in page order (read in index order, stopping
        at the page's end); None when they did not fill the page."""
        msg = self.msg
        budget = min(PROBE_FACTOR * (msg.start + msg.limit), PROBE_MAX_ROWS)
        bound = (await conn.execute(self.shape.statement("bound"), {**self.values, "budget": budget - 1})).first()
        if bound is None:  # fewer candidates than the budget: EXISTS over all of them is the answer
            return await self._fetch(conn, "page")
        rows = await self._fetch(conn, "probe", {f"b{i}": value for i, value in enumerate(bound)})
        # full: the first start + limit matches all lie among the candidates
        return rows if len(rows) == msg.limit else None

    async def _fetch(self, conn: AsyncConnection, name: str, extra: dict[str, Any] | None = None) -> Sequence[Any]:
        """The page's rows; a page past `start` rows is found by its keys alone (the skipped rows are
        index entries, not rows) and then read by key."""
        inv, msg = self.shape.inv, self.msg
        keyed = msg.start > 0 and len(inv.table.primary_key.columns) == 1
        values = {**self.values, **(extra or {}), "limit": msg.limit, "start": msg.start}
        found = (await conn.execute(self.shape.statement(f"{name}-keys" if keyed else name), values)).all()
        if not keyed or not found:
            return found
        keys = [row[0] for row in found]
        position = list(inv.table.c.keys()).index(inv.key.name)
        by_key = by_keys(inv, inv.key.name, self.shape.dialect)
        rows = {row[position]: row for row in await conn.execute(by_key, {"keys": keys})}
        return [rows[key] for key in keys if key in rows]


async def run_query(conn: AsyncConnection, inv: Inventory, msg: APIQueryMessage, viewer: str | None = None) -> Reply:
    """Answer a Query* API: the page (`_Query.page`), its embedded inventories one statement per
    child table, and `total` by one more statement; only what account `viewer` sees, if given."""
    query = _Query.compile(inv, msg, conn.dialect.name, viewer)
    fields = _projection(inv, msg.fields)

    total: int | None = None
    if msg.count or msg.replyWithCount:
        total = await query.count(conn)
        if msg.count:
            return Reply(total=total)

    rows: Sequence[Any] = []
    if msg.limit > 0:  # limit=0 asks for no rows: skip the statement
        rows = await query.page(conn)

    renderer = inv
    if fields is not None:
        # Render only the requested list fields and no embedded joins (fields cannot name them).
        renderer = dataclasses.replace(
            inv, list_fields={k: v for k, v in inv.list_fields.items() if k in fields}, joins={}
        )
    inventories = await renderer.render(conn, rows)
    if fields is not None:
        inventories = [{k: item[k] for k in fields if k in item} for item in inventories]
    # built, not validated: the engine made every inventory itself (validating a page of nested
    # inventories walked every value of it again)
    return Reply.model_construct(inventories=inventories, total=total)
