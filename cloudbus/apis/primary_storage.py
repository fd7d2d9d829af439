"""Primary storage APIs (reference 2.3): simulator, local, NFS and SharedMountPoint types, cluster attachment."""

from __future__ import annotations

import re
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, StringConstraints

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

TiB = 1 << 40

Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)]


def _absolute_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError("the url of a local primary storage is an absolute path, e.g. /zstack_ps")
    return value


def _mount_point(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError("the url of a SharedMountPoint primary storage is the absolute path every host mounts it at")
    return value


_NFS_URL = re.compile(r"^[^\s:/]+:/\S*$")


def _nfs_url(value: str) -> str:
    if not _NFS_URL.match(value):
        raise ValueError("the url of an NFS primary storage is server:/export/path")
    return value


Bytes = Annotated[int, Field(ge=0)]


class _PrimaryStorage(Concerns):
    resource: ClassVar[str] = "PrimaryStorage"


class AddSimulatorPrimaryStorage(_PrimaryStorage, APICreateMessage):
    name: Name
    zoneUuid: ref("Zone")
    url: Url
    description: Description | None = None
    totalCapacity: Bytes = TiB
    availableCapacity: Bytes | None = None  # default: totalCapacity
    totalPhysicalCapacity: Bytes | None = None  # default: totalCapacity
    availablePhysicalCapacity: Bytes | None = None  # default: availableCapacity


class AddLocalPrimaryStorage(_PrimaryStorage, APICreateMessage):
    name: Name
    zoneUuid: ref("Zone")
    url: Annotated[Url, AfterValidator(_absolute_path)]
    description: Description | None = None


class AddNfsPrimaryStorage(_PrimaryStorage, APICreateMessage):
    name: Name
    zoneUuid: ref("Zone")
    url: Annotated[Url, AfterValidator(_nfs_url)]
    description: Description | None = None


class AddSharedMountPointPrimaryStorage(_PrimaryStorage, APICreateMessage):
    """A directory every host of the attached clusters mounts at `url` (qcow2 files, real on KVM)."""

    name: Name
    zoneUuid: ref("Zone")
    url: Annotated[Url, AfterValidator(_mount_point)]
    description: Description | None = None


class UpdatePrimaryStorage(_PrimaryStorage, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("PrimaryStorage")
    name: Name | None = None
    description: Description | None = None
    url: Url | None = None


class ChangePrimaryStorageState(_PrimaryStorage, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("PrimaryStorage")
    stateEvent: Literal["enable", "disable", "maintain", "deleting"]


class ReconnectPrimaryStorage(_PrimaryStorage, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("PrimaryStorage")


class DeletePrimaryStorage(_PrimaryStorage, APIDeleteMessage):
    uuid: ref("PrimaryStorage", missing_ok=True)


class AttachPrimaryStorageToCluster(_PrimaryStorage, APIMessage):
    resource_field: ClassVar[str | None] = "primaryStorageUuid"

    clusterUuid: ref("Cluster")
    primaryStorageUuid: ref("PrimaryStorage")


class DetachPrimaryStorageFromCluster(_PrimaryStorage, APIMessage):
    resource_field: ClassVar[str | None] = "primaryStorageUuid"

    primaryStorageUuid: ref("PrimaryStorage")
    clusterUuid: ref("Cluster")


class QueryPrimaryStorage(APIQueryMessage):
    inventory: ClassVar[str] = "PrimaryStorage"
