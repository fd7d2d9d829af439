"""Backup storage APIs (reference 2.4): simulator, sftp and local-directory types, zone attachment."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, StringConstraints

from cloudbus.apis.routing import Concerns
from cloudbus.core.messages import (
    APICreateMessage,
    APIDeleteMessage,
    APIMessage,
    APIQueryMessage,
    Description,
    Message,
    Name,
    ref,
)

TiB = 1 << 40

Url = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Password = Annotated[str, StringConstraints(min_length=1, max_length=255)]
SshPort = Annotated[int, Field(ge=1, le=65535)]
Bytes = Annotated[int, Field(ge=0)]


def _absolute_path(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError("the url of an sftp backup storage is an absolute directory, e.g. /zstack_bs")
    return value


def _local_dir(value: str) -> str:
    if not value.startswith("/"):
        raise ValueError("the url of a LocalDir backup storage is an absolute directory, e.g. /zstack_bs")
    return value


class _BackupStorage(Concerns):
    resource: ClassVar[str] = "BackupStorage"


class AddSimulatorBackupStorage(_BackupStorage, APICreateMessage):
    name: Name
    url: Url
    description: Description | None = None
    totalCapacity: Bytes = TiB
    availableCapacity: Bytes | None = None  # default: totalCapacity


class AddSftpBackupStorage(_BackupStorage, APICreateMessage):
    name: Name
    url: Annotated[Url, AfterValidator(_absolute_path)]
    hostname: Text
    username: Text
    password: Password
    sshPort: SshPort = 22
    description: Description | None = None


class AddLocalDirBackupStorage(_BackupStorage, APICreateMessage):
    """Images as files in a directory of the management node (ZStack's ImageStore role)."""

    name: Name
    url: Annotated[Url, AfterValidator(_local_dir)]
    description: Description | None = None


class UpdateBackupStorage(_BackupStorage, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("BackupStorage")
    name: Name | None = None
    description: Description | None = None


class UpdateSftpBackupStorage(_BackupStorage, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("BackupStorage")
    name: Name | None = None
    description: Description | None = None
    hostname: Text | None = None
    username: Text | None = None
    password: Password | None = None
    sshPort: SshPort | None = None


class ChangeBackupStorageState(_BackupStorage, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("BackupStorage")
    stateEvent: Literal["enable", "disable"]


class ReconnectBackupStorage(_BackupStorage, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("BackupStorage")


class AttachBackupStorageToZone(_BackupStorage, APIMessage):
    resource_field: ClassVar[str | None] = "backupStorageUuid"

    zoneUuid: ref("Zone")
    backupStorageUuid: ref("BackupStorage")


class DetachBackupStorageFromZone(_BackupStorage, APIMessage):
    resource_field: ClassVar[str | None] = "backupStorageUuid"

    backupStorageUuid: ref("BackupStorage")
    zoneUuid: ref("Zone")


class DeleteBackupStorage(_BackupStorage, APIDeleteMessage):
    uuid: ref("BackupStorage", missing_ok=True)


class QueryBackupStorage(APIQueryMessage):
    inventory: ClassVar[str] = "BackupStorage"


# -- internal contracts the backup-storage service provides (used by the image service) --


class DownloadImageToBackupStorage(_BackupStorage, Message):
    """Copy an image onto a backup storage and take its size off the storage's capacity.

    Reply: `installPath`, `size`, `actualSize`, `md5Sum`. Fails with BS.1000 (nothing
    left behind) when the download fails or the storage has no room.
    """

    backupStorageUuid: str
    imageUuid: str
    url: str
    format: str
    sizeHint: int | None = None
    apiId: str | None = None  # the API this download is for: its progress is reported under that id


class DeleteImageFromBackupStorage(_BackupStorage, Message):
    """Delete an image's bits from a backup storage and give its `size` back."""

    backupStorageUuid: str
    imageUuid: str
    installPath: str | None = None
    size: int = 0
