"""Backup storage: simulator and sftp types, zone attachment, deletion and its effect on images."""

from __future__ import annotations

from cloudbus.core.ids import new_uuid
from cloudbus.core.units import GiB, TiB
from cloudbus.testing import Cloud
from tests.support.storage import bs_row, bs_sim, simulator_bs


async def test_add_simulator_backup_storage(cloud: Cloud) -> None:
    bs = await simulator_bs(cloud, total=100 * GiB, availableCapacity=40 * GiB)
    assert (bs["type"], bs["state"], bs["status"]) == ("SimulatorBackupStorage", "Enabled", "Connected")
    assert (bs["totalCapacity"], bs["availableCapacity"]) == (100 * GiB, 40 * GiB)
    assert bs["attachedZoneUuids"] == [] and "password" not in bs
    assert [c.command for c in bs_sim(cloud).commands if c.uuid == bs["uuid"]] == ["connect"]


async def test_add_sftp_backup_storage_hides_the_password(cloud: Cloud) -> None:
    bs = await cloud.ok(
        "AddSftpBackupStorage", name="sftp", url="/zstack_bs", hostname="10.0.0.5", username="root", password="secret"
    )
    assert (bs["type"], bs["hostname"], bs["username"], bs["sshPort"]) == ("SftpBackupStorage", "10.0.0.5", "root", 22)
    assert bs["totalCapacity"] == bs["availableCapacity"] == TiB
    assert "password" not in bs
    [queried] = await cloud.query("QueryBackupStorage", ("hostname", "=", "10.0.0.5"))
    assert "password" not in queried
    [connect] = bs_sim(cloud).issued("connect", bs["uuid"])
    assert connect.args == {"hostname": "10.0.0.5", "username": "root", "sshPort": 22}
    updated = await cloud.ok("UpdateSftpBackupStorage", uuid=bs["uuid"], sshPort=2222, password="new")
    assert updated["sshPort"] == 2222 and "password" not in updated


async def test_bad_input_changes_nothing(cloud: Cloud) -> None:
    bs = await simulator_bs(cloud)
    before = await cloud.snapshot()
    sftp = {"name": "s", "url": "/bs", "hostname": "h", "username": "u", "password": "p"}
    cases = [
        ("AddSftpBackupStorage", {**sftp, "sshPort": 70000}, "SYS.1007"),
        ("AddSftpBackupStorage", {**sftp, "url": "relative"}, "SYS.1007"),
        ("AddSftpBackupStorage", {k: v for k, v in sftp.items() if k != "hostname"}, "SYS.1007"),
        (
            "AddSimulatorBackupStorage",
            {"name": "b", "url": "/b", "totalCapacity": 1, "availableCapacity": 2},
            "SYS.1007",
        ),
        ("ChangeBackupStorageState", {"uuid": bs["uuid"], "stateEvent": "maintain"}, "SYS.1007"),
        ("AttachBackupStorageToZone", {"zoneUuid": new_uuid(), "backupStorageUuid": bs["uuid"]}, "SYS.1003"),
        ("UpdateSftpBackupStorage", {"uuid": bs["uuid"], "hostname": "x"}, "SYS.1007"),  # not an sftp storage
        ("DeleteBackupStorage", {"uuid": "zzz"}, "SYS.1003"),
    ]
    for api, params, code in cases:
        error = await cloud.error(api, **params)
        assert error.code == code, (api, params, error)
    assert await cloud.snapshot() == before


async def test_failed_connect_leaves_nothing(cloud: Cloud) -> None:
    before = await cloud.snapshot()
    bs_sim(cloud).fail("connect")
    error = await cloud.error("AddSftpBackupStorage", name="s", url="/bs", hostname="h", username="u", password="p")
    assert error.code == "BS.1500" and error.cause.code == "SYS.1006"
    assert await cloud.snapshot() == before


async def test_update_state_reconnect(cloud: Cloud) -> None:
    bs = await simulator_bs(cloud)
    updated = await cloud.ok("UpdateBackupStorage", uuid=bs["uuid"], name="renamed", description="d")
    assert (updated["name"], updated["description"]) == ("renamed", "d")
    assert (await cloud.ok("ChangeBackupStorageState", uuid=bs["uuid"], stateEvent="disable"))["state"] == "Disabled"
    assert (await cloud.ok("ChangeBackupStorageState", uuid=bs["uuid"], stateEvent="enable"))["state"] == "Enabled"
    assert (await cloud.ok("ReconnectBackupStorage", uuid=bs["uuid"]))["status"] == "Connected"
    bs_sim(cloud).fail("connect", uuid=bs["uuid"])
    error = await cloud.error("ReconnectBackupStorage", uuid=bs["uuid"])
    assert error.code == "BS.1500"
    assert (await bs_row(cloud, bs["uuid"]))["status"] == "Disconnected"


async def test_attach_and_detach_zone(cloud: Cloud) -> None:
    zone = await cloud.ok("CreateZone", name="z1")
    bs = await simulator_bs(cloud)
    attached = await cloud.ok("AttachBackupStorageToZone", zoneUuid=zone["uuid"], backupStorageUuid=bs["uuid"])
    assert attached["attachedZoneUuids"] == [zone["uuid"]]
    assert [b["uuid"] for b in await cloud.query("QueryBackupStorage", ("zone.name", "=", "z1"))] == [bs["uuid"]]
    await cloud.ok("AddImage", name="img", url="http://x/i.qcow2", backupStorageUuids=[bs["uuid"]])
    assert [b["uuid"] for b in await cloud.query("QueryBackupStorage", ("image.name", "=", "img"))] == [bs["uuid"]]
    before = await cloud.snapshot()
    error = await cloud.error("AttachBackupStorageToZone", zoneUuid=zone["uuid"], backupStorageUuid=bs["uuid"])
    assert error.code == "BS.1001"
    assert await cloud.snapshot() == before
    detached = await cloud.ok("DetachBackupStorageFromZone", backupStorageUuid=bs["uuid"], zoneUuid=zone["uuid"])
    assert detached["attachedZoneUuids"] == []
    before = await cloud.snapshot()
    error = await cloud.error("DetachBackupStorageFromZone", backupStorageUuid=bs["uuid"], zoneUuid=zone["uuid"])
    assert error.code == "BS.1002" and "has not been attached to zone" in error.details
    assert await cloud.snapshot() == before


async def test_deleting_a_zone_only_detaches_backup_storage(cloud: Cloud) -> None:
    zone = await cloud.ok("CreateZone", name="z1")
    keep = await cloud.ok("CreateZone", name="z2")
    bs = await simulator_bs(cloud)
    for z in (zone, keep):
        await cloud.ok("AttachBackupStorageToZone", zoneUuid=z["uuid"], backupStorageUuid=bs["uuid"])
    image = await cloud.ok("AddImage", name="img", url="http://x/i.qcow2", backupStorageUuids=[bs["uuid"]])
    await cloud.ok("DeleteZone", uuid=zone["uuid"])
    assert (await bs_row(cloud, bs["uuid"]))["attachedZoneUuids"] == [keep["uuid"]]
    [still] = await cloud.query("QueryImage", ("uuid", "=", image["uuid"]))
    assert still["status"] == "Ready"
    assert bs_sim(cloud).issued("delete") == []


async def test_delete_backup_storage_removes_image_references(cloud: Cloud) -> None:
    zone = await cloud.ok("CreateZone", name="z1")
    doomed = await simulator_bs(cloud, name="doomed")
    other = await simulator_bs(cloud, name="other", url="/other")
    await cloud.ok("AttachBackupStorageToZone", zoneUuid=zone["uuid"], backupStorageUuid=doomed["uuid"])
    only_here = await cloud.ok("AddImage", name="a", url="http://x/a.qcow2", backupStorageUuids=[doomed["uuid"]])
    both = await cloud.ok(
        "AddImage", name="b", url="http://x/b.qcow2", backupStorageUuids=[doomed["uuid"], other["uuid"]]
    )
    elsewhere = await cloud.ok("AddImage", name="c", url="http://x/c.qcow2", backupStorageUuids=[other["uuid"]])

    # a storage that cannot be released stays (Permissive), ready for a retry
    bs_sim(cloud).fail("delete", uuid=doomed["uuid"])
    error = await cloud.error("DeleteBackupStorage", uuid=doomed["uuid"])
    assert error.code == "SYS.1004" and error.cause.code == "SYS.1006"
    assert (await bs_row(cloud, doomed["uuid"]))["attachedZoneUuids"] == [zone["uuid"]]

    await cloud.ok("DeleteBackupStorage", uuid=doomed["uuid"])
    assert [b["uuid"] for b in await cloud.ok("QueryBackupStorage")] == [other["uuid"]]
    images = {i["uuid"]: i for i in await cloud.ok("QueryImage")}
    assert only_here["uuid"] not in images  # no reference left: removed
    assert [r["backupStorageUuid"] for r in images[both["uuid"]]["backupStorageRefs"]] == [other["uuid"]]
    assert elsewhere["uuid"] in images
    assert (await cloud.ok("QueryZone"))[0]["uuid"] == zone["uuid"]
    await cloud.ok("DeleteBackupStorage", uuid=doomed["uuid"])  # already gone: success
