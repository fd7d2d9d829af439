"""Real disks: SharedMountPoint primary storage (qcow2 overlays on an image cache) and a
LocalDir backup storage, both under tmp_path, checked with qemu-img/qemu-io.

The hypervisor is the simulator: the VMs are simulated, their disks are real files.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudbus.core.ids import new_uuid
from cloudbus.core.units import MiB
from cloudbus.testing import Cloud
from tests.support.http_files import serving
from tests.support.network import build_network

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="needs qemu-img (qemu-utils)")

IMAGE_SIZE = 64 * MiB


def qemu_img_info(path: Path | str) -> dict[str, Any]:
    out = subprocess.run(["qemu-img", "info", "--output=json", "-U", str(path)], check=True, capture_output=True)
    return dict(json.loads(out.stdout))


def qemu_io(path: str, command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["qemu-io", "-f", "qcow2", "-c", command, path], capture_output=True, text=True)


def to_raw(path: Path) -> Path:
    raw = path.with_suffix(".raw")
    subprocess.run(["qemu-img", "convert", "-O", "raw", str(path), str(raw)], check=True)
    return raw


def exists(path: str) -> bool:
    return os.path.exists(path)


def file_size(path: Path) -> int:
    return path.stat().st_size


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def image_file(tmp_path: Path) -> Path:
    """A 64 MiB qcow2 with 1 MiB of data in it."""
    path = tmp_path / "src" / "img.qcow2"
    path.parent.mkdir()
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), str(IMAGE_SIZE)], check=True)
    assert qemu_io(str(path), "write -P 0x5a 0 1M").returncode == 0
    return path


@pytest.fixture
def http_root(image_file: Path) -> Iterator[str]:
    """http://127.0.0.1:<free port>/ serving the image's directory."""
    with serving(image_file.parent) as url:
        yield url


async def storages(cloud: Cloud, tmp_path: Path) -> dict[str, Any]:
    """zone/cluster/simulator host, an SMP primary storage and a LocalDir backup storage under tmp_path."""
    env: dict[str, Any] = dict(await cloud.build_env())
    zone, cluster = env["zones"][0], env["clusters"][0]
    env["ps"] = await cloud.ok(
        "AddSharedMountPointPrimaryStorage", name="smp", zoneUuid=zone["uuid"], url=str(tmp_path / "ps")
    )
    await cloud.ok("AttachPrimaryStorageToCluster", primaryStorageUuid=env["ps"]["uuid"], clusterUuid=cluster["uuid"])
    env["bs"] = await cloud.ok("AddLocalDirBackupStorage", name="dir", url=str(tmp_path / "bs"))
    await cloud.ok("AttachBackupStorageToZone", backupStorageUuid=env["bs"]["uuid"], zoneUuid=zone["uuid"])
    return env


async def vm_cloud(cloud: Cloud, tmp_path: Path, image_file: Path) -> dict[str, Any]:
    env = await storages(cloud, tmp_path)
    zone, cluster = env["zones"][0], env["clusters"][0]
    env["image"] = await cloud.ok(
        "AddImage", name="img", url=image_file.as_uri(), backupStorageUuids=[env["bs"]["uuid"]]
    )
    env["net"] = await build_network(cloud, zone["uuid"], [cluster["uuid"]])
    env["offering"] = await cloud.ok("CreateInstanceOffering", name="o", cpuNum=1, memorySize=1 << 30)
    env["disk"] = await cloud.ok("CreateDiskOffering", name="d", diskSize=32 * MiB)
    return env


async def create_vm(cloud: Cloud, env: dict[str, Any], **params: Any) -> dict[str, Any]:
    return await cloud.ok("CreateVmInstance", **_vm_params(env, **params))


async def volume(cloud: Cloud, uuid: str) -> dict[str, Any]:
    (found,) = await cloud.query("QueryVolume", ("uuid", "=", uuid))
    return found


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


async def test_add_storages_report_the_file_system_size(cloud: Cloud, tmp_path: Path) -> None:
    env = await storages(cloud, tmp_path)
    ps, bs = env["ps"], env["bs"]
    st = os.statvfs(tmp_path)
    total, available = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
    assert (ps["type"], ps["status"], ps["url"], ps["mountPath"]) == (
        "SharedMountPoint",
        "Connected",
        str(tmp_path / "ps"),
        str(tmp_path / "ps"),
    )
    assert ps["totalCapacity"] == ps["totalPhysicalCapacity"] == ps["availableCapacity"] == total
    # other processes share the file system: what is free moves a little between two reads
    assert abs(ps["availablePhysicalCapacity"] - available) < 256 * MiB
    assert (bs["type"], bs["status"], bs["totalCapacity"], bs["availableCapacity"]) == (
        "LocalDirBackupStorage",
        "Connected",
        total,
        total,
    )
    assert (tmp_path / "ps").is_dir() and (tmp_path / "bs").is_dir()


async def test_bad_input_changes_nothing(cloud: Cloud, tmp_path: Path) -> None:
    env = await storages(cloud, tmp_path)
    zone = env["zones"][0]["uuid"]
    before = await cloud.snapshot()
    cases = [
        ("AddSharedMountPointPrimaryStorage", {"name": "s", "zoneUuid": zone, "url": "relative/ps"}, "SYS.1007"),
        ("AddSharedMountPointPrimaryStorage", {"name": "s", "zoneUuid": new_uuid(), "url": "/mnt/x"}, "SYS.1003"),
        ("AddSharedMountPointPrimaryStorage", {"zoneUuid": zone, "url": "/mnt/x"}, "SYS.1007"),
        ("AddSharedMountPointPrimaryStorage", {"name": "s", "zoneUuid": zone, "url": str(tmp_path / "ps")}, "SYS.1007"),
        ("AddLocalDirBackupStorage", {"name": "b", "url": "relative/bs"}, "SYS.1007"),
        ("AddLocalDirBackupStorage", {"url": "/bs"}, "SYS.1007"),
        ("AddLocalDirBackupStorage", {"name": "b", "url": str(tmp_path / "bs")}, "SYS.1007"),  # taken
        ("UpdatePrimaryStorage", {"uuid": env["ps"]["uuid"], "url": "relative"}, "SYS.1007"),
    ]
    for api, params, code in cases:
        error = await cloud.error(api, **params)
        assert error.code == code, (api, params, error)
    assert await cloud.snapshot() == before


async def test_unusable_directory_fails_with_a_code_and_leaves_nothing(cloud: Cloud, tmp_path: Path) -> None:
    zone = await cloud.ok("CreateZone", name="z")
    (tmp_path / "file").write_text("not a directory")
    before = await cloud.snapshot()
    error = await cloud.error(
        "AddSharedMountPointPrimaryStorage", name="s", zoneUuid=zone["uuid"], url=str(tmp_path / "file" / "ps")
    )
    assert error.code == "SYS.1002" and error.cause.code == "STORAGE.1000" and "file/ps" in error.cause.details
    error = await cloud.error("AddLocalDirBackupStorage", name="b", url=str(tmp_path / "file" / "bs"))
    assert error.code == "BS.1500" and error.cause.code == "STORAGE.1000"
    assert await cloud.snapshot() == before


@pytest.mark.parametrize("scheme", ["file", "http"])
async def test_add_image_copies_the_real_file(
    cloud: Cloud, tmp_path: Path, image_file: Path, http_root: str, scheme: str
) -> None:
    env = await storages(cloud, tmp_path)
    url = image_file.as_uri() if scheme == "file" else http_root + image_file.name
    image = await cloud.ok("AddImage", name="img", url=url, backupStorageUuids=[env["bs"]["uuid"]], format="qcow2")
    copy = tmp_path / "bs" / "images" / f"{image['uuid']}.qcow2"
    assert image["status"] == "Ready" and image["backupStorageRefs"][0]["installPath"] == str(copy)
    assert (image["size"], image["actualSize"], image["md5Sum"]) == (
        IMAGE_SIZE,
        file_size(image_file),
        md5(image_file),
    )
    assert md5(copy) == md5(image_file) and files(tmp_path / "bs") == [f"images/{image['uuid']}.qcow2"]
    (bs,) = await cloud.query("QueryBackupStorage", ("uuid", "=", env["bs"]["uuid"]))
    assert bs["availableCapacity"] == env["bs"]["availableCapacity"] - IMAGE_SIZE

    await cloud.ok("DeleteImage", uuid=image["uuid"])
    await cloud.ok("ExpungeImage", imageUuid=image["uuid"])
    assert not copy.exists()
    (bs,) = await cloud.query("QueryBackupStorage", ("uuid", "=", env["bs"]["uuid"]))
    assert bs["availableCapacity"] == env["bs"]["availableCapacity"]


async def test_wrong_format_or_missing_source_fails_and_leaves_nothing(
    cloud: Cloud, tmp_path: Path, http_root: str
) -> None:
    env = await storages(cloud, tmp_path)
    raw = tmp_path / "disk.raw"
    raw.write_bytes(b"\0" * MiB)
    before = await cloud.snapshot()
    error = await cloud.error("AddImage", name="r", url=raw.as_uri(), backupStorageUuids=[env["bs"]["uuid"]])
    assert error.code == "BS.1000" and error.root_cause().code == "STORAGE.1001"
    assert "declared qcow2" in error.root_cause().details and "raw" in error.root_cause().details
    missing = (tmp_path / "nope.qcow2").as_uri()
    error = await cloud.error("AddImage", name="m", url=missing, backupStorageUuids=[env["bs"]["uuid"]])
    assert error.code == "BS.1000" and error.root_cause().code == "STORAGE.1000"
    error = await cloud.error(
        "AddImage", name="h", url=http_root + "nope.qcow2", backupStorageUuids=[env["bs"]["uuid"]]
    )
    assert error.code == "BS.1000" and "404" in error.root_cause().details
    assert await cloud.snapshot() == before
    assert await cloud.query("QueryImage") == []
    assert files(tmp_path / "bs") == []


async def test_vm_root_volume_is_an_overlay_on_the_image_cache(cloud: Cloud, tmp_path: Path, image_file: Path) -> None:
    env = await vm_cloud(cloud, tmp_path, image_file)
    vm = await create_vm(cloud, env, dataDiskOfferingUuids=[env["disk"]["uuid"]])
    vm2 = await create_vm(cloud, env, name="vm2")
    cache = tmp_path / "ps" / "imagecache" / f"{env['image']['uuid']}.qcow2"
    assert md5(cache) == md5(image_file)
    for v in (vm, vm2):
        root = await volume(cloud, v["rootVolumeUuid"])
        assert root["installPath"] == str(tmp_path / "ps" / "volumes" / f"{root['uuid']}.qcow2")
        info = qemu_img_info(root["installPath"])
        assert (info["format"], info["backing-filename"], info["virtual-size"]) == ("qcow2", str(cache), IMAGE_SIZE)
        assert qemu_io(root["installPath"], "read -P 0x5a 0 1M").returncode == 0  # the image's data shows through
    data = next(v for v in vm["allVolumes"] if v["type"] == "Data")
    info = qemu_img_info(data["installPath"])
    assert (info["format"], info["virtual-size"], info.get("backing-filename")) == ("qcow2", 32 * MiB, None)
    assert info["actual-size"] < 32 * MiB  # thin

    extra = await cloud.ok("CreateDataVolume", name="extra", diskSize=16 * MiB)
    extra = await cloud.ok("AttachDataVolumeToVm", volumeUuid=extra["uuid"], vmInstanceUuid=vm["uuid"])
    assert qemu_img_info(extra["installPath"])["virtual-size"] == 16 * MiB

    await cloud.ok("DetachDataVolumeFromVm", uuid=extra["uuid"])
    await cloud.ok("DeleteDataVolume", uuid=extra["uuid"])
    assert exists(extra["installPath"])  # Delay policy: the bits stay until expunged
    await cloud.ok("ExpungeDataVolume", uuid=extra["uuid"])
    assert not exists(extra["installPath"])

    await cloud.ok("DestroyVmInstance", uuid=vm2["uuid"])
    await cloud.ok("ExpungeVmInstance", uuid=vm2["uuid"])
    assert files(tmp_path / "ps") == sorted(
        [
            f"imagecache/{env['image']['uuid']}.qcow2",
            f"volumes/{vm['rootVolumeUuid']}.qcow2",
            f"volumes/{data['uuid']}.qcow2",
        ]
    )


async def test_vms_created_at_once_share_one_cache_copy(cloud: Cloud, tmp_path: Path, image_file: Path) -> None:
    env = await vm_cloud(cloud, tmp_path, image_file)
    vms = await asyncio.gather(*(create_vm(cloud, env, name=f"vm{i}") for i in range(3)))
    cache = tmp_path / "ps" / "imagecache" / f"{env['image']['uuid']}.qcow2"
    assert files(tmp_path / "ps" / "imagecache") == [cache.name]
    for vm in vms:
        path = (await volume(cloud, vm["rootVolumeUuid"]))["installPath"]
        assert qemu_img_info(path)["backing-filename"] == str(cache)


async def test_raw_image_is_cached_as_qcow2(cloud: Cloud, tmp_path: Path, image_file: Path) -> None:
    env = await vm_cloud(cloud, tmp_path, image_file)
    raw = to_raw(image_file)
    image = await cloud.ok(
        "AddImage", name="raw", url=raw.as_uri(), backupStorageUuids=[env["bs"]["uuid"]], format="raw"
    )
    assert (image["size"], image["format"]) == (IMAGE_SIZE, "raw")
    vm = await create_vm(cloud, env, imageUuid=image["uuid"])
    path = (await volume(cloud, vm["rootVolumeUuid"]))["installPath"]
    cache = tmp_path / "ps" / "imagecache" / f"{image['uuid']}.qcow2"
    assert qemu_img_info(cache)["format"] == "qcow2" and qemu_img_info(path)["backing-filename"] == str(cache)
    assert qemu_io(path, "read -P 0x5a 0 1M").returncode == 0


async def test_snapshot_take_revert_delete_with_real_data(cloud: Cloud, tmp_path: Path, image_file: Path) -> None:
    env = await vm_cloud(cloud, tmp_path, image_file)
    tag = "snapshotType::internal"  # (external snapshots, the default, are in test_kvm.py)
    await cloud.ok("CreateSystemTag", resourceType="PrimaryStorageVO", resourceUuid=env["ps"]["uuid"], tag=tag)
    vm = await create_vm(cloud, env)
    path = (await volume(cloud, vm["rootVolumeUuid"]))["installPath"]
    assert qemu_io(path, "write -P 0xab 0 64k").returncode == 0
    snap = await cloud.ok("CreateVolumeSnapshot", volumeUuid=vm["rootVolumeUuid"], name="s1")
    assert snap["primaryStorageInstallPath"] == f"{path}@{snap['uuid']}"
    assert [s["name"] for s in qemu_img_info(path)["snapshots"]] == [snap["uuid"]]
    assert qemu_io(path, "write -P 0xcd 0 64k").returncode == 0

    error = await cloud.error("RevertVolumeFromSnapshot", uuid=snap["uuid"])  # the VM runs
    assert error.cause.code == "VM.1010"
    assert qemu_io(path, "read -P 0xcd 0 64k").returncode == 0
    await cloud.ok("StopVmInstance", uuid=vm["uuid"])
    await cloud.ok("RevertVolumeFromSnapshot", uuid=snap["uuid"])
    read = qemu_io(path, "read -P 0xab 0 64k")
    assert read.returncode == 0 and "Pattern verification failed" not in read.stdout

    await cloud.ok("DeleteVolumeSnapshot", uuid=snap["uuid"])
    assert "snapshots" not in qemu_img_info(path) and await cloud.query("QueryVolumeSnapshot") == []
    assert qemu_io(path, "read -P 0xab 0 64k").returncode == 0


async def test_failures_leave_no_file_and_no_capacity_used(cloud: Cloud, tmp_path: Path, image_file: Path) -> None:
    env = await vm_cloud(cloud, tmp_path, image_file)
    before = await cloud.snapshot()
    # a step after the disks were made fails: the rollback removes the real files
    cloud.sim.fail("startVm")
    error = await cloud.error("CreateVmInstance", **_vm_params(env, dataDiskOfferingUuids=[env["disk"]["uuid"]]))
    assert error.code == "SYS.1006" and "startVm" in error.details
    assert [f for f in files(tmp_path / "ps") if f.startswith("volumes/")] == []
    assert await cloud.snapshot() == before

    # the shared directory vanished (an unmounted share): nothing is recreated on the local disk
    shutil.rmtree(tmp_path / "ps")
    error = await cloud.error("CreateVmInstance", **_vm_params(env))
    assert error.root_cause().code == "STORAGE.1000" and "does not exist" in error.root_cause().details
    assert not (tmp_path / "ps").exists()
    assert await cloud.snapshot() == before


def _vm_params(env: dict[str, Any], **params: Any) -> dict[str, Any]:
    return {
        "name": "vm",
        "instanceOfferingUuid": env["offering"]["uuid"],
        "imageUuid": env["image"]["uuid"],
        "l3NetworkUuids": [env["net"]["l3"]["uuid"]],
        **params,
    }


async def test_image_cache_that_cannot_be_filled_fails_with_a_code(
    cloud: Cloud, tmp_path: Path, image_file: Path
) -> None:
    env = await vm_cloud(cloud, tmp_path, image_file)
    (tmp_path / "ps" / "imagecache").write_text("in the way")  # not the driver's: left alone
    before = await cloud.snapshot()
    error = await cloud.error("CreateVmInstance", **_vm_params(env))
    assert error.root_cause().code == "STORAGE.1000" and "imagecache" in error.root_cause().details
    assert files(tmp_path / "ps") == ["imagecache"]
    assert await cloud.snapshot() == before


async def test_delete_storages_remove_what_the_drivers_made(cloud: Cloud, tmp_path: Path, image_file: Path) -> None:
    env = await vm_cloud(cloud, tmp_path, image_file)
    await create_vm(cloud, env, dataDiskOfferingUuids=[env["disk"]["uuid"]])
    foreign = [tmp_path / "ps" / "notes.txt", tmp_path / "ps" / "volumes" / "mine.qcow2", tmp_path / "bs" / "x"]
    for path in foreign:
        path.write_text("not cloudbus's")
    await cloud.ok("DeletePrimaryStorage", uuid=env["ps"]["uuid"])
    assert files(tmp_path / "ps") == ["notes.txt", "volumes/mine.qcow2"]
    await cloud.ok("DeleteBackupStorage", uuid=env["bs"]["uuid"])
    assert files(tmp_path / "bs") == ["x"] and not (tmp_path / "bs" / "images").exists()
    assert await cloud.query("QueryPrimaryStorage") == [] and await cloud.query("QueryBackupStorage") == []
