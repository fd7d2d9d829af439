"""The hypervisor driver interface: what a host service asks of a hypervisor.

Implemented by the simulator and KVM (libvirt); OpenStack later. Every method may
raise `CloudBusError`; the host service wraps it in the API's own error code.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any

from cloudbus.core import errors

UNSUPPORTED = errors.register("SYS.1014", "The resource lacks the capability or the operation is not supported")

# VM-level commands a driver may be given through the host service's HypervisorCommand.
VM_COMMANDS = frozenset(
    {
        "startVm",
        "consoleAddress",
        "stopVm",
        "rebootVm",
        "pauseVm",
        "resumeVm",
        "destroyVm",
        "migrateVm",
        "attachVolume",
        "detachVolume",
        "attachNic",
        "detachNic",
        "snapshotVolume",
        "deleteVolumeSnapshot",
        "pullVolume",
        "resizeVolume",
    }
)


@dataclass(frozen=True)
class HostFacts:
    """What connecting to a host tells us about it."""

    cpuCapacity: int
    memoryCapacity: int
    cpuSockets: int = 1
    cpuNum: int = 1
    architecture: str = "x86_64"
    systemTags: tuple[str, ...] = ()  # what the host runs (`libvirt::version::9.0.0`), recorded on the host


class HypervisorDriver(abc.ABC):
    hypervisor_type: str = ""
    # a running VM's process holds its volumes' files: snapshots and resizes of them go
    # through the hypervisor (snapshotVolume, pullVolume, resizeVolume ...), not to the files
    holds_volume_files: bool = False

    @abc.abstractmethod
    async def connect(self, host: dict[str, Any]) -> HostFacts:
        """Reach the host (deploy/contact its agent) and report its capacity."""

    @abc.abstractmethod
    async def ping(self, host: dict[str, Any]) -> None:
        """Raise if the host is unreachable."""

    @abc.abstractmethod
    async def prepare_delete(self, host: dict[str, Any]) -> None:
        """Check pass of a cascade: raise to veto removing the host."""

    @abc.abstractmethod
    async def delete(self, host: dict[str, Any]) -> None:
        """Release the host (disconnect its agent)."""

    async def vm_command(self, command: str, host: dict[str, Any], vm_uuid: str | None, args: dict[str, Any]) -> Any:
        """Run VM command `command` (one of VM_COMMANDS) on `host`; returns the driver's JSON result.

        Drivers implement the commands as methods of the same name taking (host, vm_uuid, args).
        """
        method = getattr(self, command, None) if command in VM_COMMANDS else None
        if method is None:
            raise errors.fail(UNSUPPORTED, f"hypervisor[{self.hypervisor_type}] does not support command[{command}]")
        return await method(host, vm_uuid, args)
