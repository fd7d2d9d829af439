"""Test set-up for KVM tests: a whole KVM cloud on one libvirt, with real qcow2 disks.

zone -> KVM cluster -> `AddKVMHost libvirtUri=<uri>` -> SharedMountPoint primary storage and
LocalDir backup storage under `root` -> a qcow2 image the test builds with qemu-img in
`root/src` (added from file://, or from `image_base_url` when the test serves that
directory) -> L2 (no vlan, on `interface`) attached to the cluster -> L3 with an IP range
-> a 1 vCPU / 64 MiB instance offering and a 32 MiB disk offering. `snapshot_type` tags the
primary storage `snapshotType::<type>` (its default is external).

`uri` is `test:///default` (libvirt's in-process test driver: domains, no processes) in the
normal run and `qemu:///system` in the real-KVM tests.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

from cloudbus.core.units import MiB
from cloudbus.testing import Cloud
from tests.support.network import build_network
from tests.support.vm_env import ready_image

IMAGE_SIZE = 64 * MiB


def exists(path: str | Path) -> bool:
    return os.path.exists(path)


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def sh(*argv: str) -> subprocess.CompletedProcess[str]:
    """Run a command of the real world (ip, virsh, dd) and return what it said."""
    return subprocess.run(list(argv), capture_output=True, text=True, timeout=120)


def qemu_img(*args: str) -> str:
    return subprocess.run(["qemu-img", *args], check=True, capture_output=True, text=True).stdout


def info(path: str | Path) -> dict[str, Any]:
    """`qemu-img info` of a file (force-share: a running domain may hold it)."""
    return dict(json.loads(qemu_img("info", "--output=json", "-U", str(path))))


def qemu_io(path: str | Path, command: str, *, fmt: str = "qcow2") -> subprocess.CompletedProcess[str]:
    return subprocess.run(["qemu-io", "-f", fmt, "-c", command, str(path)], capture_output=True, text=True)


def build_image(path: Path, size: int = IMAGE_SIZE) -> Path:
    """A qcow2 of `size` bytes with 1 MiB of 0x11 at its start."""
    path.parent.mkdir(parents=True, exist_ok=True)
    qemu_img("create", "-q", "-f", "qcow2", str(path), str(size))
    assert qemu_io(path, "write -P 0x11 0 1M").returncode == 0
    return path


async def kvm_env(
    cloud: Cloud,
    root: Path,
    *,
    uri: str = "test:///default",
    interface: str = "eth0",
    management_ip: str = "127.0.0.1",
    snapshot_type: str | None = None,
    image_base_url: str | None = None,
) -> dict[str, Any]:
    zone = await cloud.ok("CreateZone", name="kvm-zone")
    cluster = await cloud.ok("CreateCluster", name="kvm-cluster", zoneUuid=zone["uuid"], hypervisorType="KVM")
    host = await cloud.ok(
        "AddKVMHost",
        name="kvm-host",
        managementIp=management_ip,
        clusterUuid=cluster["uuid"],
        username="root",
        password="password",
        libvirtUri=uri,
    )
    tags = [f"snapshotType::{snapshot_type}"] if snapshot_type else None
    ps = await cloud.ok(
        "AddSharedMountPointPrimaryStorage", name="smp", zoneUuid=zone["uuid"], url=str(root / "ps"), systemTags=tags
    )
    await cloud.ok("AttachPrimaryStorageToCluster", primaryStorageUuid=ps["uuid"], clusterUuid=cluster["uuid"])
    bs = await cloud.ok("AddLocalDirBackupStorage", name="dir-bs", url=str(root / "bs"))
    await cloud.ok("AttachBackupStorageToZone", zoneUuid=zone["uuid"], backupStorageUuid=bs["uuid"])
    source = build_image(root / "src" / "image.qcow2")
    url = f"{image_base_url}{source.name}" if image_base_url else source.as_uri()
    image = await cloud.ok("AddImage", name="tiny", url=url, format="qcow2", backupStorageUuids=[bs["uuid"]])
    net = await build_network(cloud, zone["uuid"], [cluster["uuid"]], name="kvm", interface=interface)
    return {
        "zone": zone,
        "cluster": cluster,
        "host": host,
        "ps": ps,
        "bs": bs,
        "source": source,
        "image": await ready_image(cloud, image["uuid"]),
        "l2": net["l2"],
        "l3": net["l3"],
        "offering": await cloud.ok("CreateInstanceOffering", name="tiny", cpuNum=1, memorySize=64 * MiB),
        "disk": await cloud.ok("CreateDiskOffering", name="d32", diskSize=32 * MiB),
    }
