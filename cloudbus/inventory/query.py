"""The query engine: ZStack's query language (APIQueryMessage) compiled to one SQL statement.

Owns: resolving field paths against the inventory declarations (`resolve_path`),
coercing condition values to column types, compiling conditions to SQLAlchemy Core
expressions, and paging / sorting / counting / projecting the result (`run_query`).
It is generic: everything it knows about a resource comes from its `Inventory`
declaration (columns, `hidden`, `joins`, `list_fields`).

Semantics (reference section 3, docs/query.md):
- conditions are AND-ed; every hop of a field path `a.b.c` compiles to
  `self_key IN (SELECT target_key FROM target WHERE ...)`, so a condition through a join
  means "some related row matches" (also for `!=`, `not in`, `not like`);
- a `ListField` compiles to `uuid IN (SELECT key_col FROM table WHERE value_col <op> v)`;
- the pseudo-fields `__userTag__` / `__systemTag__` (every inventory, also at the end of a
  path) search the tags: positive ops are `uuid IN (SELECT resourceUuid FROM <tag table>
  WHERE tag <op> v)`, negative ops (`!=`, `not in`, `not like`) are `uuid NOT IN (... WHERE
  tag <positive op> v)` so untagged resources match; `is null` = no tag of that kind,
  `is not null` = at least one (reference 3.4);
- values arrive as strings and are coerced by column type (int, bool, ISO-8601 date ...);
- `=` / `!=` / `in` are case-sensitive and `like` / `not like` case-insensitive on both
  SQLite and PostgreSQL; string ordering (`<`, `>`, sortBy) is bytewise on both.
Nothing is filtered in Python: rows are only loaded for the requested page.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, NamedTuple

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    Float,
    Integer,
    Numeric,
    Select,
    String,
    Table,
    and_,
    cast,
    func,
    literal,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.type_api import TypeEngine

from cloudbus.core import errors
from cloudbus.core.messages import APIQueryMessage, QueryCondition, Reply
from cloudbus.inventory.declarations import Inventory, Join, ListField, get
from cloudbus.inventory.tag import TAG_TABLES

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


def _bind(kind: str, value: Any) -> Any:
    # Integers are bound as BIGINT so an int4 column compared with a large value
    # (cpuNum > 10000000000) does not overflow the parameter on PostgreSQL.
    return literal(value, BigInteger()) if kind == "int" else value


def _leaf(
    inv: Inventory, path: str, target: FieldPath, column: Any, cond: QueryCondition, dialect: str
) -> ColumnElement[bool]:
    """`column <op> value` with the value coerced to the column's type."""
    op = cond.op
    if op == "is null":
        return column.is_(None)
    if op == "is not null":
        return column.is_not(None)
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
        text = column if kind == "str" else cast(column, String)
        # ilike: case-insensitive on both databases (PostgreSQL ILIKE, SQLite lower() LIKE lower()).
        return text.ilike(cond.value) if op == "like" else text.not_ilike(cond.value)

    if kind == "str" and dialect == "postgresql" and op in _RANGE_OPS:
        # Bytewise ordering like SQLite's BINARY collation, whatever the database locale.
        column = column.collate("C")

    if op in _LIST_OPS:
        # ZStack splits on every comma: a value containing a comma cannot be matched.
        values = [_bind(kind, _coerce(inv, path, kind, item)) for item in cond.value.split(",")]
        return column.in_(values) if op == "in" else column.not_in(values)

    value = _bind(kind, _coerce(inv, path, kind, cond.value))
    return _COMPARE[op](column, value)


def _condition(inv: Inventory, cond: QueryCondition, dialect: str) -> ColumnElement[bool]:
    """Compile one condition; joins become nested `key IN (SELECT ...)` sub-selects."""
    hops, target = _walk(inv, cond.name)

    # Each hop's target gets its own alias so a path that loops back to a table already
    # in the statement (QueryHost cluster.host.name=...) never correlates with it.
    tables: list[Table | Any] = [inv.table] + [get(hop.join.target).table.alias() for hop in hops]
    last = tables[-1]

    spec = None if target.field in TAG_TABLES else target.list_field
    if target.field in TAG_TABLES:
        predicate: ColumnElement[bool] = _tag_condition(inv, cond, target, last, dialect)
    elif spec is not None:
        mapping = spec.table.alias()
        inner = _leaf(inv, cond.name, target, mapping.c[spec.value_col], cond, dialect)
        sub = select(mapping.c[spec.key_col]).where(inner).correlate(None)
        predicate = last.c[target.inventory.key.name].in_(sub)
    else:
        predicate = _leaf(inv, cond.name, target, last.c[target.field], cond, dialect)

    # Wrap from the innermost hop outwards: owner.self_key IN (SELECT target_key ...).
    for index in range(len(hops) - 1, -1, -1):
        join = hops[index].join
        owner, child = tables[index], tables[index + 1]
        # a subtype target (Inventory.where) only matches its own rows
        predicate = and_(predicate, *get(join.target).restrict(child))
        if join.via is None:
            sub = select(child.c[join.target_key]).where(predicate)
        else:
            via = join.via.table.alias()
            sub = (
                select(via.c[join.via.self_col])
                .select_from(via.join(child, via.c[join.via.target_col] == child.c[join.target_key]))
                .where(predicate)
            )
        predicate = owner.c[join.self_key].in_(sub.correlate(None))
    return predicate


def _tag_condition(
    inv: Inventory, cond: QueryCondition, target: FieldPath, owner: Any, dialect: str
) -> ColumnElement[bool]:
    """`__userTag__` / `__systemTag__`: the owner's uuid against the resourceUuids of its tags."""
    tags = TAG_TABLES[target.field].alias()
    key = owner.c[target.inventory.key.name]
    if cond.op in _NULL_OPS:
        tagged = select(tags.c.resourceUuid).correlate(None)
        return key.not_in(tagged) if cond.op == "is null" else key.in_(tagged)
    positive = _TAG_NEGATIONS.get(cond.op, cond.op)
    tag_path = FieldPath(get("UserTag"), "tag")  # both tag tables share the `tag` column type
    probe = QueryCondition(name=cond.name, op=positive, value=cond.value)  # type: ignore[arg-type]
    matching = select(tags.c.resourceUuid).where(_leaf(inv, cond.name, tag_path, tags.c.tag, probe, dialect))
    sub = matching.correlate(None)
    return key.not_in(sub) if cond.op in _TAG_NEGATIONS else key.in_(sub)


def compile_conditions(inv: Inventory, conditions: Sequence[QueryCondition], dialect: str) -> list[Any]:
    """The WHERE clauses for `conditions` (AND-ed by the caller). Raises SYS.1007."""
    seen: set[tuple[str, str, str | None]] = set()
    clauses: list[Any] = []
    for cond in conditions:
        key = (cond.name, cond.op, cond.value)
        if key in seen:  # duplicates are harmless; compile each once
            continue
        seen.add(key)
        clauses.append(_condition(inv, cond, dialect))
    return clauses


def _order_by(inv: Inventory, msg: APIQueryMessage, dialect: str) -> list[Any]:
    keys = list(inv.table.primary_key.columns)
    if msg.sortBy is None:
        # No order requested: creation order when the table has one, so pages are stable.
        default = [inv.table.c.createDate] if "createDate" in inv.table.c else []
        return [*(c.asc() for c in default), *(k.asc() for k in keys)]
    if msg.sortBy not in inv.columns():
        if msg.sortBy in inv.list_fields:
            why = f"[{msg.sortBy}] is a list field of inventory[{inv.name}], which cannot sort"
        else:
            why = f"inventory[{inv.name}] has no primitive field[{msg.sortBy}]"
        raise errors.invalid_argument(f"invalid sortBy[{msg.sortBy}]: {why}")
    column = inv.table.c[msg.sortBy]
    if dialect == "postgresql" and _type_kind(column.type) == "str":
        column = column.collate("C")
    # NULL sorts as the smallest value on both databases (SQLite's and MySQL's rule).
    ordered = column.desc().nulls_last() if msg.sortDirection == "desc" else column.asc().nulls_first()
    tiebreak = [k.desc() if msg.sortDirection == "desc" else k.asc() for k in keys if k.name != msg.sortBy]
    return [ordered, *tiebreak]


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


async def run_query(conn: AsyncConnection, inv: Inventory, msg: APIQueryMessage) -> Reply:
    """Answer a Query* API: one filtered statement for the page, one for `total`."""
    dialect = conn.dialect.name
    where = [*inv.restrict(), *compile_conditions(inv, msg.conditions, dialect)]
    fields = _projection(inv, msg.fields)
    order = _order_by(inv, msg, dialect)

    total: int | None = None
    if msg.count or msg.replyWithCount:
        counted = select(func.count()).select_from(inv.table).where(*where)
        total = int(await conn.scalar(counted) or 0)
        if msg.count:
            return Reply(total=total)

    rows: Sequence[Any] = []
    if msg.limit > 0:  # limit=0 asks for no rows: skip the statement
        page: Select[Any] = select(inv.table).where(*where).order_by(*order).limit(msg.limit).offset(msg.start)
        rows = (await conn.execute(page)).all()

    renderer = inv
    if fields is not None:
        # Render only the requested list fields and no embedded joins (fields cannot name them).
        renderer = dataclasses.replace(
            inv, list_fields={k: v for k, v in inv.list_fields.items() if k in fields}, joins={}
        )
    inventories = await renderer.render(conn, rows)
    if fields is not None:
        inventories = [{k: item[k] for k in fields if k in item} for item in inventories]
    return Reply(inventories=inventories, total=total)
