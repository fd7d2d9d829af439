"""Messages the volume service handles for others (volumes of a VM being created/destroyed)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from cloudbus.apis.routing import Concerns
from cloudbus.core.messages import Message


class _Volume(Concerns):
    resource: ClassVar[str] = "Volume"


class CreateVmVolume(_Volume, Message):
    """Create (row + bits on `primaryStorageUuid`) a Root or Data volume of a VM.

    Reply: `inventory` (the VolumeInventory, status Ready, attached to the VM).
    No capacity is reserved here: the VM flow reserved it as `reservedBy` (the VM) and the
    volume is carved out of that reservation, which must still be open. Once the flow
    settles the reservation keeping its bytes, the volume holds its `size`, returned by
    ExpungeVolumes; until then, expunging it with `returnCapacity=False` and giving the
    reservation back returns everything exactly once. On failure nothing is left.
    """

    vmInstanceUuid: str
    type: Literal["Root", "Data"]
    name: str
    size: int
    primaryStorageUuid: str
    hostUuid: str | None = None
    rootImageUuid: str | None = None
    imageInstallPath: str | None = None  # the root image's bits on the selected backup storage
    fullCopy: bool = False  # a root volume as a whole copy of its image, not an overlay on it
    apiId: str | None = None  # the API it is made for: copying the image reports progress under it
    diskOfferingUuid: str | None = None
    deviceId: int = 0
    resourceUuid: str | None = None
    reservedBy: str | None = None


class ExpungeVolumes(_Volume, Message):
    """Remove volumes and their bits and snapshots (VM creation rollback, VM expunge).

    `keepBits=True` only drops the rows (the DBOnly policy of a deleted primary storage).
    An instantiated volume holds primary-storage capacity for its `size` (CreateVmVolume
    carves it out of the VM flow's reservation); expunging returns it unless
    `returnCapacity=False`. Reply: `volumeUuids` (those removed).
    """

    volumeUuids: list[str] = Field(default_factory=list)
    keepBits: bool = False
    returnCapacity: bool = True


class DetachVmVolumes(_Volume, Message):
    """Detach every data volume of a VM (VM expunge keeps data volumes), rows only; with
    `vmInstanceUuids`, of each of those VMs as well (a batch deleted together).

    Reply: `volumeUuids` (those detached)."""

    vmInstanceUuid: str | None = None
    vmInstanceUuids: list[str] = Field(default_factory=list)
