"""Instance and disk offering APIs (reference 2.8), handled by the `configuration` service."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints

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

Strategy = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
StateEvent = Literal["enable", "disable"]


class _InstanceOffering(Concerns):
    resource: ClassVar[str] = "InstanceOffering"


class _DiskOffering(Concerns):
    resource: ClassVar[str] = "DiskOffering"


class CreateInstanceOffering(_InstanceOffering, APICreateMessage):
    name: Name
    cpuNum: Annotated[int, Field(ge=1, le=1024)]
    memorySize: Annotated[int, Field(ge=1)]
    reservedMemorySize: Annotated[int, Field(ge=0)] = 0
    cpuSpeed: Annotated[int, Field(ge=0)] = 0
    allocatorStrategy: Strategy | None = None
    sortKey: int = 0
    type: Literal["UserVm"] = "UserVm"
    description: Description | None = None


class UpdateInstanceOffering(_InstanceOffering, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("InstanceOffering")
    name: Name | None = None
    description: Description | None = None
    allocatorStrategy: Strategy | None = None
    sortKey: int | None = None


class ChangeInstanceOfferingState(_InstanceOffering, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("InstanceOffering")
    stateEvent: StateEvent


class DeleteInstanceOffering(_InstanceOffering, APIDeleteMessage):
    uuid: ref("InstanceOffering", missing_ok=True)


class QueryInstanceOffering(APIQueryMessage):
    inventory: ClassVar[str] = "InstanceOffering"


class CreateDiskOffering(_DiskOffering, APICreateMessage):
    name: Name
    diskSize: Annotated[int, Field(ge=1)]
    sortKey: int = 0
    allocationStrategy: Strategy | None = None
    type: Literal["zstack"] = "zstack"
    description: Description | None = None


class UpdateDiskOffering(_DiskOffering, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("DiskOffering")
    name: Name | None = None
    description: Description | None = None
    sortKey: int | None = None


class ChangeDiskOfferingState(_DiskOffering, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("DiskOffering")
    stateEvent: StateEvent


class DeleteDiskOffering(_DiskOffering, APIDeleteMessage):
    uuid: ref("DiskOffering", missing_ok=True)


class QueryDiskOffering(APIQueryMessage):
    inventory: ClassVar[str] = "DiskOffering"
