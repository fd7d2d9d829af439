"""A VM as a libvirt domain: the XML a KVM host is given, and what is read back from it.

The domain is named after the VM's uuid, as ZStack names its domains, so a domain found on a
host maps back to the VM without a lookup table. What a VM becomes is data in, XML out:

    spec = {"cpuNum": 1, "memorySize": 64 << 20,
            "volumes": [{"uuid": ..., "installPath": "/ps/volumes/x.qcow2", "format": "qcow2", "deviceId": 0}],
            "nics": [{"uuid": ..., "mac": "fa:16:3e:..", "bridge": "br_eth0", "deviceId": 0}]}
    domain_xml(vm_uuid, spec, DomainKind("kvm", "/usr/bin/qemu-system-x86_64"))

Volumes are qcow2 (or raw) files on virtio (`vda` is device 0, the root volume); nics are
virtio on the L2's bridge with the allocated MAC; a VNC display listens on all addresses on a
port libvirt picks, read back from the running domain by `vnc_port`.
"""

from __future__ import annotations

import string
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class DomainKind:
    """`type` is the domain type the connection runs (`kvm`, `qemu` for TCG, `test`)."""

    type: str
    emulator: str | None = None


def disk_target(device_id: int) -> str:
    """virtio disk name of a volume's deviceId: 0 -> vda, 1 -> vdb, ..., 25 -> vdz, 26 -> vdaa."""
    letters = string.ascii_lowercase
    name = ""
    n = device_id
    while True:
        name = letters[n % 26] + name
        n = n // 26 - 1
        if n < 0:
            return "vd" + name


def disk_element(volume: dict[str, Any]) -> ET.Element:
    disk = ET.Element("disk", type="file", device="disk")
    ET.SubElement(disk, "driver", name="qemu", type=volume.get("format") or "qcow2", cache="none")
    ET.SubElement(disk, "source", file=str(volume["installPath"]))
    ET.SubElement(disk, "target", dev=disk_target(int(volume.get("deviceId") or 0)), bus="virtio")
    ET.SubElement(disk, "serial").text = str(volume["uuid"])[:20]
    return disk


def disk_xml(volume: dict[str, Any]) -> str:
    """The <disk> of one volume, for live attach and detach."""
    return ET.tostring(disk_element(volume), encoding="unicode")


def nic_element(nic: dict[str, Any]) -> ET.Element:
    iface = ET.Element("interface", type="bridge")
    ET.SubElement(iface, "mac", address=str(nic["mac"]))
    ET.SubElement(iface, "source", bridge=str(nic["bridge"]))
    ET.SubElement(iface, "model", type="virtio")
    return iface


def domain_xml(vm_uuid: str, spec: dict[str, Any], kind: DomainKind) -> str:
    domain = ET.Element("domain", type=kind.type)
    ET.SubElement(domain, "name").text = vm_uuid
    ET.SubElement(domain, "uuid").text = _dashed(vm_uuid)
    ET.SubElement(domain, "memory", unit="KiB").text = str(max(int(spec["memorySize"]) // 1024, 1024))
    ET.SubElement(domain, "vcpu").text = str(int(spec["cpuNum"]))
    os_ = ET.SubElement(domain, "os")
    ET.SubElement(os_, "type", arch="x86_64", machine="pc").text = "hvm"
    ET.SubElement(os_, "boot", dev="hd")
    if kind.type != "test":  # ACPI: PCI hotplug (live volume attach) and graceful shutdown need it
        features = ET.SubElement(domain, "features")
        ET.SubElement(features, "acpi")
        ET.SubElement(features, "apic")
    ET.SubElement(domain, "on_poweroff").text = "destroy"
    ET.SubElement(domain, "on_reboot").text = "restart"
    ET.SubElement(domain, "on_crash").text = "destroy"
    devices = ET.SubElement(domain, "devices")
    if kind.emulator:
        ET.SubElement(devices, "emulator").text = kind.emulator
    for volume in sorted(spec.get("volumes") or [], key=lambda v: int(v.get("deviceId") or 0)):
        devices.append(disk_element(volume))
    for nic in sorted(spec.get("nics") or [], key=lambda n: int(n.get("deviceId") or 0)):
        devices.append(nic_element(nic))
    ET.SubElement(devices, "graphics", type="vnc", port="-1", autoport="yes", listen="0.0.0.0")
    if kind.type != "test":
        ET.SubElement(devices, "memballoon", model="none")
    return ET.tostring(domain, encoding="unicode")


def vnc_port(xml: str) -> int | None:
    """The VNC port of a running domain's live XML (None while libvirt has not assigned one)."""
    graphics = ET.fromstring(xml).find("./devices/graphics[@type='vnc']")
    if graphics is None:
        return None
    port = int(graphics.get("port") or -1)
    return port if port > 0 else None


def disk_sources(xml: str) -> dict[str, str]:
    """target dev -> source file of a domain's disks."""
    found = {}
    for disk in ET.fromstring(xml).findall("./devices/disk"):
        target, source = disk.find("target"), disk.find("source")
        if target is not None and source is not None and source.get("file"):
            found[str(target.get("dev"))] = str(source.get("file"))
    return found


def _dashed(uuid: str) -> str:
    """A cloudbus uuid (32 hex) in the 8-4-4-4-12 form libvirt's <uuid> wants."""
    u = uuid.replace("-", "")
    return f"{u[:8]}-{u[8:12]}-{u[12:16]}-{u[16:20]}-{u[20:32]}"
