"""The internal contract the VM service uses: CreateVmVolume, ExpungeVolumes, DetachVmVolumes."""

from __future__ import annotations

from cloudbus.apis.internal.storage import AllocatePrimaryStorage
from cloudbus.apis.internal.volume import CreateVmVolume, DetachVmVolumes, ExpungeVolumes
from cloudbus.core.units import GiB
from cloudbus.testing import Cloud
from tests.support.volume_env import available, ps_driver, storage_env, vm_row


async def _create(cloud: Cloud, env: dict, vm: str, **kw: object) -> dict:
    msg = CreateVmVolume(vmInstanceUuid=vm, primaryStorageUuid=env["ps"]["uuid"], **kw)  # type: ignore[arg-type]
    return (await cloud.node.bus.call_ok(msg)).inventory  # type: ignore[return-value]


async def test_create_vm_volume_does_not_allocate_and_expunge_returns(cloud: Cloud) -> None:
    env = await storage_env(cloud)
    ps = env["ps"]["uuid"]
    vm = await vm_row(cloud, env, "Stopped")
    start = await available(cloud, ps)
    # the VM flow reserves for all its volumes before creating them
    await cloud.node.bus.call_ok(
        AllocatePrimaryStorage(size=3 * GiB, clusterUuid=env["clusters"][0]["uuid"], primaryStorageUuid=ps)
    )
    root = await _create(cloud, env, vm, type="Root", name="root", size=2 * GiB, deviceId=0)
    data = await _create(cloud, env, vm, type="Data", name="d", size=GiB, deviceId=1, resourceUuid="cd" * 16)
    assert data["uuid"] == "cd" * 16 and (data["status"], data["deviceId"]) == ("Ready", 1)
    assert await available(cloud, ps) == start - 3 * GiB  # the VM flow reserved it, not us
    assert [c.args["volumeUuid"] for c in ps_driver(cloud).issued("instantiateVolume", ps)] == [
        root["uuid"],
        data["uuid"],
    ]
    reply = await cloud.node.bus.call_ok(ExpungeVolumes(volumeUuids=[root["uuid"]]))
    assert reply.get("volumeUuids") == [root["uuid"]]
    assert await available(cloud, ps) == start - GiB
    detached = await cloud.node.bus.call_ok(DetachVmVolumes(vmInstanceUuid=vm))
    assert detached.get("volumeUuids") == [data["uuid"]]
    (left,) = await cloud.query("QueryVolume")
    assert (left["vmInstanceUuid"], left["lastVmInstanceUuid"], left["deviceId"]) == (None, vm, None)
    kept = await cloud.node.bus.call_ok(ExpungeVolumes(volumeUuids=[data["uuid"]], keepBits=True, returnCapacity=False))
    assert kept.get("volumeUuids") == [data["uuid"]]
    assert await cloud.query("QueryVolume") == []
    assert await available(cloud, ps) == start - GiB  # returnCapacity=False: the caller gives it back


async def test_create_vm_volume_failure_leaves_nothing(cloud: Cloud) -> None:
    env = await storage_env(cloud)
    vm = await vm_row(cloud, env, "Stopped")
    before = await cloud.snapshot()
    ps_driver(cloud).fail("instantiateVolume")
    msg = CreateVmVolume(vmInstanceUuid=vm, primaryStorageUuid=env["ps"]["uuid"], type="Root", name="r", size=GiB)
    reply = await cloud.node.bus.call(msg)
    assert not reply.success
    assert await cloud.snapshot() == before
