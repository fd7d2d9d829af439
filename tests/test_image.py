"""Images: download onto backup storages, Delay deletion, recover, expunge, queries, SelectBackupStorage."""

from __future__ import annotations

import asyncio

from cloudbus.apis.internal.storage import SelectBackupStorage
from cloudbus.core.ids import new_uuid
from cloudbus.core.units import GiB, TiB
from cloudbus.testing import Cloud
from tests.support.storage import bs_row, bs_sim, simulator_bs


async def _two_storages(cloud: Cloud) -> tuple[dict, dict]:
    a = await simulator_bs(cloud, name="a", url="/a")
    b = await simulator_bs(cloud, name="b", url="/b")
    return a, b


async def test_add_image_on_two_backup_storages(cloud: Cloud) -> None:
    a, b = await _two_storages(cloud)
    image = await cloud.ok(
        "AddImage",
        name="centos",
        url="http://images/centos.qcow2",
        backupStorageUuids=[a["uuid"], b["uuid"]],
        platform="Linux",
        guestOsType="CentOS",
    )
    assert (image["status"], image["state"], image["size"], image["actualSize"]) == ("Ready", "Enabled", GiB, GiB)
    assert (image["mediaType"], image["format"], image["type"], image["virtio"]) == (
        "RootVolumeTemplate",
        "qcow2",
        "zstack",
        True,
    )
    refs = {r["backupStorageUuid"]: r for r in image["backupStorageRefs"]}
    assert set(refs) == {a["uuid"], b["uuid"]}
    assert refs[a["uuid"]]["installPath"] == f"/a/images/{image['uuid']}.qcow2"
    assert {r["status"] for r in refs.values()} == {"Ready"}
    for bs in (a, b):
        assert (await bs_row(cloud, bs["uuid"]))["availableCapacity"] == TiB - GiB
    assert {c.uuid for c in bs_sim(cloud).issued("download")} == {a["uuid"], b["uuid"]}

    iso = await cloud.ok(
        "AddImage",
        name="iso",
        url="/mnt/x.iso",
        mediaType="ISO",
        backupStorageUuids=[a["uuid"]],
        systemTags=["size::4096"],
    )
    assert (iso["format"], iso["size"]) == ("iso", 4096)

    # queries through the reference table
    names = {i["name"] for i in await cloud.query("QueryImage", ("backupStorage.name", "=", "b"))}
    assert names == {"centos"}
    found = await cloud.query("QueryImage", ("backupStorageRefs.installPath", "like", "%.iso"))
    assert [i["uuid"] for i in found] == [iso["uuid"]]


async def test_image_is_downloading_until_the_copy_is_done(cloud: Cloud) -> None:
    bs = await simulator_bs(cloud)
    bs_sim(cloud).delay("download", 0.5)
    adding = asyncio.ensure_future(
        cloud.ok("AddImage", name="slow", url="http://x/slow.qcow2", backupStorageUuids=[bs["uuid"]])
    )
    for _ in range(100):
        seen = await cloud.ok("QueryImage")
        if seen:
            break
        await asyncio.sleep(0.01)
    assert seen[0]["status"] == "Downloading"
    assert seen[0]["backupStorageRefs"][0]["status"] == "Downloading"
    assert (await adding)["status"] == "Ready"


async def test_failed_downloads(cloud: Cloud) -> None:
    a, b = await _two_storages(cloud)
    bs_sim(cloud).fail("download", uuid=a["uuid"])
    image = await cloud.ok("AddImage", name="i", url="http://x/i.qcow2", backupStorageUuids=[a["uuid"], b["uuid"]])
    assert [r["backupStorageUuid"] for r in image["backupStorageRefs"]] == [b["uuid"]]
    assert (await bs_row(cloud, a["uuid"]))["availableCapacity"] == TiB

    before = await cloud.snapshot()
    bs_sim(cloud).fail("download", times=None)
    error = await cloud.error("AddImage", name="j", url="http://x/j.qcow2", backupStorageUuids=[a["uuid"], b["uuid"]])
    assert error.code == "BS.1000" and a["uuid"] in error.details and b["uuid"] in error.details
    assert error.cause.code == "BS.1000"
    assert await cloud.snapshot() == before


async def test_no_room_or_disabled_storage_fails_and_leaves_nothing(cloud: Cloud) -> None:
    small = await simulator_bs(cloud, total=GiB // 2)
    disabled = await simulator_bs(cloud, name="off", url="/off")
    await cloud.ok("ChangeBackupStorageState", uuid=disabled["uuid"], stateEvent="disable")
    before = await cloud.snapshot()
    error = await cloud.error("AddImage", name="big", url="http://x/big.qcow2", backupStorageUuids=[small["uuid"]])
    assert error.code == "BS.1000" and "bytes available" in error.details
    assert [c.command for c in bs_sim(cloud).commands if c.uuid == small["uuid"]][-1] == "deleteBits"
    error = await cloud.error("AddImage", name="x", url="http://x/x.qcow2", backupStorageUuids=[disabled["uuid"]])
    assert error.code == "BS.1000" and "Disabled" in error.details
    assert await cloud.snapshot() == before


async def test_bad_input_changes_nothing(cloud: Cloud) -> None:
    bs = await simulator_bs(cloud)
    image = await cloud.ok("AddImage", name="i", url="http://x/i.qcow2", backupStorageUuids=[bs["uuid"]])
    before = await cloud.snapshot()
    good = {"name": "n", "url": "http://x/n.qcow2", "backupStorageUuids": [bs["uuid"]]}
    cases = [
        ("AddImage", {**good, "url": "not a url"}, "SYS.1007"),
        ("AddImage", {**good, "mediaType": "Floppy"}, "SYS.1007"),
        ("AddImage", {**good, "backupStorageUuids": []}, "SYS.1007"),
        ("AddImage", {**good, "backupStorageUuids": [new_uuid()]}, "SYS.1003"),
        ("AddImage", {**good, "platform": "BeOS"}, "SYS.1007"),
        ("AddImage", {**good, "systemTags": ["size::lots"]}, "SYS.1007"),
        ("AddImage", {k: v for k, v in good.items() if k != "name"}, "SYS.1007"),
        ("UpdateImage", {"uuid": image["uuid"], "mediaType": "Floppy"}, "SYS.1007"),
        ("ChangeImageState", {"uuid": image["uuid"], "stateEvent": "explode"}, "SYS.1007"),
        ("RecoverImage", {"imageUuid": image["uuid"]}, "SYS.1006"),  # not deleted
        ("ExpungeImage", {"imageUuid": image["uuid"]}, "SYS.1006"),  # not deleted
        ("DeleteImage", {"uuid": image["uuid"], "backupStorageUuids": [new_uuid()]}, "SYS.1007"),
        ("RecoverImage", {"imageUuid": new_uuid()}, "SYS.1003"),
    ]
    for api, params, code in cases:
        error = await cloud.error(api, **params)
        assert error.code == code, (api, params, error)
    assert await cloud.snapshot() == before


async def test_update_and_state(cloud: Cloud) -> None:
    bs = await simulator_bs(cloud)
    image = await cloud.ok("AddImage", name="i", url="http://x/i.qcow2", backupStorageUuids=[bs["uuid"]])
    updated = await cloud.ok("UpdateImage", uuid=image["uuid"], name="renamed", guestOsType="Ubuntu", system=True)
    assert (updated["name"], updated["guestOsType"], updated["system"]) == ("renamed", "Ubuntu", True)
    assert (await cloud.ok("ChangeImageState", uuid=image["uuid"], stateEvent="disable"))["state"] == "Disabled"


async def test_delete_recover_expunge(cloud: Cloud) -> None:
    bs = await simulator_bs(cloud)
    image = await cloud.ok("AddImage", name="i", url="http://x/i.qcow2", backupStorageUuids=[bs["uuid"]])
    await cloud.ok("DeleteImage", uuid=image["uuid"])
    [deleted] = await cloud.query("QueryImage", ("uuid", "=", image["uuid"]))
    assert deleted["status"] == "Deleted" and deleted["backupStorageRefs"][0]["status"] == "Deleted"
    assert (await bs_row(cloud, bs["uuid"]))["availableCapacity"] == TiB - GiB  # bits kept while recoverable

    recovered = await cloud.ok("RecoverImage", imageUuid=image["uuid"])
    assert recovered["status"] == "Ready" and recovered["backupStorageRefs"][0]["status"] == "Ready"

    await cloud.ok("DeleteImage", uuid=image["uuid"])
    bs_sim(cloud).fail("deleteBits", uuid=bs["uuid"])
    before = await cloud.snapshot()
    error = await cloud.error("ExpungeImage", imageUuid=image["uuid"])
    assert error.code == "SYS.1006"
    assert await cloud.snapshot() == before
    await cloud.ok("ExpungeImage", imageUuid=image["uuid"])
    assert await cloud.ok("QueryImage") == []
    assert (await bs_row(cloud, bs["uuid"]))["availableCapacity"] == TiB
    assert bs_sim(cloud).issued("deleteBits", bs["uuid"])[-1].args["installPath"].endswith(f"{image['uuid']}.qcow2")
    await cloud.ok("DeleteImage", uuid=image["uuid"])  # already gone: success


async def test_delete_and_expunge_some_copies(cloud: Cloud) -> None:
    a, b = await _two_storages(cloud)
    image = await cloud.ok("AddImage", name="i", url="http://x/i.qcow2", backupStorageUuids=[a["uuid"], b["uuid"]])
    await cloud.ok("DeleteImage", uuid=image["uuid"], backupStorageUuids=[a["uuid"]])
    [partly] = await cloud.query("QueryImage", ("uuid", "=", image["uuid"]))
    statuses = {r["backupStorageUuid"]: r["status"] for r in partly["backupStorageRefs"]}
    assert partly["status"] == "Ready" and statuses == {a["uuid"]: "Deleted", b["uuid"]: "Ready"}
    await cloud.ok("ExpungeImage", imageUuid=image["uuid"], backupStorageUuids=[a["uuid"]])
    [left] = await cloud.query("QueryImage", ("uuid", "=", image["uuid"]))
    assert [r["backupStorageUuid"] for r in left["backupStorageRefs"]] == [b["uuid"]]
    assert (await bs_row(cloud, a["uuid"]))["availableCapacity"] == TiB
    await cloud.ok("DeleteImage", uuid=image["uuid"], backupStorageUuids=[b["uuid"]])  # the last copy: image Deleted
    [gone] = await cloud.query("QueryImage", ("uuid", "=", image["uuid"]))
    assert gone["status"] == "Deleted"


async def test_select_backup_storage(cloud: Cloud) -> None:
    zone = await cloud.ok("CreateZone", name="z")
    attached = await simulator_bs(cloud, name="in", url="/in")
    outside = await simulator_bs(cloud, name="out", url="/out")
    await cloud.ok("AttachBackupStorageToZone", zoneUuid=zone["uuid"], backupStorageUuid=attached["uuid"])
    image = await cloud.ok(
        "AddImage", name="i", url="http://x/i.qcow2", backupStorageUuids=[attached["uuid"], outside["uuid"]]
    )
    reply = await cloud.node.bus.call_ok(SelectBackupStorage(imageUuid=image["uuid"], zoneUuid=zone["uuid"]))
    assert reply.get("backupStorageUuid") == attached["uuid"]
    assert (reply.get("size"), reply.get("format"), reply.get("mediaType")) == (GiB, "qcow2", "RootVolumeTemplate")
    assert reply.get("installPath") == f"/in/images/{image['uuid']}.qcow2"

    await cloud.ok("ChangeBackupStorageState", uuid=attached["uuid"], stateEvent="disable")
    reply = await cloud.node.bus.call(SelectBackupStorage(imageUuid=image["uuid"], zoneUuid=zone["uuid"]))
    assert reply.error.code == "BS.1003"
    await cloud.ok("ChangeImageState", uuid=image["uuid"], stateEvent="disable")
    reply = await cloud.node.bus.call(SelectBackupStorage(imageUuid=image["uuid"]))
    assert reply.error.code == "SYS.1006"
    reply = await cloud.node.bus.call(SelectBackupStorage(imageUuid=new_uuid()))
    assert reply.error.code == "SYS.1003"
