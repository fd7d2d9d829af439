"""Capacity and IP allocation stay exact under concurrency (issue 3, both buses, both databases)."""

from __future__ import annotations

import asyncio

from cloudbus.core.units import GiB
from cloudbus.testing import Cloud


async def test_200_parallel_creates_on_room_for_150(cloud: Cloud) -> None:
    # 3 hosts x 50 one-CPU 1 GiB VMs; storage, image and 253 IPs are not the limit
    env = await cloud.build_vm_cloud(hosts=3, cpu=50, memory=64 * GiB, network_cidr="10.1.0.0/24")
    replies = await asyncio.gather(
        *(
            cloud.api(
                "CreateVmInstance",
                name=f"vm{i}",
                instanceOfferingUuid=env["offering"]["uuid"],
                imageUuid=env["image"]["uuid"],
                l3NetworkUuids=[env["l3"]["uuid"]],
            )
            for i in range(200)
        )
    )
    created = [r.inventory for r in replies if r.success]
    failed = [r.error for r in replies if not r.success]
    assert len(created) == 150
    assert {e.code for e in failed} == {"HOST_ALLOCATION.1000"}, {e.code for e in failed}

    hosts = await cloud.ok("QueryHost")
    assert all(h["availableCpuCapacity"] == 0 and h["availableMemoryCapacity"] == 14 * GiB for h in hosts)
    ips = [nic["ip"] for vm in created for nic in vm["vmNics"]]
    assert len(ips) == len(set(ips)) == 150
    assert await cloud.ok("QueryIpAddress", count=True) == 150
    assert await cloud.ok("QueryVmInstance", count=True) == 150
    assert await cloud.ok("QueryVolume", count=True) == 150  # failed creates left no volume behind
