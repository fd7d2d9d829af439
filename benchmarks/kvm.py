"""What a KVM VM costs through cloudbus, next to the same work done by hand with libvirt and qemu-img.

    python benchmarks/kvm.py                       # qemu:///system (as root, libvirtd running)
    python benchmarks/kvm.py --uri test:///default --vms 200

An embedded cloud (LocalBus + SQLite file) with one KVM host on `--uri`, SharedMountPoint
primary storage and a local-directory backup storage in a scratch directory (tests/support/kvm_env.py).
Medians of `--runs` runs, in ms, each next to its floor measured in the same run:

- create: CreateVmInstance until the domain runs (placement, IP, a qcow2 overlay on the
  cached image, define + start) | floor: `qemu-img create -b` + defineXML + create by hand;
- stop+start: StopVmInstance cold + StartVmInstance | floor: destroy + undefine + define + create;
- snapshot: CreateVolumeSnapshot of the running VM's root volume (external: a live disk-only
  snapshot) | floor: the same snapshotCreateXML by hand;
- image: AddImage of a `--image-mib` MiB file from file:// (copy, md5, qemu-img info) | floor:
  copy + md5 of the same file;
- `--vms` VMs created, destroyed and expunged one after another on the test driver (no
  processes, real qcow2 files): VMs/s, where the floor is define + create + destroy + undefine
  on the same driver.

Results are written to benchmarks/kvm.json and go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: import tests.*

import libvirt

from cloudbus.core.ids import new_uuid
from cloudbus.core.logging import configure
from cloudbus.core.units import MiB
from cloudbus.services.hypervisors import kvm_domain
from cloudbus.testing import Cloud
from tests.support.kvm_env import build_image, kvm_env
from tests.support.vm_env import create_vm

RESULTS = Path(__file__).with_suffix(".json")


def ms(seconds: list[float]) -> float:
    return round(statistics.median(seconds) * 1000, 1)


async def timed(runs: int, job: Callable[[], Awaitable[Any]]) -> list[float]:
    out = []
    for _ in range(runs):
        t0 = time.perf_counter()
        await job()
        out.append(time.perf_counter() - t0)
    return out


def by_hand(conn: Any, work: Path, image: Path, kind: kvm_domain.DomainKind) -> dict[str, float]:
    """The floor: one VM's disk, domain, stop/start and snapshot with libvirt and qemu-img alone."""
    uuid = new_uuid()
    disk = work / f"{uuid}.qcow2"
    t0 = time.perf_counter()
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-b", str(image), "-F", "qcow2", str(disk)], check=True)
    spec = {"cpuNum": 1, "memorySize": 64 * MiB, "volumes": [{"uuid": uuid, "installPath": str(disk), "deviceId": 0}]}
    dom = conn.defineXML(kvm_domain.domain_xml(uuid, spec, kind))
    dom.create()
    create = time.perf_counter() - t0
    t0 = time.perf_counter()
    dom.destroy()
    dom.undefine()
    dom = conn.defineXML(kvm_domain.domain_xml(uuid, spec, kind))
    dom.create()
    restart = time.perf_counter() - t0
    snapshot = 0.0
    if kind.type != "test":
        overlay = work / f"{uuid}-top.qcow2"
        xml = (
            "<domainsnapshot><disks><disk name='vda' snapshot='external'><driver type='qcow2'/>"
            f"<source file='{overlay}'/></disk></disks></domainsnapshot>"
        )
        t0 = time.perf_counter()
        flags = libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_DISK_ONLY | libvirt.VIR_DOMAIN_SNAPSHOT_CREATE_NO_METADATA
        dom.snapshotCreateXML(xml, flags)
        snapshot = time.perf_counter() - t0
    dom.destroy()
    dom.undefine()
    return {"create": create, "restart": restart, "snapshot": snapshot}


def copy_floor(source: Path, work: Path) -> float:
    t0 = time.perf_counter()
    target = work / f"{new_uuid()}.qcow2"
    shutil.copyfile(source, target)
    hashlib.md5(target.read_bytes()).hexdigest()
    elapsed = time.perf_counter() - t0
    target.unlink()
    return elapsed


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uri", default="qemu:///system")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--vms", type=int, default=100, help="VMs created on the test driver for the rate")
    parser.add_argument("--image-mib", type=int, default=256)
    args = parser.parse_args()
    configure(level="WARNING")
    conn = libvirt.open(args.uri)
    results: dict[str, Any] = {"uri": args.uri, "runs": args.runs}
    nic = "eth0"  # the test driver bridges nothing
    if not args.uri.startswith("test:"):  # a real bridge needs a real interface: a veth of our own
        nic = "cbbench0"
        await asyncio.to_thread(subprocess.run, ["ip", "link", "add", nic, "type", "veth", "peer", "name", f"{nic}p"])
    try:
        await run(args, conn, nic, results)
    finally:
        if nic != "eth0":
            await asyncio.to_thread(subprocess.run, ["ip", "link", "del", nic])
    print(json.dumps(results, indent=2))
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


async def run(args: argparse.Namespace, conn: Any, nic: str, results: dict[str, Any]) -> None:
    with tempfile.TemporaryDirectory(prefix="cb-kvm-bench-") as scratch:
        root = Path(scratch)
        async with Cloud.start(f"sqlite:///{root / 'cloud.db'}") as cloud:
            env = await kvm_env(cloud, root, uri=args.uri, interface=nic)
            first = await create_vm(cloud, env, name="warm")  # fills the image cache
            cache = next((root / "ps" / "imagecache").glob("*.qcow2"))
            kind = cloud.node.hypervisor("KVM")._kind(conn)
            floors = [by_hand(conn, root, cache, kind) for _ in range(args.runs)]

            created = []
            for i in range(args.runs):  # one at a time: a host has as many VMs as CPUs (no overcommit)
                t0 = time.perf_counter()
                vm = await create_vm(cloud, env, name=f"vm{i}")
                created.append(time.perf_counter() - t0)
                await cloud.ok("DestroyVmInstance", uuid=vm["uuid"])
                await cloud.ok("ExpungeVmInstance", uuid=vm["uuid"])

            async def restart() -> None:
                await cloud.ok("StopVmInstance", uuid=first["uuid"], type="cold")
                await cloud.ok("StartVmInstance", uuid=first["uuid"])

            restarted = await timed(args.runs, restart)

            async def snapshot() -> None:
                await cloud.ok("CreateVolumeSnapshot", volumeUuid=first["rootVolumeUuid"], name="s")

            snapshots = await timed(args.runs, snapshot)
            big = build_image(root / "src" / "big.qcow2", args.image_mib * MiB)
            fill = ["qemu-io", "-f", "qcow2", "-c", f"write 0 {args.image_mib}M", str(big)]
            await asyncio.to_thread(subprocess.run, fill, check=True, capture_output=True)

            async def add_image() -> None:
                await cloud.ok(
                    "AddImage", name="big", url=big.as_uri(), format="qcow2", backupStorageUuids=[env["bs"]["uuid"]]
                )

            images = await timed(args.runs, add_image)
            image_floor = [copy_floor(big, root) for _ in range(args.runs)]
            results.update(
                create_ms=ms(created),
                create_floor_ms=ms([f["create"] for f in floors]),
                restart_ms=ms(restarted),
                restart_floor_ms=ms([f["restart"] for f in floors]),
                snapshot_ms=ms(snapshots) if kind.type != "test" else None,
                snapshot_floor_ms=ms([f["snapshot"] for f in floors]) if kind.type != "test" else None,
                image_mib=args.image_mib,
                image_ms=ms(images),
                image_floor_ms=ms(image_floor),
            )
            await cloud.ok("DeleteZone", uuid=env["zone"]["uuid"])
        if args.uri.startswith("test:"):
            async with Cloud.start(f"sqlite:///{root / 'rate.db'}") as cloud:
                rate_root = root / "rate"
                env = await kvm_env(cloud, rate_root, uri=args.uri)
                await create_vm(cloud, env, name="warm")
                t0 = time.perf_counter()
                for i in range(args.vms):  # one at a time: the test host has room for 16
                    vm = await create_vm(cloud, env, name=f"r{i}")
                    await cloud.ok("DestroyVmInstance", uuid=vm["uuid"])
                    await cloud.ok("ExpungeVmInstance", uuid=vm["uuid"])
                rate = args.vms / (time.perf_counter() - t0)
                t0 = time.perf_counter()
                for _ in range(args.vms):
                    uuid = new_uuid()
                    spec = {"cpuNum": 1, "memorySize": 64 * MiB, "volumes": []}
                    dom = conn.defineXML(kvm_domain.domain_xml(uuid, spec, kvm_domain.DomainKind("test")))
                    dom.create()
                    dom.destroy()
                    dom.undefine()
                floor_rate = args.vms / (time.perf_counter() - t0)
                results.update(vms=args.vms, vms_per_s=round(rate, 1), vms_per_s_floor=round(floor_rate, 1))
                await cloud.ok("DeleteZone", uuid=env["zone"]["uuid"])


if __name__ == "__main__":
    asyncio.run(main())
