"""Volume snapshot APIs (reference 2.7): create, delete (with descendants), revert, update, query."""

from typing import ClassVar

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


class _VolumeSnapshot(Concerns):
    resource: ClassVar[str] = "VolumeSnapshot"


class CreateVolumeSnapshot(_VolumeSnapshot, APICreateMessage):
    """Runs in the volume's chain queue: snapshots of one volume are taken one at a time."""

    resource_field: ClassVar[str | None] = "volumeUuid"

    volumeUuid: ref("Volume")
    name: Name
    description: Description | None = None


class DeleteVolumeSnapshot(_VolumeSnapshot, APIDeleteMessage):
    """Deletes the snapshot and every descendant in its tree."""

    uuid: ref("VolumeSnapshot", missing_ok=True)


class RevertVolumeFromSnapshot(_VolumeSnapshot, APIMessage):
    """The owning VM must be Stopped; the snapshot becomes the latest of its tree."""

    uuid: ref("VolumeSnapshot")


class UpdateVolumeSnapshot(_VolumeSnapshot, APIMessage):
    uuid: ref("VolumeSnapshot")
    name: Name | None = None
    description: Description | None = None


class QueryVolumeSnapshot(APIQueryMessage):
    inventory: ClassVar[str] = "VolumeSnapshot"


class QueryVolumeSnapshotTree(APIQueryMessage):
    inventory: ClassVar[str] = "VolumeSnapshotTree"
