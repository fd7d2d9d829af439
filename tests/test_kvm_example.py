"""examples/kvm.cb on this machine's libvirtd, as its header says to run it (root, qemu:///system)."""

from __future__ import annotations

import shutil
from pathlib import Path

from cloudbus.apis.cli import Session, run_lines
from cloudbus.core.config import Settings
from cloudbus.testing import Cloud
from tests.support.kvm_env import build_image, files_under, sh

EXAMPLE = Path(__file__).parent.parent / "examples" / "kvm.cb"
ROOT = Path("/var/lib/cloudbus/example")
NIC = "cbexample0"


async def test_example_kvm_cloud(cloud: Cloud, libvirt_system: str) -> None:
    build_image(ROOT / "src" / "tiny.qcow2")
    assert sh("ip", "link", "add", NIC, "type", "veth", "peer", "name", f"{NIC}p").returncode == 0
    try:
        session = Session(Settings.from_env())
        session.client = cloud.client
        status = await run_lines(EXAMPLE.read_text().splitlines(), session, echo=False)
        assert status == 0
        found = session.names
        assert found["running"] == [{"name": "vm1", "state": "Running", "hostUuid": found["host"]["uuid"]}]
        assert found["snap"]["snapshotType"] == "external"
        # everything the script made is gone again: domain, bridge, files
        assert found["vm"]["uuid"] not in sh("virsh", "-c", libvirt_system, "list", "--all", "--name").stdout
        assert sh("ip", "link", "show", f"br_{NIC}").returncode != 0
        assert files_under(ROOT / "ps") == [] and files_under(ROOT / "bs") == []
    finally:
        sh("ip", "link", "del", NIC)
        shutil.rmtree(ROOT, ignore_errors=True)
