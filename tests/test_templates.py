"""Templates from volumes on the KVM test-driver cloud (tests/support/kvm_env.py): real qcow2
files on SharedMountPoint and LocalDir storage, checked with qemu-img and qemu-io; and the same
APIs on simulated storage.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from cloudbus.core.messages import Event
from cloudbus.core.units import MiB
from cloudbus.testing import Cloud
from tests.support.kvm_env import info, kvm_env, qemu_io
from tests.support.vm_env import create_vm

pytest.importorskip("libvirt", reason="the KVM tests need pip install -e '.[kvm]'")
pytestmark = pytest.mark.skipif(shutil.which("qemu-io") is None, reason="needs qemu-img/qemu-io (qemu-utils)")

MARK = "write -P 0x5a 0 64k"
READ_MARK = "read -P 0x5a 0 64k"


async def volume(cloud: Cloud, uuid: str) -> dict[str, Any]:
    (found,) = await cloud.query("QueryVolume", ("uuid", "=", uuid))
    return found


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def file_size(path: Path) -> int:
    return path.stat().st_size


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


def reads_mark(path: str | Path) -> bool:
    done = qemu_io(path, READ_MARK)
    return done.returncode == 0 and "Pattern verification failed" not in done.stdout + done.stderr


async def stopped_vm_with_mark(cloud: Cloud, env: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    vm = await create_vm(cloud, env)
    await cloud.ok("StopVmInstance", uuid=vm["uuid"])
    root = await volume(cloud, vm["rootVolumeUuid"])
    assert qemu_io(root["installPath"], MARK).returncode == 0
    assert not reads_mark(env["source"])  # the mark is in the overlay only
    return vm, root


async def test_root_volume_template_is_a_flat_qcow2_with_the_volume_data(cloud: Cloud, tmp_path: Path) -> None:
    env = await kvm_env(cloud, tmp_path)
    _vm, root = await stopped_vm_with_mark(cloud, env)
    heard: list[dict[str, Any]] = []

    async def on_progress(event: Event) -> None:
        heard.append(event.data)

    subscription = await cloud.node.bus.subscribe("api.progress", on_progress)
    try:
        image = await cloud.ok(
            "CreateRootVolumeTemplateFromRootVolume",
            name="tpl",
            rootVolumeUuid=root["uuid"],
            backupStorageUuids=[env["bs"]["uuid"]],
            guestOsType="Linux-tiny",
        )
        await asyncio.sleep(0.05)
    finally:
        await subscription.cancel()
    (ref,) = image["backupStorageRefs"]
    path = Path(ref["installPath"])
    assert path == tmp_path / "bs" / "images" / f"{image['uuid']}.qcow2"
    found = info(path)
    assert found["format"] == "qcow2" and "backing-filename" not in found
    assert reads_mark(path)
    assert qemu_io(path, "read -P 0x11 64k 960k").returncode == 0  # the image's data under the overlay
    assert (image["status"], image["mediaType"], image["format"]) == ("Ready", "RootVolumeTemplate", "qcow2")
    assert image["guestOsType"] == "Linux-tiny" and image["platform"] == env["image"]["platform"]
    assert image["size"] == found["virtual-size"] == root["size"]
    assert image["actualSize"] == file_size(path)
    assert image["md5Sum"] == md5(path)
    assert ref["status"] == "Ready" and ref["backupStorageUuid"] == env["bs"]["uuid"]
    (bs,) = await cloud.query("QueryBackupStorage", ("uuid", "=", env["bs"]["uuid"]))
    assert bs["availableCapacity"] <= env["bs"]["availableCapacity"] - image["size"] + 1 * MiB  # taken
    percents = [e["percent"] for e in heard if e["resourceUuid"] == image["uuid"]]
    assert percents[0] == 0 and percents[-1] == 100 and percents == sorted(percents)
    assert {e["stage"] for e in heard} == {"creating template"}

    # a new VM from the template sees the mark
    other = await create_vm(cloud, env, name="from-template", imageUuid=image["uuid"])
    new_root = await volume(cloud, other["rootVolumeUuid"])
    await cloud.ok("StopVmInstance", uuid=other["uuid"])
    assert reads_mark(new_root["installPath"])
    assert Path(info(new_root["installPath"])["full-backing-filename"]).name == f"{image['uuid']}.qcow2"


async def test_a_running_vm_is_refused_and_nothing_changes(cloud: Cloud, tmp_path: Path) -> None:
    env = await kvm_env(cloud, tmp_path)
    vm = await create_vm(cloud, env)
    before, on_disk = await cloud.snapshot(), files(tmp_path)
    error = await cloud.error("CreateRootVolumeTemplateFromRootVolume", name="tpl", rootVolumeUuid=vm["rootVolumeUuid"])
    assert error.code == "SYS.1006" and "Running" in error.details and "stop the vm" in error.details
    assert await cloud.snapshot() == before and files(tmp_path) == on_disk


async def test_a_failure_on_any_storage_leaves_no_image_and_no_file(cloud: Cloud, tmp_path: Path) -> None:
    env = await kvm_env(cloud, tmp_path)
    _vm, root = await stopped_vm_with_mark(cloud, env)
    broken = await cloud.ok("AddLocalDirBackupStorage", name="broken", url=str(tmp_path / "bs2"))
    await cloud.ok("AttachBackupStorageToZone", zoneUuid=env["zone"]["uuid"], backupStorageUuid=broken["uuid"])
    # the second storage's directory is gone and a file is in its place: nothing can be written there
    shutil.rmtree(tmp_path / "bs2")
    (tmp_path / "bs2").write_text("not a directory")
    before, on_disk = await cloud.snapshot(), files(tmp_path)
    error = await cloud.error(
        "CreateRootVolumeTemplateFromRootVolume",
        name="tpl",
        rootVolumeUuid=root["uuid"],
        backupStorageUuids=[env["bs"]["uuid"], broken["uuid"]],
    )
    assert error.code == "IMAGE.1001", error
    assert await cloud.snapshot() == before  # no image, no ref, the capacity given back
    assert files(tmp_path) == on_disk  # the copy made on the first storage is gone too


async def test_an_unwritable_template_path_leaves_nothing(cloud: Cloud, tmp_path: Path) -> None:
    """The backup storage cannot take the file (unwritable, or for root, whose writes no mode
    stops, its name taken): no image row, no file."""
    env = await kvm_env(cloud, tmp_path)
    _vm, root = await stopped_vm_with_mark(cloud, env)
    wanted = "ab" * 16
    os.chmod(tmp_path / "bs" / "images", 0o555)
    try:
        before, on_disk = await cloud.snapshot(), files(tmp_path)
        if os.geteuid() != 0:  # a normal user: the directory is unwritable
            error = await cloud.error(
                "CreateDataVolumeTemplateFromVolume", name="tpl", volumeUuid=root["uuid"], resourceUuid=wanted
            )
        else:  # root writes anywhere: the file's name is taken instead
            os.chmod(tmp_path / "bs" / "images", 0o755)
            (tmp_path / "bs" / "images" / f"{wanted}.qcow2").mkdir()
            before, on_disk = await cloud.snapshot(), files(tmp_path)
            error = await cloud.error(
                "CreateDataVolumeTemplateFromVolume", name="tpl", volumeUuid=root["uuid"], resourceUuid=wanted
            )
    finally:
        os.chmod(tmp_path / "bs" / "images", 0o755)
    assert error.code == "IMAGE.1001", error
    assert await cloud.snapshot() == before and files(tmp_path) == on_disk


async def test_data_volume_template_and_a_volume_made_from_it(cloud: Cloud, tmp_path: Path) -> None:
    env = await kvm_env(cloud, tmp_path)
    vm = await create_vm(cloud, env)
    data = await cloud.ok("CreateDataVolume", name="d", diskOfferingUuid=env["disk"]["uuid"])
    await cloud.ok("AttachDataVolumeToVm", vmInstanceUuid=vm["uuid"], volumeUuid=data["uuid"])
    data = await volume(cloud, data["uuid"])
    refused = await cloud.error("CreateDataVolumeTemplateFromVolume", name="dt", volumeUuid=data["uuid"])
    assert refused.code == "SYS.1006"  # attached to a running VM
    await cloud.ok("StopVmInstance", uuid=vm["uuid"])
    assert qemu_io(data["installPath"], MARK).returncode == 0
    template = await cloud.ok("CreateDataVolumeTemplateFromVolume", name="dt", volumeUuid=data["uuid"])
    assert (template["mediaType"], template["size"]) == ("DataVolumeTemplate", 32 * MiB)
    (ref,) = template["backupStorageRefs"]
    assert reads_mark(ref["installPath"]) and "backing-filename" not in info(ref["installPath"])

    made = await cloud.ok(
        "CreateDataVolumeFromVolumeTemplate",
        name="from-dt",
        imageUuid=template["uuid"],
        primaryStorageUuid=env["ps"]["uuid"],
    )
    assert (made["type"], made["status"], made["size"]) == ("Data", "Ready", 32 * MiB)
    assert made["vmInstanceUuid"] is None or "vmInstanceUuid" not in made
    found = info(made["installPath"])
    assert found["format"] == "qcow2" and Path(found["full-backing-filename"]).parent.name == "imagecache"
    assert reads_mark(made["installPath"])
    # usable: attach to the (stopped) VM, start it
    attached = await cloud.ok("AttachDataVolumeToVm", vmInstanceUuid=vm["uuid"], volumeUuid=made["uuid"])
    assert attached["vmInstanceUuid"] == vm["uuid"]
    # a root template is not a data volume template
    wrong = await cloud.error(
        "CreateDataVolumeFromVolumeTemplate",
        name="x",
        imageUuid=env["image"]["uuid"],
        primaryStorageUuid=env["ps"]["uuid"],
    )
    assert wrong.code == "SYS.1007"


async def test_root_template_needs_a_root_volume(cloud: Cloud, tmp_path: Path) -> None:
    env = await kvm_env(cloud, tmp_path)
    data = await cloud.ok("CreateDataVolume", name="d", diskOfferingUuid=env["disk"]["uuid"])
    before = await cloud.snapshot()
    wrong = await cloud.error("CreateRootVolumeTemplateFromRootVolume", name="t", rootVolumeUuid=data["uuid"])
    assert wrong.code == "SYS.1007"
    unborn = await cloud.error("CreateDataVolumeTemplateFromVolume", name="t", volumeUuid=data["uuid"])
    assert unborn.code == "SYS.1006"  # NotInstantiated: no bits to copy
    missing = await cloud.error("CreateDataVolumeTemplateFromVolume", name="t", volumeUuid="f" * 32)
    assert missing.code == "SYS.1003"
    assert await cloud.snapshot() == before


async def test_templates_on_simulated_storage(cloud: Cloud) -> None:
    env = await cloud.build_vm_cloud()
    vm = await cloud.ok(
        "CreateVmInstance",
        name="vm",
        instanceOfferingUuid=env["offering"]["uuid"],
        imageUuid=env["image"]["uuid"],
        l3NetworkUuids=[env["l3"]["uuid"]],
    )
    await cloud.ok("StopVmInstance", uuid=vm["uuid"])
    image = await cloud.ok("CreateRootVolumeTemplateFromRootVolume", name="t", rootVolumeUuid=vm["rootVolumeUuid"])
    assert image["status"] == "Ready" and image["backupStorageRefs"][0]["status"] == "Ready"
    bs = cloud.node.storage("SimulatorBackupStorage")
    assert bs.issued("templatePath") and bs.issued("commitTemplate")
    assert cloud.node.storage("SimulatorPrimaryStorage").issued("createTemplate")
    # a failing step on simulated storage rolls back too
    bs.fail("commitTemplate")
    before = await cloud.snapshot()
    error = await cloud.error("CreateRootVolumeTemplateFromRootVolume", name="t2", rootVolumeUuid=vm["rootVolumeUuid"])
    assert error.code == "IMAGE.1001"
    assert await cloud.snapshot() == before
    assert bs.issued("deleteBits")
    cloud.node.storage("SimulatorPrimaryStorage").fail("createTemplate")
    error = await cloud.error("CreateDataVolumeTemplateFromVolume", name="t3", volumeUuid=vm["rootVolumeUuid"])
    assert error.code == "IMAGE.1001" and "createTemplate" in error.details
    assert await cloud.snapshot() == before
