"""What identity costs a call: a normal account's filtered view, and resolving a session.

    python benchmarks/tenancy.py --vms 2000 --owned 200 --calls 300

On an embedded cloud (LocalBus + SQLite file) the admin creates `--vms - --owned` VMs and a
normal account `--owned`. Then, each `--calls` times (medians, in ms):

- QueryVmInstance limit=100 and count=true, as the admin (no filter) and as the account
  (only what it owns or is shared with it, inventory/tenancy.py), next to the floor: the
  account's filtered page by raw SQL on the same file (sqlite3, no cloudbus);
- QueryZone count=true with no credentials (the embedded admin) and with a session (the
  portal asks the identity service who it is: AuthenticateSession).

Results go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from cloudbus.apis.vm_instance import QueryVmInstance
from cloudbus.apis.zone import QueryZone
from cloudbus.core.passwords import sha512_hex
from cloudbus.testing import Cloud

FLOOR_SQL = """
SELECT * FROM vm_instance
WHERE uuid IN (SELECT resourceUuid FROM account_resource_ref WHERE accountUuid = ?)
ORDER BY createDate, uuid LIMIT 100
"""


async def median_ms(calls: int, call: Callable[[], Awaitable[Any]]) -> float:
    await call()  # warm: statements built and cached
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


async def create(cloud: Cloud, env: dict[str, Any], l3: str, count: int, prefix: str) -> None:
    for start in range(0, count, 50):
        await asyncio.gather(
            *(
                cloud.ok(
                    "CreateVmInstance",
                    name=f"{prefix}{i}",
                    instanceOfferingUuid=env["offering"]["uuid"],
                    imageUuid=env["image"]["uuid"],
                    l3NetworkUuids=[l3],
                )
                for i in range(start, min(start + 50, count))
            )
        )


async def run(args: argparse.Namespace) -> dict[str, float]:
    home = Path(tempfile.mkdtemp(prefix="bench-tenancy-"))
    db_file = home / "cloud.db"
    async with Cloud.start(f"sqlite:///{db_file}") as admin:
        env = await admin.build_vm_cloud(cpu=100_000, memory=1 << 50, network_cidr="10.0.0.0/8")
        public = [env["image"]["uuid"], env["offering"]["uuid"], env["l2"]["uuid"]]
        await admin.ok("ShareResource", resourceUuids=public, toPublic=True)
        account = await admin.ok("CreateAccount", name="alice", password=sha512_hex("alice-pw"))
        await admin.ok("UpdateQuota", identityUuid=account["uuid"], name="vm.num", value=args.owned)
        for name in ("vm.totalNum", "vm.cpuNum"):
            await admin.ok("UpdateQuota", identityUuid=account["uuid"], name=name, value=args.owned * 8)
        await admin.ok("UpdateQuota", identityUuid=account["uuid"], name="vm.memorySize", value=1 << 50)
        await admin.ok("UpdateQuota", identityUuid=account["uuid"], name="volume.capacity", value=1 << 50)
        await create(admin, env, env["l3"]["uuid"], args.vms - args.owned, "admin")
        async with admin.logged_in("alice", "alice-pw") as alice:
            l3 = await alice.ok("CreateL3Network", name="alice-l3", l2NetworkUuid=env["l2"]["uuid"])
            await alice.ok("AddIpRangeByNetworkCidr", name="r", l3NetworkUuid=l3["uuid"], networkCidr="172.16.0.0/16")
            await create(alice, env, l3["uuid"], args.owned, "alice")
            assert await alice.ok("QueryVmInstance", count=True) == args.owned
            assert await admin.ok("QueryVmInstance", count=True) == args.vms

            floor_db = sqlite3.connect(db_file)

            async def floor() -> None:
                floor_db.execute(FLOOR_SQL, (account["uuid"],)).fetchall()

            results = {
                "admin QueryVmInstance limit=100": await median_ms(
                    args.calls, lambda: admin.client.request(QueryVmInstance(limit=100))
                ),
                "account QueryVmInstance limit=100": await median_ms(
                    args.calls, lambda: alice.client.request(QueryVmInstance(limit=100))
                ),
                "floor: the account's page by raw SQL": await median_ms(args.calls, floor),
                "admin QueryVmInstance count": await median_ms(
                    args.calls, lambda: admin.client.request(QueryVmInstance(count=True))
                ),
                "account QueryVmInstance count": await median_ms(
                    args.calls, lambda: alice.client.request(QueryVmInstance(count=True))
                ),
                "QueryZone count, no credentials (embedded admin)": await median_ms(
                    args.calls, lambda: admin.client.request(QueryZone(count=True))
                ),
                "QueryZone count, with a session": await median_ms(
                    args.calls, lambda: alice.client.request(QueryZone(count=True))
                ),
            }
            floor_db.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=2000)
    parser.add_argument("--owned", type=int, default=200)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()
    results = asyncio.run(run(args))
    print(f"{args.vms:,} VMs, {args.owned:,} of them the account's; medians of {args.calls} calls")
    for name, value in results.items():
        print(f"{name:<52} {value:8.2f} ms")
    Path(__file__).with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
