"""KVM host-side L2 networking (cloudbus/services/hypervisors/kvm_network.py).

The naming/argv tests are pure. The others change the real kernel's network devices, as root,
inside a private network namespace (``cbtest<random>``) holding a veth pair that plays the
physical interface; the namespace (and everything in it) is deleted afterwards.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from cloudbus.core.errors import INVALID_ARGUMENT, CloudBusError
from cloudbus.services.hypervisors.kvm_network import (
    L2_REALIZE,
    Runner,
    bridge_name,
    ensure_bridge,
    realize_commands,
    remove_bridge,
    unrealize_commands,
    vlan_interface_name,
)


def novlan(interface: str) -> dict[str, Any]:
    return {"uuid": "l2-novlan", "type": "L2NoVlanNetwork", "physicalInterface": interface}


def vlan(interface: str, vlan_id: int) -> dict[str, Any]:
    return {"uuid": "l2-vlan", "type": "L2VlanNetwork", "physicalInterface": interface, "vlan": vlan_id}


# --------------------------------------------------------------------------------------------
# pure: names and argv


def test_bridge_names_follow_zstack() -> None:
    assert bridge_name(novlan("eth0")) == "br_eth0"
    assert bridge_name(vlan("eth0", 100)) == "br_eth0_100"
    assert vlan_interface_name(vlan("eth0", 100)) == "eth0.100"
    assert vlan_interface_name(novlan("eth0")) is None
    assert bridge_name(novlan("enp0s31f6abc")) == "br_enp0s31f6abc"  # exactly 15: kept


def test_long_names_are_shortened_stably() -> None:
    long_bridge = bridge_name(vlan("enp0s31f6abcd", 100))  # br_enp0s31f6abcd_100 = 20 chars
    assert long_bridge == "br_" + hashlib.sha1(b"br_enp0s31f6abcd_100").hexdigest()[:12]
    assert len(long_bridge) == 15
    assert bridge_name(vlan("enp0s31f6abcd", 101)) != long_bridge
    assert bridge_name(novlan("enp0s31f6abcdef")) == "br_" + hashlib.sha1(b"br_enp0s31f6abcdef").hexdigest()[:12]
    vif = vlan_interface_name(vlan("enp0s31f6abcdef", 4094))  # 20 chars unshortened
    assert vif == ("v" + hashlib.sha1(b"enp0s31f6abcdef").hexdigest())[:10] + ".4094"
    assert len(vif) == 15
    assert vlan_interface_name(vlan("enp0s31f6ab", 7)) == "enp0s31f6ab.7"


def test_realize_and_unrealize_argv() -> None:
    assert realize_commands(novlan("eth0")) == [
        ["ip", "link", "add", "name", "br_eth0", "type", "bridge"],
        ["ip", "link", "set", "dev", "eth0", "master", "br_eth0"],
        ["ip", "link", "set", "dev", "eth0", "up"],
        ["ip", "link", "set", "dev", "br_eth0", "up"],
    ]
    assert realize_commands(vlan("eth0", 100)) == [
        ["ip", "link", "add", "name", "br_eth0_100", "type", "bridge"],
        ["ip", "link", "add", "link", "eth0", "name", "eth0.100", "type", "vlan", "id", "100"],
        ["ip", "link", "set", "dev", "eth0.100", "master", "br_eth0_100"],
        ["ip", "link", "set", "dev", "eth0", "up"],
        ["ip", "link", "set", "dev", "eth0.100", "up"],
        ["ip", "link", "set", "dev", "br_eth0_100", "up"],
    ]
    assert unrealize_commands(novlan("eth0")) == [["ip", "link", "del", "dev", "br_eth0"]]
    assert unrealize_commands(vlan("eth0", 100)) == [
        ["ip", "link", "del", "dev", "br_eth0_100"],
        ["ip", "link", "del", "dev", "eth0.100"],
    ]


@pytest.mark.parametrize(
    "l2",
    [
        {"type": "L2NoVlanNetwork"},
        novlan(""),
        novlan("eth0; reboot"),
        novlan("a/b"),
        novlan("x" * 16),
        vlan("eth0", 0),
        vlan("eth0", 4095),
        {"type": "L2VlanNetwork", "physicalInterface": "eth0"},
        {"type": "L2NoVlanNetwork", "physicalInterface": "eth0", "vlan": 10},
    ],
)
def test_invalid_l2_is_rejected(l2: dict[str, Any]) -> None:
    with pytest.raises(CloudBusError) as e:
        realize_commands(l2)
    assert e.value.error.code == INVALID_ARGUMENT


# --------------------------------------------------------------------------------------------
# real kernel, inside a private network namespace

IP = shutil.which("ip")
real_kernel = pytest.mark.skipif(
    os.geteuid() != 0 or IP is None,
    reason="needs root and iproute2's `ip` (creates a network namespace, veth pairs and bridges)",
)


@dataclass
class Namespace:
    name: str
    runner: Runner
    phys: str  # the veth end playing the physical interface
    peer: str

    def links(self) -> dict[str, dict[str, Any]]:
        out = subprocess.run(
            ["ip", "-n", self.name, "-d", "-j", "link", "show"], check=True, capture_output=True, text=True
        ).stdout
        return {link["ifname"]: link for link in json.loads(out)}

    def names(self) -> set[str]:
        return set(self.links())


@pytest.fixture
def netns() -> Iterator[Namespace]:
    tag = secrets.token_hex(3)
    name = f"cbtest{tag}"
    phys, peer = f"cb{tag[:4]}a", f"cb{tag[:4]}b"  # short: br_<phys>_100 must fit 15 chars
    subprocess.run(["ip", "netns", "add", name], check=True, capture_output=True)
    try:
        subprocess.run(
            ["ip", "-n", name, "link", "add", phys, "type", "veth", "peer", "name", peer],
            check=True,
            capture_output=True,
        )
        yield Namespace(name, Runner(netns=name), phys, peer)
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, capture_output=True)
        assert name not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


@real_kernel
async def test_novlan_bridge_is_created_idempotently_and_removed(netns: Namespace) -> None:
    l2 = novlan(netns.phys)
    before = netns.names()

    bridge = await ensure_bridge(netns.runner, l2)
    assert bridge == f"br_{netns.phys}"
    links = netns.links()
    assert links[bridge]["linkinfo"]["info_kind"] == "bridge"
    assert "UP" in links[bridge]["flags"]
    assert links[netns.phys]["master"] == bridge
    assert "UP" in links[netns.phys]["flags"]

    assert await ensure_bridge(netns.runner, l2) == bridge  # again: nothing changes, no error
    again = netns.links()
    assert set(again) == set(links)
    assert again[bridge]["ifindex"] == links[bridge]["ifindex"]  # same bridge, not re-created
    assert again[netns.phys]["master"] == bridge

    await remove_bridge(netns.runner, l2)
    after = netns.links()
    assert bridge not in after
    assert set(after) == before  # the veth (the "physical" interface) and its peer stay
    assert "master" not in after[netns.phys]
    await remove_bridge(netns.runner, l2)  # idempotent
    assert netns.names() == before


@real_kernel
async def test_missing_physical_interface_creates_nothing(netns: Namespace) -> None:
    before = netns.names()
    with pytest.raises(CloudBusError) as e:
        await ensure_bridge(netns.runner, novlan("cbnosuch0"))
    assert e.value.error.code == L2_REALIZE
    assert "cbnosuch0" in e.value.error.details
    assert netns.names() == before

    with pytest.raises(CloudBusError) as e:
        await ensure_bridge(netns.runner, vlan("cbnosuch0", 42))
    assert e.value.error.code == L2_REALIZE and "cbnosuch0" in e.value.error.details
    assert netns.names() == before


@real_kernel
async def test_vlan_bridge_or_missing_8021q(netns: Namespace) -> None:
    l2 = vlan(netns.phys, 100)
    bridge, vif = f"br_{netns.phys}_100", f"{netns.phys}.100"
    assert bridge_name(l2) == bridge and len(bridge) <= 15
    assert realize_commands(l2)[1] == [
        "ip",
        "link",
        "add",
        "link",
        netns.phys,
        "name",
        vif,
        "type",
        "vlan",
        "id",
        "100",
    ]
    before = netns.names()

    try:
        created = await ensure_bridge(netns.runner, l2)
    except CloudBusError as e:
        # This kernel has no 802.1Q support (as on the CI machines): the bridge, created first,
        # must have been removed again.
        error = e.error
        assert error.code == L2_REALIZE
        assert "8021q" in error.details and "802.1Q" in error.details and vif in error.details
        assert error.cause is not None and "type vlan" in (error.cause.details or "")
        assert netns.names() == before
        await remove_bridge(netns.runner, l2)  # nothing to remove: still fine
        assert netns.names() == before
        return

    # The kernel did create the VLAN sub-interface.
    assert created == bridge
    links = netns.links()
    assert links[vif]["linkinfo"]["info_kind"] == "vlan"
    assert links[vif]["linkinfo"]["info_data"]["id"] == 100
    assert links[vif]["master"] == bridge and "UP" in links[vif]["flags"]
    assert links[bridge]["linkinfo"]["info_kind"] == "bridge" and "UP" in links[bridge]["flags"]
    assert await ensure_bridge(netns.runner, l2) == bridge
    await remove_bridge(netns.runner, l2)
    assert netns.names() == before
