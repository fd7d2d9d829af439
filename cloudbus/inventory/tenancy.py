"""Who owns what: resources' owning accounts and projects, sharing, and a normal account's view.

- `account_resource_ref`: ZStack's AccountResourceRefVO with seed 004's project: the account
  and project owning a resource of an OWNED inventory. A resource without a row is the admin
  account's (its default project): the cloud's own resources cost no extra write;
- `shared_resource`: ZStack's SharedResourceVO: a resource an owner shares with one account
  (`receiverAccountUuid`) or with every account (`toPublic`);
- `visible(inv, table)`: the SQL condition that a row of `inv` is in a normal account's view,
  the account bound as `:viewer` (the Tenancy each inventory declares says how). The query
  engine adds it to every table a Query* reads, joined ones included, so a condition on a
  resource outside the view never matches it; the portal adds it to the check of the
  resources an API names, so one outside the view is answered as an unknown one.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Column, ColumnElement, Index, String, Table, false, or_, select
from sqlalchemy.sql.elements import BindParameter

from cloudbus.inventory.declarations import Inventory, of_account, register
from cloudbus.inventory.schema import UtcDateTime, metadata, uuid_column

account_resource_ref_table = Table(
    "account_resource_ref",
    metadata,
    uuid_column("resourceUuid", primary_key=True),
    Column("resourceType", String(64), nullable=False),
    uuid_column("accountUuid", nullable=False),
    uuid_column("projectUuid", nullable=False),
    Column("createDate", UtcDateTime(), nullable=False),
    Column("lastOpDate", UtcDateTime(), nullable=False),
)
# covering: a view or a usage reads an account's (a project's) resource uuids from the index alone
Index("ix_account_resource_ref_accountUuid_resourceUuid", *account_resource_ref_table.c["accountUuid", "resourceUuid"])
Index("ix_account_resource_ref_projectUuid_resourceUuid", *account_resource_ref_table.c["projectUuid", "resourceUuid"])

shared_resource_table = Table(
    "shared_resource",
    metadata,
    uuid_column(primary_key=True),
    uuid_column("ownerAccountUuid", nullable=False),
    uuid_column("receiverAccountUuid", index=True),
    Column("toPublic", Boolean, nullable=False),
    Column("resourceType", String(64), nullable=False),
    uuid_column("resourceUuid", nullable=False, index=True),
    Column("createDate", UtcDateTime(), nullable=False),
    Column("lastOpDate", UtcDateTime(), nullable=False),
)

ACCOUNT_RESOURCE_REF = register(
    Inventory(
        name="AccountResourceRef",
        table=account_resource_ref_table,
        service_id="identity",
        tenancy=of_account("accountUuid"),
    )
)

SHARED_RESOURCE = register(
    Inventory(
        name="SharedResource",
        table=shared_resource_table,
        service_id="identity",
        tenancy=of_account("ownerAccountUuid"),
    )
)


def owned_by(column: Any, viewer: Any) -> ColumnElement[bool]:
    refs = account_resource_ref_table.c
    return column.in_(select(refs.resourceUuid).where(refs.accountUuid == viewer).correlate(None))


def shared_with(column: Any, viewer: Any) -> ColumnElement[bool]:
    shared = shared_resource_table.c
    receivers = or_(shared.receiverAccountUuid == viewer, shared.toPublic.is_(True))
    return column.in_(select(shared.resourceUuid).where(receivers).correlate(None))


def visible(
    inv: Inventory, table: Any, viewer: BindParameter[Any] | str, *, owned: bool = False
) -> ColumnElement[bool]:
    """Rows of `inv` (read through `table`, the table or an alias) in account `viewer`'s view;
    `owned`: only what it owns, not what is shared with it (what it may change or delete)."""
    tenancy = inv.tenancy
    if tenancy is not None and tenancy.by == "account":
        return table.c[tenancy.column] == viewer
    if tenancy is None:  # the cloud's infrastructure: only what the admin shared
        if owned or "uuid" not in table.c:
            return false()
        return shared_with(table.c.uuid, viewer)
    column = table.c[tenancy.column]
    if owned:
        return owned_by(column, viewer)
    return or_(owned_by(column, viewer), shared_with(column, viewer))
