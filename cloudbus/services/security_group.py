"""Security group service (`securityGroup`): groups, rules, L3 bindings, nic membership.

Owns SecurityGroup, SecurityGroupRule, SecurityGroupL3NetworkRef and VmNicSecurityGroupRef.
DeleteSecurityGroup runs the cascade: its rules (and other groups' rules naming it as
remote group), its L3 bindings and its nic memberships go in the `delete` pass.
Memberships below a VmInstance are only resolved: a VM stopped by a host delete keeps
them, and a nic row that goes takes its memberships along (foreign key ON DELETE
CASCADE, see cloudbus/inventory/security_group.py); the `cleanup` pass removes any left.
The L3 network and nic tables are read, never written. After a change of rules or members,
the host service is told (ApplySecurityGroups): a hypervisor that enforces groups itself
(OpenStack: Neutron groups on the ports) brings them in step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from cloudbus.apis.internal.host import ApplySecurityGroups
from cloudbus.apis.security_group import (
    AddSecurityGroupRule,
    AddVmNicToSecurityGroup,
    AttachSecurityGroupToL3Network,
    ChangeSecurityGroupState,
    CreateSecurityGroup,
    DeleteSecurityGroup,
    DeleteSecurityGroupRule,
    DeleteVmNicFromSecurityGroup,
    DetachSecurityGroupFromL3Network,
    UpdateSecurityGroup,
)
from cloudbus.cascade.messages import CascadeStep
from cloudbus.core import errors
from cloudbus.core.ids import new_uuid
from cloudbus.core.logging import get_logger
from cloudbus.core.service import handles
from cloudbus.inventory.declarations import Inventory
from cloudbus.inventory.network_service import network_service_l3_network_ref_table
from cloudbus.inventory.security_group import (
    SECURITY_GROUP,
    SECURITY_GROUP_L3_REF,
    SECURITY_GROUP_RULE,
    VM_NIC_SECURITY_GROUP_REF,
)
from cloudbus.inventory.vm_instance import VM_NIC
from cloudbus.services.base import ResourceService
from cloudbus.services.common import STATE_EVENTS, changes, load, new_row, set_fields
from cloudbus.services.ownership import claim
from cloudbus.services.security_group_rules import DUPLICATE_RULE, INVALID_REMOTE, identity, normalise

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

log = get_logger(__name__)

ADD_NIC_FAILED = errors.register("SG.1000", "Unable to add vm nics to the security group")

SG, RULE, L3_REF, NIC_REF = SECURITY_GROUP, SECURITY_GROUP_RULE, SECURITY_GROUP_L3_REF, VM_NIC_SECURITY_GROUP_REF
rule_t, l3_ref_t, nic_ref_t, nic_t = RULE.table, L3_REF.table, NIC_REF.table, VM_NIC.table


class SecurityGroupService(ResourceService):
    service_id = "securityGroup"

    # -- groups ---------------------------------------------------------------------------

    @handles(CreateSecurityGroup)
    async def create(self, msg: CreateSecurityGroup) -> dict[str, Any]:
        uuid = msg.new_resource_uuid()
        async with self.db.tx() as conn:
            row = new_row(uuid, name=msg.name, description=msg.description, state="Enabled", ipVersion=msg.ipVersion)
            await claim(conn, SG, row)
            await conn.execute(insert(SG.table).values(row))
            return await load(conn, SG, uuid)

    @handles(UpdateSecurityGroup)
    async def update(self, msg: UpdateSecurityGroup) -> dict[str, Any]:
        async with self.db.tx() as conn:
            await load(conn, SG, msg.uuid)
            await set_fields(conn, SG, msg.uuid, **changes(msg, "name", "description"))
            return await load(conn, SG, msg.uuid)

    @handles(ChangeSecurityGroupState)
    async def change_state(self, msg: ChangeSecurityGroupState) -> dict[str, Any]:
        async with self.db.tx() as conn:
            await load(conn, SG, msg.uuid)
            await set_fields(conn, SG, msg.uuid, state=STATE_EVENTS[msg.stateEvent])
            return await load(conn, SG, msg.uuid)

    @handles(DeleteSecurityGroup)
    async def delete(self, msg: DeleteSecurityGroup) -> None:
        async with self.db.read() as conn:
            members = await _members(conn, [msg.uuid])
        await self.delete_cascade("SecurityGroup", [msg.uuid], msg.deleteMode)
        await self._refresh(members, deleted=[msg.uuid])

    # -- rules ----------------------------------------------------------------------------

    @handles(AddSecurityGroupRule)
    async def add_rules(self, msg: AddSecurityGroupRule) -> dict[str, Any]:
        async with self.db.tx() as conn:
            group = await load(conn, SG, msg.securityGroupUuid)
            rules = [normalise(ao, i, group["ipVersion"]) for i, ao in enumerate(msg.rules)]
            if msg.remoteSecurityGroupUuids:
                rules = [
                    {**r, "remoteSecurityGroupUuid": remote} for remote in msg.remoteSecurityGroupUuids for r in rules
                ]
            await self._check_remotes(conn, rules)
            existing = [dict(r._mapping) for r in await conn.execute(select(rule_t).where(_of(msg.securityGroupUuid)))]
            seen = {identity(r) for r in existing}
            for rule in rules:
                if identity(rule) in seen:
                    raise errors.fail(DUPLICATE_RULE, f"duplicated rule {_describe(rule)} in security group")
                seen.add(identity(rule))
            for rule_type in ("Ingress", "Egress"):
                batch = [r for r in rules if r["type"] == rule_type]
                if batch:
                    await self._insert_rules(conn, msg.securityGroupUuid, rule_type, batch, msg.priority)
            await set_fields(conn, SG, msg.securityGroupUuid)
            group = await load(conn, SG, msg.securityGroupUuid)
            members = await _members(conn, [msg.securityGroupUuid])
        await self._refresh(members)
        return group

    async def _check_remotes(self, conn: AsyncConnection, rules: list[dict[str, Any]]) -> None:
        remotes = {r["remoteSecurityGroupUuid"] for r in rules if r["remoteSecurityGroupUuid"]}
        if not remotes:
            return
        found = set((await conn.execute(select(SG.key).where(SG.key.in_(remotes)))).scalars())
        for missing in sorted(remotes - found):
            raise errors.not_found(
                f"invalid field[remoteSecurityGroupUuid], resource[uuid:{missing}, type:SecurityGroupVO] not found"
            )

    async def _insert_rules(
        self, conn: AsyncConnection, group: str, rule_type: str, rules: list[dict[str, Any]], priority: int
    ) -> None:
        """Rules of one type get priorities 1..n in order; -1 appends, p inserts at p."""
        same_type = (rule_t.c.securityGroupUuid == group) & (rule_t.c.type == rule_type)
        last = int(await conn.scalar(select(func.coalesce(func.max(rule_t.c.priority), 0)).where(same_type)) or 0)
        if priority == -1 or priority == last + 1:
            first = last + 1
        elif 1 <= priority <= last:
            first = priority
            shifted = same_type & (rule_t.c.priority >= priority)
            await conn.execute(update(rule_t).where(shifted).values(priority=rule_t.c.priority + len(rules)))
        else:
            raise errors.invalid_argument(f"invalid priority[{priority}]: expected -1 or 1..{last + 1} for {rule_type}")
        rows = [new_row(new_uuid(), securityGroupUuid=group, priority=first + i, **r) for i, r in enumerate(rules)]
        await conn.execute(insert(rule_t), rows)

    @handles(DeleteSecurityGroupRule, chain=False)
    async def delete_rules(self, msg: DeleteSecurityGroupRule) -> list[dict[str, Any]]:
        async with self.db.tx() as conn:
            groups = sorted(
                set(
                    (
                        await conn.execute(select(rule_t.c.securityGroupUuid).where(rule_t.c.uuid.in_(msg.ruleUuids)))
                    ).scalars()
                )
            )
            await conn.execute(delete(rule_t).where(rule_t.c.uuid.in_(msg.ruleUuids)))
            for group in groups:
                await set_fields(conn, SG, group)
            found = await SG.fetch(conn, groups)
            members = await _members(conn, groups)
        await self._refresh(members)
        return found

    # -- L3 networks ------------------------------------------------------------------------

    @handles(AttachSecurityGroupToL3Network)
    async def attach_l3(self, msg: AttachSecurityGroupToL3Network) -> dict[str, Any]:
        sg, l3 = msg.securityGroupUuid, msg.l3NetworkUuid
        async with self.db.tx() as conn:
            await load(conn, SG, sg)
            provided = network_service_l3_network_ref_table.c
            offered = select(provided.l3NetworkUuid).where(
                provided.l3NetworkUuid == l3, provided.networkServiceType == "SecurityGroup"
            )
            if await conn.scalar(offered) is None:
                raise errors.operation_error(
                    f"the L3 network[uuid:{l3}] doesn't have the network service type[SecurityGroup] enabled"
                )
            if await conn.scalar(select(l3_ref_t.c.uuid).where(_of(sg, l3_ref_t), l3_ref_t.c.l3NetworkUuid == l3)):
                raise errors.invalid_argument(f"security group[uuid:{sg}] has been attached to L3 network[uuid:{l3}]")
            try:
                await conn.execute(insert(l3_ref_t).values(new_row(new_uuid(), securityGroupUuid=sg, l3NetworkUuid=l3)))
            except IntegrityError:  # attached meanwhile (unique) or the L3 went away (foreign key)
                raise errors.invalid_argument(
                    f"security group[uuid:{sg}] cannot be attached to L3 network[uuid:{l3}]: "
                    "it was attached meanwhile or the L3 network was deleted"
                ) from None
            return await load(conn, SG, sg)

    @handles(DetachSecurityGroupFromL3Network)
    async def detach_l3(self, msg: DetachSecurityGroupFromL3Network) -> dict[str, Any]:
        sg, l3 = msg.securityGroupUuid, msg.l3NetworkUuid
        async with self.db.tx() as conn:
            await load(conn, SG, sg)
            ref = await conn.scalar(select(l3_ref_t.c.uuid).where(_of(sg, l3_ref_t), l3_ref_t.c.l3NetworkUuid == l3))
            if ref is None:
                raise errors.invalid_argument(f"security group[uuid:{sg}] is not attached to L3 network[uuid:{l3}]")
            nics_on_l3 = select(nic_t.c.uuid).where(nic_t.c.l3NetworkUuid == l3)
            await conn.execute(delete(nic_ref_t).where(_of(sg, nic_ref_t), nic_ref_t.c.vmNicUuid.in_(nics_on_l3)))
            await conn.execute(delete(l3_ref_t).where(l3_ref_t.c.uuid == ref))
            await set_fields(conn, SG, sg)
            return await load(conn, SG, sg)

    # -- nics -------------------------------------------------------------------------------

    @handles(AddVmNicToSecurityGroup)
    async def add_nics(self, msg: AddVmNicToSecurityGroup) -> dict[str, Any]:
        sg = msg.securityGroupUuid
        wanted = list(dict.fromkeys(msg.vmNicUuids))
        async with self.db.tx() as conn:
            await load(conn, SG, sg)
            nics = {r.uuid: r for r in await conn.execute(select(nic_t).where(nic_t.c.uuid.in_(wanted)))}
            attached = set((await conn.execute(select(l3_ref_t.c.l3NetworkUuid).where(_of(sg, l3_ref_t)))).scalars())
            for uuid in wanted:
                nic = nics.get(uuid)
                if nic is None:
                    raise errors.not_found(f"invalid field[vmNicUuids], resource[uuid:{uuid}, type:VmNicVO] not found")
                if nic.l3NetworkUuid not in attached:
                    raise errors.fail(
                        ADD_NIC_FAILED,
                        f"vm nic[uuid:{uuid}] is on L3 network[uuid:{nic.l3NetworkUuid}], "
                        f"which security group[uuid:{sg}] is not attached to",
                    )
            members = select(nic_ref_t.c.vmNicUuid).where(_of(sg, nic_ref_t), nic_ref_t.c.vmNicUuid.in_(wanted))
            already = set((await conn.execute(members)).scalars())
            for uuid in (u for u in wanted if u not in already):  # adding a member again changes nothing
                count = select(func.count()).where(nic_ref_t.c.vmNicUuid == uuid)
                row = new_row(
                    new_uuid(),
                    vmNicUuid=uuid,
                    securityGroupUuid=sg,
                    vmInstanceUuid=nics[uuid].vmInstanceUuid,
                    priority=int(await conn.scalar(count) or 0) + 1,
                )
                await conn.execute(insert(nic_ref_t).values(row))
            await set_fields(conn, SG, sg)
            group = await load(conn, SG, sg)
        await self._refresh(wanted)
        return group

    @handles(DeleteVmNicFromSecurityGroup)
    async def remove_nics(self, msg: DeleteVmNicFromSecurityGroup) -> dict[str, Any]:
        sg = msg.securityGroupUuid
        async with self.db.tx() as conn:
            await load(conn, SG, sg)
            await conn.execute(delete(nic_ref_t).where(_of(sg, nic_ref_t), nic_ref_t.c.vmNicUuid.in_(msg.vmNicUuids)))
            await set_fields(conn, SG, sg)
            group = await load(conn, SG, sg)
        await self._refresh(msg.vmNicUuids)
        return group

    async def _refresh(self, nic_uuids: list[str], *, deleted: list[str] | None = None) -> None:
        """Tell the host service the nics' groups changed (ZStack's refresh of rules on hosts): a
        hypervisor that enforces groups itself (OpenStack's Neutron) applies them now. Best
        effort: the database is the truth, and a VM's next start applies it again."""
        if not nic_uuids:
            return
        try:
            await self.bus.call_ok(ApplySecurityGroups(vmNicUuids=nic_uuids, deletedSecurityGroupUuids=deleted or []))
        except errors.CloudBusError as exc:
            log.warning("security groups not applied on the hypervisors", error=exc.error.details)

    # -- cascade ----------------------------------------------------------------------------

    async def on_resolve(self, inv: Inventory, step: CascadeStep) -> list[str]:
        if inv is RULE and step.parentType == "SecurityGroup":
            # rules of the doomed groups, and other groups' rules that name them as remote
            parents = step.parentUuids
            query = select(rule_t.c.uuid).where(
                or_(rule_t.c.securityGroupUuid.in_(parents), rule_t.c.remoteSecurityGroupUuid.in_(parents))
            )
            async with self.db.read() as conn:
                return sorted((await conn.execute(query)).scalars())
        return await super().on_resolve(inv, step)

    async def on_delete(self, inv: Inventory, step: CascadeStep, *, force: bool) -> None:
        if inv is NIC_REF and step.parentType == "VmInstance":
            return  # the VM may only be stopped or detached: its nics (and memberships) may stay
        await super().on_delete(inv, step, force=force)

    async def on_cleanup(self, inv: Inventory, step: CascadeStep) -> None:
        if inv is NIC_REF and step.uuids:
            # memberships whose nic is gone (the foreign key normally took them already)
            gone = ~select(nic_t.c.uuid).where(nic_t.c.uuid == nic_ref_t.c.vmNicUuid).exists()
            async with self.db.tx() as conn:
                await conn.execute(delete(nic_ref_t).where(nic_ref_t.c.uuid.in_(step.uuids), gone))


async def _members(conn: AsyncConnection, groups: list[str]) -> list[str]:
    """The nics in any of `groups`."""
    query = select(nic_ref_t.c.vmNicUuid).where(nic_ref_t.c.securityGroupUuid.in_(groups)).distinct()
    return sorted((await conn.execute(query)).scalars())


def _of(group: str, table: Any = rule_t) -> Any:
    return table.c.securityGroupUuid == group


def _with_remote(rule: dict[str, Any], remote: str) -> dict[str, Any]:
    if rule["srcIpRange"] or rule["dstIpRange"]:
        raise errors.fail(INVALID_REMOTE, "remoteSecurityGroupUuids and an IP range / allowedCidr exclude each other")
    return {**rule, "remoteSecurityGroupUuid": remote}


def _describe(rule: dict[str, Any]) -> str:
    shown = {k: v for k, v in rule.items() if v is not None and k in ("type", "protocol", "dstPortRange")}
    shown.update({k: rule[k] for k in ("srcIpRange", "dstIpRange", "remoteSecurityGroupUuid") if rule.get(k)})
    return str(shown)
