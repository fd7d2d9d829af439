"""Image APIs (reference 2.8): add onto backup storages, delete (Delay), recover, expunge."""

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
    Uuid,
    ref,
    ref_list,
)

MediaType = Literal["RootVolumeTemplate", "ISO", "DataVolumeTemplate"]
Platform = Literal["Linux", "Windows", "Other", "Paravirtualization", "WindowsVirtio"]
Architecture = Literal["x86_64", "aarch64", "mips64el", "loongarch64"]
Format = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
GuestOsType = Annotated[str, StringConstraints(strip_whitespace=True, max_length=255)]

_URL = re.compile(r"^(https?|ftp|sftp|file|nfs|zstore)://\S+$|^/\S*$")


def _image_url(value: str) -> str:
    if not _URL.match(value):
        raise ValueError("an image url is http(s)://, ftp://, sftp://, file://, nfs:// or an absolute path")
    return value


ImageUrl = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048), AfterValidator(_image_url)
]


TemplateStorages = Annotated[ref_list("BackupStorage"), Field(min_length=1)]


class _Image(Concerns):
    resource: ClassVar[str] = "Image"


class AddImage(_Image, APICreateMessage):
    reports_progress: ClassVar[bool] = True

    name: Name
    url: ImageUrl
    backupStorageUuids: Annotated[ref_list("BackupStorage"), Field(min_length=1)]
    mediaType: MediaType = "RootVolumeTemplate"
    format: Format | None = None  # default: iso for ISO, qcow2 otherwise
    platform: Platform = "Linux"
    guestOsType: GuestOsType | None = None
    architecture: Architecture = "x86_64"
    system: bool = False
    virtio: bool = True
    type: Literal["zstack"] = "zstack"
    description: Description | None = None


class CreateRootVolumeTemplateFromRootVolume(_Image, APICreateMessage):
    """A RootVolumeTemplate image: a flat qcow2 copy of a root volume (its VM Stopped)."""

    reports_progress: ClassVar[bool] = True

    name: Name
    rootVolumeUuid: ref("Volume")
    backupStorageUuids: TemplateStorages | None = None  # default: one attached to the volume's zone
    guestOsType: GuestOsType | None = None  # default: the root image's
    platform: Platform | None = None  # default: the root image's, else Linux
    architecture: Architecture | None = None  # default: the root image's, else x86_64
    system: bool = False
    description: Description | None = None


class CreateDataVolumeTemplateFromVolume(_Image, APICreateMessage):
    """A DataVolumeTemplate image: a flat qcow2 copy of a volume (its VM, if any, Stopped)."""

    reports_progress: ClassVar[bool] = True

    name: Name
    volumeUuid: ref("Volume")
    backupStorageUuids: TemplateStorages | None = None  # default: one attached to the volume's zone
    description: Description | None = None


class UpdateImage(_Image, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("Image")
    name: Name | None = None
    description: Description | None = None
    guestOsType: GuestOsType | None = None
    mediaType: MediaType | None = None
    format: Format | None = None
    system: bool | None = None
    platform: Platform | None = None
    architecture: Architecture | None = None
    virtio: bool | None = None


class ChangeImageState(_Image, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("Image")
    stateEvent: Literal["enable", "disable"]


class DeleteImage(_Image, APIDeleteMessage):
    uuid: ref("Image", missing_ok=True)
    backupStorageUuids: list[Uuid] | None = None  # default: every backup storage holding it


class RecoverImage(_Image, APIMessage):
    resource_field: ClassVar[str | None] = "imageUuid"

    imageUuid: ref("Image")
    backupStorageUuids: list[Uuid] | None = None


class ExpungeImage(_Image, APIMessage):
    resource_field: ClassVar[str | None] = "imageUuid"

    imageUuid: ref("Image")
    backupStorageUuids: list[Uuid] | None = None


class QueryImage(APIQueryMessage):
    inventory: ClassVar[str] = "Image"
