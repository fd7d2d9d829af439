"""benchmarks/query.py in small, as a correctness test: its queries on a loaded cloud of 300 VMs
return exactly the floor SQL's rows; every join key and sort field the declarations name has an
index in the migrated schema; and random queries through joins, lists, tags and nulls agree with
a Python oracle of ZStack's semantics (reference section 3), whichever plan the engine picks."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import inspect, select, text, update

from benchmarks.cloudload import load_cloud
from benchmarks.query import CASES, Context, answer, floor, one_ip
from cloudbus import inventory
from cloudbus.core.db import Database
from cloudbus.core.ids import iso
from cloudbus.core.units import GiB
from cloudbus.inventory.declarations import Inventory, index_facts
from cloudbus.inventory.migrate import upgrade
from cloudbus.inventory.tag import USER_TAG_FIELD
from cloudbus.testing import Cloud


async def test_the_benchmark_queries_return_the_floor_rows(cloud: Cloud) -> None:
    vms = 300
    await load_cloud(cloud.db, vms, data_volumes=2, nics=2, disk_sizes=(10 * GiB,) * 19 + (2 << 40,))
    ctx = Context(vms, cloud.db.dialect, await one_ip(cloud.db))
    for case in CASES:
        got = answer(case, await cloud.api(case.api, **case.call(ctx)))
        expected = await floor(cloud.db, case, ctx)
        assert got == expected, case.name
        assert expected.uuids or expected.total, f"{case.name} finds nothing: a vacuous check"


async def test_every_declared_join_key_and_sort_field_is_indexed(db_url: str) -> None:
    db = Database(db_url)
    await db.start(migrate=upgrade)

    def indexed(sync_conn: Any) -> dict[str, list[tuple[str, ...]]]:
        found: dict[str, list[tuple[str, ...]]] = {}
        check = inspect(sync_conn)
        for table in check.get_table_names():
            lists = [tuple(check.get_pk_constraint(table)["constrained_columns"])]
            lists += [tuple(u["column_names"]) for u in check.get_unique_constraints(table)]
            lists += [tuple(c for c in i["column_names"] if c) for i in check.get_indexes(table)]
            found[table] = lists
        return found

    try:
        async with db.read() as conn:
            have = await conn.run_sync(indexed)
            bytewise = {}
            if not db.is_sqlite:
                rows = await conn.execute(text("SELECT indexname, indexdef FROM pg_indexes"))
                bytewise = {name: definition for name, definition in rows}
        facts = index_facts()
        assert facts
        for fact in facts:
            lists = have[fact.table.name]
            assert any(cols[: len(fact.columns)] == fact.columns for cols in lists), f"{fact.why}: no index"
            if fact.bytewise and bytewise:
                assert 'COLLATE "C"' in bytewise[fact.name], fact.name
    finally:
        await db.close()


# ---------------------------------------------------------------------------------------
# The oracle: ZStack's query semantics evaluated in Python over the tables' rows.


class Oracle:
    def __init__(self, tables: dict[str, list[dict[str, Any]]]) -> None:
        self.tables = tables

    def rows(self, inv: Inventory) -> list[dict[str, Any]]:
        return [r for r in self.tables[inv.table.name] if all(r[k] == v for k, v in inv.where.items())]

    def related(self, inv: Inventory, row: dict[str, Any], name: str) -> list[dict[str, Any]]:
        join = inv.joins[name]
        target = inventory.get(join.target)
        key = row[join.self_key]
        if join.via is None:
            return [t for t in self.rows(target) if key is not None and t[join.target_key] == key]
        links = {r[join.via.target_col] for r in self.tables[join.via.table.name] if r[join.via.self_col] == key}
        return [t for t in self.rows(target) if t[join.target_key] in links]

    def matches(self, inv: Inventory, row: dict[str, Any], path: str, op: str, value: str | None) -> bool:
        head, _, rest = path.partition(".")
        if rest:  # some related row matches
            target = inventory.get(inv.joins[head].target)
            return any(self.matches(target, r, rest, op, value) for r in self.related(inv, row, head))
        if head == USER_TAG_FIELD:
            tags = [t["tag"] for t in self.tables["user_tag"] if t["resourceUuid"] == row["uuid"]]
            if op in ("is null", "is not null"):
                return bool(tags) == (op == "is not null")
            positive = {"!=": "=", "not in": "in", "not like": "like"}.get(op, op)
            hit = any(compare(t, positive, value) for t in tags)
            return not hit if positive != op else hit
        if head in inv.list_fields:  # some element matches
            spec = inv.list_fields[head]
            values = [r[spec.value_col] for r in self.tables[spec.table.name] if r[spec.key_col] == row["uuid"]]
            return any(compare(v, op, value) for v in values)
        return compare(row[head], op, value)

    def query(self, inv: Inventory, conditions: list[tuple[str, str, str | None]], sort: str | None) -> list[str]:
        found = [r for r in self.rows(inv) if all(self.matches(inv, r, *c) for c in conditions)]
        key = sort or "createDate"
        return [r["uuid"] for r in sorted(found, key=lambda r: (r[key], r["uuid"]))]


def compare(have: Any, op: str, value: str | None) -> bool:
    if op in ("is null", "is not null"):
        return (have is None) == (op == "is null")
    if have is None:  # SQL: a comparison with NULL is never true
        return False
    if op in ("like", "not like"):
        pattern = "".join(".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in str(value))
        found = re.fullmatch(pattern, str(have), re.IGNORECASE | re.DOTALL) is not None
        return found == (op == "like")
    items = [_typed(have, v) for v in str(value).split(",")] if op in ("in", "not in") else []
    if op == "in":
        return have in items
    if op == "not in":
        return have not in items
    other = _typed(have, str(value))
    return {"=": have == other, "!=": have != other, ">": have > other, "<": have < other}[op]


def _typed(like: Any, value: str) -> Any:
    if isinstance(like, bool):
        return value.lower() == "true"
    if isinstance(like, int):
        return int(value)
    if isinstance(like, datetime):
        return datetime.fromisoformat(value)
    return value


Template = Callable[[random.Random, dict[str, list[dict[str, Any]]]], tuple[str, str, str | None]]


def _pick(rng: random.Random, rows: list[dict[str, Any]], column: str) -> Any:
    return rng.choice([r[column] for r in rows if r[column] is not None])


def _tag(rng: random.Random, t: dict[str, list[dict[str, Any]]]) -> tuple[str, str, str | None]:
    op = rng.choice(["=", "!=", "like", "not like", "in", "not in", "is null", "is not null"])
    tag = _pick(rng, t["user_tag"], "tag")
    value = {"like": "%" + tag[-3:].upper(), "not like": tag[:4] + "%", "in": f"{tag},nope", "not in": tag}
    return (USER_TAG_FIELD, op, None if "null" in op else value.get(op, tag))


VM_TEMPLATES: list[Template] = [
    lambda r, t: ("name", r.choice(["=", "!=", ">", "in"]), _pick(r, t["vm_instance"], "name")),
    lambda r, t: ("name", r.choice(["like", "not like"]), "VM1%"),
    lambda r, t: ("description", r.choice(["is null", "is not null"]), None),
    lambda r, t: ("description", r.choice(["=", "!=", "like"]), _pick(r, t["vm_instance"], "description")),
    lambda r, t: ("createDate", r.choice([">", "<"]), iso(_pick(r, t["vm_instance"], "createDate"))),
    lambda r, t: ("allVolumes.type", r.choice(["=", "!=", "in", "not in"]), r.choice(["Root", "Data", "Data,Root"])),
    lambda r, t: ("allVolumes.size", r.choice([">", "<", "=", "!="]), str(r.choice([GiB, 10 * GiB, 20 * GiB]))),
    lambda r, t: ("allVolumes.deviceId", r.choice(["=", ">"]), str(r.choice([0, 1, 2]))),
    lambda r, t: ("vmNics.ip", r.choice(["=", "!=", "like", "not like"]), _pick(r, t["vm_nic"], "ip")),
    lambda r, t: ("vmNics.l3Network.name", r.choice(["=", "!="]), _pick(r, t["l3_network"], "name")),
    lambda r, t: ("vmNics.l3Network.l2Network.physicalInterface", r.choice(["=", "!="]), "eth0"),
    lambda r, t: ("host.name", r.choice(["=", "in", "like"]), _pick(r, t["host"], "name")),
    lambda r, t: ("host.cluster.name", "=", _pick(r, t["cluster"], "name")),
    lambda r, t: ("cluster.host.name", "!=", _pick(r, t["host"], "name")),
    lambda r, t: ("zone.name", "=", "zone0"),
    lambda r, t: ("rootVolume.size", "=", str(GiB)),
    _tag,
    lambda r, t: ("vmNics.vmInstance.__userTag__", r.choice(["is null", "is not null"]), None),
]


async def _tables(db: Database) -> dict[str, list[dict[str, Any]]]:
    from cloudbus.inventory.schema import metadata

    async with db.read() as conn:
        return {
            name: [dict(r) for r in (await conn.execute(select(table))).mappings()]
            for name, table in metadata.tables.items()
        }


async def _decorate(cloud: Cloud, vms: list[dict[str, Any]], rng: random.Random) -> None:
    """Descriptions on some VMs (the others stay null), user tags on others."""
    for vm in rng.sample(vms, 12):
        await cloud.ok("UpdateVmInstance", uuid=vm["uuid"], description=rng.choice(["web tier", "DB", "web"]))
    for vm in rng.sample(vms, 15):
        for tag in rng.sample(["owner::alice", "owner::bob", "env::prod", "ENV::test"], rng.randint(1, 2)):
            await cloud.ok("CreateUserTag", resourceType="VmInstanceVO", resourceUuid=vm["uuid"], tag=tag)


async def test_random_queries_agree_with_the_oracle(cloud: Cloud) -> None:
    rng = random.Random(7)
    await load_cloud(cloud.db, 40, data_volumes=2, nics=2, hosts=3, clusters=2, disk_sizes=(10 * GiB, 20 * GiB))
    await _decorate(cloud, await cloud.ok("QueryVmInstance"), rng)
    oracle = Oracle(await _tables(cloud.db))
    vm = inventory.get("VmInstance")
    for _ in range(60):
        conditions = [rng.choice(VM_TEMPLATES)(rng, oracle.tables) for _ in range(rng.randint(1, 3))]
        sort = rng.choice([None, None, "name", "memorySize"])
        expected = oracle.query(vm, conditions, sort)
        params = {"sortBy": sort} if sort else {}
        what = f"{conditions} sortBy={sort}"
        assert [v["uuid"] for v in await cloud.query("QueryVmInstance", *conditions, **params)] == expected, what
        page = await cloud.query("QueryVmInstance", *conditions, limit=2, start=1, **params)
        assert [v["uuid"] for v in page] == expected[1:3], what
        assert await cloud.ok("QueryVmInstance", conditions=_wire(conditions), count=True) == len(expected), what


async def test_other_inventories_agree_with_the_oracle(cloud: Cloud) -> None:
    await load_cloud(cloud.db, 30, data_volumes=1, nics=2, hosts=4, clusters=2, disk_sizes=(10 * GiB, 20 * GiB))
    oracle = Oracle(await _tables(cloud.db))
    t = oracle.tables
    cases = [
        ("Volume", [("vmInstance.host.name", "=", t["host"][1]["name"]), ("type", "=", "Data")]),
        ("Volume", [("vmInstance.vmNics.ip", "like", "10.0.0.1%")]),
        ("Host", [("vmInstance.allVolumes.size", ">", str(15 * GiB))]),
        ("Host", [("cluster.primaryStorage.name", "=", "ps"), ("vmInstance.name", "!=", "vm3")]),
        ("Zone", [("cluster.host.vmInstance.vmNics.deviceId", "=", "1")]),
        ("L3Network", [("vmNic.vmInstance.name", "in", "vm1,vm2")]),
        ("PrimaryStorage", [("attachedClusterUuids", "=", t["cluster"][0]["uuid"])]),
        ("Cluster", [("primaryStorage.volume.size", "=", str(20 * GiB))]),
    ]
    for name, conditions in cases:
        expected = oracle.query(inventory.get(name), conditions, None)
        assert expected, f"{name} {conditions} finds nothing: a vacuous check"
        got = await cloud.query(f"Query{name}", *conditions)
        assert [i["uuid"] for i in got] == expected, f"{name} {conditions}"


def _wire(conditions: list[tuple[str, str, str | None]]) -> list[dict[str, Any]]:
    return [{"name": n, "op": op, "value": v} for n, op, v in conditions]


async def test_dates_render_as_iso_whatever_reads_them(cloud: Cloud) -> None:
    """Pages render dates in SQL (declarations._as_iso), single reads in Python (`iso`): the same text."""
    zone = await cloud.ok("CreateZone", name="z")
    whole, fraction = datetime(2024, 5, 1, 12, 0, tzinfo=UTC), datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)
    table = inventory.get("Zone").table
    async with cloud.db.tx() as conn:
        await conn.execute(
            update(table).where(table.c.uuid == zone["uuid"]).values(createDate=whole, lastOpDate=fraction)
        )
    (listed,) = await cloud.query("QueryZone", ("uuid", "=", zone["uuid"]))
    async with cloud.db.read() as conn:
        row = (await conn.execute(select(table).where(table.c.uuid == zone["uuid"]))).first()
    rendered = inventory.get("Zone").render_row(row)
    for inv in (listed, rendered):
        assert (inv["createDate"], inv["lastOpDate"]) == ("2024-05-01T12:00:00Z", "2024-05-01T12:00:00.250000Z")
        assert (inv["createDate"], inv["lastOpDate"]) == (iso(whole), iso(fraction))
