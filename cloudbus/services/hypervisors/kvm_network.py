"""Host-side L2 networking for KVM hosts: an L2 network realised as a Linux bridge.

As in ZStack (LinuxBridge vSwitch type):

* ``L2NoVlanNetwork`` -> bridge ``br_<physicalInterface>`` enslaving ``physicalInterface``;
* ``L2VlanNetwork``   -> bridge ``br_<physicalInterface>_<vlan>`` enslaving the VLAN sub-interface
  ``<physicalInterface>.<vlan>``, created with
  ``ip link add link <if> name <if>.<vlan> type vlan id <vlan>``.

Interface names are limited to 15 characters (IFNAMSIZ - 1). When a name above would be longer,
a short, stable name is derived from the SHA-1 of the long one, so every host computes the same:

* bridge: ``br_`` + the first 12 hex digits of ``sha1(<long bridge name>)`` (exactly 15 chars),
  e.g. ``br_enp0s31f6abcd_100`` -> ``br_`` + sha1("br_enp0s31f6abcd_100")[:12];
* VLAN sub-interface: ``v`` + hex digits of ``sha1(<physicalInterface>)``, cut so that
  ``.<vlan>`` still fits, + ``.<vlan>`` (exactly 15 chars; the VLAN id stays readable),
  e.g. ``enp0s31f6abcdef`` vlan 100 -> ``v`` + sha1("enp0s31f6abcdef")[:10] + ``.100``.

The pure functions (`bridge_name`, `vlan_interface_name`, `realize_commands`,
`unrealize_commands`) return argv lists, never shell strings. `ensure_bridge` and
`remove_bridge` run them through a `Runner`, consulting ``ip -d -j link show`` first so that only
what is missing is created (both are idempotent). Failures raise `CloudBusError` with
`L2_REALIZE` (``L2.1001``); the ``details`` name the interface or the missing kernel support.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cloudbus.core import errors

log = logging.getLogger(__name__)

# L2.1000 is "Unable to attach L2 network to cluster" (cloudbus/apis/l2_network.py).
L2_REALIZE = errors.register("L2.1001", "Unable to realize L2 network on host")

IFNAMSIZ_MAX = 15  # longest Linux interface name (IFNAMSIZ = 16 including the NUL)
NO_VLAN = "L2NoVlanNetwork"
VLAN = "L2VlanNetwork"
# What `ip link add ... type vlan` answers when the kernel lacks 802.1Q support (no 8021q module).
_NO_VLAN_SUPPORT = ("unknown device type", "operation not supported", "not supported")


# --------------------------------------------------------------------------------------------
# naming and commands (pure)


def _interface(l2: Mapping[str, Any]) -> str:
    name = l2.get("physicalInterface")
    if not isinstance(name, str) or not name:
        raise errors.invalid_argument("the L2 network has no physicalInterface")
    # the kernel's dev_valid_name(): 1-15 chars, not '.'/'..', no '/', ':' or whitespace
    if len(name) > IFNAMSIZ_MAX or name in (".", "..") or any(c in "/:" or c.isspace() for c in name):
        raise errors.invalid_argument(f"physicalInterface {name!r} is not a valid Linux interface name")
    return name


def _vlan(l2: Mapping[str, Any]) -> int | None:
    """The L2's VLAN id, or None for a no-vlan L2."""
    vlan = l2.get("vlan")
    if vlan is None:
        if l2.get("type") == VLAN:
            raise errors.invalid_argument("an L2VlanNetwork needs a vlan")
        return None
    if l2.get("type") not in (None, VLAN):
        raise errors.invalid_argument(f"an {l2.get('type')} has no vlan (got vlan={vlan!r})")
    if isinstance(vlan, bool) or not isinstance(vlan, (int, str)) or not str(vlan).isdigit():
        raise errors.invalid_argument(f"vlan {vlan!r} is not an integer")
    if not 1 <= int(vlan) <= 4094:
        raise errors.invalid_argument(f"vlan {vlan} is out of range 1-4094")
    return int(vlan)


def _sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def bridge_name(l2: Mapping[str, Any]) -> str:
    """``br_<if>`` (no vlan) or ``br_<if>_<vlan>``; ``br_`` + 12 hex digits if that exceeds 15."""
    interface, vlan = _interface(l2), _vlan(l2)
    name = f"br_{interface}" if vlan is None else f"br_{interface}_{vlan}"
    if len(name) <= IFNAMSIZ_MAX:
        return name
    return "br_" + _sha1(name)[: IFNAMSIZ_MAX - 3]


def vlan_interface_name(l2: Mapping[str, Any]) -> str | None:
    """``<if>.<vlan>`` (shortened to ``v<hex>.<vlan>`` above 15 chars); None for a no-vlan L2."""
    interface, vlan = _interface(l2), _vlan(l2)
    if vlan is None:
        return None
    name = f"{interface}.{vlan}"
    if len(name) <= IFNAMSIZ_MAX:
        return name
    suffix = f".{vlan}"
    return ("v" + _sha1(interface))[: IFNAMSIZ_MAX - len(suffix)] + suffix


@dataclass(frozen=True)
class _Step:
    kind: str  # add-bridge | add-vlan | master | up
    device: str
    argv: list[str]


def _plan(l2: Mapping[str, Any]) -> list[_Step]:
    interface, bridge, vif = _interface(l2), bridge_name(l2), vlan_interface_name(l2)
    steps = [_Step("add-bridge", bridge, ["ip", "link", "add", "name", bridge, "type", "bridge"])]
    port = interface
    if vif is not None:
        vlan = str(_vlan(l2))
        steps.append(
            _Step("add-vlan", vif, ["ip", "link", "add", "link", interface, "name", vif, "type", "vlan", "id", vlan])
        )
        port = vif
    steps.append(_Step("master", port, ["ip", "link", "set", "dev", port, "master", bridge]))
    if vif is not None:  # a VLAN sub-interface carries nothing while its parent is down
        steps.append(_Step("up", interface, ["ip", "link", "set", "dev", interface, "up"]))
    steps.append(_Step("up", port, ["ip", "link", "set", "dev", port, "up"]))
    steps.append(_Step("up", bridge, ["ip", "link", "set", "dev", bridge, "up"]))
    return steps


def realize_commands(l2: Mapping[str, Any]) -> list[list[str]]:
    """Every command that realises `l2` on a host with none of it yet, in order.

    The bridge is created first, then (vlan) the sub-interface, then the port is enslaved and
    everything is set up. `ensure_bridge` runs only the ones whose effect is missing.
    """
    return [step.argv for step in _plan(l2)]


def unrealize_commands(l2: Mapping[str, Any]) -> list[list[str]]:
    """The commands removing what `realize_commands` creates (never the physical interface)."""
    commands = [["ip", "link", "del", "dev", bridge_name(l2)]]
    vif = vlan_interface_name(l2)
    if vif is not None:
        commands.append(["ip", "link", "del", "dev", vif])
    return commands


# --------------------------------------------------------------------------------------------
# running them


@dataclass(frozen=True)
class CommandResult:
    argv: list[str]
    rc: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.rc == 0


class Runner:
    """Runs argv lists on this machine with `asyncio.create_subprocess_exec` (never a shell).

    `netns` runs every command inside that network namespace (``ip netns exec <netns> ...``);
    the tests use it. A remote KVM host would run exactly the same argv over ssh; such a
    runner only has to provide the same `run` coroutine.
    """

    def __init__(self, netns: str | None = None, timeout: float = 30.0) -> None:
        self.netns = netns
        self.timeout = timeout

    def full_argv(self, argv: Sequence[str]) -> list[str]:
        prefix = ["ip", "netns", "exec", self.netns] if self.netns else []
        return [*prefix, *argv]

    async def run(self, argv: Sequence[str]) -> CommandResult:
        """Run one command; a non-zero exit is returned (not raised). Times out -> SYS.1001."""
        full = self.full_argv(argv)
        try:
            proc = await asyncio.create_subprocess_exec(
                *full,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except FileNotFoundError as e:
            return CommandResult(list(argv), 127, "", str(e))
        try:
            out, err = await asyncio.wait_for(proc.communicate(), self.timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise errors.fail(errors.TIMEOUT, f"{' '.join(full)} did not finish within {self.timeout:g} s") from None
        result = CommandResult(
            list(argv), proc.returncode or 0, out.decode(errors="replace"), err.decode(errors="replace")
        )
        log.debug("%s -> rc=%d %s", " ".join(full), result.rc, result.stderr.strip())
        return result


def _command_error(result: CommandResult) -> errors.ErrorCode:
    message = result.stderr.strip() or result.stdout.strip() or f"exit status {result.rc}"
    return errors.err(errors.OPERATION, f"{' '.join(result.argv)}: {message}")


async def links(runner: Runner) -> dict[str, dict[str, Any]]:
    """The host's interfaces by name, as ``ip -d -j link show`` describes them."""
    result = await runner.run(["ip", "-d", "-j", "link", "show"])
    if not result.ok:
        raise errors.fail(L2_REALIZE, "cannot list the host's network interfaces", _command_error(result))
    return {link["ifname"]: link for link in json.loads(result.stdout or "[]")}


def _kind(link: Mapping[str, Any]) -> str | None:
    return (link.get("linkinfo") or {}).get("info_kind")


def _is_our_vlan(link: Mapping[str, Any], interface: str, vlan: int) -> bool:
    data = (link.get("linkinfo") or {}).get("info_data") or {}
    return _kind(link) == "vlan" and link.get("link") == interface and data.get("id") == vlan


def _is_up(link: Mapping[str, Any]) -> bool:
    return "UP" in (link.get("flags") or [])


async def ensure_bridge(runner: Runner, l2: Mapping[str, Any]) -> str:
    """Create whatever of `l2`'s bridge (and VLAN sub-interface) is missing; return the bridge name.

    Raises `L2_REALIZE` when the physical interface does not exist (nothing is created), when a
    device of the bridge's / sub-interface's name exists but is something else, when the port is
    already enslaved to another bridge, or when a command fails -- then everything this call
    created is removed again. A kernel without 802.1Q support gets an error naming module 8021q.
    """
    interface, bridge, vif, vlan = _interface(l2), bridge_name(l2), vlan_interface_name(l2), _vlan(l2)
    current = await links(runner)
    if interface not in current:
        raise errors.fail(L2_REALIZE, f"physical interface {interface} does not exist on the host")
    if bridge in current and _kind(current[bridge]) != "bridge":
        raise errors.fail(L2_REALIZE, f"{bridge} exists on the host but is not a bridge")
    if vif is not None and vlan is not None and vif in current and not _is_our_vlan(current[vif], interface, vlan):
        raise errors.fail(L2_REALIZE, f"{vif} exists on the host but is not vlan {vlan} of {interface}")
    port = vif or interface
    master = (current.get(port) or {}).get("master")
    if master not in (None, bridge):
        raise errors.fail(L2_REALIZE, f"{port} is already enslaved to {master}, not to {bridge}")

    created: list[str] = []  # devices this call added, to delete on failure
    for step in _plan(l2):
        link = current.get(step.device)
        if step.kind in ("add-bridge", "add-vlan") and link is not None:
            continue
        if step.kind == "master" and link is not None and link.get("master") == bridge:
            continue
        if step.kind == "up" and link is not None and _is_up(link):
            continue
        result = await runner.run(step.argv)
        if result.ok:
            if step.kind in ("add-bridge", "add-vlan"):
                created.append(step.device)
            continue
        await _remove_created(runner, created)
        stderr = result.stderr.lower()
        if step.kind == "add-vlan" and any(text in stderr for text in _NO_VLAN_SUPPORT):
            raise errors.fail(
                L2_REALIZE,
                f"cannot create VLAN sub-interface {vif} of {interface} for {bridge}: the host kernel has no "
                "802.1Q VLAN support (module 8021q is missing or cannot be loaded)",
                _command_error(result),
            )
        raise errors.fail(L2_REALIZE, f"cannot realize bridge {bridge} on {interface}", _command_error(result))
    return bridge


async def _remove_created(runner: Runner, devices: list[str]) -> None:
    for device in reversed(devices):
        result = await runner.run(["ip", "link", "del", "dev", device])
        if not result.ok:
            log.warning("rollback: cannot delete %s: %s", device, result.stderr.strip())


async def remove_bridge(runner: Runner, l2: Mapping[str, Any]) -> None:
    """Delete `l2`'s bridge and (vlan) its sub-interface if present; never the physical interface.

    Idempotent: absent devices are skipped. A device of that name that is not what
    `ensure_bridge` would have created (not a bridge / not that VLAN) is left alone: `L2_REALIZE`.
    Ports still in the bridge (e.g. VM taps) are released by the kernel when it is deleted.
    """
    interface, bridge, vif, vlan = _interface(l2), bridge_name(l2), vlan_interface_name(l2), _vlan(l2)
    current = await links(runner)
    if bridge in current and _kind(current[bridge]) != "bridge":
        raise errors.fail(L2_REALIZE, f"{bridge} exists on the host but is not a bridge: not deleting it")
    if vif is not None and vlan is not None and vif in current and not _is_our_vlan(current[vif], interface, vlan):
        raise errors.fail(
            L2_REALIZE, f"{vif} exists on the host but is not vlan {vlan} of {interface}: not deleting it"
        )
    for argv in unrealize_commands(l2):
        device = argv[-1]
        if device == interface or device not in current:
            continue
        result = await runner.run(argv)
        if not result.ok and device in await links(runner):
            raise errors.fail(L2_REALIZE, f"cannot delete {device}", _command_error(result))
