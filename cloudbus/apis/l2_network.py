"""L2 network APIs (reference 2.5): no-vlan and vlan networks, cluster attachment."""

from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints

from cloudbus.apis.routing import Concerns
from cloudbus.core.errors import register
from cloudbus.core.messages import (
    APICreateMessage,
    APIDeleteMessage,
    APIMessage,
    APIQueryMessage,
    Description,
    Name,
    ref,
)

ATTACH_L2_NETWORK = register("L2.1000", "Unable to attach L2 network to cluster")

PhysicalInterface = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1024)]
VSwitchType = Literal["LinuxBridge"]


class _L2Network(Concerns):
    resource: ClassVar[str] = "L2Network"


class CreateL2NoVlanNetwork(_L2Network, APICreateMessage):
    name: Name
    zoneUuid: ref("Zone")
    physicalInterface: PhysicalInterface
    vSwitchType: VSwitchType = "LinuxBridge"
    description: Description | None = None


class CreateL2VlanNetwork(CreateL2NoVlanNetwork):
    vlan: int = Field(ge=1, le=4094)


class UpdateL2Network(_L2Network, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("L2Network")
    name: Name | None = None
    description: Description | None = None


class DeleteL2Network(_L2Network, APIDeleteMessage):
    uuid: ref("L2Network", missing_ok=True)


class AttachL2NetworkToCluster(_L2Network, APIMessage):
    resource_field: ClassVar[str | None] = "l2NetworkUuid"

    l2NetworkUuid: ref("L2Network")
    clusterUuid: ref("Cluster")
    l2ProviderType: str | None = None


class DetachL2NetworkFromCluster(_L2Network, APIMessage):
    resource_field: ClassVar[str | None] = "l2NetworkUuid"

    l2NetworkUuid: ref("L2Network")
    clusterUuid: ref("Cluster")


class QueryL2Network(APIQueryMessage):
    inventory: ClassVar[str] = "L2Network"


class QueryL2VlanNetwork(APIQueryMessage):
    inventory: ClassVar[str] = "L2VlanNetwork"
