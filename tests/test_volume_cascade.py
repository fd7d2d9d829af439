"""Cascade edges of volumes and snapshots: disk offering (nulls), primary storage (DBOnly),
volume (snapshots go with an expunged volume)."""

from __future__ import annotations

from cloudbus.core.units import GiB
from cloudbus.testing import Cloud
from tests.support.volume_env import ps_driver, storage_env, vm_row


async def test_delete_disk_offering_nulls_the_volume_field(cloud: Cloud) -> None:
    env = await storage_env(cloud)
    vm = await vm_row(cloud, env, "Stopped")
    vol = await cloud.ok("CreateDataVolume", name="v", diskOfferingUuid=env["offering"]["uuid"])
    await cloud.ok("AttachDataVolumeToVm", volumeUuid=vol["uuid"], vmInstanceUuid=vm)
    snap = await cloud.ok("CreateVolumeSnapshot", volumeUuid=vol["uuid"], name="s")
    await cloud.ok("DeleteDiskOffering", uuid=env["offering"]["uuid"])
    (after,) = await cloud.query("QueryVolume", ("uuid", "=", vol["uuid"]))
    assert after["diskOfferingUuid"] is None and after["status"] == "Ready" and after["vmInstanceUuid"] == vm
    assert [s["uuid"] for s in await cloud.query("QueryVolumeSnapshot")] == [snap["uuid"]]


async def test_delete_primary_storage_drops_data_volumes_without_storage_io(cloud: Cloud) -> None:
    env = await storage_env(cloud)
    vm = await vm_row(cloud, env, "Stopped")
    on_ps = await cloud.ok("CreateDataVolume", name="on", diskSize=GiB)
    await cloud.ok("AttachDataVolumeToVm", volumeUuid=on_ps["uuid"], vmInstanceUuid=vm)
    await cloud.ok("CreateVolumeSnapshot", volumeUuid=on_ps["uuid"], name="s")
    loose = await cloud.ok("CreateDataVolume", name="loose", diskSize=GiB)  # not instantiated: no PS
    deleted = await cloud.ok("CreateDataVolume", name="gone", diskSize=GiB)
    await cloud.ok("AttachDataVolumeToVm", volumeUuid=deleted["uuid"], vmInstanceUuid=vm)
    await cloud.ok("DeleteDataVolume", uuid=deleted["uuid"])
    ps_driver(cloud).clear()
    await cloud.ok("DeletePrimaryStorage", uuid=env["ps"]["uuid"])
    assert [v["uuid"] for v in await cloud.query("QueryVolume")] == [loose["uuid"]]
    assert await cloud.query("QueryVolumeSnapshot") == []
    assert await cloud.query("QueryVolumeSnapshotTree") == []
    issued = {c.command for c in ps_driver(cloud).commands}
    assert not issued & {"deleteVolume", "deleteSnapshot"}


async def test_delete_zone_drops_volumes_on_its_storage(cloud: Cloud) -> None:
    env = await storage_env(cloud)
    vm = await vm_row(cloud, env, "Stopped")
    vol = await cloud.ok("CreateDataVolume", name="v", diskSize=GiB)
    await cloud.ok("AttachDataVolumeToVm", volumeUuid=vol["uuid"], vmInstanceUuid=vm)
    await cloud.ok("DeleteZone", uuid=env["zones"][0]["uuid"])
    assert await cloud.query("QueryVolume") == []
