"""Zone APIs (reference 2.1)."""

from typing import ClassVar, Literal

from cloudbus.core.messages import (
    APICreateMessage,
    APIDeleteMessage,
    APIMessage,
    APIQueryMessage,
    Description,
    Name,
    ref,
)

StateEvent = Literal["enable", "disable"]


class CreateZone(APICreateMessage):
    service_id: ClassVar[str] = "zone"

    name: Name
    description: Description | None = None
    isDefault: bool = False


class UpdateZone(APIMessage):
    service_id: ClassVar[str] = "zone"
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("Zone")
    name: Name | None = None
    description: Description | None = None
    isDefault: bool | None = None


class ChangeZoneState(APIMessage):
    service_id: ClassVar[str] = "zone"
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("Zone")
    stateEvent: StateEvent


class DeleteZone(APIDeleteMessage):
    service_id: ClassVar[str] = "zone"

    uuid: ref("Zone", missing_ok=True)


class QueryZone(APIQueryMessage):
    inventory: ClassVar[str] = "Zone"
