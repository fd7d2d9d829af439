"""Security groups (reference 1.3 SecurityGroup, 2.9): groups, rules, L3 bindings, nic members.

Owns the tables `security_group`, `security_group_rule`, `security_group_l3_ref` and
`vm_nic_security_group_ref`, and the inventories `SecurityGroup` (its `rules` embedded,
`attachedL3NetworkUuids`), `SecurityGroupRule`, `SecurityGroupL3NetworkRef` and
`VmNicSecurityGroupRef` (what QueryVmNicInSecurityGroup shows).

Cascade parents: rules and both refs hang below their SecurityGroup; an L3 ref below its
L3Network; a nic membership below its VmInstance. The refs' foreign keys to the L3
network, the nic and the VM are ON DELETE CASCADE (as ZStack's VmNicSecurityGroupRefVO):
however a nic row goes (expunge, DetachL3NetworkFromVm, an L3 or zone delete), its
memberships go with it, without the VM service having to tell this service.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, ForeignKey, Integer, String, Table, UniqueConstraint

from cloudbus.inventory.declarations import OWNED, Inventory, Join, ListField, Via, part_of, register
from cloudbus.inventory.l3_network import L3_NETWORK
from cloudbus.inventory.schema import UtcDateTime, common_columns, metadata, uuid_column
from cloudbus.inventory.vm_instance import VM_NIC


def _dates() -> list[Column[Any]]:
    return [Column("createDate", UtcDateTime(), nullable=False), Column("lastOpDate", UtcDateTime(), nullable=False)]


def _owner_key() -> Column[str]:
    return uuid_column("securityGroupUuid", ForeignKey("security_group.uuid"), nullable=False, index=True)


security_group_table = Table(
    "security_group",
    metadata,
    *common_columns(),
    Column("state", String(32), nullable=False),
    Column("ipVersion", Integer, nullable=False),
)

security_group_rule_table = Table(
    "security_group_rule",
    metadata,
    uuid_column(primary_key=True),
    _owner_key(),
    Column("type", String(32), nullable=False),
    Column("ipVersion", Integer, nullable=False),
    Column("protocol", String(32), nullable=False),
    Column("state", String(32), nullable=False),
    Column("priority", Integer, nullable=False),
    Column("description", String(2048)),
    Column("srcIpRange", String(1024)),
    Column("dstIpRange", String(1024)),
    Column("srcPortRange", String(255)),
    Column("dstPortRange", String(255)),
    Column("action", String(32), nullable=False),
    uuid_column("remoteSecurityGroupUuid", index=True),
    Column("allowedCidr", String(64)),
    Column("startPort", Integer),
    Column("endPort", Integer),
    *_dates(),
)

security_group_l3_ref_table = Table(
    "security_group_l3_ref",
    metadata,
    uuid_column(primary_key=True),
    _owner_key(),
    uuid_column("l3NetworkUuid", ForeignKey("l3_network.uuid", ondelete="CASCADE"), nullable=False),
    *_dates(),
    UniqueConstraint("l3NetworkUuid", "securityGroupUuid"),
)

vm_nic_security_group_ref_table = Table(
    "vm_nic_security_group_ref",
    metadata,
    uuid_column(primary_key=True),
    uuid_column("vmNicUuid", ForeignKey("vm_nic.uuid", ondelete="CASCADE"), nullable=False),
    _owner_key(),
    uuid_column("vmInstanceUuid", ForeignKey("vm_instance.uuid", ondelete="CASCADE"), nullable=False, index=True),
    Column("priority", Integer, nullable=False),
    *_dates(),
    UniqueConstraint("vmNicUuid", "securityGroupUuid"),
)

SECURITY_GROUP = register(
    Inventory(
        name="SecurityGroup",
        table=security_group_table,
        service_id="securityGroup",
        tenancy=OWNED,
        joins={
            "rules": Join("SecurityGroupRule", target_key="securityGroupUuid", embed=True),
            "vmNic": Join("VmNic", via=Via(vm_nic_security_group_ref_table, "securityGroupUuid", "vmNicUuid")),
            "l3Network": Join("L3Network", via=Via(security_group_l3_ref_table, "securityGroupUuid", "l3NetworkUuid")),
        },
        list_fields={
            "attachedL3NetworkUuids": ListField(security_group_l3_ref_table, "securityGroupUuid", "l3NetworkUuid")
        },
    )
)

SECURITY_GROUP_RULE = register(
    Inventory(
        name="SecurityGroupRule",
        table=security_group_rule_table,
        service_id="securityGroup",
        tenancy=part_of("securityGroupUuid"),
        parents={"SecurityGroup": "securityGroupUuid"},
        joins={"securityGroup": Join("SecurityGroup", self_key="securityGroupUuid")},
    )
)

SECURITY_GROUP_L3_REF = register(
    Inventory(
        name="SecurityGroupL3NetworkRef",
        table=security_group_l3_ref_table,
        service_id="securityGroup",
        tenancy=part_of("securityGroupUuid"),
        parents={"SecurityGroup": "securityGroupUuid", "L3Network": "l3NetworkUuid"},
        joins={
            "securityGroup": Join("SecurityGroup", self_key="securityGroupUuid"),
            "l3Network": Join("L3Network", self_key="l3NetworkUuid"),
        },
    )
)

VM_NIC_SECURITY_GROUP_REF = register(
    Inventory(
        name="VmNicSecurityGroupRef",
        table=vm_nic_security_group_ref_table,
        service_id="securityGroup",
        tenancy=part_of("securityGroupUuid"),
        parents={"SecurityGroup": "securityGroupUuid", "VmInstance": "vmInstanceUuid"},
        joins={
            "securityGroup": Join("SecurityGroup", self_key="securityGroupUuid"),
            "vmNic": Join("VmNic", self_key="vmNicUuid"),
            "vmInstance": Join("VmInstance", self_key="vmInstanceUuid"),
        },
    )
)

# Expanded queries from the other side (ZStack's plugin add-ons): `QueryVmNic securityGroup.name=`,
# `QueryL3Network securityGroup.name=`.
VM_NIC.joins.setdefault(
    "securityGroup", Join("SecurityGroup", via=Via(vm_nic_security_group_ref_table, "vmNicUuid", "securityGroupUuid"))
)
L3_NETWORK.joins.setdefault(
    "securityGroup", Join("SecurityGroup", via=Via(security_group_l3_ref_table, "l3NetworkUuid", "securityGroupUuid"))
)
