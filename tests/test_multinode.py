"""Several management nodes that never corrupt the cloud (issue 6).

Real `cloudbus server` processes on one RabbitMQ and one PostgreSQL (tests/support/cluster.py),
killed with SIGKILL, stopped with SIGTERM and cut off from a restarting broker while clients
keep calling. After each scenario `check_cloud` (tests/support/invariants.py) reads the
database: host capacity equals what the VMs placed there hold, no VM is transitional, no IP is
leaked or used twice, no nic or volume is orphaned, primary storage holds what its volumes hold.
Every client call must be answered within its timeout, with success or a coded error: never
SYS.1000 (internal error), never SYS.1001 (no answer in time).

The cluster tests need `--backend=amqp` and skip otherwise; the first two tests prove the
checker itself on a one-node cloud of either backend. Seeds and figures (takeover time after
kill -9, outcomes by code) are printed: run with `-s`. Knobs: CLOUDBUS_TEST_SEED replays a run;
CLOUDBUS_TEST_REQUIRE_MEMBERSHIP=0 skips the waits on membership log events ("ring changed",
"takeover done"), to see what the scenarios catch on a build without membership.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update

from cloudbus.core.errors import INTERNAL, TIMEOUT
from cloudbus.core.messages import Reply
from cloudbus.core.ring import HashRing
from cloudbus.core.units import GiB
from cloudbus.inventory.host import host_table
from cloudbus.inventory.primary_storage import primary_storage_table
from cloudbus.inventory.vm_instance import vm_instance_table, vm_nic_table
from cloudbus.inventory.zone import zone_table
from cloudbus.testing import Cloud
from tests.support.cluster import (
    ApiCloud,
    Cluster,
    Env,
    RawClient,
    build_cloud,
    create_vms,
    server_env,
    vm_params,
    wait_until,
)
from tests.support.invariants import TRANSITIONAL_VM_STATES, check_cloud, read_tables

ROOT = Path(__file__).resolve().parents[1]
HEARTBEAT = 0.5  # seconds between beats
MISSES = 3  # beats missed before a node is dead
CALL_TIMEOUT = 30.0  # every API call's timeout
SLACK = 3.0  # how late past its timeout an answer may arrive on a loaded 2-core machine
SETTLE = 15.0  # how long the cloud may take to become consistent once every call is answered
REQUIRE_MEMBERSHIP = os.environ.get("CLOUDBUS_TEST_REQUIRE_MEMBERSHIP", "1") != "0"


@pytest.fixture
def env(backend: str, request: pytest.FixtureRequest) -> Env:
    return server_env(backend, request, prefix="mn")


@pytest.fixture
def cluster(env: Env, tmp_path: Path) -> Iterator[Cluster]:
    started = Cluster(
        env, tmp_path, heartbeat_interval=HEARTBEAT, heartbeat_misses=MISSES, require_membership=REQUIRE_MEMBERSHIP
    )
    yield started
    started.close()


@pytest.fixture
def seed(request: pytest.FixtureRequest) -> int:
    value = int(os.environ.get("CLOUDBUS_TEST_SEED") or random.randrange(1 << 31))
    print(f"\n{request.node.name}: seed {value} (replay with CLOUDBUS_TEST_SEED={value})")
    return value


# --- what a call did --------------------------------------------------------------------------


@dataclass
class Outcome:
    api: str
    params: dict[str, Any]
    reply: Reply | None
    elapsed: float
    exception: str | None = None

    @property
    def ok(self) -> bool:
        return self.reply is not None and self.reply.success

    @property
    def code(self) -> str | None:
        return self.reply.error.code if self.reply is not None and self.reply.error else None

    @property
    def inventory(self) -> dict[str, Any]:
        assert self.reply is not None and self.reply.inventory is not None
        return dict(self.reply.inventory)

    def __str__(self) -> str:
        error = self.reply.error if self.reply is not None else None
        said = "ok" if self.ok else self.exception or (error and f"{error.code} {error.details}")
        return (
            f"{self.api}({self.params.get('name') or self.params.get('uuid') or ''}) -> {said} in {self.elapsed:.1f}s"
        )


async def timed(cloud: ApiCloud, api: str, **params: Any) -> Outcome:
    started = time.monotonic()
    try:
        reply = await cloud.api(api, **params)
    except Exception as exc:  # the client itself failed: reported as not answered
        return Outcome(api, params, None, time.monotonic() - started, f"{type(exc).__name__}: {exc}")
    return Outcome(api, params, reply, time.monotonic() - started)


def unanswered(outcomes: list[Outcome], timeout: float = CALL_TIMEOUT) -> list[str]:
    """Calls not answered in time, or answered with an internal error or a timeout."""
    return [
        f"not answered properly: {o}"
        for o in outcomes
        if o.reply is None or o.code in (INTERNAL, TIMEOUT) or o.elapsed > timeout + SLACK
    ]


def by_code(codes: list[str | None]) -> dict[str, int]:
    return dict(Counter(code or "ok" for code in codes).most_common())


async def settled(db_url: str, timeout: float = SETTLE) -> list[str]:
    """check_cloud's violations once they are gone (then []), or as they still are after `timeout`."""
    last: list[str] = []

    async def clean() -> bool:
        nonlocal last
        last = await check_cloud(db_url)
        return not last

    with contextlib.suppress(AssertionError):
        await wait_until(clean, timeout, lambda: "")
    return last


async def vm_rows(db_url: str) -> dict[str, dict[str, Any]]:
    return {vm["uuid"]: vm for vm in (await read_tables(db_url, {"vm": vm_instance_table}))["vm"]}


def fail_if(problems: list[str]) -> None:
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:40])


# --- the checker itself, on one node (both backends) ------------------------------------------


async def test_check_cloud_finds_nothing_wrong_in_a_healthy_cloud(cloud: Cloud, db_url: str) -> None:
    spec = await cloud.build_vm_cloud(hosts=2, cpu=8, memory=16 * GiB, network_cidr="10.60.0.0/24")
    vms = [await cloud.ok("CreateVmInstance", **vm_params(spec, f"vm{i}")) for i in range(4)]
    await cloud.ok("StopVmInstance", uuid=vms[0]["uuid"])
    await cloud.ok("DestroyVmInstance", uuid=vms[1]["uuid"])
    await cloud.ok("MigrateVm", vmInstanceUuid=vms[2]["uuid"])
    await cloud.ok("RebootVmInstance", uuid=vms[3]["uuid"])
    await cloud.ok("CreateVmInstance", **vm_params(spec, "stopped"), strategy="CreateStopped")
    assert await check_cloud(db_url) == []


async def test_check_cloud_reports_each_kind_of_damage(cloud: Cloud, db_url: str) -> None:
    spec = await cloud.build_vm_cloud(hosts=1, cpu=8, memory=16 * GiB, network_cidr="10.61.0.0/24")
    first, second = [await cloud.ok("CreateVmInstance", **vm_params(spec, f"vm{i}")) for i in range(2)]
    async with cloud.db.tx() as conn:
        host = host_table.c
        await conn.execute(update(host_table).values(availableCpuCapacity=host.availableCpuCapacity - 2))
        await conn.execute(
            update(vm_instance_table).where(vm_instance_table.c.uuid == first["uuid"]).values(state="Migrating")
        )
        nic = vm_nic_table.c
        await conn.execute(update(vm_nic_table).where(nic.vmInstanceUuid == second["uuid"]).values(usedIpUuid=None))
        ps = primary_storage_table.c
        await conn.execute(update(primary_storage_table).values(availableCapacity=ps.availableCapacity - 5))
    found = "\n".join(await check_cloud(db_url))
    assert "availableCpuCapacity is" in found and "off by -2" in found
    assert f"vm vm0[{first['uuid']}] is stuck in transitional state Migrating" in found
    assert "without a used ip row" in found and "is held by 0 nics" in found
    assert "(off by 5)" in found


# --- a cluster of three -----------------------------------------------------------------------

ROUNDS, PER_ROUND, CLIENTS = 20, 3, 4
CHAOS_LIMIT = 180.0  # all client processes together; a healthy run needs a fraction of it


MID_OPERATION = re.compile(r"state\[(" + "|".join(sorted(TRANSITIONAL_VM_STATES)) + r")\]")


async def run_chaos_clients(env: Env, workdir: Path, vms: list[str], seed: int) -> list[dict[str, Any]]:
    """CLIENTS processes of tests/support/chaos_client.py; every call's outcome line."""
    procs = []
    for i in range(CLIENTS):
        args = ["--url", env.bus_url, "--namespace", env.namespace, "--vms", ",".join(vms), "--seed", str(seed + i)]
        args += ["--client", str(i), "--rounds", str(ROUNDS), "--per-round", str(PER_ROUND)]
        args += ["--timeout", str(CALL_TIMEOUT), "--out", str(workdir / f"chaos{i}.jsonl")]
        with (workdir / f"chaos{i}.err").open("wb") as err:
            procs.append(
                await asyncio.create_subprocess_exec(
                    sys.executable, "-m", "tests.support.chaos_client", *args, cwd=ROOT, stdout=err, stderr=err
                )
            )
    try:
        await asyncio.wait_for(asyncio.gather(*(p.wait() for p in procs)), CHAOS_LIMIT)
    except TimeoutError:
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
        raise AssertionError(f"chaos clients still running after {CHAOS_LIMIT} s: some call hangs") from None
    lines: list[dict[str, Any]] = []
    for i, proc in enumerate(procs):
        assert proc.returncode == 0, (workdir / f"chaos{i}.err").read_text()[-3000:]
        lines += [json.loads(line) for line in (workdir / f"chaos{i}.jsonl").read_text().splitlines()]
    assert sum(1 for line in lines if line.get("done")) == CLIENTS
    return [line for line in lines if not line.get("done")]


async def test_conflicting_operations_from_four_clients_keep_the_cloud_consistent(
    cluster: Cluster, env: Env, tmp_path: Path, seed: int
) -> None:
    await cluster.start(3)
    async with cluster.api(timeout=CALL_TIMEOUT) as cloud:
        spec = await build_cloud(cloud, "10.30.0.0/24")
        vms = await create_vms(cloud, spec, 10, "chaos")
    started = time.monotonic()
    calls = await run_chaos_clients(env, tmp_path, [vm["uuid"] for vm in vms], seed)
    print(f"chaos: {len(calls)} calls in {time.monotonic() - started:.1f} s: {by_code([c['code'] for c in calls])}")
    mid = [c for c in calls if MID_OPERATION.search(c.get("details") or "")]
    print(f"chaos: {len(mid)} calls refused because their VM was in another operation's intermediate state")
    problems = [
        f"not answered properly: {call}"
        for call in calls
        if "exception" in call or call["code"] in (INTERNAL, TIMEOUT) or call["elapsed"] > CALL_TIMEOUT + SLACK
    ]
    if len(calls) != CLIENTS * ROUNDS * PER_ROUND:
        problems.append(f"{len(calls)} outcomes for {CLIENTS * ROUNDS * PER_ROUND} calls")
    fail_if(problems + await settled(env.db_url))


async def kill_when(cluster: Cluster, index: int, ready: asyncio.Event, tasks: list[asyncio.Task[Any]]) -> int:
    """SIGKILL server `index` once `ready` is set (or every task ended); returns the calls still in flight."""
    waiter, all_done = asyncio.create_task(ready.wait()), asyncio.create_task(asyncio.wait(tasks))
    await asyncio.wait([waiter, all_done], timeout=CALL_TIMEOUT, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    all_done.cancel()
    in_flight = sum(not t.done() for t in tasks)
    victim = cluster.kill9(index)
    print(f"kill -9 server{index} ({victim.node}) with {in_flight} calls in flight")
    return in_flight


async def report_takeover(cluster: Cluster, index: int) -> None:
    seconds = await cluster.wait_takeover(cluster.servers[index], timeout=CALL_TIMEOUT)
    if seconds is not None:
        print(f"takeover done {seconds:.2f} s after kill -9 (dead after {cluster.dead_after:.1f} s of silence)")


def parallel_creates(
    cloud: Any, spec: dict[str, Any], n: int, prefix: str
) -> tuple[list[asyncio.Task[Outcome]], asyncio.Event]:
    """`n` CreateVmInstance calls in flight, and an event set once the third has succeeded."""
    first_few = asyncio.Event()
    succeeded = 0

    async def create(i: int) -> Outcome:
        nonlocal succeeded
        outcome = await timed(cloud, "CreateVmInstance", **vm_params(spec, f"{prefix}{i}"))
        succeeded += outcome.ok
        if succeeded >= 3:
            first_few.set()
        return outcome

    return [asyncio.create_task(create(i)) for i in range(n)], first_few


async def creation_problems(outcomes: list[Outcome], db_url: str) -> list[str]:
    """Unanswered calls, invariant violations, and VMs that differ from the successful answers."""
    problems = unanswered(outcomes) + await settled(db_url)
    live = {u: vm for u, vm in (await vm_rows(db_url)).items() if vm["state"] != "Destroyed"}
    created = [o.inventory["uuid"] for o in outcomes if o.ok]
    if len(live) != len(created):
        problems.append(f"{len(live)} VMs in the database, {len(created)} creates answered success")
    problems += [f"vm {u} reported created is not Running in the database" for u in created if u not in live]
    return problems


async def test_kill9_during_30_parallel_creates(cluster: Cluster, env: Env, seed: int) -> None:
    await cluster.start(3)
    victim = random.Random(seed).randrange(3)
    async with cluster.api(timeout=CALL_TIMEOUT) as cloud:
        spec = await build_cloud(cloud, "10.40.0.0/24")
        tasks, first_few = parallel_creates(cloud, spec, 30, "vm")
        await kill_when(cluster, victim, first_few, tasks)
        outcomes = list(await asyncio.gather(*tasks))
    await report_takeover(cluster, victim)
    print(f"creates: {by_code([o.code for o in outcomes])}")
    fail_if(await creation_problems(outcomes, env.db_url))


async def test_sigterm_during_parallel_creates_hands_over_and_leaves_at_once(
    cluster: Cluster, env: Env, seed: int
) -> None:
    """A node stopped cleanly mid-work: it leaves the ring at once, finishes (or leaves to the
    takeover) what it was doing, and exits 0; every call is answered, nothing leaks."""
    await cluster.start(3)
    victim = random.Random(seed).randrange(3)
    async with cluster.api(timeout=CALL_TIMEOUT) as cloud:
        spec = await build_cloud(cloud, "10.44.0.0/24")
        tasks, first_few = parallel_creates(cloud, spec, 20, "term")
        await asyncio.wait_for(first_few.wait(), CALL_TIMEOUT)
        signalled = time.monotonic()
        code = await cluster.stop(victim)
        stopped_in = time.monotonic() - signalled
        outcomes = list(await asyncio.gather(*tasks))
    print(f"SIGTERM: exit {code} after {stopped_in:.1f} s; creates: {by_code([o.code for o in outcomes])}")
    problems = await creation_problems(outcomes, env.db_url)
    if code != 0:
        problems.append(f"the stopped node exited with {code}")
    fail_if(problems)


async def test_kill9_during_a_batch_of_migrations(cluster: Cluster, env: Env, seed: int) -> None:
    await cluster.start(3)
    victim = random.Random(seed).randrange(3)
    async with cluster.api(timeout=CALL_TIMEOUT) as cloud:
        spec = await build_cloud(cloud, "10.41.0.0/24")
        vms = await create_vms(cloud, spec, 12, "mig")
        answered = asyncio.Event()
        count = 0

        async def migrate(vm: dict[str, Any]) -> Outcome:
            nonlocal count
            outcome = await timed(cloud, "MigrateVm", vmInstanceUuid=vm["uuid"])
            count += 1
            if count >= 2:
                answered.set()
            return outcome

        tasks = [asyncio.create_task(migrate(vm)) for vm in vms]
        await kill_when(cluster, victim, answered, tasks)
        outcomes = list(await asyncio.gather(*tasks))
    await report_takeover(cluster, victim)
    print(f"migrations: {by_code([o.code for o in outcomes])}")
    problems = unanswered(outcomes) + await settled(env.db_url)
    rows = await vm_rows(env.db_url)
    for vm, outcome in zip(vms, outcomes, strict=True):
        row = rows.get(vm["uuid"], {})
        # success: on the host the reply names; failure: rolled back, still on the host it was on
        expected = outcome.inventory["hostUuid"] if outcome.ok else vm["hostUuid"]
        if (row.get("state"), row.get("hostUuid")) != ("Running", expected):
            problems.append(
                f"{outcome}: vm is {row.get('state')} on {row.get('hostUuid')}, expected Running on {expected}"
            )
    fail_if(problems)


async def test_kill9_during_a_delete_zone_cascade(cluster: Cluster, env: Env, seed: int) -> None:
    await cluster.start(3)
    async with cluster.api(timeout=CALL_TIMEOUT) as cloud:
        spec = await build_cloud(cloud, "10.42.0.0/24")
        vms = await create_vms(cloud, spec, 24, "dz")
        zone = spec["zone"]["uuid"]
        victim = zone_owner(cluster, zone, seed)
        delete = asyncio.create_task(timed(cloud, "DeleteZone", uuid=zone, deleteMode="Permissive"))
        cascading = asyncio.Event()
        watch = asyncio.create_task(set_when_vms_change(env.db_url, [vm["uuid"] for vm in vms], cascading))
        await kill_when(cluster, victim, cascading, [delete])
        watch.cancel()
        outcome = await delete
    await report_takeover(cluster, victim)
    print(f"DeleteZone: {outcome}")
    problems = unanswered([outcome]) + await settled(env.db_url)
    if outcome.ok:  # the zone and everything in it is gone
        left = await read_tables(env.db_url, {"zone": zone_table, "host": host_table, "vm": vm_instance_table})
        problems += [f"{kind} {row['uuid']} outlived DeleteZone" for kind, rows in left.items() for row in rows]
    fail_if(problems)


def zone_owner(cluster: Cluster, zone: str, seed: int) -> int:
    """The server that owns `zone` on the ring (it runs the cascade), else a seeded pick."""
    if not cluster.require_membership:
        return random.Random(seed).randrange(len(cluster.servers))
    owner = HashRing(s.node for s in cluster.servers if s.node).owner(zone)
    return next(i for i, s in enumerate(cluster.servers) if s.node == owner)


async def set_when_vms_change(db_url: str, uuids: list[str], changed: asyncio.Event) -> None:
    """Set `changed` as soon as one of the VMs `uuids` is no longer Running (the cascade reached them)."""

    async def any_changed() -> bool:
        rows = await vm_rows(db_url)
        return any(rows.get(u, {}).get("state") != "Running" for u in uuids)

    with contextlib.suppress(AssertionError):  # never reached: the kill waits for the reply instead
        await wait_until(any_changed, CALL_TIMEOUT, lambda: "the cascade never reached a VM")
        changed.set()


# --- the broker restarts ----------------------------------------------------------------------


async def test_broker_restart_during_a_client_loop(
    cluster: Cluster, env: Env, request: pytest.FixtureRequest, seed: int
) -> None:
    broker = request.getfixturevalue("rabbitmq")
    if broker is None:
        pytest.skip("the broker is external (CLOUDBUS_TEST_AMQP_URL): this test cannot restart it")
    await cluster.start(2)
    outcomes: list[Outcome] = []
    restarted = asyncio.Event()
    calling = asyncio.Event()
    async with cluster.api(timeout=CALL_TIMEOUT) as cloud:
        spec = await build_cloud(cloud, "10.50.0.0/22", cpu=64)
        limit = time.monotonic() + 90

        async def loop(k: int) -> None:
            after = 0
            for i in range(10_000):
                if after >= 3 or time.monotonic() > limit:
                    return
                api, params = (
                    ("CreateZone", {"name": f"zone-{k}-{i}"})
                    if i % 2
                    else ("CreateVmInstance", vm_params(spec, f"vm-{k}-{i}"))
                )
                outcome = await timed(cloud, api, **params)
                outcomes.append(outcome)
                after += outcome.ok and restarted.is_set()
                if len(outcomes) >= 6:
                    calling.set()
                if not outcome.ok:
                    await asyncio.sleep(0.2)  # pace retries while the broker is away

        loops = [asyncio.create_task(loop(k)) for k in range(3)]
        await asyncio.wait_for(calling.wait(), CALL_TIMEOUT)
        started = time.monotonic()
        await asyncio.to_thread(broker.restart)
        restarted.set()
        print(f"broker restarted in {time.monotonic() - started:.1f} s")
        await asyncio.wait_for(asyncio.gather(*loops), 120)
        held = [*await cloud.ok("QueryZone"), *await cloud.ok("QueryVmInstance")]
    print(f"calls around the restart: {by_code([o.code for o in outcomes])}")
    found: dict[str, list[str]] = {}
    for resource in held:
        found.setdefault(resource["name"], []).append(resource["uuid"])
    problems = [f"internal error: {o}" for o in outcomes if o.code == INTERNAL]
    for o in outcomes:
        there = found.get(o.params["name"], [])
        if o.ok and there != [o.inventory["uuid"]]:
            problems.append(f"{o} but the cloud holds {there}")
        if not o.ok and there:
            problems.append(f"{o} but it created {there}")
    fail_if(problems + await settled(env.db_url))


# --- the same API message twice ---------------------------------------------------------------


async def test_the_same_api_message_delivered_twice_runs_once(cluster: Cluster, env: Env) -> None:
    await cluster.start(2)
    async with RawClient(env.bus_url, env.namespace) as raw:
        await raw.log_in()
        # twice at once: two nodes may pick them up together
        twin = uuid.uuid4().hex
        for _ in range(2):
            await raw.publish("CreateZone", {"name": "twin"}, msg_id=twin)
        await raw.wait_replies(twin, 1, CALL_TIMEOUT)
        # once more after the answer: a retry of a finished API
        retry = await raw.publish("CreateZone", {"name": "retried"})
        await raw.wait_replies(retry, 1, CALL_TIMEOUT)
        await raw.publish("CreateZone", {"name": "retried"}, msg_id=retry)
        retried = await raw.wait_replies(retry, 2, CALL_TIMEOUT)
        twins = await replies_within(raw, twin, 2, seconds=5)
        zones = (await raw.call("QueryZone", {}))["inventories"]
    print(f"replies to the twin message: {len(twins)}")
    for name, replies in (("twin", twins), ("retried", retried)):
        assert all(r["body"]["success"] for r in replies), replies
        assert len({r["body"]["inventory"]["uuid"] for r in replies}) == 1, replies
        assert [z["uuid"] for z in zones if z["name"] == name] == [replies[0]["body"]["inventory"]["uuid"]]


async def replies_within(raw: RawClient, msg_id: str, count: int, seconds: float) -> list[dict[str, Any]]:
    """Up to `count` replies to `msg_id`: those that arrived within `seconds`."""
    try:
        return await raw.wait_replies(msg_id, count, seconds)
    except TimeoutError:
        return list(raw.replies[msg_id])


# --- membership -------------------------------------------------------------------------------


async def test_management_nodes_are_listed_and_a_stopped_one_leaves(cluster: Cluster, env: Env) -> None:
    await cluster.start(3)
    async with RawClient(env.bus_url, env.namespace) as raw:
        await raw.log_in()

        async def running() -> set[str]:
            reply = await raw.call("QueryManagementNode", {})
            assert reply["success"], reply
            return {n["uuid"] for n in reply["inventories"] if n["state"] == "Running"}

        reply = await raw.call("QueryManagementNode", {})
        assert reply["success"], reply
        nodes = {n["uuid"]: n for n in reply["inventories"]}
        assert set(nodes) == {s.node for s in cluster.servers}
        for node in nodes.values():
            assert node["state"] == "Running" and node["hostName"] and node["version"], node
            assert node["heartbeat"] and node["createDate"], node
        leaving = cluster.servers[2].node
        started = time.monotonic()
        assert await cluster.stop(2) == 0
        limit = cluster.dead_after + 2 * HEARTBEAT + 2

        async def gone() -> bool:
            return leaving not in await running()

        await wait_until(gone, limit, lambda: f"{leaving} still Running {limit:.1f} s after SIGTERM")
        print(f"a SIGTERMed node left the list {time.monotonic() - started:.2f} s after the signal")
    await cluster.wait_ring(timeout=limit)
