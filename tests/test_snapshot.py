"""Volume snapshots: tree shape, revert (refused while the VM runs), delete with subtree,
update, queries, failures."""

from __future__ import annotations

from typing import Any

from cloudbus.core.units import GiB
from cloudbus.testing import Cloud
from tests.support.volume_env import ps_driver, set_vm_state, storage_env, vm_row


async def _ready_volume(cloud: Cloud, state: str = "Stopped") -> tuple[dict[str, Any], str]:
    env = await storage_env(cloud)
    vm = await vm_row(cloud, env, state)
    vol = await cloud.ok("CreateDataVolume", name="v", diskSize=GiB)
    vol = await cloud.ok("AttachDataVolumeToVm", volumeUuid=vol["uuid"], vmInstanceUuid=vm)
    return vol, vm


async def _snaps(cloud: Cloud, volume_uuid: str) -> dict[str, dict[str, Any]]:
    return {s["name"]: s for s in await cloud.query("QueryVolumeSnapshot", ("volumeUuid", "=", volume_uuid))}


async def test_snapshots_form_a_chain_with_one_latest(cloud: Cloud) -> None:
    vol, _ = await _ready_volume(cloud, "Running")
    s1 = await cloud.ok("CreateVolumeSnapshot", volumeUuid=vol["uuid"], name="s1", description="first")
    assert (s1["parentUuid"], s1["latest"], s1["distance"], s1["status"], s1["state"]) == (
        None,
        True,
        0,
        "Ready",
        "Enabled",
    )
    assert (s1["volumeUuid"], s1["primaryStorageUuid"], s1["volumeType"]) == (
        vol["uuid"],
        vol["primaryStorageUuid"],
        "Data",
    )
    s2 = await cloud.ok("CreateVolumeSnapshot", volumeUuid=vol["uuid"], name="s2")
    s3 = await cloud.ok("CreateVolumeSnapshot", volumeUuid=vol["uuid"], name="s3")
    snaps = await _snaps(cloud, vol["uuid"])
    assert {s["treeUuid"] for s in snaps.values()} == {s1["treeUuid"]}
    assert [snaps[n]["parentUuid"] for n in ("s1", "s2", "s3")] == [None, s1["uuid"], s2["uuid"]]
    assert [snaps[n]["distance"] for n in ("s1", "s2", "s3")] == [0, 1, 2]
    assert [n for n, s in snaps.items() if s["latest"]] == ["s3"]
    assert s3["primaryStorageInstallPath"]
    (tree,) = await cloud.query("QueryVolumeSnapshotTree", ("volumeUuid", "=", vol["uuid"]))
    assert (tree["uuid"], tree["current"]) == (s1["treeUuid"], True)
    (by_join,) = await cloud.query("QueryVolume", ("snapshot.name", "=", "s2"))
    assert by_join["uuid"] == vol["uuid"]
    assert len(await cloud.query("QueryVolumeSnapshot", ("volume.name", "=", "v"), ("tree.current", "=", "true"))) == 3
    assert len(ps_driver(cloud).issued("takeSnapshot")) == 3


async def test_revert_refused_while_running_then_branches(cloud: Cloud) -> None:
    vol, vm = await _ready_volume(cloud, "Running")
    s1 = await cloud.ok("CreateVolumeSnapshot", volumeUuid=vol["uuid"], name="s1")
    s2 = await cloud.ok("CreateVolumeSnapshot", volumeUuid=vol["uuid"], name="s2")
    before = await cloud.snapshot()
    error = await cloud.error("RevertVolumeFromSnapshot", uuid=s1["uuid"])
    assert error.code == "SYS.1006" and error.cause.code == "VM.1010"
    assert await cloud.snapshot() == before
    await set_vm_state(cloud, vm, "Stopped")
    await cloud.ok("RevertVolumeFromSnapshot", uuid=s1["uuid"])
    snaps = await _snaps(cloud, vol["uuid"])
    assert (snaps["s1"]["latest"], snaps["s2"]["latest"]) == (True, False)
    s3 = await cloud.ok("CreateVolumeSnapshot", volumeUuid=vol["uuid"], name="s3")
    assert (s3["parentUuid"], s3["distance"], s3["treeUuid"]) == (s1["uuid"], 1, s1["treeUuid"])
    snaps = await _snaps(cloud, vol["uuid"])
    assert [n for n, s in snaps.items() if s["latest"]] == ["s3"]
    assert snaps["s2"]["parentUuid"] == s1["uuid"] and snaps["s2"]["uuid"] == s2["uuid"]  # s2, s3 siblings


async def test_revert_of_detached_volume_needs_no_vm(cloud: Cloud) -> None:
    vol, _ = await _ready_volume(cloud, "Running")
    s1 = await cloud.ok("CreateVolumeSnapshot", volumeUuid=vol["uuid"], name="s1")
    await cloud.ok("CreateVolumeSnapshot", volumeUuid=vol["uuid"], name="s2")
    await cloud.ok("DetachDataVolumeFromVm", uuid=vol["uuid"])
    await cloud.ok("RevertVolumeFromSnapshot", uuid=s1["uuid"])
    assert (await _snaps(cloud, vol["uuid"]))["s1"]["latest"] is True


async def test_delete_snapshot_takes_its_subtree(cloud: Cloud) -> None:
    vol, vm = await _ready_volume(cloud)
    s1 = await cloud.ok("CreateVolumeSnapshot", volumeUuid=vol["uuid"], name="s1")
    s2 = await cloud.ok("CreateVolumeSnapshot", volumeUuid=vol["uuid"], name="s2")
    await cloud.ok("CreateVolumeSnapshot", volumeUuid=vol["uuid"], name="s3")
    await cloud.ok("RevertVolumeFromSnapshot", uuid=s1["uuid"])
    await cloud.ok("CreateVolumeSnapshot", volumeUuid=vol["uuid"], name="s4")  # s1 -> {s2 -> s3, s4}
    await cloud.ok("DeleteVolumeSnapshot", uuid=s2["uuid"])
    snaps = await _snaps(cloud, vol["uuid"])
    assert sorted(snaps) == ["s1", "s4"] and snaps["s4"]["latest"]
    # deleting the latest hands `latest` to its parent
    await cloud.ok("DeleteVolumeSnapshot", uuid=snaps["s4"]["uuid"])
    snaps = await _snaps(cloud, vol["uuid"])
    assert sorted(snaps) == ["s1"] and snaps["s1"]["latest"]
    # deleting the root removes the tree; the next snapshot starts a new one
    await cloud.ok("DeleteVolumeSnapshot", uuid=s1["uuid"])
    assert await _snaps(cloud, vol["uuid"]) == {}
    assert await cloud.query("QueryVolumeSnapshotTree") == []
    s5 = await cloud.ok("CreateVolumeSnapshot", volumeUuid=vol["uuid"], name="s5")
    assert (s5["parentUuid"], s5["distance"]) == (None, 0) and s5["treeUuid"] != s1["treeUuid"]
    await cloud.ok("DeleteVolumeSnapshot", uuid=s1["uuid"])  # idempotent
    assert vm


async def test_failed_snapshot_delete_keeps_it_permissive(cloud: Cloud) -> None:
    vol, _ = await _ready_volume(cloud)
    s1 = await cloud.ok("CreateVolumeSnapshot", volumeUuid=vol["uuid"], name="s1")
    before = await cloud.snapshot()
    ps_driver(cloud).fail("deleteSnapshot")
    error = await cloud.error("DeleteVolumeSnapshot", uuid=s1["uuid"])
    assert error.code == "SYS.1004"
    assert await cloud.snapshot() == before
    ps_driver(cloud).fail("deleteSnapshot")
    await cloud.ok("DeleteVolumeSnapshot", uuid=s1["uuid"], deleteMode="Enforcing")
    assert await _snaps(cloud, vol["uuid"]) == {}


async def test_snapshot_bad_input_and_failures_change_nothing(cloud: Cloud) -> None:
    vol, _ = await _ready_volume(cloud)
    raw = await cloud.ok("CreateDataVolume", name="raw", diskSize=GiB)
    before = await cloud.snapshot()
    assert (await cloud.error("CreateVolumeSnapshot", volumeUuid=raw["uuid"], name="x")).code == "SYS.1006"
    assert (await cloud.error("CreateVolumeSnapshot", volumeUuid="4" * 32, name="x")).code == "SYS.1003"
    assert (await cloud.error("CreateVolumeSnapshot", volumeUuid=vol["uuid"])).code == "SYS.1007"
    assert (await cloud.error("RevertVolumeFromSnapshot", uuid="5" * 32)).code == "SYS.1003"
    ps_driver(cloud).fail("takeSnapshot")
    assert not (await cloud.api("CreateVolumeSnapshot", volumeUuid=vol["uuid"], name="x")).success
    assert await cloud.snapshot() == before


async def test_update_snapshot(cloud: Cloud) -> None:
    vol, _ = await _ready_volume(cloud)
    s1 = await cloud.ok("CreateVolumeSnapshot", volumeUuid=vol["uuid"], name="s1")
    updated = await cloud.ok("UpdateVolumeSnapshot", uuid=s1["uuid"], name="renamed", description="d")
    assert (updated["name"], updated["description"]) == ("renamed", "d")


async def test_expunging_a_volume_removes_its_snapshots(cloud: Cloud) -> None:
    vol, _ = await _ready_volume(cloud)
    await cloud.ok("CreateVolumeSnapshot", volumeUuid=vol["uuid"], name="s1")
    await cloud.ok("DeleteDataVolume", uuid=vol["uuid"])
    assert len(await _snaps(cloud, vol["uuid"])) == 1  # Delay: kept while recoverable
    await cloud.ok("ExpungeDataVolume", uuid=vol["uuid"])
    assert await cloud.query("QueryVolumeSnapshot") == []
    assert await cloud.query("QueryVolumeSnapshotTree") == []
