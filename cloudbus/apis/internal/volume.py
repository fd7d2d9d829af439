"""Messages the volume service handles for others (volumes of a VM being created/destroyed)."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from cloudbus.core.messages import Message


class CreateVmVolume(Message):
    """Create (row + bits on `primaryStorageUuid`) a Root or Data volume of a VM.

    Reply: `inventory` (the VolumeInventory, status Ready, attached to the VM).
    """

    service_id: ClassVar[str] = "volume"

    vmInstanceUuid: str
    type: Literal["Root", "Data"]
    name: str
    size: int
    primaryStorageUuid: str
    hostUuid: str | None = None
    rootImageUuid: str | None = None
    diskOfferingUuid: str | None = None
    deviceId: int = 0
    resourceUuid: str | None = None


class ExpungeVolumes(Message):
    """Remove volumes and their bits and snapshots (VM creation rollback, VM expunge).

    `keepBits=True` only drops the rows (the DBOnly policy of a deleted primary storage).
    """

    service_id: ClassVar[str] = "volume"

    volumeUuids: list[str] = Field(default_factory=list)
    keepBits: bool = False


class DetachVmVolumes(Message):
    """Detach every data volume of a VM (VM expunge keeps data volumes)."""

    service_id: ClassVar[str] = "volume"

    vmInstanceUuid: str
