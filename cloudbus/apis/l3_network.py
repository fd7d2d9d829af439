"""L3 network APIs (reference 2.5): L3 networks, IP ranges, DNS, network services, IPs."""

import ast
import json
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, Field, StringConstraints

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

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
IpRangeType = Literal["Normal", "AddressPool"]


def _services_literal(value: Any) -> Any:
    """zstack-cli passes `networkServices="{'<providerUuid>':['DHCP','DNS']}"`: accept the
    string as JSON or as a Python literal, as well as a map."""
    if not isinstance(value, str):
        return value
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue
    raise ValueError("expected a map of network service provider uuid -> list of service types")


NetworkServices = Annotated[dict[str, list[str]], BeforeValidator(_services_literal)]


class _L3Network(Concerns):
    resource: ClassVar[str] = "L3Network"


class _IpRange(Concerns):
    resource: ClassVar[str] = "IpRange"


class CreateL3Network(_L3Network, APICreateMessage):
    name: Name
    l2NetworkUuid: ref("L2Network")
    type: Literal["L3BasicNetwork"] = "L3BasicNetwork"
    category: Literal["Public", "Private", "System"] = "Private"
    ipVersion: Literal[4] = 4
    system: bool = False
    dnsDomain: Text | None = None
    enableIPAM: bool = True
    description: Description | None = None


class UpdateL3Network(_L3Network, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("L3Network")
    name: Name | None = None
    description: Description | None = None
    dnsDomain: Text | None = None
    category: Literal["Public", "Private", "System"] | None = None
    system: bool | None = None


class ChangeL3NetworkState(_L3Network, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("L3Network")
    stateEvent: Literal["enable", "disable"]


class DeleteL3Network(_L3Network, APIDeleteMessage):
    uuid: ref("L3Network", missing_ok=True)


class AddIpRange(_IpRange, APICreateMessage):
    resource_field: ClassVar[str | None] = "l3NetworkUuid"

    l3NetworkUuid: ref("L3Network")
    name: Name
    startIp: Text
    endIp: Text
    netmask: Text
    gateway: Text
    ipRangeType: IpRangeType = "Normal"
    description: Description | None = None


class AddIpRangeByNetworkCidr(_IpRange, APICreateMessage):
    resource_field: ClassVar[str | None] = "l3NetworkUuid"

    l3NetworkUuid: ref("L3Network")
    name: Name
    networkCidr: Text
    gateway: Text | None = None
    ipRangeType: IpRangeType = "Normal"
    description: Description | None = None


class UpdateIpRange(_IpRange, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("IpRange")
    name: Name | None = None
    description: Description | None = None


class DeleteIpRange(_IpRange, APIDeleteMessage):
    uuid: ref("IpRange", missing_ok=True)


class AddDnsToL3Network(_L3Network, APIMessage):
    resource_field: ClassVar[str | None] = "l3NetworkUuid"

    l3NetworkUuid: ref("L3Network")
    dns: Text


class RemoveDnsFromL3Network(_L3Network, APIMessage):
    resource_field: ClassVar[str | None] = "l3NetworkUuid"

    l3NetworkUuid: ref("L3Network")
    dns: Text


class AttachNetworkServiceToL3Network(_L3Network, APIMessage):
    resource_field: ClassVar[str | None] = "l3NetworkUuid"

    l3NetworkUuid: ref("L3Network")
    networkServices: NetworkServices


class DetachNetworkServiceFromL3Network(AttachNetworkServiceToL3Network):
    pass


class GetFreeIp(_L3Network, APIMessage):
    """Free IPs of an L3 or of one range, in address order from `start` (an IP)."""

    l3NetworkUuid: ref("L3Network") | None = None
    ipRangeUuid: ref("IpRange") | None = None
    start: Text | None = None
    limit: int = Field(default=100, ge=0, le=10000)


class CheckIpAvailability(_L3Network, APIMessage):
    """Reply: `available` and, when not, `reason`."""

    l3NetworkUuid: ref("L3Network")
    ip: Text


class QueryL3Network(APIQueryMessage):
    inventory: ClassVar[str] = "L3Network"


class QueryIpRange(APIQueryMessage):
    inventory: ClassVar[str] = "IpRange"


class QueryIpAddress(APIQueryMessage):
    inventory: ClassVar[str] = "UsedIp"


class QueryNetworkServiceProvider(APIQueryMessage):
    inventory: ClassVar[str] = "NetworkServiceProvider"


class QueryNetworkServiceL3NetworkRef(APIQueryMessage):
    inventory: ClassVar[str] = "NetworkServiceL3NetworkRef"
