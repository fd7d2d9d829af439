"""KVM hosts on libvirt's test driver (`test:///default`): real libvirt-python, real domains in
the driver's in-process hypervisor, real qcow2 files (SharedMountPoint + LocalDir storage).

What each test asserts is what a user sees (inventories, errors, nothing changed after a
failure) and what libvirt and qemu-img say (the domain's state and XML, the files).
The same flows against a real libvirtd with QEMU are in test_kvm_system.py.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from cloudbus.core.logging import configure
from cloudbus.core.messages import Event
from cloudbus.core.units import MiB
from cloudbus.testing import Cloud
from tests.support.cluster import wait_until
from tests.support.kvm_env import exists, files_under, info, kvm_env, qemu_io, sh
from tests.support.vm_env import create_vm

libvirt = pytest.importorskip("libvirt", reason="the KVM tests need pip install -e '.[kvm]'")
if os.environ.get("CI") == "true":
    assert libvirt is not None  # CI installs the kvm extra: never skipped there

URI = "test:///default"


@pytest.fixture
def conn() -> Any:
    c = libvirt.open(URI)
    yield c
    c.close()


def domain(conn: Any, uuid: str) -> Any:
    try:
        return conn.lookupByName(uuid)
    except libvirt.libvirtError:
        return None


def state(conn: Any, uuid: str) -> int | None:
    dom = domain(conn, uuid)
    return None if dom is None else dom.state()[0]


def disks(conn: Any, uuid: str) -> dict[str, str]:
    """target dev -> file of the domain's disks (its live XML)."""
    root = ET.fromstring(domain(conn, uuid).XMLDesc(0))
    return {d.find("target").get("dev"): d.find("source").get("file") for d in root.findall("./devices/disk")}


async def volume(cloud: Cloud, uuid: str) -> dict[str, Any]:
    (found,) = await cloud.query("QueryVolume", ("uuid", "=", uuid))
    return found


async def vm_of(cloud: Cloud, uuid: str) -> dict[str, Any]:
    (found,) = await cloud.query("QueryVmInstance", ("uuid", "=", uuid))
    return found


async def host_of(cloud: Cloud, uuid: str) -> dict[str, Any]:
    (found,) = await cloud.query("QueryHost", ("uuid", "=", uuid))
    return found


# --- hosts ---------------------------------------------------------------------------------


async def new_cluster(cloud: Cloud, hypervisor: str = "KVM") -> dict[str, Any]:
    zone = await cloud.ok("CreateZone", name="z")
    return await cloud.ok("CreateCluster", name="c", zoneUuid=zone["uuid"], hypervisorType=hypervisor)


async def test_add_kvm_host_reads_the_host_from_libvirt(cloud: Cloud, conn: Any) -> None:
    stream = io.StringIO()
    configure(json=True, level="DEBUG", stream=stream)
    events: list[dict[str, Any]] = []

    async def heard(event: Event) -> None:
        events.append(event.data)

    subscription = await cloud.node.bus.subscribe("api.#", heard)
    try:
        cluster = await new_cluster(cloud)
        reply = await cloud.api(
            "AddKVMHost",
            name="h",
            managementIp="10.0.0.5",
            clusterUuid=cluster["uuid"],
            username="root",
            password="s3cret-kvm-pw",
            libvirtUri=URI,
        )
    finally:
        configure()
        await subscription.cancel()
    assert reply.success, reply.to_json()
    host = reply.inventory
    _model, memory_mib, cpus, *_ = conn.getInfo()
    assert host["status"] == "Connected" and host["hypervisorType"] == "KVM"
    assert host["totalCpuCapacity"] == host["availableCpuCapacity"] == cpus
    assert host["totalMemoryCapacity"] == memory_mib * MiB
    assert host["libvirtUri"] == URI and host["username"] == "root" and host["sshPort"] == 22
    assert "password" not in host
    tags = {t["tag"] for t in await cloud.query("QuerySystemTag", ("resourceUuid", "=", host["uuid"]))}
    version = conn.getLibVersion()
    assert f"libvirt::version::{version // 1000000}.{version // 1000 % 1000}.{version % 1000}" in tags
    assert any(t.startswith("qemu-img::version::") for t in tags)
    for where in (stream.getvalue(), json.dumps(reply.to_json()), json.dumps(events)):
        assert "s3cret-kvm-pw" not in where
    (queried,) = await cloud.query("QueryHost", ("uuid", "=", host["uuid"]))
    assert "password" not in queried


async def test_default_libvirt_uri_is_qemu_over_ssh(cloud: Cloud) -> None:
    cluster = await new_cluster(cloud)
    before = await cloud.snapshot()
    # nothing answers ssh on a TEST-NET address: the connection fails, the host is not added
    error = await cloud.error(
        "AddKVMHost",
        name="h",
        managementIp="192.0.2.1",
        clusterUuid=cluster["uuid"],
        username="admin",
        password="pw",
        sshPort=2222,
    )
    assert error.code == "HOST.1000"
    assert error.cause.code == "HOST.1003"
    assert "qemu+ssh://admin@192.0.2.1:2222/system" in error.cause.details
    assert await cloud.snapshot() == before


async def test_unreachable_libvirt_fails_with_its_error_and_leaves_nothing(cloud: Cloud) -> None:
    cluster = await new_cluster(cloud)
    before = await cloud.snapshot()
    error = await cloud.error(
        "AddKVMHost",
        name="h",
        managementIp="127.0.0.1",
        clusterUuid=cluster["uuid"],
        username="root",
        password="pw",
        libvirtUri="qemu+tcp://127.0.0.1:1/system",
    )
    assert error.code == "HOST.1000" and error.cause.code == "HOST.1003"
    assert "qemu+tcp://127.0.0.1:1/system" in error.cause.details
    assert "Connection refused" in error.cause.details or "connect" in error.cause.details.lower()
    assert await cloud.snapshot() == before


async def test_without_libvirt_python_the_error_says_what_to_install(
    cloud: Cloud, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster = await new_cluster(cloud)
    before = await cloud.snapshot()
    monkeypatch.setitem(sys.modules, "libvirt", None)  # `import libvirt` raises ImportError
    error = await cloud.error(
        "AddKVMHost", name="h", managementIp="10.0.0.9", clusterUuid=cluster["uuid"], username="u", password="p"
    )
    assert error.code == "HOST.1000" and error.cause.code == "HOST.1006"
    assert "pip install 'cloudbus[kvm]'" in error.cause.details
    assert await cloud.snapshot() == before


async def test_kvm_host_only_in_a_kvm_cluster(cloud: Cloud) -> None:
    cluster = await new_cluster(cloud, "Simulator")
    before = await cloud.snapshot()
    error = await cloud.error(
        "AddKVMHost",
        name="h",
        managementIp="10.0.0.9",
        clusterUuid=cluster["uuid"],
        username="u",
        password="p",
        libvirtUri=URI,
    )
    assert error.code == "SYS.1007" and "hypervisorType[KVM]" in error.details
    assert await cloud.snapshot() == before


# --- VMs ---------------------------------------------------------------------------------------


async def test_vm_lifecycle_is_a_libvirt_domain(cloud: Cloud, conn: Any, tmp_path: Path) -> None:
    env = await kvm_env(cloud, tmp_path)
    vm = await create_vm(cloud, env)
    assert vm["state"] == "Running" and vm["hostUuid"] == env["host"]["uuid"]
    assert state(conn, vm["uuid"]) == libvirt.VIR_DOMAIN_RUNNING

    root = await volume(cloud, vm["rootVolumeUuid"])
    xml = ET.fromstring(domain(conn, vm["uuid"]).XMLDesc(0))
    assert xml.findtext("vcpu") == "1" and int(xml.findtext("memory")) == 64 * 1024
    assert disks(conn, vm["uuid"]) == {"vda": root["installPath"]}
    (nic,) = vm["vmNics"]
    iface = xml.find("./devices/interface")
    assert iface.find("mac").get("address") == nic["mac"]
    assert iface.find("source").get("bridge") == "br_eth0"
    found = info(root["installPath"])
    assert found["format"] == "qcow2" and found["virtual-size"] == env["image"]["size"]
    assert Path(found["full-backing-filename"]).parent.name == "imagecache"

    for api, expected_vm, expected_domain in (
        ("PauseVmInstance", "Paused", libvirt.VIR_DOMAIN_PAUSED),
        ("ResumeVmInstance", "Running", libvirt.VIR_DOMAIN_RUNNING),
        ("RebootVmInstance", "Running", libvirt.VIR_DOMAIN_RUNNING),
    ):
        assert (await cloud.ok(api, uuid=vm["uuid"]))["state"] == expected_vm
        assert state(conn, vm["uuid"]) == expected_domain

    host_before = await host_of(cloud, env["host"]["uuid"])
    assert (await cloud.ok("StopVmInstance", uuid=vm["uuid"]))["state"] == "Stopped"
    assert domain(conn, vm["uuid"]) is None  # a stopped VM has no domain: the next start defines it anew
    host_stopped = await host_of(cloud, env["host"]["uuid"])
    assert host_stopped["availableCpuCapacity"] == host_before["availableCpuCapacity"] + 1
    assert (await cloud.ok("StartVmInstance", uuid=vm["uuid"]))["state"] == "Running"
    assert state(conn, vm["uuid"]) == libvirt.VIR_DOMAIN_RUNNING

    await cloud.ok("DestroyVmInstance", uuid=vm["uuid"])
    assert domain(conn, vm["uuid"]) is None
    assert exists(root["installPath"])  # Destroyed can be recovered: the disk stays
    await cloud.ok("ExpungeVmInstance", uuid=vm["uuid"])
    assert not exists(root["installPath"])


async def test_data_volume_attached_and_detached(cloud: Cloud, conn: Any, tmp_path: Path) -> None:
    env = await kvm_env(cloud, tmp_path)
    vm = await create_vm(cloud, env)
    data = await cloud.ok("CreateDataVolume", name="d", diskOfferingUuid=env["disk"]["uuid"])
    attached = await cloud.ok("AttachDataVolumeToVm", vmInstanceUuid=vm["uuid"], volumeUuid=data["uuid"])
    data = await volume(cloud, data["uuid"])
    assert info(data["installPath"])["virtual-size"] == 32 * MiB
    # the test driver has no hotplug: the driver changes the domain's definition instead
    defined = ET.fromstring(domain(conn, vm["uuid"]).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert data["installPath"] in [d.get("file") for d in defined.findall("./devices/disk/source")]
    assert attached["vmInstanceUuid"] == vm["uuid"]
    # a restart gives the domain every attached volume, root first
    await cloud.ok("StopVmInstance", uuid=vm["uuid"])
    await cloud.ok("StartVmInstance", uuid=vm["uuid"])
    root = await volume(cloud, vm["rootVolumeUuid"])
    assert disks(conn, vm["uuid"]) == {"vda": root["installPath"], "vdb": data["installPath"]}
    await cloud.ok("DetachDataVolumeFromVm", uuid=data["uuid"])
    defined = ET.fromstring(domain(conn, vm["uuid"]).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert data["installPath"] not in [d.get("file") for d in defined.findall("./devices/disk/source")]
    await cloud.ok("DeleteDataVolume", uuid=data["uuid"])
    await cloud.ok("ExpungeDataVolume", uuid=data["uuid"])
    assert not exists(data["installPath"])


async def test_a_start_libvirt_refuses_rolls_everything_back(cloud: Cloud, conn: Any, tmp_path: Path) -> None:
    env = await kvm_env(cloud, tmp_path)
    wanted = "ab" * 16
    # a domain squatting the VM's libvirt uuid under another name: libvirt refuses to define the VM
    squatter = conn.defineXML(
        f"<domain type='test'><name>squatter-{wanted[:6]}</name><uuid>{wanted[:8]}-{wanted[8:12]}-"
        f"{wanted[12:16]}-{wanted[16:20]}-{wanted[20:]}</uuid><memory>65536</memory><vcpu>1</vcpu>"
        "<os><type arch='x86_64'>hvm</type></os></domain>"
    )
    try:
        before = await cloud.snapshot()
        files_before = sorted(p for p in (tmp_path / "ps").rglob("*") if p.is_file())
        error = await cloud.error(
            "CreateVmInstance",
            name="vm",
            resourceUuid=wanted,
            instanceOfferingUuid=env["offering"]["uuid"],
            imageUuid=env["image"]["uuid"],
            l3NetworkUuids=[env["l3"]["uuid"]],
        )
        assert error.code == "HOST.1005"  # libvirt's refusal, in libvirt's words
        assert f"squatter-{wanted[:6]}" in error.details
        assert domain(conn, wanted) is None
        assert await cloud.snapshot() == before  # host capacity, storage capacity, IPs: all back
        files_after = sorted(p for p in (tmp_path / "ps").rglob("*") if p.is_file())
        assert [p for p in files_after if p not in files_before and "imagecache" not in p.parts] == []
    finally:
        squatter.undefine()


async def test_reconnect_corrects_vm_states_from_the_host(cloud: Cloud, conn: Any, tmp_path: Path) -> None:
    env = await kvm_env(cloud, tmp_path)
    vm = await create_vm(cloud, env)
    running = await host_of(cloud, env["host"]["uuid"])
    domain(conn, vm["uuid"]).destroy()  # the VM dies behind cloudbus's back
    reported: list[dict[str, Any]] = []

    async def heard(event: Event) -> None:
        reported.append(event.data)

    subscription = await cloud.node.bus.subscribe("host.unknown.vms", heard)
    try:
        reconnected = await cloud.ok("ReconnectHost", uuid=env["host"]["uuid"])
        await wait_until(lambda: reported, 10, lambda: "no host.unknown.vms event")
    finally:
        await subscription.cancel()
    assert reconnected["status"] == "Connected"
    # (domains of other tests' clouds share the test driver: they are unknown here too)
    assert reported[0]["hostUuid"] == env["host"]["uuid"] and "test" in reported[0]["domains"]
    assert vm["uuid"] not in reported[0]["domains"]
    found = await vm_of(cloud, vm["uuid"])
    assert found["state"] == "Stopped" and found["hostUuid"] is None
    assert found["lastHostUuid"] == env["host"]["uuid"]
    after = await host_of(cloud, env["host"]["uuid"])
    assert after["availableCpuCapacity"] == running["availableCpuCapacity"] + 1
    assert after["availableMemoryCapacity"] == running["availableMemoryCapacity"] + 64 * MiB
    # the test driver's own domain `test` is not cloudbus's: reported, never destroyed
    assert state(conn, "test") == libvirt.VIR_DOMAIN_RUNNING
    assert (await cloud.ok("StartVmInstance", uuid=vm["uuid"]))["state"] == "Running"
    assert state(conn, vm["uuid"]) == libvirt.VIR_DOMAIN_RUNNING
    await cloud.ok("DestroyVmInstance", uuid=vm["uuid"])


async def test_migrate_between_two_hosts_of_one_libvirt(cloud: Cloud, conn: Any, tmp_path: Path) -> None:
    env = await kvm_env(cloud, tmp_path)
    other = await cloud.ok(
        "AddKVMHost",
        name="h2",
        managementIp="127.0.0.2",
        clusterUuid=env["cluster"]["uuid"],
        username="root",
        password="pw",
        libvirtUri=URI,
    )
    vm = await create_vm(cloud, env, hostUuid=env["host"]["uuid"])
    migrated = await cloud.ok("MigrateVm", vmInstanceUuid=vm["uuid"], hostUuid=other["uuid"])
    assert migrated["hostUuid"] == other["uuid"] and migrated["state"] == "Running"
    assert state(conn, vm["uuid"]) == libvirt.VIR_DOMAIN_RUNNING
    await cloud.ok("DestroyVmInstance", uuid=vm["uuid"])


async def test_delete_zone_removes_domains_and_files(cloud: Cloud, conn: Any, tmp_path: Path) -> None:
    env = await kvm_env(cloud, tmp_path)
    vms = [await create_vm(cloud, env, name=f"vm{i}") for i in range(2)]
    roots = [(await volume(cloud, vm["rootVolumeUuid"]))["installPath"] for vm in vms]
    assert all(exists(p) for p in roots)
    pool = conn.storagePoolLookupByName(env["ps"]["uuid"])  # the storage's pool on the host
    assert pool.isActive() and pool.autostart()
    assert ET.fromstring(pool.XMLDesc(0)).findtext("./target/path") == env["ps"]["url"]
    await cloud.ok("DeleteZone", uuid=env["zone"]["uuid"])
    assert env["ps"]["uuid"] not in conn.listStoragePools() + conn.listDefinedStoragePools()
    for vm in vms:
        assert domain(conn, vm["uuid"]) is None
    assert not any(exists(p) for p in roots)
    assert state(conn, "test") == libvirt.VIR_DOMAIN_RUNNING  # not cloudbus's: left alone
    assert await cloud.query("QueryHost") == []


# --- snapshots: external (the default of SharedMountPoint) and internal -----------------------


def marker(path: str, pattern: int) -> bool:
    """Whether the first 64 KiB of the volume file read as `pattern`."""
    return qemu_io(path, f"read -P {pattern:#x} 0 64k").returncode == 0


def write(path: str, pattern: int) -> None:
    assert qemu_io(path, f"write -P {pattern:#x} 0 64k").returncode == 0


async def test_external_snapshots_of_a_running_vm(cloud: Cloud, conn: Any, tmp_path: Path) -> None:
    env = await kvm_env(cloud, tmp_path)
    vm = await create_vm(cloud, env)
    root = await volume(cloud, vm["rootVolumeUuid"])
    first = root["installPath"]
    write(first, 0xAB)
    snap = await cloud.ok("CreateVolumeSnapshot", volumeUuid=root["uuid"], name="s1")
    assert snap["snapshotType"] == "external" and snap["primaryStorageInstallPath"] == first
    root = await volume(cloud, root["uuid"])
    current = root["installPath"]
    assert current != first and Path(current).parent.name == root["uuid"]
    assert info(current)["backing-filename"] == first  # the old file is frozen under the new one
    defined = ET.fromstring(domain(conn, vm["uuid"]).XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE))
    assert [d.get("file") for d in defined.findall("./devices/disk/source")] == [current]
    write(current, 0xCD)

    error = await cloud.error("RevertVolumeFromSnapshot", uuid=snap["uuid"])  # the VM runs
    assert error.code == "SYS.1006"
    await cloud.ok("StopVmInstance", uuid=vm["uuid"])
    reverted = await cloud.ok("RevertVolumeFromSnapshot", uuid=snap["uuid"])
    assert info(reverted["installPath"])["backing-filename"] == first
    assert marker(reverted["installPath"], 0xAB)
    assert not exists(current)  # what was written after the snapshot is gone with the revert

    # a second snapshot on top, then delete the first: its subtree goes, the data stays
    second = await cloud.ok("CreateVolumeSnapshot", volumeUuid=root["uuid"], name="s2")
    assert second["parentUuid"] == snap["uuid"] and second["distance"] == 1
    root = await volume(cloud, root["uuid"])
    await cloud.ok("DeleteVolumeSnapshot", uuid=snap["uuid"])
    assert await cloud.query("QueryVolumeSnapshot", ("volumeUuid", "=", root["uuid"])) == []
    found = info(root["installPath"])
    assert Path(found["backing-filename"]).parent.name == "imagecache"  # rebased down to the image
    assert marker(root["installPath"], 0xAB)
    assert not exists(first) and not exists(second["primaryStorageInstallPath"])
    assert (await cloud.ok("StartVmInstance", uuid=vm["uuid"]))["state"] == "Running"
    assert disks(conn, vm["uuid"]) == {"vda": root["installPath"]}
    await cloud.ok("DestroyVmInstance", uuid=vm["uuid"])
    await cloud.ok("ExpungeVmInstance", uuid=vm["uuid"])
    assert not exists(root["installPath"]) and not exists(Path(root["installPath"]).parent)


async def test_internal_snapshots_when_the_storage_says_so(cloud: Cloud, conn: Any, tmp_path: Path) -> None:
    env = await kvm_env(cloud, tmp_path, snapshot_type="internal")
    vm = await create_vm(cloud, env)
    root = await volume(cloud, vm["rootVolumeUuid"])
    path = root["installPath"]
    write(path, 0xAB)
    snap = await cloud.ok("CreateVolumeSnapshot", volumeUuid=root["uuid"], name="s1")
    assert snap["snapshotType"] == "internal" and snap["primaryStorageInstallPath"] == f"{path}@{snap['uuid']}"
    assert (await volume(cloud, root["uuid"]))["installPath"] == path  # the volume stays in its file
    assert [s["name"] for s in info(path)["snapshots"]] == [snap["uuid"]]
    write(path, 0xCD)
    await cloud.ok("StopVmInstance", uuid=vm["uuid"])
    await cloud.ok("RevertVolumeFromSnapshot", uuid=snap["uuid"])
    assert marker(path, 0xAB)
    await cloud.ok("DeleteVolumeSnapshot", uuid=snap["uuid"])
    assert "snapshots" not in info(path)
    assert marker(path, 0xAB)


async def test_a_bad_snapshot_type_tag_is_refused_and_nothing_changes(cloud: Cloud, tmp_path: Path) -> None:
    env = await kvm_env(cloud, tmp_path, snapshot_type="sideways")
    vm = await create_vm(cloud, env)
    before = await cloud.snapshot()
    error = await cloud.error("CreateVolumeSnapshot", volumeUuid=vm["rootVolumeUuid"], name="s")
    assert error.code == "SYS.1007" and "snapshotType::sideways" in error.details
    assert await cloud.snapshot() == before


async def test_resize_grows_the_file_live_and_shrinks_only_when_asked(cloud: Cloud, conn: Any, tmp_path: Path) -> None:
    env = await kvm_env(cloud, tmp_path)
    vm = await create_vm(cloud, env)
    data = await cloud.ok("CreateDataVolume", name="d", diskOfferingUuid=env["disk"]["uuid"])
    await cloud.ok("AttachDataVolumeToVm", vmInstanceUuid=vm["uuid"], volumeUuid=data["uuid"])
    data = await volume(cloud, data["uuid"])
    (ps,) = await cloud.query("QueryPrimaryStorage", ("uuid", "=", env["ps"]["uuid"]))
    grown = await cloud.ok("ResizeDataVolume", uuid=data["uuid"], size=48 * MiB)  # the VM runs
    assert grown["size"] == info(data["installPath"])["virtual-size"] == 48 * MiB
    (after,) = await cloud.query("QueryPrimaryStorage", ("uuid", "=", env["ps"]["uuid"]))
    assert ps["availableCapacity"] - after["availableCapacity"] == 16 * MiB

    before = await cloud.snapshot()
    error = await cloud.error("ResizeDataVolume", uuid=data["uuid"], size=16 * MiB)
    assert error.code == "SYS.1007" and "shrink=true" in error.details
    error = await cloud.error("ResizeDataVolume", uuid=data["uuid"], size=16 * MiB, shrink=True)
    assert error.code == "SYS.1006" and "stop it" in error.details  # the running VM holds it
    assert await cloud.snapshot() == before and info(data["installPath"])["virtual-size"] == 48 * MiB
    await cloud.ok("StopVmInstance", uuid=vm["uuid"])
    shrunk = await cloud.ok("ResizeDataVolume", uuid=data["uuid"], size=16 * MiB, shrink=True)
    assert shrunk["size"] == info(data["installPath"])["virtual-size"] == 16 * MiB
    (last,) = await cloud.query("QueryPrimaryStorage", ("uuid", "=", env["ps"]["uuid"]))
    assert last["availableCapacity"] - after["availableCapacity"] == 32 * MiB


@pytest.fixture
def small_disk(tmp_path: Path) -> Any:
    """A 96 MiB tmpfs at tmp_path/ps: a primary storage that really fills up."""
    mount = tmp_path / "ps"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=96M", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        if os.environ.get("CI") == "true":
            raise AssertionError(f"CI must be able to mount a tmpfs: {done.stderr.decode()}")
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


async def test_a_full_disk_rolls_the_create_back(cloud: Cloud, conn: Any, tmp_path: Path, small_disk: Path) -> None:
    env = await kvm_env(cloud, tmp_path)
    assert env["ps"]["totalCapacity"] == 96 * MiB
    filler = small_disk / "filler"
    assert sh("dd", "if=/dev/zero", f"of={filler}", "bs=1M", "count=95").returncode == 0
    before, domains = await cloud.snapshot(), conn.listAllDomains(0)
    error = await cloud.error(
        "CreateVmInstance",
        name="vm",
        instanceOfferingUuid=env["offering"]["uuid"],
        imageUuid=env["image"]["uuid"],
        l3NetworkUuids=[env["l3"]["uuid"]],
    )
    assert error.code == "STORAGE.1000" and "No space left on device" in error.details
    assert await cloud.snapshot() == before  # capacity, IPs, rows: as they were
    assert files_under(small_disk) == [filler]  # no half-copied image
    assert sorted(d.name() for d in conn.listAllDomains(0)) == sorted(d.name() for d in domains)
    filler.unlink()  # room again: the same create now works
    vm = await create_vm(cloud, env)
    assert state(conn, vm["uuid"]) == libvirt.VIR_DOMAIN_RUNNING
    await cloud.ok("DeleteZone", uuid=env["zone"]["uuid"])


async def test_a_new_offering_is_what_the_next_start_defines(cloud: Cloud, conn: Any, tmp_path: Path) -> None:
    env = await kvm_env(cloud, tmp_path)
    vm = await create_vm(cloud, env)
    await cloud.ok("StopVmInstance", uuid=vm["uuid"])
    bigger = await cloud.ok("CreateInstanceOffering", name="bigger", cpuNum=2, memorySize=128 * MiB)
    await cloud.ok("ChangeInstanceOffering", vmInstanceUuid=vm["uuid"], instanceOfferingUuid=bigger["uuid"])
    await cloud.ok("StartVmInstance", uuid=vm["uuid"])
    xml = ET.fromstring(domain(conn, vm["uuid"]).XMLDesc(0))
    assert xml.findtext("vcpu") == "2" and int(xml.findtext("memory")) == 128 * 1024
    await cloud.ok("DestroyVmInstance", uuid=vm["uuid"])


@pytest.mark.parametrize("api", ["DeleteHost", "DeleteCluster", "DeletePrimaryStorage"])
async def test_deleting_a_parent_removes_the_domains_and_files_below_it(
    cloud: Cloud, conn: Any, tmp_path: Path, api: str
) -> None:
    env = await kvm_env(cloud, tmp_path)
    vm = await create_vm(cloud, env)
    root = await volume(cloud, vm["rootVolumeUuid"])
    target = {"DeleteHost": env["host"], "DeleteCluster": env["cluster"], "DeletePrimaryStorage": env["ps"]}[api]
    await cloud.ok(api, uuid=target["uuid"])
    assert domain(conn, vm["uuid"]) is None
    if api == "DeletePrimaryStorage":  # the VM's disk went with its storage, and so did the VM
        assert not exists(root["installPath"])
        assert not files_under(tmp_path / "ps")
        assert env["ps"]["uuid"] not in conn.listStoragePools() + conn.listDefinedStoragePools()
    else:  # the VM is stopped on no host; its disk stays on the storage
        (found,) = await cloud.query("QueryVmInstance", ("uuid", "=", vm["uuid"]))
        assert found["hostUuid"] is None and exists(root["installPath"])


async def test_a_full_copy_root_volume_has_no_backing_file(cloud: Cloud, conn: Any, tmp_path: Path) -> None:
    env = await kvm_env(cloud, tmp_path)
    vm = await create_vm(cloud, env, systemTags=["rootVolume::fullCopy"])
    root = await volume(cloud, vm["rootVolumeUuid"])
    found = info(root["installPath"])
    assert found["format"] == "qcow2" and "backing-filename" not in found
    assert found["virtual-size"] == env["image"]["size"]
    assert qemu_io(root["installPath"], "read -P 0x11 0 1M").returncode == 0  # the image's data, copied
    assert state(conn, vm["uuid"]) == libvirt.VIR_DOMAIN_RUNNING
    overlay = await create_vm(cloud, env, name="overlay")  # without the tag: an overlay on the cache
    assert "backing-filename" in info((await volume(cloud, overlay["rootVolumeUuid"]))["installPath"])


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"libvirtUri": "http://10.0.0.5/"}, "libvirtUri"),
        ({"libvirtUri": "xen:///system"}, "libvirtUri"),
        ({"sshPort": 0}, "sshPort"),
        ({"password": ""}, "password"),
        ({"username": " "}, "username"),
        ({"managementIp": ""}, "managementIp"),
    ],
)
async def test_bad_kvm_host_input_is_refused_and_changes_nothing(
    cloud: Cloud, params: dict[str, Any], says: str
) -> None:
    cluster = await new_cluster(cloud)
    before = await cloud.snapshot()
    good = {"name": "h", "managementIp": "10.0.0.5", "clusterUuid": cluster["uuid"], "username": "u", "password": "p"}
    error = await cloud.error("AddKVMHost", **{**good, "libvirtUri": URI, **params})
    assert error.code == "SYS.1007" and says in error.details
    assert await cloud.snapshot() == before


async def test_a_second_host_on_one_address_is_refused(cloud: Cloud) -> None:
    cluster = await new_cluster(cloud)
    host = {"managementIp": "10.0.0.5", "clusterUuid": cluster["uuid"], "username": "u", "password": "p"}
    await cloud.ok("AddKVMHost", name="h1", libvirtUri=URI, **host)
    before = await cloud.snapshot()
    error = await cloud.error("AddKVMHost", name="h2", libvirtUri=URI, **host)
    assert error.code == "SYS.1007" and "managementIp[10.0.0.5]" in error.details
    assert await cloud.snapshot() == before
