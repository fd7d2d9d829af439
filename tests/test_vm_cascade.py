"""What deleting or detaching a VM's parents does to it (reference 4.4)."""

from __future__ import annotations

from cloudbus.testing import ZONE_INDEPENDENT, Cloud
from tests.support.vm_env import create_vm, host, vm, vm_env


async def test_delete_host_stops_its_vms(cloud: Cloud) -> None:
    env = await vm_env(cloud, hosts=2)
    target = env["hosts"][0]["uuid"]
    inv = await create_vm(cloud, env, hostUuid=target)
    other = await create_vm(cloud, env, hostUuid=env["hosts"][1]["uuid"])
    await cloud.ok("DeleteHost", uuid=target)
    stopped = await vm(cloud, inv["uuid"])
    assert stopped["state"] == "Stopped" and stopped["hostUuid"] is None
    assert stopped["vmNics"][0]["ip"] == inv["vmNics"][0]["ip"]
    assert (await vm(cloud, other["uuid"]))["state"] == "Running"
    started = await cloud.ok("StartVmInstance", uuid=inv["uuid"])
    assert started["hostUuid"] == env["hosts"][1]["uuid"]


async def test_delete_host_with_a_dead_hypervisor_still_stops(cloud: Cloud) -> None:
    env = await vm_env(cloud, hosts=1)
    inv = await create_vm(cloud, env)
    cloud.sim.fail("stopVm", times=None)
    await cloud.ok("DeleteHost", uuid=inv["hostUuid"])
    assert (await vm(cloud, inv["uuid"]))["state"] == "Stopped"


async def test_delete_cluster_stops_vms(cloud: Cloud) -> None:
    env = await vm_env(cloud, hosts=1)
    inv = await create_vm(cloud, env)
    await cloud.ok("DeleteCluster", uuid=env["clusters"][0]["uuid"])
    stopped = await vm(cloud, inv["uuid"])
    assert stopped["state"] == "Stopped" and stopped["clusterUuid"] is None


async def test_delete_l3_detaches_nics(cloud: Cloud) -> None:
    env = await vm_env(cloud)
    inv = await create_vm(cloud, env)
    await cloud.ok("DeleteL3Network", uuid=env["l3"]["uuid"])
    after = await vm(cloud, inv["uuid"])
    assert after["state"] == "Running" and after["vmNics"] == [] and after["defaultL3NetworkUuid"] is None
    assert cloud.sim.issued("detachNic", inv["uuid"])
    assert await cloud.ok("QueryVmNic") == []


async def test_delete_ip_range_detaches_nics(cloud: Cloud) -> None:
    env = await vm_env(cloud)
    inv = await create_vm(cloud, env)
    await cloud.ok("DeleteIpRange", uuid=env["net"]["ipRange"]["uuid"])
    assert (await vm(cloud, inv["uuid"]))["vmNics"] == []


async def test_detach_l2_from_cluster_detaches_nics_there(cloud: Cloud) -> None:
    env = await vm_env(cloud, clusters=2, hosts=1)
    first, second = env["clusters"]
    here = await create_vm(cloud, env, clusterUuid=first["uuid"])
    there = await create_vm(cloud, env, clusterUuid=second["uuid"])
    await cloud.ok("DetachL2NetworkFromCluster", l2NetworkUuid=env["net"]["l2"]["uuid"], clusterUuid=first["uuid"])
    assert (await vm(cloud, here["uuid"]))["vmNics"] == []
    assert len((await vm(cloud, there["uuid"]))["vmNics"]) == 1


async def test_detach_primary_storage_from_cluster_stops_vms_there(cloud: Cloud) -> None:
    env = await vm_env(cloud, clusters=2, hosts=1)
    first, second = env["clusters"]
    here = await create_vm(cloud, env, clusterUuid=first["uuid"])
    there = await create_vm(cloud, env, clusterUuid=second["uuid"])
    await cloud.ok("DetachPrimaryStorageFromCluster", primaryStorageUuid=env["ps"]["uuid"], clusterUuid=first["uuid"])
    assert (await vm(cloud, here["uuid"]))["state"] == "Stopped"
    assert (await vm(cloud, there["uuid"]))["state"] == "Running"


async def test_delete_primary_storage_removes_its_vms(cloud: Cloud) -> None:
    env = await vm_env(cloud, hosts=1)
    inv = await create_vm(cloud, env)
    await cloud.ok("DeletePrimaryStorage", uuid=env["ps"]["uuid"])
    assert await cloud.query("QueryVmInstance", ("uuid", "=", inv["uuid"])) == []
    assert await cloud.ok("QueryVolume") == []
    assert await cloud.ok("QueryIpAddress") == []
    freed = await host(cloud, env["hosts"][0]["uuid"])
    assert freed["availableCpuCapacity"] == freed["totalCpuCapacity"]


async def test_delete_instance_offering_nulls_it(cloud: Cloud) -> None:
    env = await vm_env(cloud, hosts=1)
    inv = await create_vm(cloud, env)
    await cloud.ok("DeleteInstanceOffering", uuid=env["offering"]["uuid"])
    after = await vm(cloud, inv["uuid"])
    assert after["instanceOfferingUuid"] is None and after["state"] == "Running"


async def test_delete_zone_removes_vms_and_keeps_backup_storage(cloud: Cloud) -> None:
    env = await vm_env(cloud)
    running = await create_vm(cloud, env)
    stopped = await create_vm(cloud, env, strategy="CreateStopped", dataDiskOfferingUuids=[env["disk"]["uuid"]])
    created = await create_vm(cloud, env, strategy="JustCreate")
    await cloud.ok("DeleteZone", uuid=env["zones"][0]["uuid"])
    assert await cloud.ok("QueryVmInstance") == []
    assert await cloud.ok("QueryVmNic") == []
    assert await cloud.ok("QueryVolume") == []
    assert running and stopped and created
    assert len(await cloud.ok("QueryBackupStorage")) == 1
    snapshot = await cloud.snapshot()
    leftovers = {t: rows for t, rows in snapshot.items() if rows and t not in ZONE_INDEPENDENT}
    assert leftovers == {}
