"""Messages the host service handles for others (VM placement and hypervisor commands)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from cloudbus.core.errors import register
from cloudbus.core.messages import Message

NO_AVAILABLE_HOST = register("HOST_ALLOCATION.1000", "No available host found")


class AllocateHost(Message):
    """Pick an Enabled+Connected host with room and reserve `cpuNum`/`memorySize` on it atomically.

    Candidates: hosts in clusters attached to the L2 networks of every `l3NetworkUuids`
    and to an Enabled+Connected primary storage with `diskSize` bytes available, honouring
    the placement hints. Reply: `hostUuid`, `clusterUuid`, `zoneUuid`.
    Fails with HOST_ALLOCATION.1000 (nothing reserved) when no host fits.
    """

    service_id: ClassVar[str] = "host"

    cpuNum: int
    memorySize: int
    l3NetworkUuids: list[str] = Field(default_factory=list)
    zoneUuid: str | None = None
    clusterUuid: str | None = None
    hostUuid: str | None = None
    excludeHostUuids: list[str] = Field(default_factory=list)
    diskSize: int = 0
    # only clusters attached to one of these primary storages (a stopped VM's root volume)
    primaryStorageUuids: list[str] = Field(default_factory=list)
    dryRun: bool = False  # list candidates (reply `hostUuids`) without reserving


class ReturnHostCapacity(Message):
    """Give back capacity reserved by AllocateHost (rollback, stop, destroy, migrate)."""

    service_id: ClassVar[str] = "host"

    hostUuid: str
    cpuNum: int
    memorySize: int


class HypervisorCommand(Message):
    """Run a VM-level command on a host's hypervisor driver, bounded by the driver timeout.

    `command` is a driver method name (`startVm`, `stopVm`, `rebootVm`, `pauseVm`,
    `resumeVm`, `destroyVm`, `migrateVm`, `attachVolume`, `detachVolume`, `attachNic`,
    `detachNic`, ...); `args` carries its JSON arguments. Reply: `result` (driver's JSON).
    """

    service_id: ClassVar[str] = "host"

    hostUuid: str
    command: str
    vmInstanceUuid: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
