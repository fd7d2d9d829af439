"""Host APIs (reference 2.2), with the simulator's AddSimulatorHost."""

from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints

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


class AddSimulatorHost(APICreateMessage):
    service_id: ClassVar[str] = "host"

    name: Name
    managementIp: ManagementIp
    clusterUuid: ref("Cluster")
    memoryCapacity: int = Field(default=1000000000, ge=0)
    cpuCapacity: int = Field(default=1000000000, ge=0)
    description: Description | None = None


class UpdateHost(APIMessage):
    service_id: ClassVar[str] = "host"
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("Host")
    name: Name | None = None
    description: Description | None = None
    managementIp: ManagementIp | None = None


class ChangeHostState(APIMessage):
    service_id: ClassVar[str] = "host"
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("Host")
    stateEvent: Literal["enable", "disable", "maintain"]


class ReconnectHost(APIMessage):
    service_id: ClassVar[str] = "host"
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("Host")


class DeleteHost(APIDeleteMessage):
    service_id: ClassVar[str] = "host"

    uuid: ref("Host", missing_ok=True)


class QueryHost(APIQueryMessage):
    inventory: ClassVar[str] = "Host"
