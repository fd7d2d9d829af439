"""Messages the primary-storage and image services handle for others."""

from __future__ import annotations

from typing import ClassVar

from cloudbus.apis.routing import Concerns
from cloudbus.core.errors import register
from cloudbus.core.messages import Message

NO_PRIMARY_STORAGE = register("PS.1000", "No primary storage with enough space")
RESERVATION_CLOSED = register("PS.1004", "The primary-storage reservation was already settled")


class _PrimaryStorage(Concerns):
    resource: ClassVar[str] = "PrimaryStorage"


class _Image(Concerns):
    resource: ClassVar[str] = "Image"


class AllocatePrimaryStorage(_PrimaryStorage, Message):
    """Reserve `size` bytes on an Enabled+Connected primary storage attached to `clusterUuid`.

    Local storage reserves on `hostUuid`'s share. Reply: `primaryStorageUuid`.
    Fails with PS.1000 (nothing reserved) when none has room. With `ownerUuid` the
    reservation is recorded as that owner's (one per owner), in the same transaction, for
    SettlePrimaryStorageReservation to close.
    """

    size: int
    clusterUuid: str
    hostUuid: str | None = None
    primaryStorageUuid: str | None = None
    ownerUuid: str | None = None


class SettlePrimaryStorageReservation(_PrimaryStorage, Message):
    """Close `ownerUuid`'s reservation: drop its record and, with `giveBack`, return its bytes.

    Without `giveBack` the bytes stay used: the owner's volumes hold them now. Idempotent:
    reply `settled` says whether a reservation was still open (False: nothing was done).
    """

    ownerUuid: str
    giveBack: bool


class ReturnPrimaryStorageCapacity(_PrimaryStorage, Message):
    primaryStorageUuid: str
    size: int
    hostUuid: str | None = None


class InstantiateVolume(_PrimaryStorage, Message):
    """Create a volume's bits on its primary storage (from `imageUuid` for root volumes,
    whose bits are at `imageInstallPath` on the backup storage the VM flow selected).

    Reply: `installPath`. With `reservedBy`, refused (PS.1004, nothing created) unless that
    owner's reservation is still open: the late call of a node that died, after its work was
    rolled back, must not carve a volume out of capacity already given back.
    """

    primaryStorageUuid: str
    volumeUuid: str
    size: int
    hostUuid: str | None = None
    imageUuid: str | None = None
    imageInstallPath: str | None = None
    fullCopy: bool = False  # a root volume that is a flat copy of the image, not an overlay on it
    format: str = "qcow2"
    reservedBy: str | None = None
    apiId: str | None = None  # the API this is for: copying the image to the storage reports progress under it


class DeleteVolumeBits(_PrimaryStorage, Message):
    primaryStorageUuid: str
    volumeUuid: str
    installPath: str | None = None
    hostUuid: str | None = None


class ResizeVolumeBits(_PrimaryStorage, Message):
    """Make the volume's file `size` bytes (virtual); `hostUuid` / `vmInstanceUuid`: its VM runs
    there and the running domain resizes it. No reply fields."""

    primaryStorageUuid: str
    volumeUuid: str
    installPath: str
    size: int
    shrink: bool = False
    hostUuid: str | None = None
    vmInstanceUuid: str | None = None


class SnapshotCommand(_PrimaryStorage, Message):
    """Snapshot operations on a primary storage: `command` in take|delete|revert.

    `hostUuid` / `vmInstanceUuid`: the volume belongs to a VM running there, so the storage
    asks that host's hypervisor for the parts only the running domain can do. `snapshotType`
    (internal|external) is the snapshot's, for delete and revert; a take uses the storage's
    (its `snapshotType::<type>` system tag, default per storage type).

    Reply: `installPath`, `size`, `snapshotType` for take; `volumeInstallPath` whenever the
    volume's current file changed (an external snapshot taken or reverted to).
    """

    primaryStorageUuid: str
    command: str
    volumeUuid: str
    volumeInstallPath: str | None = None
    snapshotUuid: str
    snapshotInstallPath: str | None = None
    snapshotType: str | None = None
    hostUuid: str | None = None
    vmInstanceUuid: str | None = None


class SelectBackupStorage(_Image, Message):
    """Choose a Ready copy of `imageUuid` on an Enabled+Connected backup storage attached to `zoneUuid`.

    Reply: `backupStorageUuid`, `installPath`, `size`, `format`, `mediaType`.
    """

    imageUuid: str
    zoneUuid: str | None = None


class _BackupStorage(Concerns):
    resource: ClassVar[str] = "BackupStorage"


class AskTemplateInstallPath(_BackupStorage, Message):
    """Where the template `imageUuid` will be written on `backupStorageUuid` (ZStack's
    BackupStorageAskInstallPathMsg). The storage must be Enabled and Connected.

    Reply: `installPath`. Nothing is written yet.
    """

    backupStorageUuid: str
    imageUuid: str
    format: str = "qcow2"


class CreateTemplateFromVolume(_PrimaryStorage, Message):
    """Write a flat copy of a volume (its whole backing chain) to `templatePath`, the
    path a backup storage answered to AskTemplateInstallPath. Progress under `apiId`.

    Reply: nothing. On failure nothing is left at `templatePath`.
    """

    primaryStorageUuid: str
    volumeUuid: str
    volumeInstallPath: str | None = None
    hostUuid: str | None = None
    imageUuid: str
    templatePath: str
    apiId: str | None = None


class CommitTemplateToBackupStorage(_BackupStorage, Message):
    """Take the template written at `installPath` into the backup storage: measure it
    (size, actualSize, md5Sum) and take its size off the storage's capacity.

    `sizeHint` is the volume's size (simulated storage reports it). Reply: `installPath`,
    `size`, `actualSize`, `md5Sum`. On failure the file is removed and nothing is taken.
    """

    backupStorageUuid: str
    imageUuid: str
    installPath: str
    format: str = "qcow2"
    sizeHint: int | None = None
