"""Capacity and IP allocation stay exact under concurrency (issue 3, both buses, both databases)."""

from __future__ import annotations

import asyncio
from typing import Any

from cloudbus.testing import Cloud

GiB = 1 << 30


async def _cloud_for_150_vms(cloud: Cloud) -> dict[str, Any]:
    """3 hosts x 50 one-CPU 1 GiB VMs; storage, image and 250 IPs are not the limit."""
    zone = await cloud.ok("CreateZone", name="z")
    cluster = await cloud.ok("CreateCluster", name="c", zoneUuid=zone["uuid"], hypervisorType="Simulator")
    for i in range(3):
        await cloud.ok(
            "AddSimulatorHost",
            name=f"h{i}",
            managementIp=f"10.0.0.{i + 1}",
            clusterUuid=cluster["uuid"],
            cpuCapacity=50,
            memoryCapacity=64 * GiB,
        )
    ps = await cloud.ok(
        "AddSimulatorPrimaryStorage",
        name="ps",
        url="/ps",
        zoneUuid=zone["uuid"],
        totalCapacity=1 << 50,
        availableCapacity=1 << 50,
    )
    await cloud.ok("AttachPrimaryStorageToCluster", primaryStorageUuid=ps["uuid"], clusterUuid=cluster["uuid"])
    bs = await cloud.ok(
        "AddSimulatorBackupStorage", name="bs", url="/bs", totalCapacity=1 << 50, availableCapacity=1 << 50
    )
    await cloud.ok("AttachBackupStorageToZone", backupStorageUuid=bs["uuid"], zoneUuid=zone["uuid"])
    image = await cloud.ok(
        "AddImage",
        name="img",
        url="http://x/img.qcow2",
        backupStorageUuids=[bs["uuid"]],
        mediaType="RootVolumeTemplate",
        format="qcow2",
    )
    l2 = await cloud.ok("CreateL2NoVlanNetwork", name="l2", zoneUuid=zone["uuid"], physicalInterface="eth0")
    await cloud.ok("AttachL2NetworkToCluster", l2NetworkUuid=l2["uuid"], clusterUuid=cluster["uuid"])
    l3 = await cloud.ok("CreateL3Network", name="l3", l2NetworkUuid=l2["uuid"])
    await cloud.ok(
        "AddIpRange",
        name="r",
        l3NetworkUuid=l3["uuid"],
        startIp="10.1.0.2",
        endIp="10.1.0.251",
        netmask="255.255.255.0",
        gateway="10.1.0.1",
    )
    offering = await cloud.ok("CreateInstanceOffering", name="o", cpuNum=1, memorySize=GiB)
    return {"image": image, "l3": l3, "offering": offering}


async def test_200_parallel_creates_on_room_for_150(cloud: Cloud) -> None:
    env = await _cloud_for_150_vms(cloud)
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
