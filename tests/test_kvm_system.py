"""A KVM cloud on this machine's real libvirtd (`qemu:///system`): QEMU processes, qcow2 disks,
a Linux bridge over a veth pair the test makes, and libvirtd stopped and started under it.

Needs root and `bash .ci/libvirtd start` (CI runs it; elsewhere these tests are skipped, see
tests/support/libvirt_system.py). Every check reads the real world: `virsh domstate`,
`virsh domblklist`, `qemu-img info`, `qemu-io`, `ip link`.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudbus.core.messages import Event
from cloudbus.core.units import MiB
from cloudbus.testing import Cloud
from tests.support.cluster import wait_until
from tests.support.http_files import serving
from tests.support.kvm_env import exists, files_under, info, kvm_env, qemu_io
from tests.support.vm_env import create_vm

ROOT = Path(__file__).resolve().parent.parent


def virsh(*args: str) -> str:
    out = subprocess.run(["virsh", "-c", "qemu:///system", *args], capture_output=True, text=True, timeout=60)
    return out.stdout.strip() if out.returncode == 0 else f"error: {out.stderr.strip()}"


def domstate(uuid: str) -> str:
    return virsh("domstate", uuid)


def link(name: str) -> dict[str, Any] | None:
    out = subprocess.run(["ip", "-j", "-d", "link", "show", name], capture_output=True, text=True)
    return json.loads(out.stdout)[0] if out.returncode == 0 else None


@pytest.fixture
def veth() -> Iterator[str]:
    """A veth pair in the root namespace: the L2's physical interface."""
    name = f"cbk{secrets.token_hex(3)}"
    subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", "name", f"{name}p"], check=True)
    try:
        yield name
    finally:  # a failed test may have left its bridge
        for device in (f"br_{name}", name):
            subprocess.run(["ip", "link", "del", device], capture_output=True)


@pytest.fixture
async def kvm_cloud(
    libvirt_system: str, db_url: str, bus_url: str | None, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Cloud]:
    """A cloud whose hosts are pinged every second (so a dead libvirtd shows at once)."""
    monkeypatch.setenv("CLOUDBUS_HOST_PING_INTERVAL", "1")
    monkeypatch.setenv("CLOUDBUS_VM_STOP_GRACE", "5")  # the test image has no OS to answer ACPI
    async with Cloud.start(db_url, bus_url, namespace=f"t{secrets.token_hex(5)}") as cloud:
        try:
            yield cloud
        finally:  # what a failed test left on the host goes (only this cloud's: others may share libvirtd)
            vms = {vm["uuid"] for vm in await cloud.ok("QueryVmInstance")}
            pools = {ps["uuid"] for ps in await cloud.ok("QueryPrimaryStorage")}
            for dom in vms & set(virsh("list", "--all", "--name").split()):
                virsh("destroy", dom)
                virsh("undefine", dom)
            for pool in pools & set(virsh("pool-list", "--all", "--name").split()):
                virsh("pool-destroy", pool)
                virsh("pool-undefine", pool)


def libvirtd_pid() -> int | None:
    try:
        pid = int(Path("/run/libvirtd.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


def stop_libvirtd() -> None:
    pid = libvirtd_pid()
    assert pid is not None, "libvirtd is not running"
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists(), "libvirtd did not stop"


def start_libvirtd() -> None:
    subprocess.run(["bash", str(ROOT / ".ci" / "libvirtd"), "start"], check=True, capture_output=True, timeout=180)


def qemu_pid(uuid: str) -> int:
    return int(Path(f"/run/libvirt/qemu/{uuid}.pid").read_text().strip())


async def test_a_vm_on_real_kvm(kvm_cloud: Cloud, veth: str, tmp_path: Path) -> None:
    cloud = kvm_cloud
    (tmp_path / "src").mkdir()
    with serving(tmp_path / "src") as base_url:  # the image comes over HTTP
        env = await kvm_env(cloud, tmp_path, uri="qemu:///system", interface=veth, image_base_url=base_url)
    assert env["image"]["url"].startswith("http://") and env["image"]["status"] == "Ready"
    bridge = f"br_{veth}"
    assert link(bridge) is not None and link(veth)["master"] == bridge  # realised on attach
    pool = virsh("pool-info", env["ps"]["uuid"], "--bytes")
    assert "State:          running" in pool and "Autostart:      yes" in pool
    capacity = int(next(line.split()[1] for line in pool.splitlines() if line.startswith("Capacity:")))
    assert capacity == env["ps"]["totalCapacity"]  # the pool and the storage see one file system

    t0 = time.monotonic()
    vm = await create_vm(cloud, env)
    created = time.monotonic() - t0
    assert vm["state"] == "Running" and domstate(vm["uuid"]) == "running"
    root = (await cloud.query("QueryVolume", ("uuid", "=", vm["rootVolumeUuid"])))[0]
    assert virsh("domblklist", vm["uuid"]).split()[-1] == root["installPath"]
    assert info(root["installPath"])["backing-filename-format"] == "qcow2"
    console = await cloud.api("GetVmConsoleAddress", uuid=vm["uuid"])
    assert console.success and console.get("protocol") == "vnc" and console.get("port") >= 5900
    assert console.get("hostIp") == env["host"]["managementIp"]

    for api, vm_state, dom_state in (
        ("PauseVmInstance", "Paused", "paused"),
        ("ResumeVmInstance", "Running", "running"),
        ("RebootVmInstance", "Running", "running"),
    ):
        assert (await cloud.ok(api, uuid=vm["uuid"]))["state"] == vm_state
        assert domstate(vm["uuid"]) == dom_state
    assert (await cloud.ok("StopVmInstance", uuid=vm["uuid"], type="cold"))["state"] == "Stopped"
    assert domstate(vm["uuid"]).startswith("error")  # no domain at all
    assert (await cloud.ok("StartVmInstance", uuid=vm["uuid"]))["state"] == "Running"
    assert domstate(vm["uuid"]) == "running"

    # a data volume attached to the running domain
    data = await cloud.ok("CreateDataVolume", name="d", diskOfferingUuid=env["disk"]["uuid"])
    await cloud.ok("AttachDataVolumeToVm", vmInstanceUuid=vm["uuid"], volumeUuid=data["uuid"])
    data = (await cloud.query("QueryVolume", ("uuid", "=", data["uuid"])))[0]
    assert data["installPath"] in virsh("domblklist", vm["uuid"])
    assert info(data["installPath"])["virtual-size"] == 32 * MiB
    await cloud.ok("ResizeDataVolume", uuid=data["uuid"], size=48 * MiB)  # QEMU grows it live
    assert "Capacity:       50331648" in virsh("domblkinfo", vm["uuid"], data["installPath"])
    await cloud.ok("DetachDataVolumeFromVm", uuid=data["uuid"])
    # gone from the definition; the live unplug needs a guest OS to acknowledge it (this image has none)
    assert data["installPath"] not in virsh("domblklist", vm["uuid"], "--inactive")

    # a grace stop of a guest that ignores ACPI ends in a destroy after the grace period
    assert (await cloud.ok("StopVmInstance", uuid=vm["uuid"]))["state"] == "Stopped"
    await cloud.ok("DestroyVmInstance", uuid=vm["uuid"])
    await cloud.ok("ExpungeVmInstance", uuid=vm["uuid"])
    assert domstate(vm["uuid"]).startswith("error")
    assert not exists(root["installPath"])
    await cloud.ok("DeleteZone", uuid=env["zone"]["uuid"])
    assert link(bridge) is None and link(veth) is not None  # its bridge went, the interface stays
    assert virsh("pool-info", env["ps"]["uuid"]).startswith("error")
    await cloud.ok("DeleteImage", uuid=env["image"]["uuid"])
    await cloud.ok("ExpungeImage", imageUuid=env["image"]["uuid"])
    left = files_under(tmp_path / "ps") + files_under(tmp_path / "bs")
    assert left == [], left  # no volume, snapshot, cache or image file
    print(f"VM create -> running on QEMU: {created:.2f} s")


async def test_libvirtd_stopping_and_coming_back(kvm_cloud: Cloud, veth: str, tmp_path: Path) -> None:
    cloud = kvm_cloud
    env = await kvm_env(cloud, tmp_path, uri="qemu:///system", interface=veth)
    survivor = await create_vm(cloud, env, name="survivor")
    victim = await create_vm(cloud, env, name="victim")
    statuses: list[str] = []

    async def heard(event: Event) -> None:
        statuses.append(event.data["newStatus"])

    subscription = await cloud.node.bus.subscribe("host.status.changed", heard)
    host_uuid = env["host"]["uuid"]
    try:
        stop_libvirtd()
        try:
            await wait_until(lambda: "Disconnected" in statuses, 30, lambda: f"statuses: {statuses}")
            (host,) = await cloud.query("QueryHost", ("uuid", "=", host_uuid))
            assert host["status"] == "Disconnected"
            for vm in (survivor, victim):
                (found,) = await cloud.query("QueryVmInstance", ("uuid", "=", vm["uuid"]))
                assert found["state"] == "Unknown"
            os.kill(qemu_pid(victim["uuid"]), signal.SIGKILL)  # dies while the host is away
        finally:
            start_libvirtd()
        await wait_until(lambda: statuses[-1:] == ["Connected"], 60, lambda: f"statuses: {statuses}")
    finally:
        await subscription.cancel()
    states = {}
    for vm in (survivor, victim):
        (found,) = await cloud.query("QueryVmInstance", ("uuid", "=", vm["uuid"]))
        states[vm["name"]] = found["state"]
    assert states == {"survivor": "Running", "victim": "Stopped"}
    assert domstate(survivor["uuid"]) == "running"
    (host,) = await cloud.query("QueryHost", ("uuid", "=", host_uuid))
    assert host["totalMemoryCapacity"] - host["availableMemoryCapacity"] == 64 * MiB  # the survivor's only
    await cloud.ok("DeleteZone", uuid=env["zone"]["uuid"])
    assert domstate(survivor["uuid"]).startswith("error") and domstate(victim["uuid"]).startswith("error")


async def test_snapshots_of_a_running_vm_on_real_kvm(kvm_cloud: Cloud, veth: str, tmp_path: Path) -> None:
    """External (a live disk-only snapshot: QEMU moves to a new overlay) and internal (a live
    checkpoint), each reverted on the stopped VM with the data read back by qemu-io."""
    cloud = kvm_cloud
    env = await kvm_env(cloud, tmp_path, uri="qemu:///system", interface=veth)
    vm = await create_vm(cloud, env, strategy="CreateStopped")
    root = (await cloud.query("QueryVolume", ("uuid", "=", vm["rootVolumeUuid"])))[0]
    assert qemu_io(root["installPath"], "write -P 0xab 0 64k").returncode == 0  # the marker
    await cloud.ok("StartVmInstance", uuid=vm["uuid"])

    t0 = time.monotonic()
    external = await cloud.ok("CreateVolumeSnapshot", volumeUuid=root["uuid"], name="ext")
    took_external = time.monotonic() - t0
    current = (await cloud.query("QueryVolume", ("uuid", "=", root["uuid"])))[0]["installPath"]
    assert external["snapshotType"] == "external" and current != root["installPath"]
    assert virsh("domblklist", vm["uuid"]).split()[-1] == current  # QEMU writes the new overlay
    assert info(current)["backing-filename"] == root["installPath"]
    await cloud.ok("StopVmInstance", uuid=vm["uuid"], type="cold")
    assert qemu_io(current, "write -P 0xcd 0 64k").returncode == 0  # overwrite the marker
    reverted = await cloud.ok("RevertVolumeFromSnapshot", uuid=external["uuid"])
    assert qemu_io(reverted["installPath"], "read -P 0xab 0 64k").returncode == 0

    tag = "snapshotType::internal"
    await cloud.ok("CreateSystemTag", resourceType="PrimaryStorageVO", resourceUuid=env["ps"]["uuid"], tag=tag)
    await cloud.ok("StartVmInstance", uuid=vm["uuid"])
    t0 = time.monotonic()
    internal = await cloud.ok("CreateVolumeSnapshot", volumeUuid=root["uuid"], name="int")
    took_internal = time.monotonic() - t0
    assert internal["snapshotType"] == "internal"
    path = internal["primaryStorageInstallPath"].split("@")[0]
    assert internal["uuid"] in [s["name"] for s in info(path)["snapshots"]]
    await cloud.ok("StopVmInstance", uuid=vm["uuid"], type="cold")
    assert qemu_io(path, "write -P 0x77 0 64k").returncode == 0
    await cloud.ok("RevertVolumeFromSnapshot", uuid=internal["uuid"])
    assert qemu_io(path, "read -P 0xab 0 64k").returncode == 0

    # deleting both while the VM runs again: the domain deletes the internal one, and the
    # external one's file is pulled into the running overlay first
    await cloud.ok("StartVmInstance", uuid=vm["uuid"])
    await cloud.ok("DeleteVolumeSnapshot", uuid=internal["uuid"])
    assert "snapshots" not in info(path)
    await cloud.ok("DeleteVolumeSnapshot", uuid=external["uuid"])
    assert not exists(root["installPath"])
    assert domstate(vm["uuid"]) == "running"
    await cloud.ok("StopVmInstance", uuid=vm["uuid"], type="cold")
    assert qemu_io(path, "read -P 0xab 0 64k").returncode == 0  # the data survived both deletes
    await cloud.ok("DeleteZone", uuid=env["zone"]["uuid"])
    print(f"live snapshot on QEMU: external {took_external:.2f} s, internal {took_internal:.2f} s")


async def test_a_vlan_l2_on_real_kvm(kvm_cloud: Cloud, veth: str, tmp_path: Path) -> None:
    """Attaching an L2VlanNetwork makes `<if>.<vlan>` and its bridge; a kernel without 802.1Q
    (the CI machines have no 8021q module) refuses, and the attach fails leaving nothing."""
    cloud = kvm_cloud
    env = await kvm_env(cloud, tmp_path, uri="qemu:///system", interface=veth)
    l2 = await cloud.ok("CreateL2VlanNetwork", name="v", zoneUuid=env["zone"]["uuid"], physicalInterface=veth, vlan=100)
    reply = await cloud.api("AttachL2NetworkToCluster", l2NetworkUuid=l2["uuid"], clusterUuid=env["cluster"]["uuid"])
    if reply.success:  # a kernel with 802.1Q
        assert link(f"{veth}.100")["master"] == f"br_{veth}_100"
        await cloud.ok("DeleteL2Network", uuid=l2["uuid"])
    else:
        assert reply.error.code == "L2.1000"
        assert reply.error.cause.code == "L2.1001" and "8021q" in reply.error.cause.details
        (found,) = await cloud.query("QueryL2Network", ("uuid", "=", l2["uuid"]))
        assert found["attachedClusterUuids"] == []
    assert link(f"br_{veth}_100") is None and link(f"{veth}.100") is None
    assert link(f"br_{veth}") is not None  # the no-vlan L2 of the same interface is untouched
    await cloud.ok("DeleteZone", uuid=env["zone"]["uuid"])
