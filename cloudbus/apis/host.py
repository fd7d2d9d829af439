"""Host APIs (reference 2.2), with the simulator's AddSimulatorHost."""

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

ManagementIp = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]


class _Host(Concerns):
    resource: ClassVar[str] = "Host"


class AddSimulatorHost(_Host, APICreateMessage):
    name: Name
    managementIp: ManagementIp
    clusterUuid: ref("Cluster")
    memoryCapacity: int = Field(default=1000000000, ge=0)
    cpuCapacity: int = Field(default=1000000000, ge=0)
    description: Description | None = None


class UpdateHost(_Host, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("Host")
    name: Name | None = None
    description: Description | None = None
    managementIp: ManagementIp | None = None


class ChangeHostState(_Host, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("Host")
    stateEvent: Literal["enable", "disable", "maintain"]


class ReconnectHost(_Host, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("Host")


class DeleteHost(_Host, APIDeleteMessage):
    uuid: ref("Host", missing_ok=True)


class QueryHost(APIQueryMessage):
    inventory: ClassVar[str] = "Host"
