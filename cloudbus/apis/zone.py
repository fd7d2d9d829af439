"""Zone APIs (reference 2.1)."""

from typing import ClassVar, Literal

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

StateEvent = Literal["enable", "disable"]


class _Zone(Concerns):
    resource: ClassVar[str] = "Zone"


class CreateZone(_Zone, APICreateMessage):
    name: Name
    description: Description | None = None
    isDefault: bool = False


class UpdateZone(_Zone, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("Zone")
    name: Name | None = None
    description: Description | None = None
    isDefault: bool | None = None


class ChangeZoneState(_Zone, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("Zone")
    stateEvent: StateEvent


class DeleteZone(_Zone, APIDeleteMessage):
    uuid: ref("Zone", missing_ok=True)


class QueryZone(APIQueryMessage):
    inventory: ClassVar[str] = "Zone"
