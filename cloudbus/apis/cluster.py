"""Cluster APIs (reference 2.1)."""

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

HypervisorType = Literal["KVM", "Simulator"]
Architecture = Literal["x86_64", "aarch64", "mips64el", "loongarch64"]


class CreateCluster(APICreateMessage):
    service_id: ClassVar[str] = "cluster"

    zoneUuid: ref("Zone")
    name: Name
    hypervisorType: HypervisorType
    type: Literal["zstack"] = "zstack"
    architecture: Architecture | None = None
    description: Description | None = None


class UpdateCluster(APIMessage):
    service_id: ClassVar[str] = "cluster"
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("Cluster")
    name: Name | None = None
    description: Description | None = None


class ChangeClusterState(APIMessage):
    service_id: ClassVar[str] = "cluster"
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("Cluster")
    stateEvent: Literal["enable", "disable"]


class DeleteCluster(APIDeleteMessage):
    service_id: ClassVar[str] = "cluster"

    uuid: ref("Cluster", missing_ok=True)


class QueryCluster(APIQueryMessage):
    inventory: ClassVar[str] = "Cluster"
