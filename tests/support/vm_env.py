"""Test set-up for VM tests: the ZStack bring-up a VM needs, in one call.

zone -> cluster(s) -> simulator hosts; a simulator primary storage attached to every
cluster; a simulator backup storage attached to the zone with a Ready image; an L2
attached to every cluster with an L3 (IP range + DNS + Flat services); an instance
offering and a disk offering.
"""

from __future__ import annotations

import asyncio
from typing import Any

from cloudbus import inventory
from cloudbus.core.units import GiB
from cloudbus.testing import Cloud
from tests.support.network import build_network


async def vm_env(
    cloud: Cloud,
    *,
    clusters: int = 1,
    hosts: int = 2,
    cpu: int = 8,
    memory: int = 16 * GiB,
    ps_capacity: int = 1 << 40,
    start_ip: str = "192.168.100.10",
    end_ip: str = "192.168.100.200",
) -> dict[str, Any]:
    env: dict[str, Any] = dict(await cloud.build_env(clusters=clusters, hosts=hosts, cpu=cpu, memory=memory))
    zone = env["zones"][0]
    cluster_uuids = [c["uuid"] for c in env["clusters"]]
    ps = await cloud.ok(
        "AddSimulatorPrimaryStorage", name="ps", zoneUuid=zone["uuid"], url="/sim/ps", totalCapacity=ps_capacity
    )
    for cluster_uuid in cluster_uuids:
        await cloud.ok("AttachPrimaryStorageToCluster", primaryStorageUuid=ps["uuid"], clusterUuid=cluster_uuid)
    bs = await cloud.ok("AddSimulatorBackupStorage", name="bs", url="/sim/bs")
    await cloud.ok("AttachBackupStorageToZone", zoneUuid=zone["uuid"], backupStorageUuid=bs["uuid"])
    image = await cloud.ok("AddImage", name="img", url="http://example.com/img.qcow2", backupStorageUuids=[bs["uuid"]])
    env.update(
        ps=ps,
        bs=bs,
        image=await ready_image(cloud, image["uuid"]),
        net=await build_network(cloud, zone["uuid"], cluster_uuids, start_ip=start_ip, end_ip=end_ip),
        offering=await cloud.ok("CreateInstanceOffering", name="small", cpuNum=2, memorySize=2 * GiB),
        disk=await cloud.ok("CreateDiskOffering", name="d10", diskSize=10 * GiB),
    )
    env["l3"] = env["net"]["l3"]
    return env


async def ready_image(cloud: Cloud, uuid: str) -> dict[str, Any]:
    for _ in range(200):
        (image,) = await cloud.query("QueryImage", ("uuid", "=", uuid))
        if image["status"] == "Ready":
            return image
        await asyncio.sleep(0.02)
    raise AssertionError(f"image {uuid} never became Ready")


async def create_vm(cloud: Cloud, env: dict[str, Any], **params: Any) -> dict[str, Any]:
    params.setdefault("name", "vm")
    params.setdefault("instanceOfferingUuid", env["offering"]["uuid"])
    params.setdefault("imageUuid", env["image"]["uuid"])
    params.setdefault("l3NetworkUuids", [env["l3"]["uuid"]])
    return await cloud.ok("CreateVmInstance", **params)


async def host(cloud: Cloud, uuid: str) -> dict[str, Any]:
    (found,) = await cloud.query("QueryHost", ("uuid", "=", uuid))
    return found


async def used_ips(cloud: Cloud) -> list[dict[str, Any]]:
    return await cloud.ok("QueryIpAddress")


async def vm(cloud: Cloud, uuid: str) -> dict[str, Any]:
    found = await cloud.query("QueryVmInstance", ("uuid", "=", uuid))
    assert found, f"vm {uuid} not found"
    return found[0]


def table(name: str) -> Any:
    return inventory.get(name).table
