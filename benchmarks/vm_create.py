"""VM creation throughput on simulator drivers, next to the raw SQL floor.

    python benchmarks/vm_create.py                     # LocalBus + SQLite file
    python benchmarks/vm_create.py --db-url postgresql://postgres@127.0.0.1:55432/bench
    python benchmarks/vm_create.py --amqp-url amqp://guest:guest@127.0.0.1/ --db-url postgresql://...

Creates `--vms` VMs with `--concurrency` CreateVmInstance calls in flight (each a full
FlowChain: backup storage, host and primary storage reservation, root volume, nic + IP,
start on the simulator) and prints VMs/s and latency percentiles. The floor is the same
rows written with plain SQLAlchemy Core, one transaction per VM, no bus, no checks.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from typing import Any

from sqlalchemy import insert, update

from cloudbus.core.ids import new_uuid, utcnow
from cloudbus.testing import Cloud

GiB = 1 << 30


async def build(cloud: Cloud, vms: int) -> dict[str, Any]:
    env = await cloud.build_vm_cloud(hosts=max(1, vms // 100), cpu=1000, memory=1000 * GiB, storage=1 << 60)
    return {
        "image": env["image"]["uuid"],
        "l3": env["l3"]["uuid"],
        "offering": env["offering"]["uuid"],
        "ps": env["ps"]["uuid"],
        "zone": env["zone"]["uuid"],
        "cluster": env["cluster"]["uuid"],
        "range": env["ipRange"]["uuid"],
    }


async def create_vms(cloud: Cloud, env: dict[str, Any], count: int, concurrency: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    pending = iter(range(count))

    async def worker() -> None:
        for i in pending:
            t0 = time.perf_counter()
            await cloud.ok(
                "CreateVmInstance",
                name=f"vm{i}",
                instanceOfferingUuid=env["offering"],
                imageUuid=env["image"],
                l3NetworkUuids=[env["l3"]],
            )
            latencies.append(time.perf_counter() - t0)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


async def raw_floor(cloud: Cloud, env: dict[str, Any], count: int, concurrency: int) -> float:
    """The rows of `count` VMs (vm, volume, nic, used IP, two capacity updates), one transaction each."""
    from cloudbus.inventory.host import host_table
    from cloudbus.inventory.ip_range import used_ip_table
    from cloudbus.inventory.primary_storage import primary_storage_table
    from cloudbus.inventory.vm_instance import vm_instance_table, vm_nic_table
    from cloudbus.inventory.volume import volume_table

    async with cloud.db.read() as conn:
        host = (await conn.execute(host_table.select().limit(1))).mappings().one()
    pending = iter(range(count))

    async def worker() -> None:
        for i in pending:
            now, vm, vol, nic, ip = utcnow(), new_uuid(), new_uuid(), new_uuid(), new_uuid()
            async with cloud.db.tx() as conn:
                await conn.execute(
                    update(host_table)
                    .where(host_table.c.uuid == host["uuid"])
                    .values(availableCpuCapacity=host_table.c.availableCpuCapacity - 1)
                )
                await conn.execute(
                    update(primary_storage_table)
                    .where(primary_storage_table.c.uuid == env["ps"])
                    .values(availableCapacity=primary_storage_table.c.availableCapacity - GiB)
                )
                await conn.execute(
                    insert(vm_instance_table).values(
                        uuid=vm,
                        name=f"raw{i}",
                        zoneUuid=env["zone"],
                        clusterUuid=env["cluster"],
                        hostUuid=host["uuid"],
                        imageUuid=env["image"],
                        rootVolumeUuid=vol,
                        type="UserVm",
                        hypervisorType="Simulator",
                        cpuNum=1,
                        memorySize=GiB,
                        state="Running",
                        createDate=now,
                        lastOpDate=now,
                    )
                )
                await conn.execute(
                    insert(volume_table).values(
                        uuid=vol,
                        name=f"ROOT-raw{i}",
                        primaryStorageUuid=env["ps"],
                        vmInstanceUuid=vm,
                        type="Root",
                        format="qcow2",
                        size=GiB,
                        deviceId=0,
                        state="Enabled",
                        status="Ready",
                        createDate=now,
                        lastOpDate=now,
                    )
                )
                await conn.execute(
                    insert(vm_nic_table).values(
                        uuid=nic,
                        vmInstanceUuid=vm,
                        l3NetworkUuid=env["l3"],
                        ip=f"10.200.{i // 250}.{i % 250}",
                        mac=f"fb:00:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}",
                        deviceId=0,
                        type="VNIC",
                        state="enable",
                        createDate=now,
                        lastOpDate=now,
                    )
                )
                await conn.execute(
                    insert(used_ip_table).values(
                        uuid=ip,
                        l3NetworkUuid=env["l3"],
                        ipRangeUuid=env["range"],
                        netmask="255.255.0.0",
                        gateway="10.200.0.1",
                        ipInLong=(10 << 24) + (200 << 16) + i,
                        ip=f"10.200.{i // 250}.{i % 250}",
                        ipVersion=4,
                        vmNicUuid=nic,
                        createDate=now,
                        lastOpDate=now,
                    )
                )

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))] * 1000


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--vms", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--db-url", default=None)
    parser.add_argument("--amqp-url", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db_url = args.db_url or f"sqlite:///{tmp}/bench.db"
        async with Cloud.start(db_url, args.amqp_url, namespace=f"bench{new_uuid()[:8]}") as cloud:
            env = await build(cloud, args.vms)
            elapsed, latencies = await create_vms(cloud, env, args.vms, args.concurrency)
            floor = await raw_floor(cloud, env, args.vms, args.concurrency)
    bus = "AmqpBus" if args.amqp_url else "LocalBus"
    db = db_url.split(":", 1)[0]
    print(f"{bus} + {db}: {args.vms} VMs, {args.concurrency} in flight")
    print(
        f"  CreateVmInstance: {args.vms / elapsed:8.1f} VMs/s  ({elapsed:.2f} s; latency p50 "
        f"{statistics.median(latencies) * 1000:.0f} ms, p95 {pct(latencies, 0.95):.0f} ms, "
        f"p99 {pct(latencies, 0.99):.0f} ms)"
    )
    print(f"  raw SQL floor   : {args.vms / floor:8.1f} VMs/s  ({floor:.2f} s; the same rows, one transaction each)")


if __name__ == "__main__":
    asyncio.run(main())
