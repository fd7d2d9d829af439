"""VM instance and nic APIs (reference 2.6)."""

from typing import ClassVar, Literal

from pydantic import Field

from cloudbus.apis.routing import Concerns
from cloudbus.core.messages import (
    APICreateMessage,
    APIDeleteMessage,
    APIMessage,
    APIQueryMessage,
    Description,
    Name,
    Uuid,
    ref,
    ref_list,
)

Strategy = Literal["InstantStart", "JustCreate", "CreateStopped"]


class _Vm(Concerns):
    resource: ClassVar[str] = "VmInstance"


class CreateVmInstance(_Vm, APICreateMessage):
    # the first VM from an image on a primary storage waits for the image's copy there
    reports_progress: ClassVar[bool] = True

    name: Name
    instanceOfferingUuid: ref("InstanceOffering") | None = None
    cpuNum: int | None = Field(default=None, ge=1, le=1024)
    memorySize: int | None = Field(default=None, ge=1)
    imageUuid: ref("Image")
    l3NetworkUuids: ref_list("L3Network") = Field(min_length=1)
    defaultL3NetworkUuid: Uuid | None = None
    type: Literal["UserVm"] = "UserVm"
    dataDiskOfferingUuids: ref_list("DiskOffering") | None = None
    zoneUuid: ref("Zone") | None = None
    clusterUuid: ref("Cluster") | None = None
    hostUuid: ref("Host") | None = None
    strategy: Strategy = "InstantStart"
    platform: str | None = Field(default=None, max_length=255)
    guestOsType: str | None = Field(default=None, max_length=255)
    architecture: str | None = Field(default=None, max_length=32)
    description: Description | None = None


class _VmMessage(_Vm, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("VmInstance")


class StartVmInstance(_VmMessage):
    clusterUuid: ref("Cluster") | None = None
    hostUuid: ref("Host") | None = None


class StopVmInstance(_VmMessage):
    type: Literal["grace", "cold"] = "grace"
    stopHA: bool = False


class RebootVmInstance(_VmMessage):
    pass


class GetVmConsoleAddress(_VmMessage):
    """Where the running VM's console listens: reply `hostIp`, `port`, `protocol` ("vnc")."""

    exactly_once: ClassVar[bool] = False  # a read


class PauseVmInstance(_VmMessage):
    pass


class ResumeVmInstance(_VmMessage):
    pass


class RecoverVmInstance(_VmMessage):
    pass


class ExpungeVmInstance(_VmMessage):
    pass


class DestroyVmInstance(_Vm, APIDeleteMessage):
    uuid: ref("VmInstance", missing_ok=True)


class UpdateVmInstance(_VmMessage):
    name: Name | None = None
    description: Description | None = None
    state: Literal["Stopped", "Running"] | None = None
    defaultL3NetworkUuid: ref("L3Network") | None = None
    platform: str | None = Field(default=None, max_length=255)
    guestOsType: str | None = Field(default=None, max_length=255)
    cpuNum: int | None = Field(default=None, ge=1, le=1024)
    memorySize: int | None = Field(default=None, ge=1)


class _VmByInstanceUuid(_Vm, APIMessage):
    resource_field: ClassVar[str | None] = "vmInstanceUuid"

    vmInstanceUuid: ref("VmInstance")


class MigrateVm(_VmByInstanceUuid):
    admin_only: ClassVar[bool | None] = True  # it names hosts, the infrastructure
    hostUuid: ref("Host") | None = None


class GetVmMigrationCandidateHosts(_VmByInstanceUuid):
    admin_only: ClassVar[bool | None] = True
    pass


class ChangeInstanceOffering(_VmByInstanceUuid):
    instanceOfferingUuid: ref("InstanceOffering")


class AttachL3NetworkToVm(_VmByInstanceUuid):
    l3NetworkUuid: ref("L3Network")
    staticIp: str | None = Field(default=None, max_length=64)
    driverType: str | None = Field(default=None, max_length=64)


class DetachL3NetworkFromVm(_Vm, APIMessage):
    vmNicUuid: ref("VmNic")


class QueryVmInstance(APIQueryMessage):
    inventory: ClassVar[str] = "VmInstance"


class QueryVmNic(APIQueryMessage):
    inventory: ClassVar[str] = "VmNic"
