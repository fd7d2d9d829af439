"""CreateVmInstance throughput, then DestroyVmInstance of them all, next to the raw SQL floor.

    python benchmarks/create_vms.py                              # 1,000 VMs, 50 in flight, all four configurations
    python benchmarks/create_vms.py --vms 10000 --configs sqlite,amqp2 --repeat 3
    python benchmarks/create_vms.py --amqp-url amqp://guest:guest@127.0.0.1:PORT/ \\
        --pg-url postgresql://postgres@127.0.0.1:PORT/postgres

Configurations (`--configs`, default all):
- `sqlite`: LocalBus + SQLite file, the embedded default: `cloudbus.testing.Cloud` in a child
  process (management node and caller in one process, as the CLI runs it);
- `pg`: the same on LocalBus + PostgreSQL;
- `amqp1`, `amqp2`: AmqpBus + PostgreSQL with one / two `cloudbus server` processes, called
  through RabbitMQ by a `cloudbus.apis.client.Client` in this process.

Each run, on a fresh database: a simulator cloud through the API (`Cloud.build_vm_cloud`, one
host per 100 VMs), then `--vms` CreateVmInstance calls with `--concurrency` in flight (a
1-vCPU 1 GiB offering, the image, one L3), then DestroyVmInstance of every VM, `--concurrency`
in flight. Measured: VMs/s, latency p50/p99, CPU per VM of the process(es) doing the work (the
child process; the sum of the server processes, from /proc/<pid>/stat), database work per VM,
peak RSS of the node process(es) (VmHWM, read right after the creates), destroys/s. Database
work per VM is counted two ways: statements by verb from a SQLAlchemy listener where the node
runs in-process (`sqlite`, `pg`), and transactions and rows from PostgreSQL's pg_stat_database
(xact_commit + xact_rollback, tup_*) where the database is PostgreSQL. The cloud is checked
exact after the creates and after the destroys (benchmarks/vm_rows.py).

The floor, measured in the same run on the same database after the destroys: the rows one real
creation wrote (vm_instance, root volume, nic, used IP, host_allocation; host and primary-storage
capacity updates) written for `--vms` new VMs with hand-written SQL, one transaction per VM,
`--concurrency` in flight, in this process (benchmarks/vm_rows.py).

Medians of `--repeat` runs are printed and written with every run to `create_vms.json` beside
this script. The URLs default to CLOUDBUS_TEST_AMQP_URL / CLOUDBUS_TEST_PG_URL; without them a
private RabbitMQ / PostgreSQL is started with tests/support/servers.py when a configuration needs it.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: import benchmarks.*, tests.*

from benchmarks import vm_rows
from benchmarks.support import (
    ROOT,
    Measured,
    Server,
    Statements,
    backing_servers,
    cluster,
    database,
    drive,
    peak_rss_mb,
)
from cloudbus.apis.client import Client
from cloudbus.core.auth import admin_password
from cloudbus.core.ids import new_uuid
from cloudbus.core.logging import configure
from cloudbus.core.units import GiB
from cloudbus.testing import Cloud
from tests.support.cluster import ApiCloud

RESULTS = Path(__file__).with_suffix(".json")
VMS_PER_HOST = 100
CALL_TIMEOUT = 300.0
# PostgreSQL 15 flushes an idle backend's pending statistics up to 10 s late (PGSTAT_IDLE_INTERVAL):
# pg_stat_database is read that long after the last statement of a measured phase.
PG_STATS_SETTLE = 11.0
PG_COUNTERS = (
    "xact_commit",
    "xact_rollback",
    "tup_returned",
    "tup_fetched",
    "tup_inserted",
    "tup_updated",
    "tup_deleted",
)


@dataclass(frozen=True)
class Config:
    label: str
    postgres: bool
    servers: int  # 0: the node runs in-process


CONFIGS = {
    "sqlite": Config("LocalBus + SQLite", postgres=False, servers=0),
    "pg": Config("LocalBus + PostgreSQL", postgres=True, servers=0),
    "amqp1": Config("AmqpBus + PostgreSQL, 1 server", postgres=True, servers=1),
    "amqp2": Config("AmqpBus + PostgreSQL, 2 servers", postgres=True, servers=2),
}


@dataclass
class Run:
    """One configuration, one repetition."""

    config: str
    create: Measured
    destroy: Measured
    floor: Measured
    cpu_ms_per_vm: float  # of the node process(es)
    floor_cpu_ms_per_vm: float
    peak_rss_mb: list[float]  # per node process
    statements: dict[str, int] = field(default_factory=dict)  # creates, listener, by verb (in-process only)
    destroy_statements: dict[str, int] = field(default_factory=dict)
    floor_statements: dict[str, int] = field(default_factory=dict)
    pg: dict[str, int] = field(default_factory=dict)  # creates, pg_stat_database deltas (PostgreSQL only)
    floor_pg: dict[str, int] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # the servers' log events above INFO
    loadavg: float = 0.0  # 1-minute load average before the run
    code: str = ""  # the commit measured, `+<sha1 of the diff>` when cloudbus/ had uncommitted changes

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Run:
        phases = {k: Measured(**data[k]) for k in ("create", "destroy", "floor")}
        return cls(**{**data, **phases})


# -- the phases, on any cloud whose API helpers are Cloud's (in-process Cloud or ApiCloud)


async def build(cloud: Cloud, vms: int, hosts: int | None = None) -> dict[str, Any]:
    """A simulator cloud with room for `vms` VMs twice over (ours, then the floor's): `hosts` hosts
    (one per 100 VMs by default) of 1,000 vCPUs / 1,000 GiB, an L3 of enough addresses for both."""
    hosts = hosts or max(1, vms // VMS_PER_HOST)
    prefix = min(16, 32 - (2 * vms + 8).bit_length())
    return await cloud.build_vm_cloud(
        hosts=hosts, cpu=1000, memory=1000 * GiB, storage=1 << 60, network_cidr=f"10.128.0.0/{prefix}"
    )


async def create_vms(
    cloud: Cloud, spec: dict[str, Any], count: int, concurrency: int, servers: Sequence[Server] = ()
) -> tuple[Measured, list[str]]:
    """`count` CreateVmInstance calls, `concurrency` in flight; the measure and the VMs' uuids."""
    uuids: list[str] = []

    async def one(i: int) -> None:
        vm = await cloud.ok(
            "CreateVmInstance",
            name=f"vm{i}",
            instanceOfferingUuid=spec["offering"]["uuid"],
            imageUuid=spec["image"]["uuid"],
            l3NetworkUuids=[spec["l3"]["uuid"]],
        )
        uuids.append(vm["uuid"])

    return await drive(one, count, concurrency, servers), uuids


async def destroy_vms(cloud: Cloud, uuids: list[str], concurrency: int, servers: Sequence[Server] = ()) -> Measured:
    async def one(i: int) -> None:
        await cloud.ok("DestroyVmInstance", uuid=uuids[i])

    return await drive(one, len(uuids), concurrency, servers)


# -- PostgreSQL's own counters


class PgStats:
    """pg_stat_database counters of one database, read on an admin connection (so the reads are
    not counted in them)."""

    def __init__(self, admin_url: str, db_url: str) -> None:
        self.admin_url = admin_url.replace("postgresql+asyncpg://", "postgresql://")
        self.name = db_url.rsplit("/", 1)[1].split("?")[0]

    async def read(self, settle: float = PG_STATS_SETTLE) -> dict[str, int]:
        import asyncpg

        await asyncio.sleep(settle)
        conn = await asyncpg.connect(self.admin_url, timeout=15)
        try:
            row = await conn.fetchrow(
                f"SELECT {', '.join(PG_COUNTERS)} FROM pg_stat_database WHERE datname = $1", self.name
            )
        finally:
            await conn.close()
        if row is None:
            raise RuntimeError(f"pg_stat_database has no database {self.name}")
        return {k: int(row[k]) for k in PG_COUNTERS}


def delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    return {k: after[k] - before[k] for k in before}


# -- one run of a configuration


async def phases(
    cloud: Cloud,
    db_url: str,
    vms: int,
    concurrency: int,
    pg: PgStats | None,
    servers: Sequence[Server] = (),
    counter: Statements | None = None,
) -> tuple[dict[str, Any], dict[str, Any], vm_rows.Model]:
    """Build, create, check, destroy, check, measuring the work of `servers` or else of this
    process (its statements counted by `counter`): Run's fields of these phases, the cloud's
    inventories, and the floor's model (a created VM's rows, read before the destroys)."""
    count = counter.counting if counter else lambda: nullcontext(Counter[str]())
    spec = await build(cloud, vms)
    before, pg_before = await vm_rows.capacity(db_url), pg and await pg.read()
    with count() as counts:
        created, uuids = await create_vms(cloud, spec, vms, concurrency, servers)
    rss = [s.peak_rss_mb() for s in servers] or [peak_rss_mb()]  # before the checks read every row here
    pg_after = pg and await pg.read()
    violations = await vm_rows.check_running(db_url, uuids, before)
    model = await vm_rows.template(db_url, uuids[0])
    with count() as destroy_counts:
        destroyed = await destroy_vms(cloud, uuids, concurrency, servers)
    violations += await vm_rows.check_destroyed(db_url, uuids, before)
    fields = {
        "create": created,
        "destroy": destroyed,
        "cpu_ms_per_vm": (created.server_cpu_ms_per_call if servers else created.client_cpu_ms_per_call) or 0.0,
        "peak_rss_mb": rss,
        "statements": dict(counts),
        "destroy_statements": dict(destroy_counts),
        "pg": delta(pg_before, pg_after) if pg_before and pg_after else {},
        "violations": violations,
    }
    return fields, spec, model


async def run_embedded(
    config: str, db_url: str, vms: int, concurrency: int, *, pg_admin: str = "", bus_url: str | None = None
) -> Run:
    """The node in this process (`Cloud.start`): creates, destroys, floor, checks. (The script
    calls it in a child process per run, so CPU and peak RSS are the run's own.)"""
    pg = PgStats(pg_admin, db_url) if pg_admin else None
    async with Cloud.start(db_url, bus_url, namespace=f"bench{new_uuid()[:8]}") as cloud:
        fields, spec, model = await phases(cloud, db_url, vms, concurrency, pg, counter=Statements(cloud.db))
    return _run(config, fields, await run_floor(db_url, spec, model, vms, concurrency, pg))


async def run_floor(
    db_url: str, spec: dict[str, Any], model: vm_rows.Model, count: int, concurrency: int, pg: PgStats | None = None
) -> dict[str, Any]:
    """The floor on `db_url` (no node running on it any more), checked exact; Run's floor fields."""
    before = await vm_rows.capacity(db_url)
    # no node holds a connection now: every backend has exited, its statistics flushed
    pg_before = pg and await pg.read(settle=1.0)
    done = await vm_rows.floor(db_url, model, [h["uuid"] for h in spec["hosts"]], count, concurrency)
    pg_after = pg and await pg.read(settle=1.0)
    return {
        "floor": done.measured,
        "floor_cpu_ms_per_vm": done.measured.client_cpu_ms_per_call or 0.0,
        "floor_statements": done.statements,
        "floor_pg": delta(pg_before, pg_after) if pg_before and pg_after else {},
        "violations": [f"floor: {v}" for v in await vm_rows.check_running(db_url, done.uuids, before)],
    }


def _run(config: str, fields: dict[str, Any], floor: dict[str, Any], **more: Any) -> Run:
    violations = fields["violations"] + floor["violations"]
    return Run(config=config, **{**fields, **floor, **more, "violations": violations})


async def run_servers(config: str, servers: int, backing: Any, vms: int, concurrency: int, workdir: Path) -> Run:
    """`servers` `cloudbus server` processes on a fresh database; this process is their client."""
    async with database(backing.postgres, f"bench_create_{config}") as db_url:
        pg = PgStats(backing.postgres.url, db_url)
        namespace = f"bench{new_uuid()[:8]}"
        async with cluster(servers, backing.amqp_url, db_url, namespace, workdir / new_uuid()[:8]) as nodes:
            async with Client(backing.amqp_url, namespace=namespace, timeout=CALL_TIMEOUT) as client:
                await client.log_in("admin", admin_password())
                fields, spec, model = await phases(ApiCloud(client), db_url, vms, concurrency, pg, nodes)
            warnings = [json.dumps(e) for n in nodes for e in n.complaints()]
        floor = await run_floor(db_url, spec, model, vms, concurrency, pg)
    return _run(config, fields, floor, warnings=warnings)


async def run_child(config: str, db_url: str, args: argparse.Namespace) -> Run:
    """`run_embedded` in a fresh interpreter: its CPU, peak RSS and caches are this run's alone."""
    pg_admin = args.pg_url if CONFIGS[config].postgres else ""  # pg_stat_database is read on PostgreSQL only
    cmd = [sys.executable, __file__, "--child", config, "--db-url", db_url, "--pg-url", pg_admin]
    cmd += ["--vms", str(args.vms), "--concurrency", str(args.concurrency)]
    proc = await asyncio.create_subprocess_exec(*cmd, stdout=asyncio.subprocess.PIPE)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{config} run failed (exit {proc.returncode}); its stderr is above")
    return Run.from_json(json.loads(out.decode().strip().splitlines()[-1]))


async def run_config(config: str, backing: Any, args: argparse.Namespace, workdir: Path) -> Run:
    spec = CONFIGS[config]
    loadavg, state = os.getloadavg()[0], code_state()
    code = state["commit"][:10] + (f"+{state['cloudbus_diff_sha1'][:10]}" if state["cloudbus_diff_sha1"] else "")
    if spec.servers:
        run = await run_servers(config, spec.servers, backing, args.vms, args.concurrency, workdir)
    else:
        sqlite = f"sqlite:///{workdir / f'create_{new_uuid()[:8]}.db'}"  # removed with workdir
        fresh = database(backing.postgres, f"bench_create_{config}") if spec.postgres else nullcontext(sqlite)
        async with fresh as db_url:
            run = await run_child(config, db_url, args)
    run.loadavg, run.code = round(loadavg, 2), code
    return run


# -- report


def per_vm(counts: dict[str, int], vms: int) -> float:
    return round(sum(counts.values()) / vms, 1) if counts else 0.0


def medians(runs: list[Run], vms: int) -> dict[str, Any]:
    """The table's figures: the median over the runs of each."""

    def med(get: Any) -> float:
        return round(statistics.median(get(r) for r in runs), 2)

    row: dict[str, Any] = {
        "vms_per_s": med(lambda r: r.create.calls_per_s),
        "floor_vms_per_s": med(lambda r: r.floor.calls_per_s),
        "ratio": med(lambda r: r.create.calls_per_s / r.floor.calls_per_s),
        "p50_ms": med(lambda r: r.create.p50_ms),
        "p99_ms": med(lambda r: r.create.p99_ms),
        "cpu_ms_per_vm": med(lambda r: r.cpu_ms_per_vm),
        "floor_cpu_ms_per_vm": med(lambda r: r.floor_cpu_ms_per_vm),
        "floor_statements_per_vm": med(lambda r: per_vm(r.floor_statements, vms)),
        "peak_rss_mb": med(lambda r: max(r.peak_rss_mb)),
        "destroys_per_s": med(lambda r: r.destroy.calls_per_s),
        "destroy_p99_ms": med(lambda r: r.destroy.p99_ms),
    }
    if runs[0].statements:
        row["statements_per_vm"] = med(lambda r: per_vm(r.statements, vms))
        for verb in Statements.VERBS:
            row[f"{verb}_per_vm"] = med(lambda r, v=verb: r.statements.get(v, 0) / vms)
        row["destroy_statements_per_vm"] = med(lambda r: per_vm(r.destroy_statements, vms))
    for name, key in (("", "pg"), ("floor_", "floor_pg")):
        if getattr(runs[0], key):
            row[f"{name}xact_per_vm"] = med(lambda r, k=key: _xact(getattr(r, k)) / vms)
            for counter in PG_COUNTERS[2:]:
                row[f"{name}{counter}_per_vm"] = med(lambda r, k=key, c=counter: getattr(r, k)[c] / vms)
    return row


def _xact(counts: dict[str, int]) -> int:
    return counts["xact_commit"] + counts["xact_rollback"]


def print_table(results: dict[str, dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"\n{args.vms} VMs, {args.concurrency} in flight, medians of {args.repeat} run(s); this machine has "
        f"{os.cpu_count()} CPUs shared by the client, the node(s), RabbitMQ and PostgreSQL.\n"
        "stmts/VM: statements counted by a SQLAlchemy listener in the node (BEGIN included); xact/VM: "
        "transactions in PostgreSQL's pg_stat_database.\n"
    )
    head = (
        f"{'configuration':<32} | {'VMs/s':>6} | {'floor':>6} | {'ratio':>5} | {'p50 ms':>7} | {'p99 ms':>7} | "
        f"{'CPU ms/VM':>9} | {'floor CPU':>9} | {'stmts/VM':>8} | {'floor st':>8} | {'xact/VM':>7} | "
        f"{'floor xa':>8} | {'RSS MB':>6} | {'destroys/s':>10}"
    )
    print(head)
    print("-" * len(head))
    for config, row in results.items():
        print(
            f"{CONFIGS[config].label:<32} | {row['vms_per_s']:>6.1f} | {row['floor_vms_per_s']:>6.1f} | "
            f"{row['ratio']:>5.2f} | {row['p50_ms']:>7.0f} | {row['p99_ms']:>7.0f} | {row['cpu_ms_per_vm']:>9.1f} | "
            f"{row['floor_cpu_ms_per_vm']:>9.2f} | {_opt(row, 'statements_per_vm'):>8} | "
            f"{row['floor_statements_per_vm']:>8.1f} | {_opt(row, 'xact_per_vm'):>7} | "
            f"{_opt(row, 'floor_xact_per_vm'):>8} | {row['peak_rss_mb']:>6.0f} | {row['destroys_per_s']:>10.1f}"
        )
    for config, row in results.items():
        if "statements_per_vm" in row:
            verbs = ", ".join(f"{row[f'{v}_per_vm']:.1f} {v}" for v in Statements.VERBS)
            print(f"  {config}: statements per create: {verbs}; per destroy: {row['destroy_statements_per_vm']}")
        if "xact_per_vm" in row:
            tuples = ", ".join(f"{row[f'{c}_per_vm']:.1f} {c[4:]}" for c in PG_COUNTERS[2:])
            print(f"  {config}: pg_stat_database per create: {row['xact_per_vm']:.1f} transactions; rows {tuples}")


def _opt(row: dict[str, Any], key: str) -> str:
    return f"{row[key]:.1f}" if key in row else "-"


def write_json(
    runs: dict[str, list[Run]],
    results: dict[str, dict[str, Any]],
    args: argparse.Namespace,
    seconds: float,
    code_at_start: dict[str, Any],
) -> None:
    import sqlalchemy

    report = {
        "benchmark": "create_vms",
        "command": f"python benchmarks/create_vms.py --vms {args.vms} --concurrency {args.concurrency} "
        f"--configs {','.join(args.configs)} --repeat {args.repeat}",
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "sqlalchemy": sqlalchemy.__version__,
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        },
        "code": {"at_start": code_at_start, "at_end": code_state()},
        "vms": args.vms,
        "concurrency": args.concurrency,
        "repeat": args.repeat,
        "seconds_total": round(seconds, 1),
        "results": [
            {"config": c, "label": CONFIGS[c].label, "median": results[c], "runs": [asdict(r) for r in runs[c]]}
            for c in results
        ],
    }
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {args.json} ({seconds:.0f} s in all)")


def code_state() -> dict[str, Any]:
    """The commit measured and the uncommitted changes to cloudbus/ on top of it (other work may be
    editing the tree while a benchmark runs)."""

    def git(*argv: str) -> str:
        done = subprocess.run(["git", *argv], cwd=ROOT, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    diff = git("diff", "HEAD", "--", "cloudbus")
    return {
        "commit": git("rev-parse", "HEAD"),
        "cloudbus_changed": git("diff", "HEAD", "--name-only", "--", "cloudbus").split(),
        "cloudbus_diff_sha1": hashlib.sha1(diff.encode()).hexdigest() if diff else None,
    }


# -- main


async def main(args: argparse.Namespace) -> int:
    configure(level="WARNING")  # the embedded default's level; the client logs nothing per call either way
    began, code = time.monotonic(), code_state()
    runs: dict[str, list[Run]] = {c: [] for c in args.configs}
    need_pg = any(CONFIGS[c].postgres for c in args.configs)
    need_mq = any(CONFIGS[c].servers for c in args.configs)
    with tempfile.TemporaryDirectory(prefix="cloudbus-create-vms-") as tmp:
        async with backing_servers(
            Path(tmp), args.amqp_url, args.pg_url, rabbitmq=need_mq, postgres=need_pg
        ) as backing:
            args.pg_url = backing.postgres.url if backing.postgres else ""
            for repeat in range(args.repeat):
                for config in args.configs:
                    run = await run_config(config, backing, args, Path(tmp))
                    runs[config].append(run)
                    print(
                        f"[{repeat + 1}/{args.repeat}] {config}: {run.create.calls_per_s} VMs/s "
                        f"(floor {run.floor.calls_per_s}), {run.cpu_ms_per_vm} ms CPU/VM, "
                        f"{run.destroy.calls_per_s} destroys/s, {len(run.violations)} violations",
                        flush=True,
                    )
                    for line in run.violations[:10] + [f"server log: {w}" for w in run.warnings[:5]]:
                        print(f"    {line}", flush=True)
    results = {c: medians(runs[c], args.vms) for c in args.configs}
    print_table(results, args)
    write_json(runs, results, args, time.monotonic() - began, code)
    return 1 if any(r.violations for rs in runs.values() for r in rs) else 0


async def child(args: argparse.Namespace) -> int:
    configure(level="WARNING")
    run = await run_embedded(args.child, args.db_url, args.vms, args.concurrency, pg_admin=args.pg_url)
    print(json.dumps(asdict(run)), flush=True)
    return 0


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vms", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--configs", type=lambda s: s.split(","), default=list(CONFIGS), help=",".join(CONFIGS))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--amqp-url", default=os.environ.get("CLOUDBUS_TEST_AMQP_URL", ""))
    parser.add_argument(
        "--pg-url", default=os.environ.get("CLOUDBUS_TEST_PG_URL", ""), help="admin URL (CREATE DATABASE)"
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=RESULTS,
        help=f"where to write the results (default {RESULTS.name} beside this script)",
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)  # internal: one embedded run, its Run as JSON on stdout
    parser.add_argument("--db-url", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    unknown = set(args.configs) - set(CONFIGS)
    if unknown:
        parser.error(f"unknown configuration(s) {sorted(unknown)}: choose from {','.join(CONFIGS)}")
    return args


if __name__ == "__main__":
    parsed = parse()
    sys.exit(asyncio.run(child(parsed) if parsed.child else main(parsed)))
