"""Security group APIs (reference 2.9): groups, rules, L3 bindings and nic membership."""

import ast
import json
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from cloudbus.apis.routing import Concerns
from cloudbus.core.messages import (
    APICreateMessage,
    APIDeleteMessage,
    APIMessage,
    APIQueryMessage,
    Description,
    Name,
    Uuid,
    ref,
    ref_list,
)


class SecurityGroupRuleAO(BaseModel):
    """One rule as AddSecurityGroupRule takes it (ZStack's SecurityGroupRuleAO).

    Ports: `startPort`/`endPort` (legacy) or `dstPortRange` (`80`, `1000-2000`, `22,80,443`);
    TCP/UDP need one of them, ICMP/ALL take none (or -1). Addresses: `allowedCidr`
    (legacy: the source of an Ingress rule, the destination of an Egress rule) or
    `srcIpRange` (Ingress) / `dstIpRange` (Egress): IPs, CIDRs or `a-b` ranges, comma
    separated; or `remoteSecurityGroupUuid` instead of addresses.
    """

    model_config = ConfigDict(extra="forbid")

    type: Literal["Ingress", "Egress"]
    protocol: Literal["TCP", "UDP", "ICMP", "ALL"] = "ALL"
    startPort: int | None = None
    endPort: int | None = None
    dstPortRange: str | None = None
    allowedCidr: str | None = None
    srcIpRange: str | None = None
    dstIpRange: str | None = None
    action: Literal["ACCEPT", "DROP"] = "ACCEPT"
    state: Literal["Enabled", "Disabled"] = "Enabled"
    remoteSecurityGroupUuid: Uuid | None = None
    ipVersion: int | None = None
    description: Description | None = None


def _rules_literal(value: Any) -> Any:
    """zstack-cli passes `rules='[{"type":"Ingress",...}]'`: accept JSON or a Python literal."""
    if not isinstance(value, str):
        return value
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            continue
    raise ValueError('expected a list of rule maps, e.g. [{"type":"Ingress","protocol":"TCP",...}]')


Rules = Annotated[list[SecurityGroupRuleAO], BeforeValidator(_rules_literal), Field(min_length=1)]


class _SecurityGroup(Concerns):
    resource: ClassVar[str] = "SecurityGroup"


class CreateSecurityGroup(_SecurityGroup, APICreateMessage):
    name: Name
    description: Description | None = None
    ipVersion: Literal[4, 6] = 4


class UpdateSecurityGroup(_SecurityGroup, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("SecurityGroup")
    name: Name | None = None
    description: Description | None = None


class ChangeSecurityGroupState(_SecurityGroup, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("SecurityGroup")
    stateEvent: Literal["enable", "disable"]


class DeleteSecurityGroup(_SecurityGroup, APIDeleteMessage):
    uuid: ref("SecurityGroup", missing_ok=True)


class AddSecurityGroupRule(_SecurityGroup, APIMessage):
    """Reply: the security group's inventory with every rule."""

    resource_field: ClassVar[str | None] = "securityGroupUuid"

    securityGroupUuid: ref("SecurityGroup")
    rules: Rules
    # each rule is added once per remote group listed here (ZStack's remoteSecurityGroupUuids)
    remoteSecurityGroupUuids: ref_list("SecurityGroup") | None = None
    # where the new rules go among the group's rules of their type: -1 = after the last
    priority: int = -1


class DeleteSecurityGroupRule(_SecurityGroup, APIMessage):
    """Reply: the inventories of the security groups the rules belonged to."""

    ruleUuids: list[Uuid] = Field(min_length=1)


class AttachSecurityGroupToL3Network(_SecurityGroup, APIMessage):
    resource_field: ClassVar[str | None] = "securityGroupUuid"

    securityGroupUuid: ref("SecurityGroup")
    l3NetworkUuid: ref("L3Network")


class DetachSecurityGroupFromL3Network(_SecurityGroup, APIMessage):
    """Also takes the nics on that L3 out of the group."""

    resource_field: ClassVar[str | None] = "securityGroupUuid"

    securityGroupUuid: ref("SecurityGroup")
    l3NetworkUuid: ref("L3Network")


class AddVmNicToSecurityGroup(_SecurityGroup, APIMessage):
    resource_field: ClassVar[str | None] = "securityGroupUuid"

    securityGroupUuid: ref("SecurityGroup")
    vmNicUuids: ref_list("VmNic") = Field(min_length=1)


class DeleteVmNicFromSecurityGroup(_SecurityGroup, APIMessage):
    resource_field: ClassVar[str | None] = "securityGroupUuid"

    securityGroupUuid: ref("SecurityGroup")
    vmNicUuids: list[Uuid] = Field(min_length=1)


class QuerySecurityGroup(APIQueryMessage):
    inventory: ClassVar[str] = "SecurityGroup"


class QuerySecurityGroupRule(APIQueryMessage):
    inventory: ClassVar[str] = "SecurityGroupRule"


class QueryVmNicInSecurityGroup(APIQueryMessage):
    inventory: ClassVar[str] = "VmNicSecurityGroupRef"
