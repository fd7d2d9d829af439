"""Volume snapshot APIs (reference 2.7): create, delete (with descendants), revert, update, query."""

from typing import ClassVar

from cloudbus.core.messages import (
    APICreateMessage,
    APIDeleteMessage,
    APIMessage,
    APIQueryMessage,
    Description,
    Name,
    ref,
)


class CreateVolumeSnapshot(APICreateMessage):
    """Runs in the volume's chain queue: snapshots of one volume are taken one at a time."""

    service_id: ClassVar[str] = "volume"
    resource_field: ClassVar[str | None] = "volumeUuid"

    volumeUuid: ref("Volume")
    name: Name
    description: Description | None = None


class DeleteVolumeSnapshot(APIDeleteMessage):
    """Deletes the snapshot and every descendant in its tree."""

    service_id: ClassVar[str] = "volume"

    uuid: ref("VolumeSnapshot", missing_ok=True)


class RevertVolumeFromSnapshot(APIMessage):
    """The owning VM must be Stopped; the snapshot becomes the latest of its tree."""

    service_id: ClassVar[str] = "volume"

    uuid: ref("VolumeSnapshot")


class UpdateVolumeSnapshot(APIMessage):
    service_id: ClassVar[str] = "volume"

    uuid: ref("VolumeSnapshot")
    name: Name | None = None
    description: Description | None = None


class QueryVolumeSnapshot(APIQueryMessage):
    inventory: ClassVar[str] = "VolumeSnapshot"


class QueryVolumeSnapshotTree(APIQueryMessage):
    inventory: ClassVar[str] = "VolumeSnapshotTree"
