"""Quotas: ZStack's names and defaults (reference fact 20), on accounts and on projects (seed 004).

`quota` holds one limit per identity and name: an account's (`identityType` Account; every
normal account gets the defaults below when it is created) or a project's (Project; a
project without one is bounded by its account's only). `accountUuid` is the account the
identity belongs to (so a normal account sees its own). seed 004's Limit APIs and ZStack's
Quota APIs read and write the same rows.

`QUOTAS` declares each quota once: its default, the inventory it counts and how -- rows
(`amount=None`) or the sum of a column -- over the rows `counts(table)` selects. The same
declaration measures an account's or a project's usage (`usage_statement`) and what one new
row costs (`cost`), so the check a create runs and GetAccountQuotaUsage always agree.

Where ZStack counts differently: `vm.num` is every VM not Destroyed (ZStack: running ones),
and so are `vm.cpuNum` / `vm.memorySize`; VIP, EIP, port forwarding and load balancer quotas
are not declared: cloudbus has none of those resources yet.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Column, ColumnElement, String, Table, UniqueConstraint, bindparam, func, select

from cloudbus.core.units import GiB, TiB
from cloudbus.inventory.declarations import Inventory, get, of_account, register
from cloudbus.inventory.schema import UtcDateTime, metadata, uuid_column
from cloudbus.inventory.tenancy import account_resource_ref_table

quota_table = Table(
    "quota",
    metadata,
    uuid_column(primary_key=True),
    Column("name", String(64), nullable=False),
    uuid_column("identityUuid", nullable=False),
    Column("identityType", String(16), nullable=False),
    uuid_column("accountUuid", nullable=False, index=True),
    Column("value", BigInteger, nullable=False),
    Column("description", String(2048)),
    Column("createDate", UtcDateTime(), nullable=False),
    Column("lastOpDate", UtcDateTime(), nullable=False),
    UniqueConstraint("identityUuid", "name", name="uq_quota_identityUuid_name"),
)

QUOTA = register(Inventory(name="Quota", table=quota_table, service_id="identity", tenancy=of_account("accountUuid")))


Condition = tuple[str, str, Any]  # (column, "==" | "!=", value)


@dataclass(frozen=True)
class Quota:
    name: str
    default: int
    inventory: str
    amount: str | None = None  # the column summed; None counts rows
    counts: tuple[Condition, ...] = ()  # which rows count (all of them when empty)

    def where(self, table: Any) -> list[ColumnElement[bool]]:
        return [table.c[c] == v if op == "==" else table.c[c] != v for c, op, v in self.counts]

    def cost(self, row: dict[str, Any]) -> int:
        """What one new row of the inventory adds to this quota's usage."""
        if not all((row.get(c) == v) == (op == "==") for c, op, v in self.counts):
            return 0
        return 1 if self.amount is None else int(row.get(self.amount) or 0)


NOT_DESTROYED: tuple[Condition, ...] = (("state", "!=", "Destroyed"),)
NOT_DELETED: tuple[Condition, ...] = (("status", "!=", "Deleted"),)

QUOTAS: dict[str, Quota] = {
    q.name: q
    for q in (
        Quota("vm.totalNum", 20, "VmInstance"),
        Quota("vm.num", 20, "VmInstance", counts=NOT_DESTROYED),
        Quota("vm.cpuNum", 80, "VmInstance", "cpuNum", NOT_DESTROYED),
        Quota("vm.memorySize", 80 * GiB, "VmInstance", "memorySize", NOT_DESTROYED),
        Quota("volume.data.num", 40, "Volume", counts=(("type", "==", "Data"), *NOT_DELETED)),
        Quota("volume.capacity", 10 * TiB, "Volume", "size", NOT_DELETED),
        Quota("image.num", 20, "Image", counts=NOT_DELETED),
        Quota("image.size", 10 * TiB, "Image", "size", NOT_DELETED),
        Quota("l3.num", 20, "L3Network"),
        Quota("securityGroup.num", 20, "SecurityGroup"),
        Quota("snapshot.volume.num", 200, "VolumeSnapshot"),
    )
}


def quotas_of(inventory: str) -> list[Quota]:
    return [q for q in QUOTAS.values() if q.inventory == inventory]


def costs(inventory: str, row: dict[str, Any]) -> dict[str, int]:
    """What a row of `inventory` adds to each quota it counts towards (those it adds to only)."""
    found = {quota.name: quota.cost(row) for quota in quotas_of(inventory)}
    return {name: cost for name, cost in found.items() if cost}


@functools.cache
def usage_statement(inventory: str, *, project: bool) -> Any:
    """One row: the usage of each quota on `inventory` by the resources the account
    (`:account`) -- or, with `project`, the project (`:project`) -- owns. Built once per
    inventory and level: a normal account's every create runs it."""
    refs = account_resource_ref_table.c
    owner = refs.projectUuid == bindparam("project") if project else refs.accountUuid == bindparam("account")
    table = get(inventory).table
    owned = table.c.uuid.in_(select(refs.resourceUuid).where(owner))
    columns = []
    for quota in quotas_of(inventory):
        measure = func.count() if quota.amount is None else func.sum(table.c[quota.amount])
        subquery = select(measure).where(owned, *quota.where(table)).scalar_subquery()
        columns.append(func.coalesce(subquery, 0).label(quota.name))
    return select(*columns)
