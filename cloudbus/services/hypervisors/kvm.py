"""The KVM hypervisor driver: hosts reached through libvirt-python (`pip install 'cloudbus[kvm]'`).

A host's `libvirtUri` names its libvirt: `qemu+ssh://root@10.0.0.5/system` for a remote host
(the management node's ssh key must be authorised there), `qemu:///system` for this machine,
`test:///default` for libvirt's in-process test driver. libvirt-python blocks, so every call
runs in a worker thread; one connection per URI is kept and reopened when it stops answering.

A VM is a persistent domain named after its uuid (kvm_domain.py): started = defined and
running; stopped = undefined, so a stopped VM's definition is never stale (its volumes and
nics are read again at the next start, as ZStack does). Nics need the L2's bridge on the host:
on a host this machine can reach directly (`qemu:///...`) it is created when the first VM
needs it (kvm_network.py); on a remote host the bridge must exist.

Errors: libvirt's own, as HOST.1005 with libvirt's message; an unreachable libvirt as
HOST.1003; libvirt-python missing as HOST.1006 saying what to install.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import shutil
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import Any

from cloudbus.core import errors
from cloudbus.core.logging import get_logger
from cloudbus.services.hypervisors import kvm_domain
from cloudbus.services.hypervisors.base import HostFacts, HypervisorDriver

log = get_logger(__name__)

CONNECT = "HOST.1003"
LIBVIRT = errors.register("HOST.1005", "The hypervisor (libvirt) failed the operation")
NO_LIBVIRT = errors.register("HOST.1006", "KVM support is not installed")

INSTALL_HINT = (
    "KVM hosts need libvirt-python: pip install 'cloudbus[kvm]' "
    "(it builds against libvirt's headers: apt-get install libvirt-dev pkg-config)"
)

# primary storage type -> the libvirt pool type a KVM host keeps for it (NFS would be `netfs`;
# NFS primary storage is still simulated)
POOL_TYPES = {"SharedMountPoint": "dir"}

# libvirt domain state -> the VM state it means
DOMAIN_STATES = {
    0: "NoState",  # VIR_DOMAIN_NOSTATE
    1: "Running",
    2: "Running",  # BLOCKED: waiting on I/O, still running
    3: "Paused",
    4: "Stopping",  # SHUTDOWN: being shut down
    5: "Stopped",  # SHUTOFF
    6: "Crashed",
    7: "Paused",  # PMSUSPENDED
}


def libvirt_module() -> Any:
    try:
        import libvirt
    except ImportError:
        raise errors.fail(NO_LIBVIRT, INSTALL_HINT) from None
    return libvirt


class KvmDriver(HypervisorDriver):
    hypervisor_type = "KVM"
    holds_volume_files = True

    def __init__(self) -> None:
        self._connections: dict[str, Any] = {}
        self._kinds: dict[str, kvm_domain.DomainKind] = {}  # uri -> the domain type its host runs
        self._lock = threading.Lock()
        # seconds an ACPI (grace) stop may take before the domain is destroyed
        self.stop_grace = float(os.environ.get("CLOUDBUS_VM_STOP_GRACE") or 60)
        self.network: Any = None  # kvm_network's bridge realiser, loaded on first use

    # --- connections ---------------------------------------------------------------

    def _open(self, uri: str) -> Any:
        libvirt = libvirt_module()
        with self._lock:
            conn = self._connections.get(uri)
            if conn is not None:
                try:
                    if conn.isAlive():
                        return conn
                except libvirt.libvirtError:
                    pass
                self._connections.pop(uri, None)
            libvirt.registerErrorHandler(lambda *_: None, None)  # errors come back as exceptions
            try:
                conn = libvirt.open(uri)
            except libvirt.libvirtError as exc:
                raise errors.fail(CONNECT, f"cannot connect to libvirt[{uri}]: {exc.get_error_message()}") from None
            self._connections[uri] = conn
            return conn

    def forget(self, uri: str) -> None:
        with self._lock:
            conn = self._connections.pop(uri, None)
        if conn is not None:
            try:
                conn.close()
            except Exception:  # closing a dead connection may fail: nothing to release then
                pass

    async def _on(self, host: dict[str, Any], what: str, job: Callable[[Any], Any]) -> Any:
        """Run `job(connection)` in a thread; libvirt errors become HOST.1005 naming `what`."""
        uri = str(host["libvirtUri"])

        def run() -> Any:
            libvirt = libvirt_module()
            conn = self._open(uri)
            try:
                return job(conn)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() in (
                    libvirt.VIR_ERR_SYSTEM_ERROR,
                    libvirt.VIR_ERR_RPC,
                    libvirt.VIR_ERR_NO_CONNECT,
                ):
                    self.forget(uri)  # the daemon went away: reconnect next time
                raise errors.fail(LIBVIRT, f"{what} on host[uuid:{host['uuid']}]: {exc.get_error_message()}") from None

        return await asyncio.to_thread(run)

    @staticmethod
    def _kind(conn: Any) -> kvm_domain.DomainKind:
        """The best domain type the host runs for x86_64 guests: kvm, else qemu (TCG); test for the test driver."""
        if conn.getType() == "TEST":
            return kvm_domain.DomainKind("test")
        arch = ET.fromstring(conn.getCapabilities()).find("./guest/arch[@name='x86_64']")
        types = [d.get("type") for d in arch.findall("./domain")] if arch is not None else []
        for wanted in ("kvm", "qemu", "test"):
            if wanted in types:
                assert arch is not None
                return kvm_domain.DomainKind(wanted, arch.findtext("./emulator") if wanted != "test" else None)
        return kvm_domain.DomainKind("qemu")

    # --- host --------------------------------------------------------------------------

    async def connect(self, host: dict[str, Any]) -> HostFacts:
        def facts(conn: Any) -> HostFacts:
            _model, memory_mib, cpus, _mhz, nodes, sockets, _cores, _threads = conn.getInfo()
            caps = ET.fromstring(conn.getCapabilities())
            tags = [f"libvirt::version::{_version(conn.getLibVersion())}"]
            model = caps.findtext("./host/cpu/model")
            if model:
                tags.append(f"cpuModelName::{model}")
            try:
                tags.append(f"hypervisor::version::{_version(conn.getVersion())}")
            except libvirt_module().libvirtError:  # the test driver has no hypervisor version
                pass
            return HostFacts(
                cpuCapacity=int(cpus),
                memoryCapacity=int(memory_mib) << 20,
                cpuSockets=int(sockets) * int(nodes or 1),
                cpuNum=int(cpus),
                architecture=caps.findtext("./host/cpu/arch") or "x86_64",
                systemTags=tuple(tags),
            )

        found: HostFacts = await self._on(host, "reading the host's capabilities", facts)
        qemu_img = await _local_qemu_img_version() if _is_local(host["libvirtUri"]) else None
        if qemu_img:
            found = dataclasses.replace(found, systemTags=(*found.systemTags, f"qemu-img::version::{qemu_img}"))
        return found

    async def ping(self, host: dict[str, Any]) -> None:
        await self._on(host, "ping", lambda conn: conn.getLibVersion())

    async def prepare_delete(self, host: dict[str, Any]) -> None:
        return None

    async def delete(self, host: dict[str, Any]) -> None:
        self.forget(str(host["libvirtUri"]))

    async def vm_states(self, host: dict[str, Any]) -> dict[str, str]:
        """Every domain on the host (cloudbus's or not): name -> VM state."""

        def states(conn: Any) -> dict[str, str]:
            found = {}
            for dom in conn.listAllDomains(0):
                state, _reason = dom.state()
                found[dom.name()] = DOMAIN_STATES.get(state, "Unknown")
            return found

        return await self._on(host, "listing domains", states)

    # --- VM commands (HypervisorDriver.vm_command dispatches by name) ---------------------

    async def startVm(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        for nic in args.get("nics") or []:
            if nic.get("l2Network") and not nic.get("bridge"):
                nic["bridge"] = await self.realize_l2(host, nic["l2Network"])

        def start(conn: Any) -> dict[str, Any]:
            libvirt = libvirt_module()
            try:
                dom = conn.lookupByName(vm_uuid)
            except libvirt.libvirtError:
                dom = None
            if dom is not None:  # a leftover of a start that died half-way, or a rerun
                if dom.isActive():
                    return {"state": "Running"}
                dom.undefine()
            kind = self._kinds.get(str(host["libvirtUri"])) or self._kinds.setdefault(
                str(host["libvirtUri"]), self._kind(conn)
            )
            xml = kvm_domain.domain_xml(vm_uuid, args, kind)
            dom = conn.defineXML(xml)
            try:
                dom.create()
            except libvirt.libvirtError:
                dom.undefine()
                raise
            return {"state": "Running"}

        return await self._on(host, f"starting vm[uuid:{vm_uuid}]", start)

    async def stopVm(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        grace = args.get("type", "grace") == "grace"
        deadline = time.monotonic() + self.stop_grace

        def stop(conn: Any) -> dict[str, Any]:
            dom = _lookup(conn, vm_uuid)
            if dom is None:
                return {}
            if dom.isActive() and grace:
                try:
                    dom.shutdown()
                except libvirt_module().libvirtError:
                    pass  # no ACPI: destroyed below
                while dom.isActive() and time.monotonic() < deadline:
                    time.sleep(0.2)
            if dom.isActive():
                dom.destroy()
            _undefine(dom)
            return {}

        return await self._on(host, f"stopping vm[uuid:{vm_uuid}]", stop)

    async def destroyVm(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        return await self.stopVm(host, vm_uuid, {"type": "cold"})

    async def rebootVm(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        def reboot(conn: Any) -> dict[str, Any]:
            dom = _running(conn, vm_uuid)
            if conn.getType() == "TEST":
                dom.reboot(0)
            else:  # a guest without ACPI ignores reboot(): reset is what a user's reboot means then
                dom.reset(0)
            return {}

        return await self._on(host, f"rebooting vm[uuid:{vm_uuid}]", reboot)

    async def pauseVm(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        await self._on(host, f"pausing vm[uuid:{vm_uuid}]", lambda c: _running(c, vm_uuid).suspend())
        return {}

    async def resumeVm(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        await self._on(host, f"resuming vm[uuid:{vm_uuid}]", lambda c: _running(c, vm_uuid).resume())
        return {}

    async def attachVolume(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        volume = args.get("volume") or {}
        if not volume.get("installPath"):
            return {}  # nothing on disk to give the domain (a volume of a simulated storage)
        xml = kvm_domain.disk_xml(volume)
        return await self._on(host, f"attaching volume to vm[uuid:{vm_uuid}]", lambda c: _live(c, vm_uuid, xml, True))

    async def detachVolume(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        volume = args.get("volume") or {}
        if not volume.get("installPath"):
            return {}
        xml = kvm_domain.disk_xml(volume)
        return await self._on(
            host, f"detaching volume from vm[uuid:{vm_uuid}]", lambda c: _live(c, vm_uuid, xml, False)
        )

    # --- a running domain's part in volume snapshots (storage/qcow2.py asks for it) ---------

    async def snapshotVolume(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        """Internal: a checkpoint of the running domain named by the snapshot uuid (each qcow2
        disk gets it); external: the volume's disk switches to `newPath`, an overlay on its file."""
        path, kind = str(args["volume"]["installPath"]), args["snapshotType"]

        def take(conn: Any) -> dict[str, Any]:
            libvirt = libvirt_module()
            dom = _running(conn, vm_uuid)
            dev = _disk_of(dom, path)
            if conn.getType() == "TEST":  # no QEMU holds the files: change them as QEMU would
                return _test_snapshot(conn, dom, dev, path, kind, args)
            if kind == "internal":
                xml = f"<domainsnapshot><name>{args['snapshotUuid']}</name></domainsnapshot>"
                dom.snapshotCreateXML(xml, 0)
                return {}
            disks = "".join(
                f"<disk name='{d}' snapshot='external'><driver type='qcow2'/><source file='{args['newPath']}'/></disk>"
                if d == dev
                else f"<disk name='{d}' snapshot='no'/>"
                for d in kvm_domain.disk_sources(dom.XMLDesc(0))
            )
            flags = (
                libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY
                | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA
                | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_ATOMIC
            )
            dom.snapshotCreateXML(f"<domainsnapshot><disks>{disks}</disks></domainsnapshot>", flags)
            _keep_definition(conn, dom)
            return {}

        return await self._on(host, f"snapshotting volume[{path}] of vm[uuid:{vm_uuid}]", take)

    async def deleteVolumeSnapshot(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        """An internal snapshot of a volume the running domain holds: deleted through the domain."""
        path, name = str(args["volume"]["installPath"]), str(args["snapshotUuid"])

        def delete(conn: Any) -> dict[str, Any]:
            libvirt = libvirt_module()
            dom = _running(conn, vm_uuid)
            if conn.getType() == "TEST":
                _qemu_img("snapshot", "-d", name, path)
                return {}
            try:
                dom.snapshotLookupByName(name).delete(0)
            except libvirt.libvirtError:  # taken before the domain was last defined: QEMU still knows it
                import libvirt_qemu

                libvirt_qemu.qemuMonitorCommand(dom, f"delvm {name}", libvirt_qemu.VIR_DOMAIN_QEMU_MONITOR_COMMAND_HMP)
            return {}

        return await self._on(host, f"deleting snapshot[{name}] of vm[uuid:{vm_uuid}]", delete)

    async def pullVolume(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        """Copy into the volume's active file what it reads from the files above `base` (None:
        all), then put it on `base`: a block pull of the running domain, waited for."""
        path, base = str(args["volume"]["installPath"]), args.get("base")

        def pull(conn: Any) -> dict[str, Any]:
            dom = _running(conn, vm_uuid)
            dev = _disk_of(dom, path)
            if conn.getType() == "TEST":
                _qemu_img("rebase", "-q", "-f", "qcow2", "-b", base or "", *(["-F", "qcow2"] if base else []), path)
                return {}
            dom.blockRebase(dev, base, 0, 0)
            deadline = time.monotonic() + self.stop_grace * 10
            while dom.blockJobInfo(dev, 0) and time.monotonic() < deadline:
                time.sleep(0.05)
            if dom.blockJobInfo(dev, 0):
                raise errors.fail(LIBVIRT, f"the block pull of [{path}] did not finish in time")
            _keep_definition(conn, dom)
            return {}

        return await self._on(host, f"pulling volume[{path}] of vm[uuid:{vm_uuid}]", pull)

    async def resizeVolume(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        """Grow a disk of the running domain to `size` bytes (the guest sees the new size)."""
        path, size = str(args["volume"]["installPath"]), int(args["size"])

        def resize(conn: Any) -> dict[str, Any]:
            dom = _running(conn, vm_uuid)
            if conn.getType() == "TEST":
                _qemu_img("resize", "-q", "-f", "qcow2", path, str(size))
            else:
                dom.blockResize(_disk_of(dom, path), size, libvirt_module().VIR_DOMAIN_BLOCK_RESIZE_BYTES)
            return {}

        return await self._on(host, f"resizing volume[{path}] of vm[uuid:{vm_uuid}]", resize)

    async def consoleAddress(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        def read(conn: Any) -> dict[str, Any]:
            port = kvm_domain.vnc_port(_running(conn, vm_uuid).XMLDesc(0))
            return {"hostIp": host["managementIp"], "port": port, "protocol": "vnc"}

        return await self._on(host, f"reading the console of vm[uuid:{vm_uuid}]", read)

    async def migrateVm(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        dest = args.get("destHost") or {}
        dest_uri = dest.get("libvirtUri")
        if not dest_uri:
            raise errors.fail(LIBVIRT, f"migrating vm[uuid:{vm_uuid}] needs the destination host's libvirtUri")
        if dest_uri == host["libvirtUri"]:
            return {}  # both hosts are the same libvirt: the domain is already where it should be

        def migrate(conn: Any) -> dict[str, Any]:
            libvirt = libvirt_module()
            dom = _running(conn, vm_uuid)
            flags = libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PERSIST_DEST | libvirt.VIR_MIGRATE_UNDEFINE_SOURCE
            dom.migrate(self._open(dest_uri), flags, None, None, 0)
            return {}

        return await self._on(host, f"migrating vm[uuid:{vm_uuid}]", migrate)

    # --- primary storage: a libvirt pool per storage on each host (seed 002's sequence) ----

    async def realize_pool(self, host: dict[str, Any], ps: dict[str, Any]) -> dict[str, Any]:
        """Define, build, start and autostart a `dir` pool named by the storage's uuid over its
        directory (idempotent); answers the pool's capacity and available bytes after a refresh."""
        if ps.get("type") not in POOL_TYPES:
            return {}
        pool_type, target = POOL_TYPES[ps["type"]], f"<target><path>{ps['url']}</path></target>"
        xml = f"<pool type='{pool_type}'><name>{ps['uuid']}</name>{target}</pool>"

        def realize(conn: Any) -> dict[str, Any]:
            libvirt = libvirt_module()
            try:
                pool = conn.storagePoolLookupByName(ps["uuid"])
            except libvirt.libvirtError:
                pool = conn.storagePoolDefineXML(xml, 0)
                pool.build(0)
            if not pool.isActive():
                pool.create(0)
            pool.setAutostart(1)
            pool.refresh(0)
            _state, capacity, _allocation, available = pool.info()
            return {"capacity": capacity, "available": available}

        return await self._on(host, f"realizing the pool of primary storage[uuid:{ps['uuid']}]", realize)

    async def unrealize_pool(self, host: dict[str, Any], ps: dict[str, Any]) -> None:
        """Stop and undefine the storage's pool; its files stay (they are the storage's)."""

        def unrealize(conn: Any) -> None:
            libvirt = libvirt_module()
            try:
                pool = conn.storagePoolLookupByName(ps["uuid"])
            except libvirt.libvirtError:
                return
            if pool.isActive():
                pool.destroy()
            pool.undefine()

        await self._on(host, f"removing the pool of primary storage[uuid:{ps['uuid']}]", unrealize)

    # --- L2 networks: a Linux bridge per L2 on each host (kvm_network.py) ----------------

    @staticmethod
    def _makes_bridges(host: dict[str, Any]) -> bool:
        """Bridges are made on this machine's libvirt only: the test driver has no network, and
        a remote host's bridges are made there (cloudbus runs no commands over ssh)."""
        uri = str(host["libvirtUri"])
        return _is_local(uri) and not uri.startswith("test:")

    async def realize_l2(self, host: dict[str, Any], l2: dict[str, Any]) -> str:
        from cloudbus.services.hypervisors import kvm_network

        if not self._makes_bridges(host):
            return kvm_network.bridge_name(l2)
        return await kvm_network.ensure_bridge(kvm_network.Runner(), l2)

    async def unrealize_l2(self, host: dict[str, Any], l2: dict[str, Any]) -> None:
        from cloudbus.services.hypervisors import kvm_network

        if self._makes_bridges(host):
            await kvm_network.remove_bridge(kvm_network.Runner(), l2)


def _lookup(conn: Any, vm_uuid: str) -> Any:
    libvirt = libvirt_module()
    try:
        return conn.lookupByName(vm_uuid)
    except libvirt.libvirtError as exc:
        if exc.get_error_code() == libvirt.VIR_ERR_NO_DOMAIN:
            return None
        raise


def _running(conn: Any, vm_uuid: str) -> Any:
    dom = _lookup(conn, vm_uuid)
    if dom is None or not dom.isActive():
        raise errors.fail(LIBVIRT, f"vm[uuid:{vm_uuid}] has no running domain on the host")
    return dom


def _undefine(dom: Any) -> None:
    libvirt = libvirt_module()
    try:
        dom.undefineFlags(libvirt.VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA)
    except libvirt.libvirtError:
        dom.undefine()


def _live(conn: Any, vm_uuid: str, xml: str, attach: bool) -> dict[str, Any]:
    libvirt = libvirt_module()
    dom = _lookup(conn, vm_uuid)
    if dom is None:
        return {}  # a stopped VM: its volumes are read at the next start
    if conn.getType() == "TEST":  # the test driver has no device hotplug: change the definition
        disk = ET.fromstring(xml)
        target = disk.find("target")
        return _redefine(
            conn, dom, target.get("dev") if target is not None else None, lambda _: disk if attach else None
        )
    # the definition changes with the running domain, so a restart keeps what was attached; a
    # live detach is a request the guest answers (libvirt waits a few seconds for it)
    flags = libvirt.VIR_DOMAIN_AFFECT_CONFIG
    if dom.isActive():
        flags |= libvirt.VIR_DOMAIN_AFFECT_LIVE
    if attach:
        dom.attachDeviceFlags(xml, flags)
    else:
        dom.detachDeviceFlags(xml, flags)
    return {}


def _disk_of(dom: Any, path: str) -> str:
    """The target dev of the domain's disk whose file is `path`."""
    libvirt = libvirt_module()
    for flags in (0, libvirt.VIR_DOMAIN_XML_INACTIVE):  # the test driver changes only the definition
        for dev, source in kvm_domain.disk_sources(dom.XMLDesc(flags)).items():
            if source == path:
                return dev
    raise errors.fail(LIBVIRT, f"the domain of vm[uuid:{dom.name()}] has no disk with file[{path}]")


def _keep_definition(conn: Any, dom: Any) -> None:
    """After a live change of disk files, the persistent definition follows the running domain."""
    conn.defineXML(dom.XMLDesc(libvirt_module().VIR_DOMAIN_XML_SECURE))


def _qemu_img(*args: str) -> None:
    done = subprocess.run(["qemu-img", *args], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise errors.fail(LIBVIRT, f"qemu-img {' '.join(args)}: {done.stderr.strip()}")


def _test_snapshot(conn: Any, dom: Any, dev: str, path: str, kind: str, args: dict[str, Any]) -> dict[str, Any]:
    """What QEMU does for a snapshot, done to the files of a test-driver domain."""
    if kind == "internal":
        _qemu_img("snapshot", "-c", str(args["snapshotUuid"]), path)
        return {}
    _qemu_img("create", "-q", "-f", "qcow2", "-b", path, "-F", "qcow2", str(args["newPath"]))

    def on_new_overlay(disk: ET.Element | None) -> ET.Element | None:
        source = disk.find("source") if disk is not None else None
        if source is not None:
            source.set("file", str(args["newPath"]))
        return disk

    return _redefine(conn, dom, dev, on_new_overlay)


def _redefine(
    conn: Any, dom: Any, dev: str | None, change: Callable[[ET.Element | None], ET.Element | None]
) -> dict[str, Any]:
    """The test driver has no hotplug and no live disk changes: its domain's definition gets
    disk `dev` replaced by `change(the disk or None)` (None: no such disk)."""
    domain = ET.fromstring(dom.XMLDesc(libvirt_module().VIR_DOMAIN_XML_INACTIVE))
    devices = domain.find("devices")
    assert devices is not None
    current = next((d for d in devices.findall("disk") if d.find(f"target[@dev='{dev}']") is not None), None)
    if current is not None:
        devices.remove(current)
    new = change(current)
    if new is not None:
        devices.append(new)
    conn.defineXML(ET.tostring(domain, encoding="unicode"))
    return {}


def _version(number: int) -> str:
    return f"{number // 1000000}.{number // 1000 % 1000}.{number % 1000}"


def _is_local(uri: str) -> bool:
    """A URI naming this machine's libvirt (no host part): qemu:///system, test:///default."""
    return "://" in uri and uri.split("://", 1)[1].startswith("/")


async def _local_qemu_img_version() -> str | None:
    binary = shutil.which("qemu-img")
    if binary is None:
        return None

    def read() -> str | None:
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10).stdout
        match = re.search(r"version (\d+\.\d+\.\d+)", out)
        return match.group(1) if match else None

    return await asyncio.to_thread(read)
