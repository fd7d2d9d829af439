"""NAS disk APIs (seed 000's NasDiskService): NFS shares on an OpenStack cloud's Manila, owned by
accounts like volumes, granted to VMs by their IPs (docs/openstack.md, "NAS (Manila)")."""

from __future__ import annotations

import math
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field

from cloudbus.apis.backup_storage import Text
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
)
from cloudbus.core.units import GiB


def _whole_gib(size: int) -> int:
    return math.ceil(size / GiB) * GiB


# bytes, at least 1 GiB; Manila sizes shares in whole GiB, so it is rounded up to one
NasSize = Annotated[int, Field(ge=GiB), AfterValidator(_whole_gib)]


class _NasDisk(Concerns):
    resource: ClassVar[str] = "NasDisk"


class CreateNasDisk(_NasDisk, APICreateMessage):
    """An NFS share of `size` bytes (rounded up to whole GiB) in the Manila of OpenStack cloud
    `cloudUuid`, made in the caller's own project there; `shareType` is Manila's default when
    not given. `cloudUuid` is a plain uuid, not a reference: a tenant names the cloud to put its
    disk in without seeing the cloud itself (seed 000's `region`)."""

    name: Name
    cloudUuid: Uuid
    size: NasSize
    protocol: Literal["NFS"] = "NFS"
    shareType: Text | None = None
    description: Description | None = None


class DeleteNasDisk(_NasDisk, APIDeleteMessage):
    """Delete the share from Manila (its access rules go with it) and the NAS disk."""

    uuid: ref("NasDisk", missing_ok=True)


class ResizeNasDisk(_NasDisk, APIMessage):
    """Extend the share to `size` bytes (rounded up to whole GiB), or shrink it when smaller;
    Manila refuses a shrink below what the share holds."""

    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("NasDisk")
    size: NasSize


class AttachNasDiskToVm(_NasDisk, APIMessage):
    """Let a VM mount the NAS disk: a read-write NFS access rule for each IP of the VM's nics."""

    resource_field: ClassVar[str | None] = "nasDiskUuid"

    nasDiskUuid: ref("NasDisk")
    vmInstanceUuid: ref("VmInstance")


class DetachNasDiskFromVm(_NasDisk, APIMessage):
    """Remove the access rules AttachNasDiskToVm gave the VM."""

    resource_field: ClassVar[str | None] = "nasDiskUuid"

    nasDiskUuid: ref("NasDisk")
    vmInstanceUuid: ref("VmInstance")


class GetNasDiskMountClients(_NasDisk, APIMessage):
    """The VMs the NAS disk is attached to (seed 000's GetMountClients): `vmInstanceUuids`."""

    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("NasDisk")


class QueryNasDisk(APIQueryMessage):
    inventory: ClassVar[str] = "NasDisk"
