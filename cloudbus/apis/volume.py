"""Volume APIs (reference 2.7): data volumes, attach/detach, delete/recover/expunge, resize."""

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
    ref,
)


class _Volume(Concerns):
    resource: ClassVar[str] = "Volume"


class CreateDataVolume(_Volume, APICreateMessage):
    """A data volume, NotInstantiated (no bits, no capacity) until its first attach."""

    name: Name
    diskOfferingUuid: ref("DiskOffering") | None = None
    diskSize: int | None = Field(default=None, gt=0)
    primaryStorageUuid: ref("PrimaryStorage") | None = None
    description: Description | None = None


class CreateDataVolumeFromVolumeTemplate(_Volume, APICreateMessage):
    """A Ready data volume made from a DataVolumeTemplate image on `primaryStorageUuid`."""

    reports_progress: ClassVar[bool] = True

    imageUuid: ref("Image")
    name: Name
    primaryStorageUuid: ref("PrimaryStorage")
    hostUuid: ref("Host") | None = None  # local storage: the host whose disk holds it
    description: Description | None = None


class AttachDataVolumeToVm(_Volume, APIMessage):
    resource_field: ClassVar[str | None] = "volumeUuid"

    volumeUuid: ref("Volume")
    vmInstanceUuid: ref("VmInstance")


class DetachDataVolumeFromVm(_Volume, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("Volume")
    vmUuid: ref("VmInstance") | None = None


class DeleteDataVolume(_Volume, APIDeleteMessage):
    """Delay policy: status Deleted, detached; bits and capacity kept until expunge."""

    uuid: ref("Volume", missing_ok=True)


class RecoverDataVolume(_Volume, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("Volume")


class ExpungeDataVolume(_Volume, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("Volume")


class ResizeVolume(_Volume, APIMessage):
    """Grow a root or data volume to `size` bytes; shrinking only with `shrink=true` on a volume
    no running VM holds (what is past the new end is lost, as `qemu-img resize --shrink`)."""

    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("Volume")
    size: int = Field(gt=0)
    shrink: bool = False


class ResizeRootVolume(ResizeVolume):
    """ZStack's name for ResizeVolume on a root volume."""


class ResizeDataVolume(ResizeVolume):
    """ZStack's name for ResizeVolume on a data volume."""


class UpdateVolume(_Volume, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("Volume")
    name: Name | None = None
    description: Description | None = None


class ChangeVolumeState(_Volume, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("Volume")
    stateEvent: Literal["enable", "disable"]


class QueryVolume(APIQueryMessage):
    inventory: ClassVar[str] = "Volume"
