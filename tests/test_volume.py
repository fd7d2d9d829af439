"""Data volumes: create, attach (first attach instantiates), detach, delete/recover/expunge,
resize, update, state, queries, bad input, capacity exactness and failure rollback."""

from __future__ import annotations

import asyncio

from cloudbus.core.units import GiB
from cloudbus.testing import Cloud
from tests.support.volume_env import available, ps_driver, storage_env, vm_row


async def test_create_data_volume_is_not_instantiated_and_uses_no_capacity(cloud: Cloud) -> None:
    env = await storage_env(cloud)
    before = await available(cloud, env["ps"]["uuid"])
    vol = await cloud.ok("CreateDataVolume", name="v", diskOfferingUuid=env["offering"]["uuid"], description="d")
    assert (vol["type"], vol["status"], vol["state"], vol["format"]) == ("Data", "NotInstantiated", "Enabled", "qcow2")
    assert vol["size"] == 10 * GiB and vol["diskOfferingUuid"] == env["offering"]["uuid"]
    assert vol["vmInstanceUuid"] is None and vol["installPath"] is None and "hostUuid" not in vol
    sized = await cloud.ok("CreateDataVolume", name="s", diskSize=GiB, resourceUuid="ab" * 16)
    assert (sized["uuid"], sized["size"]) == ("ab" * 16, GiB)
    assert await available(cloud, env["ps"]["uuid"]) == before


async def test_create_data_volume_bad_input_changes_nothing(cloud: Cloud) -> None:
    env = await storage_env(cloud)
    before = await cloud.snapshot()
    assert (await cloud.error("CreateDataVolume", name="v")).code == "SYS.1007"
    both = await cloud.error("CreateDataVolume", name="v", diskSize=GiB, diskOfferingUuid=env["offering"]["uuid"])
    assert both.code == "SYS.1007"
    assert (await cloud.error("CreateDataVolume", name="v", diskSize=0)).code == "SYS.1007"
    assert (await cloud.error("CreateDataVolume", name="v", diskOfferingUuid="0" * 32)).code == "SYS.1003"
    assert (await cloud.error("CreateDataVolume", name="v", diskSize=1, primaryStorageUuid="1" * 32)).code == "SYS.1003"
    assert (await cloud.error("CreateDataVolume", name="", diskSize=1)).code == "SYS.1007"
    assert (await cloud.error("CreateDataVolume", name="v", diskSize=1, bogus=1)).code == "SYS.1007"
    assert await cloud.snapshot() == before


async def test_attach_instantiates_takes_exact_capacity_and_numbers_devices(cloud: Cloud) -> None:
    env = await storage_env(cloud)
    ps = env["ps"]["uuid"]
    vm = await vm_row(cloud, env, "Running")
    start = await available(cloud, ps)
    v1 = await cloud.ok("CreateDataVolume", name="v1", diskSize=3 * GiB)
    v2 = await cloud.ok("CreateDataVolume", name="v2", diskSize=5 * GiB)
    a1 = await cloud.ok("AttachDataVolumeToVm", volumeUuid=v1["uuid"], vmInstanceUuid=vm)
    assert (a1["status"], a1["vmInstanceUuid"], a1["deviceId"], a1["primaryStorageUuid"]) == ("Ready", vm, 1, ps)
    assert a1["installPath"] and a1["lastAttachDate"]
    assert await available(cloud, ps) == start - 3 * GiB
    a2 = await cloud.ok("AttachDataVolumeToVm", volumeUuid=v2["uuid"], vmInstanceUuid=vm)
    assert a2["deviceId"] == 2
    assert await available(cloud, ps) == start - 8 * GiB
    attached = [c for c in cloud.sim.issued("attachVolume", vm)]
    assert [c.args["volume"]["uuid"] for c in attached] == [v1["uuid"], v2["uuid"]]
    # detach frees device 1; the next attach reuses it; re-attaching costs no capacity
    d1 = await cloud.ok("DetachDataVolumeFromVm", uuid=v1["uuid"])
    assert d1["vmInstanceUuid"] is None and d1["deviceId"] is None
    assert (d1["lastVmInstanceUuid"], d1["status"]) == (vm, "Ready") and d1["lastDetachDate"]
    assert len(cloud.sim.issued("detachVolume", vm)) == 1
    again = await cloud.ok("AttachDataVolumeToVm", volumeUuid=v1["uuid"], vmInstanceUuid=vm)
    assert again["deviceId"] == 1
    assert await available(cloud, ps) == start - 8 * GiB
    (vmq,) = await cloud.query("QueryVolume", ("vmInstance.uuid", "=", vm), ("deviceId", "=", 2))
    assert vmq["uuid"] == v2["uuid"]


async def test_attach_to_stopped_vm_tells_no_hypervisor(cloud: Cloud) -> None:
    env = await storage_env(cloud)
    vm = await vm_row(cloud, env, "Stopped")
    vol = await cloud.ok("CreateDataVolume", name="v", diskSize=GiB)
    attached = await cloud.ok("AttachDataVolumeToVm", volumeUuid=vol["uuid"], vmInstanceUuid=vm)
    assert attached["status"] == "Ready"
    await cloud.ok("DetachDataVolumeFromVm", uuid=vol["uuid"], vmUuid=vm)
    assert not cloud.sim.issued("attachVolume") and not cloud.sim.issued("detachVolume")


async def test_concurrent_attaches_to_one_vm_get_distinct_devices(cloud: Cloud) -> None:
    env = await storage_env(cloud)
    vm = await vm_row(cloud, env, "Stopped")
    vols = [await cloud.ok("CreateDataVolume", name=f"v{i}", diskSize=GiB) for i in range(6)]
    start = await available(cloud, env["ps"]["uuid"])
    done = await asyncio.gather(
        *(cloud.ok("AttachDataVolumeToVm", volumeUuid=v["uuid"], vmInstanceUuid=vm) for v in vols)
    )
    assert sorted(v["deviceId"] for v in done) == [1, 2, 3, 4, 5, 6]
    assert await available(cloud, env["ps"]["uuid"]) == start - 6 * GiB


async def test_attach_refused_cases_change_nothing(cloud: Cloud) -> None:
    env = await storage_env(cloud)
    vm = await vm_row(cloud, env, "Running")
    other = await vm_row(cloud, env, "Stopped")
    starting = await vm_row(cloud, env, "Starting")
    vol = await cloud.ok("CreateDataVolume", name="v", diskSize=GiB)
    taken = await cloud.ok("CreateDataVolume", name="t", diskSize=GiB)
    await cloud.ok("AttachDataVolumeToVm", volumeUuid=taken["uuid"], vmInstanceUuid=vm)
    disabled = await cloud.ok("CreateDataVolume", name="x", diskSize=GiB)
    await cloud.ok("ChangeVolumeState", uuid=disabled["uuid"], stateEvent="disable")
    before = await cloud.snapshot()
    error = await cloud.error("AttachDataVolumeToVm", volumeUuid=vol["uuid"], vmInstanceUuid=starting)
    assert error.code == "SYS.1006" and error.cause.code == "VM.1010"
    assert (
        await cloud.error("AttachDataVolumeToVm", volumeUuid=taken["uuid"], vmInstanceUuid=other)
    ).code == "SYS.1006"
    assert (
        await cloud.error("AttachDataVolumeToVm", volumeUuid=disabled["uuid"], vmInstanceUuid=vm)
    ).code == "SYS.1006"
    assert (
        await cloud.error("AttachDataVolumeToVm", volumeUuid=vol["uuid"], vmInstanceUuid="2" * 32)
    ).code == "SYS.1003"
    assert (await cloud.error("AttachDataVolumeToVm", volumeUuid="3" * 32, vmInstanceUuid=vm)).code == "SYS.1003"
    assert (await cloud.error("AttachDataVolumeToVm", volumeUuid=vol["uuid"])).code == "SYS.1007"
    assert (await cloud.error("DetachDataVolumeFromVm", uuid=vol["uuid"])).code == "SYS.1006"
    wrong_vm = await cloud.error("DetachDataVolumeFromVm", uuid=taken["uuid"], vmUuid=other)
    assert wrong_vm.code == "SYS.1007"
    assert await cloud.snapshot() == before


async def test_storage_failure_during_attach_rolls_back(cloud: Cloud) -> None:
    env = await storage_env(cloud)
    vm = await vm_row(cloud, env, "Running")
    vol = await cloud.ok("CreateDataVolume", name="v", diskSize=2 * GiB)
    before = await cloud.snapshot()
    ps_driver(cloud).fail("instantiateVolume")
    error = await cloud.error("AttachDataVolumeToVm", volumeUuid=vol["uuid"], vmInstanceUuid=vm)
    assert error.code == "VM.1005"
    assert await cloud.snapshot() == before


async def test_hypervisor_failure_during_attach_rolls_back_bits_and_capacity(cloud: Cloud) -> None:
    env = await storage_env(cloud)
    vm = await vm_row(cloud, env, "Running")
    vol = await cloud.ok("CreateDataVolume", name="v", diskSize=2 * GiB)
    before = await cloud.snapshot()
    cloud.sim.fail("attachVolume", uuid=vm)
    error = await cloud.error("AttachDataVolumeToVm", volumeUuid=vol["uuid"], vmInstanceUuid=vm)
    assert error.code == "VM.1005" and "attachVolume" in str(error.to_json())
    assert await cloud.snapshot() == before
    assert [c.args["volumeUuid"] for c in ps_driver(cloud).issued("deleteVolume")] == [vol["uuid"]]
    (again,) = await cloud.query("QueryVolume", ("uuid", "=", vol["uuid"]))
    assert (again["status"], again["installPath"], again["vmInstanceUuid"]) == ("NotInstantiated", None, None)


async def test_hypervisor_failure_during_detach_changes_nothing(cloud: Cloud) -> None:
    env = await storage_env(cloud)
    vm = await vm_row(cloud, env, "Running")
    vol = await cloud.ok("CreateDataVolume", name="v", diskSize=GiB)
    await cloud.ok("AttachDataVolumeToVm", volumeUuid=vol["uuid"], vmInstanceUuid=vm)
    before = await cloud.snapshot()
    cloud.sim.fail("detachVolume", uuid=vm)
    assert (await cloud.error("DetachDataVolumeFromVm", uuid=vol["uuid"])).code == "VM.1006"
    assert await cloud.snapshot() == before


async def test_attach_without_room_fails_and_leaves_nothing(cloud: Cloud) -> None:
    env = await storage_env(cloud, capacity=4 * GiB)
    vm = await vm_row(cloud, env, "Stopped")
    vol = await cloud.ok("CreateDataVolume", name="big", diskSize=5 * GiB)
    before = await cloud.snapshot()
    error = await cloud.error("AttachDataVolumeToVm", volumeUuid=vol["uuid"], vmInstanceUuid=vm)
    assert error.code == "VM.1005" and error.has_code("PS.1000")
    assert await cloud.snapshot() == before


async def test_delete_recover_expunge_with_delay_policy(cloud: Cloud) -> None:
    env = await storage_env(cloud)
    ps = env["ps"]["uuid"]
    vm = await vm_row(cloud, env, "Running")
    start = await available(cloud, ps)
    vol = await cloud.ok("CreateDataVolume", name="v", diskSize=2 * GiB)
    await cloud.ok("AttachDataVolumeToVm", volumeUuid=vol["uuid"], vmInstanceUuid=vm)
    await cloud.ok("DeleteDataVolume", uuid=vol["uuid"])
    (deleted,) = await cloud.query("QueryVolume", ("uuid", "=", vol["uuid"]))
    assert (deleted["status"], deleted["vmInstanceUuid"], deleted["lastVmInstanceUuid"]) == ("Deleted", None, vm)
    assert cloud.sim.issued("detachVolume", vm)
    assert await available(cloud, ps) == start - 2 * GiB  # kept until expunge
    assert (await cloud.error("AttachDataVolumeToVm", volumeUuid=vol["uuid"], vmInstanceUuid=vm)).code == "SYS.1006"
    recovered = await cloud.ok("RecoverDataVolume", uuid=vol["uuid"])
    assert recovered["status"] == "Ready"
    assert (await cloud.error("RecoverDataVolume", uuid=vol["uuid"])).code == "SYS.1006"
    assert (await cloud.error("ExpungeDataVolume", uuid=vol["uuid"])).code == "SYS.1006"
    await cloud.ok("DeleteDataVolume", uuid=vol["uuid"])
    await cloud.ok("ExpungeDataVolume", uuid=vol["uuid"])
    assert await cloud.query("QueryVolume", ("uuid", "=", vol["uuid"])) == []
    assert await available(cloud, ps) == start
    assert ps_driver(cloud).issued("deleteVolume")
    await cloud.ok("DeleteDataVolume", uuid=vol["uuid"])  # idempotent on a gone volume


async def test_recover_never_instantiated_volume_is_not_instantiated(cloud: Cloud) -> None:
    await storage_env(cloud)
    vol = await cloud.ok("CreateDataVolume", name="v", diskSize=GiB)
    await cloud.ok("DeleteDataVolume", uuid=vol["uuid"], deleteMode="Enforcing")
    assert (await cloud.ok("RecoverDataVolume", uuid=vol["uuid"]))["status"] == "NotInstantiated"
    await cloud.ok("DeleteDataVolume", uuid=vol["uuid"])
    await cloud.ok("ExpungeDataVolume", uuid=vol["uuid"])
    assert await cloud.query("QueryVolume") == []


async def test_resize_grows_and_reserves_the_delta(cloud: Cloud) -> None:
    env = await storage_env(cloud)
    ps = env["ps"]["uuid"]
    vm = await vm_row(cloud, env, "Stopped")
    vol = await cloud.ok("CreateDataVolume", name="v", diskSize=GiB)
    assert (await cloud.ok("ResizeVolume", uuid=vol["uuid"], size=2 * GiB))["size"] == 2 * GiB  # not instantiated
    await cloud.ok("AttachDataVolumeToVm", volumeUuid=vol["uuid"], vmInstanceUuid=vm)
    start = await available(cloud, ps)
    grown = await cloud.ok("ResizeDataVolume", uuid=vol["uuid"], size=5 * GiB)
    assert grown["size"] == 5 * GiB
    assert await available(cloud, ps) == start - 3 * GiB
    before = await cloud.snapshot()
    assert (await cloud.error("ResizeVolume", uuid=vol["uuid"], size=GiB)).code == "SYS.1007"
    assert (await cloud.error("ResizeVolume", uuid=vol["uuid"], size=5 * GiB)).code == "SYS.1007"
    assert (await cloud.error("ResizeRootVolume", uuid=vol["uuid"], size=9 * GiB)).code == "SYS.1007"
    assert (await cloud.error("ResizeVolume", uuid=vol["uuid"], size=-1)).code == "SYS.1007"
    assert (await cloud.error("ResizeVolume", uuid=vol["uuid"], size=10 << 40)).has_code("PS.1000")
    assert await cloud.snapshot() == before


async def test_update_state_and_queries(cloud: Cloud) -> None:
    env = await storage_env(cloud)
    vol = await cloud.ok("CreateDataVolume", name="v", diskOfferingUuid=env["offering"]["uuid"])
    updated = await cloud.ok("UpdateVolume", uuid=vol["uuid"], name="renamed", description="x")
    assert (updated["name"], updated["description"]) == ("renamed", "x")
    assert (await cloud.ok("ChangeVolumeState", uuid=vol["uuid"], stateEvent="disable"))["state"] == "Disabled"
    assert (await cloud.ok("ChangeVolumeState", uuid=vol["uuid"], stateEvent="enable"))["state"] == "Enabled"
    assert (await cloud.error("ChangeVolumeState", uuid=vol["uuid"], stateEvent="maintain")).code == "SYS.1007"
    (found,) = await cloud.query("QueryVolume", ("diskOffering.name", "=", "d"))
    assert found["uuid"] == vol["uuid"]
    assert await cloud.query("QueryVolume", ("diskOffering.name", "=", "nope")) == []
    assert (
        await cloud.error("QueryVolume", conditions=[{"name": "nofield", "op": "=", "value": "1"}])
    ).code == "SYS.1007"


async def test_delete_root_volume_refused(cloud: Cloud) -> None:
    env = await storage_env(cloud)
    vm = await vm_row(cloud, env, "Stopped")
    from cloudbus.apis.internal.volume import CreateVmVolume

    reply = await cloud.node.bus.call_ok(
        CreateVmVolume(
            vmInstanceUuid=vm, type="Root", name="root", size=GiB, primaryStorageUuid=env["ps"]["uuid"], deviceId=0
        )
    )
    root = reply.inventory
    assert (root["status"], root["type"], root["deviceId"], root["vmInstanceUuid"]) == ("Ready", "Root", 0, vm)
    before = await cloud.snapshot()
    assert (await cloud.error("DeleteDataVolume", uuid=root["uuid"])).code == "SYS.1007"
    assert (await cloud.error("DetachDataVolumeFromVm", uuid=root["uuid"])).code == "SYS.1007"
    assert (await cloud.error("AttachDataVolumeToVm", volumeUuid=root["uuid"], vmInstanceUuid=vm)).code == "SYS.1007"
    assert await cloud.snapshot() == before
