"""One-shot CLI latency next to the interpreter's floor, and printing a 100-VM reply next to json.dumps.

    python benchmarks/cli.py                       # 10 runs per case, remote mode on a private RabbitMQ
    python benchmarks/cli.py --runs 20 --no-remote
    python benchmarks/cli.py --importtime          # also: where one `cloudbus QueryZone` spends its imports
    python benchmarks/cli.py --also "before=env PYTHONPATH=/tmp/old python -m cloudbus.apis.cli"  # beside another build

CLI cases, each run `--runs` times as real subprocesses, round-robin so the machine's load hits
every case alike (a warm-up run of each first, not counted):
- floors: `python3 -c pass`, and `python3 -c "import sqlalchemy, pydantic"` (issue 7's);
- `cloudbus QueryZone` and `cloudbus CreateZone name=...` on the embedded default (CLOUDBUS_BUS_URL
  unset: a management node in-process on the SQLite file under CLOUDBUS_HOME), on a home already
  created and migrated;
- `cloudbus CreateZone name=...` on a fresh CLOUDBUS_HOME (the file is created and migrated);
- `cloudbus QueryZone` as a remote client (CLOUDBUS_BUS_URL) of one `cloudbus server` on the same
  machine (its own SQLite file), on `--amqp-url` or a private broker (tests/support/servers.py).
`--also LABEL=COMMAND` (repeatable) runs the embedded and remote cases of another build of the
CLI too, labelled `[LABEL]`, in the same rounds. Printed: wall p50/p90, CPU p50 (user+sys of the
child) and wall p50 as a multiple of `python3 -c pass`. On a shared machine compare CPU, and
cases of one run.

Bytecode: the children write and read .pyc files under a private PYTHONPYCACHEPREFIX, as an
installed package does (this machine's environment sets PYTHONDONTWRITEBYTECODE, under which every
run would compile cloudbus's sources anew; `--no-bytecode-cache` measures that).

Reply case: 100 VMs created through the API on a private SQLite file (in this process), the reply
of `QueryVmInstance limit=100` as the CLI receives it, then the median CPU time of `--reply-runs` runs of:
`render` + print (what the CLI does), `json.dumps(reply.to_json(), indent=4, sort_keys=True)` (the
previous path, still render's fallback), `reply.to_json()` alone, and the floor `json.dumps` of the
same data. render's text is checked equal to the previous path's before anything is timed.

Results are written to `cli.json` beside this script.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: import benchmarks.*, tests.*

RESULTS = Path(__file__).with_suffix(".json")
VMS = 100
TARGET_CLI_MS = 300
TARGET_REPLY_MS = 5


@dataclass
class Case:
    label: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    fresh_home: Path | None = None  # a new empty CLOUDBUS_HOME under this directory for every run
    replies: bool = True  # prints a successful API reply (checked on every run)
    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)

    def run(self, base_env: dict[str, str], counted: bool = True) -> None:
        env = {**base_env, **self.env}
        if self.fresh_home is not None:
            env["CLOUDBUS_HOME"] = tempfile.mkdtemp(dir=self.fresh_home)
        argv = [arg.replace("{n}", str(len(self.wall_ms))) for arg in self.argv]
        before, started = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
        wall, after = time.perf_counter() - started, resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0 or (self.replies and '"success": true' not in done.stdout):
            raise RuntimeError(
                f"{self.label} failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
            )
        if counted:
            self.wall_ms.append(wall * 1000)
            self.cpu_ms.append((after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) * 1000)

    def summary(self, floor: float) -> dict[str, Any]:
        p50 = statistics.median(self.wall_ms)
        return {
            "case": self.label,
            "argv": self.argv,
            "wall_p50_ms": round(p50, 1),
            "wall_p90_ms": round(percentile(self.wall_ms, 0.9), 1),
            "cpu_p50_ms": round(statistics.median(self.cpu_ms), 1),
            "x_python_pass": round(p50 / floor, 2),
            "wall_ms": [round(v, 1) for v in self.wall_ms],
            "cpu_ms": [round(v, 1) for v in self.cpu_ms],
        }


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def child_env(workdir: Path, bytecode_cache: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDBUS_", "PYTHONPYCACHEPREFIX"))}
    if bytecode_cache:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(workdir / "pycache")
    else:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def cloudbus_command(given: str | None) -> list[str]:
    """The CLI as users start it: the console script beside this interpreter, or `--cloudbus`."""
    if given:
        return shlex.split(given)
    script = Path(sys.executable).parent / "cloudbus"
    return [str(script)] if script.exists() else [sys.executable, "-m", "cloudbus.apis.cli"]


def cli_cases(builds: dict[str, list[str]], workdir: Path) -> list[Case]:
    """The floors, then the three embedded cases of every build (each build on its own homes)."""
    cases = [
        python_pass(),
        Case(
            'python3 -c "import sqlalchemy, pydantic"',
            [sys.executable, "-c", "import sqlalchemy, pydantic"],
            replies=False,
        ),
    ]
    for index, (label, cli) in enumerate(builds.items()):
        at_home = {"CLOUDBUS_HOME": str(workdir / f"home{index}")}
        fresh = workdir / f"fresh{index}"
        fresh.mkdir()
        cases += [
            Case(f"{label}cloudbus QueryZone (migrated home)", [*cli, "QueryZone"], at_home),
            Case(f"{label}cloudbus CreateZone (migrated home)", [*cli, "CreateZone", "name=bench-{n}"], at_home),
            Case(f"{label}cloudbus CreateZone (fresh home)", [*cli, "CreateZone", "name=first"], fresh_home=fresh),
        ]
    return cases


def python_pass() -> Case:
    return Case("python3 -c pass", [sys.executable, "-c", "pass"], replies=False)


def measure(cases: list[Case], env: dict[str, str], runs: int) -> None:
    for case in cases:  # warm-up: bytecode written, the migrated home created and migrated
        case.run(env, counted=False)
    for _ in range(runs):
        for case in cases:
            case.run(env)


# -- remote mode


async def remote_cases(
    builds: dict[str, list[str]], env: dict[str, str], workdir: Path, amqp_url: str, runs: int
) -> list[Case]:
    """`python3 -c pass`, then the remote-client case of every build, beside one running server."""
    from benchmarks.support import backing_servers, cluster

    try:
        async with backing_servers(workdir / "servers", amqp_url, postgres=False) as backing:
            db_url = f"sqlite:///{workdir / 'server.db'}"
            async with cluster(1, backing.amqp_url, db_url, "bench_cli", workdir / "cluster"):
                remote = {"CLOUDBUS_BUS_URL": backing.amqp_url, "CLOUDBUS_BUS_NAMESPACE": "bench_cli"}
                cases = [python_pass()]
                for label, cli in builds.items():
                    cases.append(Case(f"{label}cloudbus QueryZone (remote, 1 server)", [*cli, "QueryZone"], remote))
                await asyncio.to_thread(measure, cases, env, runs)
                return cases
    except Exception as exc:  # no broker here: the table says so instead of failing the whole run
        print(f"remote mode skipped: {type(exc).__name__}: {exc}", file=sys.stderr)
        return []


# -- printing a 100-VM reply


async def vm_reply(workdir: Path) -> Any:
    from cloudbus.core.logging import configure
    from cloudbus.testing import Cloud

    configure(level="WARNING")
    async with Cloud.start(f"sqlite:///{workdir / 'vms.db'}") as cloud:
        env = await cloud.build_vm_cloud(hosts=1, cpu=1000, memory=1000 << 30)

        async def create(i: int) -> None:
            params = {"instanceOfferingUuid": env["offering"]["uuid"], "imageUuid": env["image"]["uuid"]}
            await cloud.ok("CreateVmInstance", name=f"vm-{i}", l3NetworkUuids=[env["l3"]["uuid"]], **params)

        for start in range(0, VMS, 10):
            await asyncio.gather(*(create(i) for i in range(start, min(VMS, start + 10))))
        reply = await cloud.api("QueryVmInstance", limit=VMS)
    assert reply.success and len(reply.inventories or ()) == VMS, reply
    return reply


def time_ms(fn: Any, runs: int) -> float:
    """Median CPU time of `fn` (the process's: on a shared machine, wall time mostly measures the others)."""
    fn()
    samples = []
    for _ in range(runs):
        started = time.process_time()
        fn()
        samples.append((time.process_time() - started) * 1000)
    return round(statistics.median(samples), 2)


def reply_rows(reply: Any, runs: int) -> dict[str, Any]:
    from cloudbus.apis.cli import render

    previous = json.dumps(reply.to_json(), indent=4, sort_keys=True, ensure_ascii=False)
    assert render(reply) == previous, "render differs from json.dumps of the reply"
    payload = {"success": reply.success, "inventories": reply.inventories}
    with open(os.devnull, "w") as out:
        rows = {
            "render + print (the CLI's path)": time_ms(lambda: print(render(reply), file=out, flush=True), runs),
            "json.dumps(reply.to_json(), indent=4, sort_keys=True) (previous path)": time_ms(
                lambda: json.dumps(reply.to_json(), indent=4, sort_keys=True, ensure_ascii=False), runs
            ),
            "reply.to_json() alone (pydantic model_dump)": time_ms(reply.to_json, runs),
            "json.dumps(the same data) (floor)": time_ms(lambda: json.dumps(payload), runs),
        }
    return {"vms": VMS, "json_bytes": len(previous.encode()), "runs": runs, "ms": rows}


# -- where the imports go


def importtime(cli: list[str], env: dict[str, str], home: Path) -> list[tuple[str, float]]:
    """Self time of every imported module of one `cloudbus QueryZone`, summed by package (ms)."""
    run_env = {**env, "CLOUDBUS_HOME": str(home), "PYTHONPROFILEIMPORTTIME": "1"}
    done = subprocess.run([*cli, "QueryZone"], env=run_env, capture_output=True, text=True, timeout=300, check=True)
    by_package: Counter[str] = Counter()
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        own, _total, name = line.removeprefix("import time:").split("|")
        parts = name.strip().split(".")
        by_package[".".join(parts[:2]) if parts[0] == "cloudbus" else parts[0]] += int(own) / 1000
    return [(name, round(ms, 1)) for name, ms in by_package.most_common()]


# -- main


def print_report(report: dict[str, Any]) -> None:
    print(f"\none-shot CLI: {report['runs']} runs per case, bytecode cached: {report['bytecode_cache']}")
    print(f"{'case':48s} {'wall p50':>9s} {'p90':>7s} {'cpu p50':>8s} {'x pass':>7s}")
    for row in report["cli"]:
        print(
            f"{row['case']:48s} {row['wall_p50_ms']:9.0f} {row['wall_p90_ms']:7.0f} {row['cpu_p50_ms']:8.0f}"
            f" {row['x_python_pass']:7.1f}"
        )
    print(f"target: one-shot CLI <= {TARGET_CLI_MS} ms wall")
    if report.get("reply"):
        reply = report["reply"]
        print(
            f"\nprinting a {reply['vms']}-VM reply ({reply['json_bytes'] // 1024} KiB), CPU median of {reply['runs']}"
        )
        for label, ms in reply["ms"].items():
            print(f"  {label:72s} {ms:7.2f} ms")
        print(f"target: <= {TARGET_REPLY_MS} ms")
    for label, packages in report.get("importtime", {}).items():
        total = sum(ms for _, ms in packages)
        print(f"\n{label}imports of one `cloudbus QueryZone`: {total:.0f} ms (-X importtime self times, inflated)")
        for name, ms in packages[:15]:
            print(f"  {name:40s} {ms:7.1f} ms")


def main(args: argparse.Namespace) -> None:
    builds = {"": cloudbus_command(args.cloudbus)}
    for also in args.also:
        label, _, command = also.partition("=")
        builds[f"[{label}] "] = shlex.split(command)
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="cloudbus-bench-cli-") as tmp:
        workdir = Path(tmp)
        env = child_env(workdir, not args.no_bytecode_cache)
        cases = cli_cases(builds, workdir)
        measure(cases, env, args.runs)
        floor = statistics.median(cases[0].wall_ms)
        rows = [case.summary(floor) for case in cases]
        remote = [] if args.no_remote else asyncio.run(remote_cases(builds, env, workdir, args.amqp_url, args.runs))
        if remote:
            own_floor = statistics.median(remote[0].wall_ms)  # measured beside them, with the server running
            rows += [{**case.summary(own_floor), "python_pass_beside_ms": round(own_floor, 1)} for case in remote[1:]]
        report: dict[str, Any] = {
            "machine": f"{os.cpu_count()} CPUs, {platform.platform()}, Python {platform.python_version()}",
            "load_average_at_start": round(load, 2),
            "runs": args.runs,
            "bytecode_cache": not args.no_bytecode_cache,
            "builds": builds,
            "cli": rows,
        }
        if not args.no_reply:
            report["reply"] = reply_rows(asyncio.run(vm_reply(workdir)), args.reply_runs)
        if args.importtime:
            report["importtime"] = {
                label: importtime(cli, env, workdir / f"home{index}")
                for index, (label, cli) in enumerate(builds.items())
            }
    print_report(report)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nwritten to {RESULTS.relative_to(RESULTS.parent.parent)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10, help="runs per CLI case (default 10)")
    parser.add_argument("--reply-runs", type=int, default=50, help="timings per reply row (default 50)")
    parser.add_argument("--cloudbus", help="command that runs the CLI (default: the console script)")
    parser.add_argument(
        "--also",
        action="append",
        default=[],
        metavar="LABEL=COMMAND",
        help="another build of the CLI to measure in the same run (repeatable), e.g. before=COMMAND",
    )
    parser.add_argument("--amqp-url", default=os.environ.get("CLOUDBUS_TEST_AMQP_URL", ""))
    parser.add_argument("--no-remote", action="store_true", help="skip the remote-client case")
    parser.add_argument("--no-reply", action="store_true", help="skip the 100-VM reply case")
    parser.add_argument("--no-bytecode-cache", action="store_true", help="children compile every source anew")
    parser.add_argument("--importtime", action="store_true", help="also sum -X importtime by package")
    main(parser.parse_args())
