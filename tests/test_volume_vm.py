"""Volumes with VMs created through the API (the compute service's flow end to end)."""

from __future__ import annotations

from cloudbus.core.units import GiB
from cloudbus.testing import Cloud
from tests.support.vm_env import create_vm, vm_env
from tests.support.volume_env import available


async def test_vm_volumes_attach_capacity_and_queries(cloud: Cloud) -> None:
    env = await vm_env(cloud)
    ps = env["ps"]["uuid"]
    vm = await create_vm(cloud, env, dataDiskOfferingUuids=[env["disk"]["uuid"]])
    volumes = {v["type"]: v for v in vm["allVolumes"]}
    assert (volumes["Root"]["deviceId"], volumes["Root"]["status"]) == (0, "Ready")
    assert (volumes["Data"]["deviceId"], volumes["Data"]["size"]) == (1, 10 * GiB)
    start = await available(cloud, ps)
    extra = await cloud.ok("CreateDataVolume", name="extra", diskSize=3 * GiB)
    attached = await cloud.ok("AttachDataVolumeToVm", volumeUuid=extra["uuid"], vmInstanceUuid=vm["uuid"])
    assert (attached["deviceId"], attached["primaryStorageUuid"]) == (2, ps)
    assert await available(cloud, ps) == start - 3 * GiB
    assert cloud.sim.issued("attachVolume", vm["uuid"])
    found = await cloud.query("QueryVmInstance", ("allVolumes.type", "=", "Data"), ("allVolumes.size", "<", 4 * GiB))
    assert [v["uuid"] for v in found] == [vm["uuid"]]
    (by_vm,) = await cloud.query("QueryVolume", ("vmInstance.name", "=", vm["name"]), ("type", "=", "Root"))
    assert by_vm["uuid"] == volumes["Root"]["uuid"]


async def test_root_volume_snapshot_revert_needs_a_stopped_vm(cloud: Cloud) -> None:
    env = await vm_env(cloud)
    vm = await create_vm(cloud, env)
    root = vm["rootVolumeUuid"]
    s1 = await cloud.ok("CreateVolumeSnapshot", volumeUuid=root, name="s1")
    assert s1["volumeType"] == "Root"
    error = await cloud.error("RevertVolumeFromSnapshot", uuid=s1["uuid"])
    assert error.code == "SYS.1006" and error.cause.code == "VM.1010"
    await cloud.ok("StopVmInstance", uuid=vm["uuid"])
    await cloud.ok("RevertVolumeFromSnapshot", uuid=s1["uuid"])


async def test_expunged_vm_keeps_its_data_volumes_detached(cloud: Cloud) -> None:
    env = await vm_env(cloud)
    vm = await create_vm(cloud, env, dataDiskOfferingUuids=[env["disk"]["uuid"]])
    data = next(v for v in vm["allVolumes"] if v["type"] == "Data")
    await cloud.ok("DestroyVmInstance", uuid=vm["uuid"])
    await cloud.ok("ExpungeVmInstance", uuid=vm["uuid"])
    (left,) = await cloud.query("QueryVolume")
    assert (left["uuid"], left["vmInstanceUuid"], left["lastVmInstanceUuid"]) == (data["uuid"], None, vm["uuid"])


async def test_delete_primary_storage_takes_vms_and_their_volumes(cloud: Cloud) -> None:
    env = await vm_env(cloud)
    await create_vm(cloud, env, dataDiskOfferingUuids=[env["disk"]["uuid"]])
    loose = await cloud.ok("CreateDataVolume", name="loose", diskSize=GiB)
    await cloud.ok("DeletePrimaryStorage", uuid=env["ps"]["uuid"])
    assert await cloud.query("QueryVmInstance") == []
    assert [v["uuid"] for v in await cloud.query("QueryVolume")] == [loose["uuid"]]
