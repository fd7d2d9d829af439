"""Host APIs (reference 2.2): the simulator's AddSimulatorHost and AddKVMHost."""

from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, Field, StringConstraints

from cloudbus.apis.backup_storage import Password, SshPort, Text
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


def _libvirt_uri(value: str) -> str:
    scheme, sep, _ = value.partition("://")
    if not sep or scheme.split("+")[0] not in LIBVIRT_DRIVERS:
        raise ValueError(
            "libvirtUri is a libvirt connection URI of the qemu or test driver, e.g. qemu:///system, "
            "qemu+ssh://root@10.0.0.5/system or test:///default"
        )
    return value


LIBVIRT_DRIVERS = ("qemu", "test")
LibvirtUri = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1024)]


class AddKVMHost(_Host, APICreateMessage):
    """A KVM host reached through libvirt at libvirtUri (default: qemu+ssh://username@managementIp:sshPort/system).

    `qemu:///system` is this machine, `test:///default` libvirt's test driver (docs/kvm.md).
    """

    name: Name
    managementIp: ManagementIp
    clusterUuid: ref("Cluster")
    username: Text
    password: Password
    sshPort: SshPort = 22
    libvirtUri: Annotated[LibvirtUri, AfterValidator(_libvirt_uri)] | None = None
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
