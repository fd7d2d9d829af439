"""Messages the host service handles for others (VM placement and hypervisor commands)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, Field

from cloudbus.apis.routing import Concerns
from cloudbus.core.errors import register
from cloudbus.core.messages import Message

NO_AVAILABLE_HOST = register("HOST_ALLOCATION.1000", "No available host found")


class _Host(Concerns):
    resource: ClassVar[str] = "Host"


class AllocateHost(_Host, Message):
    """Pick an Enabled+Connected host with room and reserve `cpuNum`/`memorySize` on it atomically.

    Candidates: hosts in clusters attached to the L2 networks of every `l3NetworkUuids`
    and to an Enabled+Connected primary storage with `diskSize` bytes available, honouring
    the placement hints. Reply: `hostUuid`, `clusterUuid`, `zoneUuid`.
    Fails with HOST_ALLOCATION.1000 (nothing reserved) when no host fits.
    """

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
    ownerUuid: str | None = None  # the VM the capacity is for: ReturnHostCapacity(ownerUuid) gives it back


class ReturnHostCapacity(_Host, Message):
    """Give back capacity reserved by AllocateHost (rollback, stop, destroy, migrate).

    With `ownerUuid`: what that owner holds on `hostUuid` (on every host but `keepHostUuid`
    when `hostUuid` is unset), or only `cpuNum`/`memorySize` of it when given; idempotent.
    With `ownerUuids`: everything these owners hold, on every host (a batch of VMs deleted
    together), in one transaction; idempotent.
    Without: `cpuNum`/`memorySize` on `hostUuid`, as recorded by no owner.
    """

    hostUuid: str | None = None
    ownerUuid: str | None = None
    ownerUuids: list[str] = Field(default_factory=list)
    keepHostUuid: str | None = None
    cpuNum: int | None = None
    memorySize: int | None = None


class HypervisorCommand(_Host, Message):
    """Run a VM-level command on a host's hypervisor driver, bounded by the driver timeout.

    `command` is a driver method name (`startVm`, `stopVm`, `rebootVm`, `pauseVm`,
    `resumeVm`, `destroyVm`, `migrateVm`, `attachVolume`, `detachVolume`, `attachNic`,
    `detachNic`, ...); `args` carries its JSON arguments. Reply: `result` (driver's JSON).
    """

    hostUuid: str
    command: str
    vmInstanceUuid: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)


# VM commands of one HypervisorCommands batch in flight at once (ZStack deletes VMs 10 at a time)
HYPERVISOR_PARALLELISM = 10


class VmCommand(BaseModel):
    """One VM's part of a HypervisorCommands batch."""

    vmInstanceUuid: str
    args: dict[str, Any] = Field(default_factory=dict)


class HypervisorCommands(_Host, Message):
    """Run one VM-level `command` for many VMs on one host (a cascade destroying or detaching
    a batch): `HYPERVISOR_PARALLELISM` VMs at a time, one VM's commands in the given order,
    each bounded by the driver timeout.

    A failure of one command does not stop the others. Reply: `failed`, the error of each
    VM whose command failed (`{vmInstanceUuid: ErrorCode as JSON}`).
    """

    hostUuid: str
    command: str
    vms: list[VmCommand] = Field(default_factory=list)


class ApplyL2Network(_Host, Message):
    """Realise (`realize=True`) or remove an L2 network on the Connected hosts of `clusterUuids`
    whose hypervisor needs it (KVM: a Linux bridge), e.g. when it is attached to or detached
    from a cluster. Reply: `failed`, the error of each host that failed (`{hostUuid: ErrorCode}`).
    """

    clusterUuids: list[str]
    l2Network: dict[str, Any]
    realize: bool = True


class ApplyStoragePool(_Host, Message):
    """Define and start (`realize=True`) or stop and undefine a primary storage's pool on the
    Connected hosts of `clusterUuids` whose hypervisor keeps one (KVM: a libvirt storage pool
    named by the storage's uuid over its directory). Files are never touched. Reply: `failed`,
    the error of each host that failed (`{hostUuid: ErrorCode}`).
    """

    clusterUuids: list[str]
    primaryStorage: dict[str, Any]
    realize: bool = True


class ApplySecurityGroups(_Host, Message):
    """Bring the nics' security groups (their memberships and the groups' rules, as the security
    group service has them now) to the hypervisors of the nics' VMs that enforce groups themselves
    (OpenStack: Neutron groups on the ports); `deletedSecurityGroupUuids` are gone. One message
    per change, whatever the number of hosts; nothing to do (no query of hosts, no driver call)
    where no VM runs on such a hypervisor. Fire-and-forget for the security group service: a
    failure is logged, and a start applies them again."""

    vmNicUuids: list[str] = Field(default_factory=list)
    deletedSecurityGroupUuids: list[str] = Field(default_factory=list)


class ReleaseL3Networks(_Host, Message):
    """L3 networks ({uuid, l2NetworkUuid}) were deleted: hypervisors that realised them (OpenStack's
    Neutron network and subnet) remove what they made, through a Connected host of each cluster
    the L2 is attached to. Best effort for the L3 service: a failure is logged."""

    l3Networks: list[dict[str, str]]
