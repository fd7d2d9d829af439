"""Volume APIs (reference 2.7): data volumes, attach/detach, delete/recover/expunge, resize."""

from typing import ClassVar, Literal

from pydantic import Field

from cloudbus.core.messages import (
    APICreateMessage,
    APIDeleteMessage,
    APIMessage,
    APIQueryMessage,
    Description,
    Name,
    ref,
)


class CreateDataVolume(APICreateMessage):
    """A data volume, NotInstantiated (no bits, no capacity) until its first attach."""

    service_id: ClassVar[str] = "volume"

    name: Name
    diskOfferingUuid: ref("DiskOffering") | None = None
    diskSize: int | None = Field(default=None, gt=0)
    primaryStorageUuid: ref("PrimaryStorage") | None = None
    description: Description | None = None


class AttachDataVolumeToVm(APIMessage):
    service_id: ClassVar[str] = "volume"
    resource_field: ClassVar[str | None] = "volumeUuid"

    volumeUuid: ref("Volume")
    vmInstanceUuid: ref("VmInstance")


class DetachDataVolumeFromVm(APIMessage):
    service_id: ClassVar[str] = "volume"
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("Volume")
    vmUuid: ref("VmInstance") | None = None


class DeleteDataVolume(APIDeleteMessage):
    """Delay policy: status Deleted, detached; bits and capacity kept until expunge."""

    service_id: ClassVar[str] = "volume"

    uuid: ref("Volume", missing_ok=True)


class RecoverDataVolume(APIMessage):
    service_id: ClassVar[str] = "volume"
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("Volume")


class ExpungeDataVolume(APIMessage):
    service_id: ClassVar[str] = "volume"
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("Volume")


class ResizeVolume(APIMessage):
    """Grow a root or data volume to `size` bytes (shrinking is refused)."""

    service_id: ClassVar[str] = "volume"
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("Volume")
    size: int = Field(gt=0)


class ResizeRootVolume(ResizeVolume):
    """ZStack's name for ResizeVolume on a root volume."""


class ResizeDataVolume(ResizeVolume):
    """ZStack's name for ResizeVolume on a data volume."""


class UpdateVolume(APIMessage):
    service_id: ClassVar[str] = "volume"
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("Volume")
    name: Name | None = None
    description: Description | None = None


class ChangeVolumeState(APIMessage):
    service_id: ClassVar[str] = "volume"
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("Volume")
    stateEvent: Literal["enable", "disable"]


class QueryVolume(APIQueryMessage):
    inventory: ClassVar[str] = "Volume"
