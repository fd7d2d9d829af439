"""Cluster APIs (reference 2.1)."""

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

HypervisorType = Literal["KVM", "Simulator"]  # OpenStack clusters are discovered (AddOpenStackCloud)
Architecture = Literal["x86_64", "aarch64", "mips64el", "loongarch64"]


class _Cluster(Concerns):
    resource: ClassVar[str] = "Cluster"


class CreateCluster(_Cluster, APICreateMessage):
    zoneUuid: ref("Zone")
    name: Name
    hypervisorType: HypervisorType
    type: Literal["zstack"] = "zstack"
    architecture: Architecture | None = None
    description: Description | None = None


class UpdateCluster(_Cluster, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("Cluster")
    name: Name | None = None
    description: Description | None = None


class ChangeClusterState(_Cluster, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("Cluster")
    stateEvent: Literal["enable", "disable"]


class DeleteCluster(_Cluster, APIDeleteMessage):
    uuid: ref("Cluster", missing_ok=True)


class QueryCluster(APIQueryMessage):
    inventory: ClassVar[str] = "Cluster"
