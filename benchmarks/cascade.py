"""DeleteZone of a zone of N running VMs, in Permissive and Enforcing mode, next to the raw SQL floor.

    python benchmarks/cascade.py                          # 2,500 / 5,000 / 10,000 VMs, LocalBus + SQLite
    python benchmarks/cascade.py --sizes 1000,2000 --repeat 1
    python benchmarks/cascade.py --pg                     # on a private PostgreSQL (tests/support/servers.py)
    python benchmarks/cascade.py --pg-url postgresql://postgres@127.0.0.1:5432/postgres
    python benchmarks/cascade.py --api 1000               # plus a zone of 1,000 API-created VMs

Each run loads a fresh database with `benchmarks/cloudload.py` (N Running VMs exactly as the
API leaves them: `--data-volumes` data volumes and `--nics` nics each, host allocations, used
IPs, capacities), starts a management node on it, times `DeleteZone`, counts what the database
was asked (`benchmarks.support.Statements`: statements without the BEGINs, and transactions,
read or write) and the bus calls made, then checks that nothing of the zone is left (row counts
of every table but the zone-independent ones). The floor, measured in the same run on its own
freshly loaded copy, removes the same rows with hand-written DELETEs in one transaction, no bus,
no checks. `--api N` also deletes a zone whose N VMs were created through CreateVmInstance (50
in flight), so the loader is not the only evidence. Cells are medians of `--repeat` runs.
Prints a table; writes `cascade.json` beside this script, one section per backend.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.cloudload import load_cloud
from benchmarks.support import Statements, backing_servers, database
from cloudbus import inventory
from cloudbus.core.db import Database
from cloudbus.core.ids import new_uuid
from cloudbus.core.logging import configure
from cloudbus.core.units import GiB
from cloudbus.inventory.migrate import upgrade
from cloudbus.inventory.schema import metadata
from cloudbus.testing import BOOKKEEPING, ZONE_INDEPENDENT, Cloud

MODES = ("Permissive", "Enforcing")


@dataclass
class Run:
    vms: int
    seconds: float
    cpu_seconds: float
    statements: int
    transactions: int
    messages: int
    leftovers: dict[str, int] = field(default_factory=dict)


# -- databases ---------------------------------------------------------------------------------


class Databases:
    """Fresh, empty databases: SQLite files in a temp dir, or databases on a PostgreSQL server."""

    def __init__(self, tmp: str, postgres: Any = None) -> None:
        self.tmp, self.postgres, self.count = tmp, postgres, 0

    @asynccontextmanager
    async def fresh(self) -> AsyncIterator[str]:
        if self.postgres is not None:
            async with database(self.postgres, "cascade") as url:
                yield url
            return
        self.count += 1
        path = Path(self.tmp) / f"cascade{self.count}.db"
        try:
            yield f"sqlite:///{path}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                with suppress(FileNotFoundError):
                    os.unlink(f"{path}{suffix}")


async def loaded(url: str, vms: int, data_volumes: int, nics: int) -> dict[str, Any]:
    db = Database(url)
    await db.start(migrate=upgrade)
    try:
        return await load_cloud(db, vms=vms, data_volumes=data_volumes, nics=nics, cpu=1000, memory=1000 * GiB)
    finally:
        await db.close()


# -- counting ------------------------------------------------------------------------------------


class Counter:
    """Statements and transactions (benchmarks.support.Statements) and bus calls while counting."""

    def __init__(self, db: Database, bus: Any) -> None:
        self.statements = Statements(db)
        self.messages = 0
        call = bus.call

        async def counted(msg: Any, *args: Any, **kwargs: Any) -> Any:
            self.messages += self.statements.on
            return await call(msg, *args, **kwargs)

        bus.call = counted  # instrumentation only: the call itself is the bus's own


async def leftovers(db: Database) -> dict[str, int]:
    """Rows left in every table but the kept ones (the cloud held one zone)."""
    found: dict[str, int] = {}
    async with db.read() as conn:
        for table in metadata.sorted_tables:
            if table.name in ZONE_INDEPENDENT or table.name in BOOKKEEPING:
                continue
            rows = int(await conn.scalar(select(func.count()).select_from(table)) or 0)
            if rows:
                found[table.name] = rows
    return found


async def timed_delete(cloud: Cloud, zone: str, vms: int, mode: str) -> Run:
    counter = Counter(cloud.db, cloud.node.bus)
    with counter.statements.counting() as counts:
        cpu, started = time.process_time(), time.perf_counter()
        await cloud.ok("DeleteZone", uuid=zone, deleteMode=mode)
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    counter.statements.close()
    statements = sum(n for verb, n in counts.items() if verb != "BEGIN")
    left = await leftovers(cloud.db)
    return Run(vms, seconds, cpu, statements, counts["BEGIN"], counter.messages, left)


async def loaded_run(dbs: Databases, vms: int, mode: str, args: argparse.Namespace) -> Run:
    async with dbs.fresh() as url:
        env = await loaded(url, vms, args.data_volumes, args.nics)
        async with Cloud.start(url, namespace=f"cascade{new_uuid()[:8]}") as cloud:
            return await timed_delete(cloud, env["zone"], vms, mode)


async def api_run(dbs: Databases, vms: int, mode: str, args: argparse.Namespace) -> Run:
    async with dbs.fresh() as url, Cloud.start(url, namespace=f"cascade{new_uuid()[:8]}") as cloud:
        env = await cloud.build_vm_cloud(hosts=max(1, vms // 100), cpu=1000, memory=1000 * GiB, storage=1 << 60)
        disks = [
            (await cloud.ok("CreateDiskOffering", name=f"d{k}", diskSize=GiB))["uuid"] for k in range(args.data_volumes)
        ]
        pending = iter(range(vms))

        async def worker() -> None:
            for i in pending:
                await cloud.ok(
                    "CreateVmInstance",
                    name=f"vm{i}",
                    instanceOfferingUuid=env["offering"]["uuid"],
                    imageUuid=env["image"]["uuid"],
                    l3NetworkUuids=[env["l3"]["uuid"]],
                    dataDiskOfferingUuids=disks,
                )

        await asyncio.gather(*(worker() for _ in range(50)))
        return await timed_delete(cloud, env["zone"]["uuid"], vms, mode)


# -- the floor -------------------------------------------------------------------------------------


def _zone_tables() -> list[tuple[Any, Callable[[dict[str, Any]], Any]]]:
    """(table, condition on the loaded cloud's uuids) in foreign-key order, children first."""
    t = {name: inv.table for name, inv in inventory.INVENTORIES.items()}
    refs = {table.name: table for table in metadata.sorted_tables}

    def vm_of_zone(env: dict[str, Any]) -> Any:
        return select(t["VmInstance"].c.uuid).where(t["VmInstance"].c.zoneUuid == env["zone"])

    return [
        (t["UsedIp"], lambda env: t["UsedIp"].c.l3NetworkUuid.in_(env["l3s"])),
        (t["VmNic"], lambda env: t["VmNic"].c.vmInstanceUuid.in_(vm_of_zone(env))),
        (refs["host_allocation"], lambda env: refs["host_allocation"].c.hostUuid.in_(env["hosts"])),
        (t["Volume"], lambda env: t["Volume"].c.primaryStorageUuid == env["ps"]),
        (t["VmInstance"], lambda env: t["VmInstance"].c.zoneUuid == env["zone"]),
        (t["IpRange"], lambda env: t["IpRange"].c.l3NetworkUuid.in_(env["l3s"])),
        (t["L3Network"], lambda env: t["L3Network"].c.uuid.in_(env["l3s"])),
        (refs["l2_network_cluster_ref"], lambda env: refs["l2_network_cluster_ref"].c.l2NetworkUuid == env["l2"]),
        (t["L2Network"], lambda env: t["L2Network"].c.uuid == env["l2"]),
        (
            refs["primary_storage_cluster_ref"],
            lambda env: refs["primary_storage_cluster_ref"].c.primaryStorageUuid == env["ps"],
        ),
        (t["PrimaryStorage"], lambda env: t["PrimaryStorage"].c.uuid == env["ps"]),
        (t["Host"], lambda env: t["Host"].c.uuid.in_(env["hosts"])),
        (t["Cluster"], lambda env: t["Cluster"].c.uuid.in_(env["clusters"])),
        (refs["backup_storage_zone_ref"], lambda env: refs["backup_storage_zone_ref"].c.zoneUuid == env["zone"]),
        (t["Zone"], lambda env: t["Zone"].c.uuid == env["zone"]),
    ]


async def floor_run(dbs: Databases, vms: int, args: argparse.Namespace) -> Run:
    """The same rows removed by hand-written DELETEs in one transaction."""
    async with dbs.fresh() as url:
        env = await loaded(url, vms, args.data_volumes, args.nics)
        db = Database(url)
        await db.start()
        try:
            cpu, started = time.process_time(), time.perf_counter()
            async with db.tx() as conn:
                for table, where in _zone_tables():
                    await conn.execute(delete(table).where(where(env)))
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            return Run(vms, seconds, cpu, len(_zone_tables()), 1, 0, await leftovers(db))
        finally:
            await db.close()


# -- report ----------------------------------------------------------------------------------------


def summary(runs: list[Run]) -> dict[str, Any]:
    vms = runs[0].vms
    seconds = statistics.median(r.seconds for r in runs)
    return {
        "vms": vms,
        "seconds": round(seconds, 3),
        "runs": [round(r.seconds, 3) for r in runs],
        "msPerVm": round(seconds / vms * 1000, 3),
        "cpuMsPerVm": round(statistics.median(r.cpu_seconds for r in runs) / vms * 1000, 3),
        "statementsPerVm": round(statistics.median(r.statements for r in runs) / vms, 3),
        "transactionsPerVm": round(statistics.median(r.transactions for r in runs) / vms, 3),
        "messagesPerVm": round(statistics.median(r.messages for r in runs) / vms, 3),
        "leftovers": [r.leftovers for r in runs if r.leftovers],
    }


def growth(rows: list[dict[str, Any]]) -> dict[str, float]:
    """time(2N) / time(N) for every size whose double was measured too."""
    by_size = {r["vms"]: r["seconds"] for r in rows}
    return {f"{n}->{2 * n}": round(by_size[2 * n] / by_size[n], 3) for n in sorted(by_size) if 2 * n in by_size}


def print_table(title: str, rows: list[dict[str, Any]], floor: dict[int, dict[str, Any]]) -> None:
    print(f"\n{title}")
    print(
        f"{'VMs':>7} {'time s':>8} {'ms/VM':>7} {'CPU ms/VM':>9} {'stmts/VM':>8} {'tx/VM':>7} {'msgs/VM':>7}"
        f" {'floor s':>8} {'x floor':>7}  runs"
    )
    for r in rows:
        f = floor.get(r["vms"])
        ratio = f"{r['seconds'] / f['seconds']:7.1f}" if f else f"{'-':>7}"
        floor_s = f"{f['seconds']:8.3f}" if f else f"{'-':>8}"
        print(
            f"{r['vms']:>7,} {r['seconds']:8.2f} {r['msPerVm']:7.2f} {r['cpuMsPerVm']:9.2f} {r['statementsPerVm']:8.3f}"
            f" {r['transactionsPerVm']:7.3f} {r['messagesPerVm']:7.3f} {floor_s} {ratio}  {r['runs']}"
        )
        for left in r["leftovers"]:
            print(f"        LEFT BEHIND: {left}")
    for pair, ratio in growth(rows).items():
        print(f"  growth {pair}: time x {ratio}")


async def bench(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    results: dict[str, Any] = {"modes": {}, "floor": {}, "api": {}}
    use_pg = args.pg or bool(args.pg_url)
    with tempfile.TemporaryDirectory() as tmp:
        async with backing_servers(Path(tmp), pg_url=args.pg_url or "", rabbitmq=False, postgres=use_pg) as backing:
            dbs = Databases(tmp, backing.postgres)
            for vms in args.sizes:
                await measure_size(dbs, vms, args, results)
            for mode in args.modes if args.api else ():
                runs = [await api_run(dbs, args.api, mode, args) for _ in range(args.api_repeat)]
                results["api"][mode] = summary(runs)
    return ("LocalBus + PostgreSQL" if use_pg else "LocalBus + SQLite"), results


async def measure_size(dbs: Databases, vms: int, args: argparse.Namespace, results: dict[str, Any]) -> None:
    if not args.no_floor:
        results["floor"][vms] = summary([await floor_run(dbs, vms, args) for _ in range(args.repeat)])
    for mode in args.modes:
        runs = []
        for _ in range(args.repeat):
            runs.append(await loaded_run(dbs, vms, mode, args))
            print(f"  {mode} {vms}: {runs[-1].seconds:.2f} s", file=sys.stderr, flush=True)
        results["modes"].setdefault(mode, []).append(summary(runs))


def report(results: dict[str, Any], args: argparse.Namespace, backend: str) -> None:
    floor = results["floor"]
    for mode, rows in results["modes"].items():
        print_table(
            f"DeleteZone, {mode}, {backend}, loaded cloud ({args.data_volumes} data volumes, {args.nics} nics per VM)",
            rows,
            floor,
        )
    if floor:
        print("\nfloor (hand-written DELETEs, one transaction):")
        for vms, f in floor.items():
            print(f"{vms:>7,} {f['seconds']:8.3f} s {f['msPerVm']:7.3f} ms/VM  {f['runs']}")
    for mode, row in results["api"].items():
        print_table(f"DeleteZone, {mode}, {backend}, {args.api} API-created VMs", [row], {})


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="2500,5000,10000", help="comma-separated VM counts")
    parser.add_argument("--modes", default=",".join(MODES), help="Permissive,Enforcing")
    parser.add_argument("--repeat", type=int, default=3, help="runs per cell (the median is reported)")
    parser.add_argument("--data-volumes", type=int, default=1, help="data volumes per VM")
    parser.add_argument("--nics", type=int, default=1, help="nics (L3 networks) per VM")
    parser.add_argument("--api", type=int, default=0, help="also delete a zone of this many API-created VMs")
    parser.add_argument("--api-repeat", type=int, default=1)
    parser.add_argument("--no-floor", action="store_true")
    parser.add_argument("--pg", action="store_true", help="on a private PostgreSQL server")
    parser.add_argument("--pg-url", default=None, help="on this PostgreSQL server (must allow CREATE DATABASE)")
    parser.add_argument("--json", default=str(Path(__file__).with_suffix(".json")))
    args = parser.parse_args()
    args.sizes = [int(s) for s in args.sizes.split(",") if s]
    args.modes = [m for m in args.modes.split(",") if m]
    return args


def main() -> None:
    args = parse()
    configure(level="WARNING")
    backend, results = asyncio.run(bench(args))
    report(results, args, backend)
    path = Path(args.json)
    saved = json.loads(path.read_text()) if path.exists() else {}
    saved[backend] = {  # one section per backend: a --pg run keeps the SQLite one
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "load": os.getloadavg()},
        "args": {k: v for k, v in vars(args).items() if k not in ("json", "pg_url")},
        **results,
        "growth": {mode: growth(rows) for mode, rows in results["modes"].items()},
    }
    path.write_text(json.dumps(saved, indent=2, default=str) + "\n")
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
