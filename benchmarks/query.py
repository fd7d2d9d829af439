"""Query speed at cloud scale: Query* APIs on a bulk-loaded cloud, next to hand-written SQL.

    python benchmarks/query.py                      # 100,000 VMs on SQLite
    python benchmarks/query.py --pg                 # ... and on a private PostgreSQL 15
    python benchmarks/query.py --vms 10000 --repeat 5 --pg-url postgresql://postgres@host/postgres

The cloud is loaded by benchmarks/cloudload.py, in a child process: N Running VMs with a root and two data
volumes and two nics each; one VM in ten has a 2 TiB data volume (the others 10 GiB).
PostgreSQL is ANALYZEd after the load, as autovacuum would; SQLite is left as the embedded
default leaves it.

Each query is run three ways, in turn, `--repeat` rounds after a warm-up round; medians of wall
and CPU time reported:
- `api`: through the bus, as users call it (`Cloud.api`: message validation, LocalBus, the
  query service, the reply);
- `engine`: `run_query` alone on a read connection (the bus overhead is api - engine);
- `floor`: hand-written SQL sent through the same driver returning the same data: the page's
  rows, plus one statement per child table the reply embeds (a VM's nics and volumes), plus the
  count when the reply has one.
Every answer is checked against the floor's: same uuids in the same order, same children, same
total. A mismatch fails the run. Prints a table and writes benchmarks/query.json (keyed by backend).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: the repository root holds `benchmarks`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.support import backing_servers, database, peak_rss_mb
from cloudbus import inventory
from cloudbus.apis.catalog import api as api_class
from cloudbus.core.db import Database
from cloudbus.core.messages import build
from cloudbus.core.units import GiB, TiB
from cloudbus.inventory.query import run_query
from cloudbus.testing import Cloud

DISK_SIZES = (10 * GiB,) * 19 + (2 * TiB,)  # VM i has a 2 TiB volume when i mod 20 is 18 or 19
JSON_PATH = Path(__file__).with_suffix(".json")


@dataclass
class Context:
    vms: int
    dialect: str
    ip: str  # the IP of one VM's first nic
    collate: str = ""  # bytewise string order: COLLATE "C" on PostgreSQL

    def __post_init__(self) -> None:
        self.collate = ' COLLATE "C"' if self.dialect == "postgresql" else ""


@dataclass
class Case:
    """One query: the API call users make and the SQL that returns the same rows."""

    name: str
    api: str
    conditions: list[tuple[str, str, str]] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    page: Callable[[Context], str] | None = None  # SQL for the page's rows, in order
    count: Callable[[Context], str] | None = None  # SQL for the total

    def call(self, ctx: Context) -> dict[str, Any]:
        conditions = [{"name": n, "op": op, "value": v.format(ip=ctx.ip)} for n, op, v in self.conditions]
        params = {k: (v(ctx) if callable(v) else v) for k, v in self.params.items()}
        return {"conditions": conditions, **params}


VM_ORDER = 'ORDER BY vm."createDate", vm.uuid'


def _vm_page(where: str, order: str = VM_ORDER, limit: int = 100, offset: int = 0) -> str:
    return f"SELECT vm.* FROM vm_instance vm {where} {order} LIMIT {limit} OFFSET {offset}"


def _has_volume(alias: str, predicate: str) -> str:
    return f'EXISTS (SELECT 1 FROM volume {alias} WHERE {alias}."vmInstanceUuid" = vm.uuid AND {predicate})'


DATA = _has_volume("a", "a.type = 'Data'")
LARGE = _has_volume("b", f"b.size > {TiB}")
NOT_ROOT = _has_volume("a", "a.type != 'Root'")

CASES = [
    Case(
        "allVolumes.type=Data allVolumes.size>1T limit=100",
        "QueryVmInstance",
        [("allVolumes.type", "=", "Data"), ("allVolumes.size", ">", str(TiB))],
        {"limit": 100},
        page=lambda c: _vm_page(f"WHERE {DATA} AND {LARGE}"),
    ),
    Case(
        "sortBy=createDate limit=20 start=N/2",
        "QueryVmInstance",
        params={"sortBy": "createDate", "limit": 20, "start": lambda c: c.vms // 2},
        # key-only page, then the page's rows: the usual cure for deep offsets
        page=lambda c: (
            "SELECT vm.* FROM vm_instance vm WHERE vm.uuid IN (SELECT uuid FROM vm_instance "
            f'ORDER BY "createDate", uuid LIMIT 20 OFFSET {c.vms // 2}) {VM_ORDER}'
        ),
    ),
    Case("limit=100 (nested inventories)", "QueryVmInstance", params={"limit": 100}, page=lambda c: _vm_page("")),
    Case(
        "count=true allVolumes.size>1T",
        "QueryVmInstance",
        [("allVolumes.size", ">", str(TiB))],
        {"count": True},
        count=lambda c: (
            f'SELECT count(*) FROM vm_instance WHERE uuid IN (SELECT "vmInstanceUuid" FROM volume WHERE size > {TiB})'
        ),
    ),
    Case(
        "vmNics.l3Network.l2Network.physicalInterface=eth0 limit=100 (3 hops)",
        "QueryVmInstance",
        [("vmNics.l3Network.l2Network.physicalInterface", "=", "eth0")],
        {"limit": 100},
        page=lambda c: _vm_page(
            'WHERE EXISTS (SELECT 1 FROM vm_nic n JOIN l3_network l3 ON l3.uuid = n."l3NetworkUuid" '
            'JOIN l2_network l2 ON l2.uuid = l3."l2NetworkUuid" '
            'WHERE n."vmInstanceUuid" = vm.uuid AND l2."physicalInterface" = \'eth0\')'
        ),
    ),
    Case(
        "vmInstance.zone.name=zone0 limit=100 (2 hops, through the zone)",
        "QueryVolume",
        [("vmInstance.zone.name", "=", "zone0")],
        {"limit": 100},
        page=lambda c: (
            'SELECT v.* FROM volume v WHERE EXISTS (SELECT 1 FROM vm_instance vm JOIN zone z ON z.uuid = vm."zoneUuid" '
            'WHERE vm.uuid = v."vmInstanceUuid" AND z.name = \'zone0\') ORDER BY v."createDate", v.uuid LIMIT 100'
        ),
    ),
    Case(
        "vmNics.ip=<one VM's ip> (selective)",
        "QueryVmInstance",
        [("vmNics.ip", "=", "{ip}")],
        page=lambda c: _vm_page(
            f"WHERE vm.uuid IN (SELECT \"vmInstanceUuid\" FROM vm_nic WHERE ip = '{c.ip}')", limit=1000
        ),
    ),
    Case(
        "sortBy=name sortDirection=desc limit=100",
        "QueryVmInstance",
        params={"sortBy": "name", "sortDirection": "desc", "limit": 100},
        page=lambda c: _vm_page("", order=f"ORDER BY vm.name{c.collate} DESC, vm.uuid DESC"),
    ),
    Case(
        "allVolumes.type!=Root replyWithCount=true limit=100",
        "QueryVmInstance",
        [("allVolumes.type", "!=", "Root")],
        {"replyWithCount": True, "limit": 100},
        page=lambda c: _vm_page(f"WHERE {NOT_ROOT}"),
        count=lambda c: (
            'SELECT count(*) FROM vm_instance WHERE uuid IN (SELECT "vmInstanceUuid" FROM volume '
            "WHERE type != 'Root')"
        ),
    ),
]


# ---------------------------------------------------------------------------------------
# The floor: hand-written SQL, and the answer it gives


@dataclass
class Answer:
    uuids: list[str] | None
    children: int  # embedded inventories (nics + volumes) of the page
    total: int | None


def _embedded(inv_name: str) -> list[tuple[str, str, str]]:
    """(name, child table, child key) of each join the inventory embeds."""
    inv = inventory.get(inv_name)
    out = []
    for name, join in inv.joins.items():
        if join.embed:
            out.append((name, inventory.get(join.target).table.name, join.target_key))
    return out


async def floor(db: Database, case: Case, ctx: Context) -> Answer:
    async with db.read() as conn:
        total = None
        if case.count is not None:
            total = int((await conn.exec_driver_sql(case.count(ctx))).scalar_one())
        if case.page is None:
            return Answer(None, 0, total)
        uuids = [row.uuid for row in await conn.exec_driver_sql(case.page(ctx))]
        children = 0
        if uuids:
            keys = ", ".join(f"'{u}'" for u in uuids)
            for _name, table, key in _embedded(case.api.removeprefix("Query")):
                rows = await conn.exec_driver_sql(f'SELECT * FROM {table} WHERE "{key}" IN ({keys})')
                children += len(rows.all())
    return Answer(uuids, children, total)


def answer(case: Case, reply: Any) -> Answer:
    if not reply.success:
        raise AssertionError(f"{case.name}: {reply.error}")
    items = reply.inventories
    if items is None:
        return Answer(None, 0, reply.total)
    embedded = [name for name, _, _ in _embedded(case.api.removeprefix("Query"))]
    return Answer([i["uuid"] for i in items], sum(len(i[n]) for i in items for n in embedded), reply.total)


# ---------------------------------------------------------------------------------------


async def _interleaved(
    repeat: int, runs: dict[str, Callable[[], Awaitable[Any]]]
) -> dict[str, tuple[float, float, Any]]:
    """Median wall and CPU milliseconds of each run, and its answer: one warm-up round, then
    `repeat` rounds taking the runs in turn, so a burst of load from other jobs hits them alike."""
    answers = {name: await run() for name, run in runs.items()}
    wall: dict[str, list[float]] = {name: [] for name in runs}
    cpu: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            started, used = time.perf_counter(), time.process_time()
            answers[name] = await run()
            wall[name].append((time.perf_counter() - started) * 1000)
            cpu[name].append((time.process_time() - used) * 1000)
    return {
        name: (round(statistics.median(wall[name]), 2), round(statistics.median(cpu[name]), 2), answers[name])
        for name in runs
    }


async def measure(cloud: Cloud, ctx: Context, case: Case, repeat: int) -> dict[str, Any]:
    params = case.call(ctx)
    msg = build(api_class(case.api), params)
    inv = inventory.get(case.api.removeprefix("Query"))

    async def engine() -> Any:
        async with cloud.db.read() as conn:
            return await run_query(conn, inv, msg)

    measured = await _interleaved(
        repeat,
        {"floor": lambda: floor(cloud.db, case, ctx), "api": lambda: cloud.api(case.api, **params), "engine": engine},
    )
    floor_ms, floor_cpu, expected = measured["floor"]
    api_ms, api_cpu, reply = measured["api"]
    engine_ms, engine_cpu, direct = measured["engine"]
    for got in (answer(case, reply), answer(case, direct)):
        if got != expected:
            raise AssertionError(f"{case.name}: got {got} but the floor says {expected}")
    rows = expected.total if expected.uuids is None else len(expected.uuids)
    return {
        "query": f"{case.api} {case.name}",
        "api_ms": api_ms,
        "engine_ms": engine_ms,
        "floor_ms": floor_ms,
        "ratio": round(api_ms / floor_ms, 2) if floor_ms else None,
        # CPU of this process: with SQLite the database works in it too, so these hold when
        # other jobs load the machine (wall times do not)
        "api_cpu_ms": api_cpu,
        "engine_cpu_ms": engine_cpu,
        "floor_cpu_ms": floor_cpu,
        "cpu_ratio": round(api_cpu / floor_cpu, 2) if floor_cpu else None,
        "rows": rows,
        "total": expected.total,
    }


async def one_ip(db: Database) -> str:
    async with db.read() as conn:
        found = await conn.exec_driver_sql('SELECT ip FROM vm_nic WHERE "deviceId" = 0 ORDER BY uuid LIMIT 1')
        return str(found.scalar_one())


async def load(url: str, vms: int) -> float:
    """Load the cloud in a child process (benchmarks/cloudload.py), so the RSS measured here is
    the management node's serving queries, not the loader's; PostgreSQL is ANALYZEd after."""
    started = time.perf_counter()
    loader = await asyncio.create_subprocess_exec(
        sys.executable,
        str(Path(__file__).with_name("cloudload.py")),
        url,
        f"--vms={vms}",
        "--data-volumes=2",
        "--nics=2",
        f"--disk-sizes={','.join(str(size) for size in DISK_SIZES)}",
        stdout=asyncio.subprocess.DEVNULL,
    )
    if await loader.wait() != 0:
        raise RuntimeError(f"loading {vms} VMs failed ({loader.returncode})")
    seconds = time.perf_counter() - started
    db = Database(url)
    await db.start()
    if not db.is_sqlite:
        async with db.writer.connect() as conn:  # type: ignore[union-attr]
            await (await conn.execution_options(isolation_level="AUTOCOMMIT")).exec_driver_sql("ANALYZE")
    await db.close()
    return round(seconds, 1)


async def run_backend(url: str, dialect: str, vms: int, repeat: int) -> dict[str, Any]:
    load_s = await load(url, vms)
    print(f"{dialect}: {vms} VMs loaded in {load_s} s", flush=True)
    results = []
    async with Cloud.start(url) as cloud:
        ctx = Context(vms, dialect, await one_ip(cloud.db))
        for case in CASES:
            results.append(await measure(cloud, ctx, case, repeat))
            print_row(results[-1])
        gc.collect()
        rss = _rss_mb()
    return {"vms": vms, "load_seconds": load_s, "rss_mb": rss, "peak_rss_mb": peak_rss_mb(), "queries": results}


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


HEADER = (
    f"{'query':<70} {'api ms':>8} {'engine':>8} {'floor':>8} {'ratio':>6} "
    f"{'api cpu':>8} {'engine':>8} {'floor':>8} {'ratio':>6} {'rows':>6}"
)


def print_row(r: dict[str, Any]) -> None:
    print(
        f"{r['query'][:70]:<70} {r['api_ms']:>8.1f} {r['engine_ms']:>8.1f} {r['floor_ms']:>8.1f} {r['ratio']:>6} "
        f"{r['api_cpu_ms']:>8.1f} {r['engine_cpu_ms']:>8.1f} {r['floor_cpu_ms']:>8.1f} {r['cpu_ratio']:>6} "
        f"{r['rows']:>6}",
        flush=True,
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vms", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5, help="rounds per query (medians reported)")
    parser.add_argument("--pg", action="store_true", help="also on PostgreSQL (a private server unless --pg-url)")
    parser.add_argument("--pg-url", default="", help="an admin URL of a running PostgreSQL (implies --pg)")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()
    out = json.loads(JSON_PATH.read_text()) if JSON_PATH.exists() else {}
    with tempfile.TemporaryDirectory(prefix="cloudbus-query-") as tmp:
        print(HEADER)
        if not args.no_sqlite:
            out["sqlite"] = await run_backend(f"sqlite:///{tmp}/query.db", "sqlite", args.vms, args.repeat)
        if args.pg or args.pg_url:
            async with backing_servers(Path(tmp), pg_url=args.pg_url, rabbitmq=False) as servers:
                async with database(servers.postgres, "query") as url:
                    out["postgresql"] = await run_backend(url, "postgresql", args.vms, args.repeat)
    JSON_PATH.write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {JSON_PATH}")


if __name__ == "__main__":
    asyncio.run(main())
