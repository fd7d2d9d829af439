"""Where VMs land: hints, disabled hosts and clusters, networks, exact capacity under concurrency."""

from __future__ import annotations

import asyncio

from cloudbus.core.units import GiB
from cloudbus.testing import Cloud
from tests.support.vm_env import create_vm, host, vm_env


async def test_disabled_host_is_never_chosen(cloud: Cloud) -> None:
    env = await vm_env(cloud, hosts=2)
    disabled, enabled = env["hosts"]
    await cloud.ok("ChangeHostState", uuid=disabled["uuid"], stateEvent="disable")
    for i in range(4):
        inv = await create_vm(cloud, env, name=f"vm{i}")
        assert inv["hostUuid"] == enabled["uuid"]
    error = await cloud.error(
        "CreateVmInstance",
        name="pinned",
        instanceOfferingUuid=env["offering"]["uuid"],
        imageUuid=env["image"]["uuid"],
        l3NetworkUuids=[env["l3"]["uuid"]],
        hostUuid=disabled["uuid"],
    )
    assert error.code == "HOST_ALLOCATION.1000"


async def test_placement_hints(cloud: Cloud) -> None:
    env = await vm_env(cloud, clusters=2, hosts=2)
    for target in env["hosts"]:
        assert (await create_vm(cloud, env, hostUuid=target["uuid"]))["hostUuid"] == target["uuid"]
    second = env["clusters"][1]["uuid"]
    for _ in range(3):
        inv = await create_vm(cloud, env, clusterUuid=second)
        assert inv["clusterUuid"] == second
        assert (await host(cloud, inv["hostUuid"]))["clusterUuid"] == second
    assert (await create_vm(cloud, env, zoneUuid=env["zones"][0]["uuid"]))["zoneUuid"] == env["zones"][0]["uuid"]


async def test_cluster_without_the_network_or_storage_is_not_chosen(cloud: Cloud) -> None:
    env = await vm_env(cloud, clusters=2, hosts=1)
    first, second = env["clusters"]
    await cloud.ok("DetachL2NetworkFromCluster", l2NetworkUuid=env["net"]["l2"]["uuid"], clusterUuid=first["uuid"])
    await cloud.ok("DetachPrimaryStorageFromCluster", primaryStorageUuid=env["ps"]["uuid"], clusterUuid=second["uuid"])
    before = await cloud.snapshot()
    error = await cloud.error(
        "CreateVmInstance",
        name="nowhere",
        instanceOfferingUuid=env["offering"]["uuid"],
        imageUuid=env["image"]["uuid"],
        l3NetworkUuids=[env["l3"]["uuid"]],
    )
    assert error.code == "HOST_ALLOCATION.1000"
    assert await cloud.snapshot() == before


async def test_parallel_creations_never_overcommit(cloud: Cloud) -> None:
    # 2 hosts x 8 cpu, 2 cpu per VM: exactly 8 VMs fit
    env = await vm_env(cloud, hosts=2, cpu=8, memory=64 * GiB)
    replies = await asyncio.gather(
        *(
            cloud.api(
                "CreateVmInstance",
                name=f"vm{i}",
                instanceOfferingUuid=env["offering"]["uuid"],
                imageUuid=env["image"]["uuid"],
                l3NetworkUuids=[env["l3"]["uuid"]],
            )
            for i in range(12)
        )
    )
    created = [r.inventory for r in replies if r.success]
    assert len(created) == 8
    assert {r.error.code for r in replies if not r.success} == {"HOST_ALLOCATION.1000"}
    for h in env["hosts"]:
        assert (await host(cloud, h["uuid"]))["availableCpuCapacity"] == 0
    ips = [vm["vmNics"][0]["ip"] for vm in created]
    assert len(set(ips)) == 8
    assert len(await cloud.ok("QueryIpAddress")) == 8
    assert len(await cloud.ok("QueryVmInstance")) == 8
