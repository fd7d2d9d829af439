"""The hypervisor driver interface: what a host service asks of a hypervisor.

Implemented by the simulator now; KVM (libvirt) and OpenStack later. Every method may
raise `CloudBusError`; the host service wraps it in the API's own error code.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class HostFacts:
    """What connecting to a host tells us about it."""

    cpuCapacity: int
    memoryCapacity: int
    cpuSockets: int = 1
    cpuNum: int = 1
    architecture: str = "x86_64"


class HypervisorDriver(abc.ABC):
    hypervisor_type: str = ""

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
