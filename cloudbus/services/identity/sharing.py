"""Sharing and ownership APIs of the identity service: ShareResource, RevokeResourceSharing,
ChangeResourceOwner, and the sweep of ownership rows whose resource is gone.

What may be shared: what accounts own (images, offerings, L3 networks, ... : Tenancy OWNED)
and L2 networks, so a normal account can build its L3 networks on the admin's shared L2s.
What may change owner: what accounts own. A resource with no account_resource_ref row is the
admin account's, so giving one to admin deletes its row.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, or_, select

from cloudbus import inventory
from cloudbus.apis.identity import ChangeResourceOwner, RevokeResourceSharing, ShareResource
from cloudbus.core import errors
from cloudbus.core.auth import ADMIN_ACCOUNT_UUID, Caller
from cloudbus.core.ids import new_uuid, utcnow
from cloudbus.core.logging import get_logger
from cloudbus.core.messages import Reply
from cloudbus.core.service import handles
from cloudbus.inventory.declarations import OWNED, Inventory
from cloudbus.inventory.identity import ACCOUNT, PROJECT
from cloudbus.inventory.tenancy import ACCOUNT_RESOURCE_REF, SHARED_RESOURCE
from cloudbus.services.common import load_row
from cloudbus.services.ownership import claim_for

log = get_logger(__name__)
refs, shared = ACCOUNT_RESOURCE_REF.table, SHARED_RESOURCE.table


def owned_inventories() -> list[Inventory]:
    return [inv for inv in inventory.INVENTORIES.values() if inv.tenancy == OWNED and not inv.where]


def shareable_inventories() -> list[Inventory]:
    return [*owned_inventories(), inventory.get("L2Network")]


async def _find(conn: Any, uuid: str, candidates: list[Inventory], what: str) -> Inventory:
    """The inventory among `candidates` holding `uuid`; SYS.1003 when no resource has it, SYS.1007
    when one that cannot be `what` does."""
    for inv in candidates:
        if await conn.scalar(select(inv.key).where(inv.key == uuid)) is not None:
            return inv
    for inv in inventory.INVENTORIES.values():
        if "uuid" in inv.table.c and await conn.scalar(select(inv.key).where(inv.key == uuid)) is not None:
            raise errors.invalid_argument(f"resource[uuid:{uuid}, type:{inv.resource_type}] cannot be {what}")
    raise errors.not_found(f"unable to find resource[uuid:{uuid}]")


async def _owner(conn: Any, uuid: str) -> str:
    account = await conn.scalar(select(refs.c.accountUuid).where(refs.c.resourceUuid == uuid))
    return str(account) if account is not None else ADMIN_ACCOUNT_UUID


class SharingHandlers:
    """Mixed into IdentityService."""

    db: Any

    @handles(ShareResource)
    async def share_resource(self, msg: ShareResource) -> Reply:
        receivers: list[str | None] = [None] if msg.toPublic else []
        receivers += list(dict.fromkeys(msg.accountUuids or []))
        if not receivers:
            raise errors.invalid_argument("share with accountUuids, or with every account (toPublic=true)")
        now, made = utcnow(), []
        async with self.db.tx() as conn:
            for uuid in dict.fromkeys(msg.resourceUuids):
                inv = await _find(conn, uuid, shareable_inventories(), "shared")
                owner = await _owner(conn, uuid)
                for receiver in receivers:
                    exists = select(shared.c.uuid).where(
                        shared.c.resourceUuid == uuid,
                        shared.c.toPublic.is_(True) if receiver is None else shared.c.receiverAccountUuid == receiver,
                    )
                    if await conn.scalar(exists) is not None:
                        continue
                    row = {
                        "uuid": new_uuid(),
                        "ownerAccountUuid": owner,
                        "receiverAccountUuid": receiver,
                        "toPublic": receiver is None,
                        "resourceType": inv.resource_type,
                        "resourceUuid": uuid,
                        "createDate": now,
                        "lastOpDate": now,
                    }
                    await conn.execute(insert(shared).values(row))
                    made.append(row["uuid"])
            inventories = await SHARED_RESOURCE.fetch(conn, made)
        return Reply(inventories=inventories)

    @handles(RevokeResourceSharing)
    async def revoke_resource_sharing(self, msg: RevokeResourceSharing) -> None:
        which = []
        if not msg.all:
            if msg.accountUuids:
                which.append(shared.c.receiverAccountUuid.in_(msg.accountUuids))
            if msg.toPublic:
                which.append(shared.c.toPublic.is_(True))
            if not which:
                raise errors.invalid_argument("revoke from accountUuids, from the public (toPublic=true), or all=true")
        async with self.db.tx() as conn:
            statement = delete(shared).where(shared.c.resourceUuid.in_(msg.resourceUuids))
            await conn.execute(statement.where(or_(*which)) if which else statement)

    @handles(ChangeResourceOwner)
    async def change_resource_owner(self, msg: ChangeResourceOwner) -> dict[str, Any]:
        """The resource -- and, for a VM, the volumes attached to it, as ZStack moves them -- go
        to the account's default project, within its quotas."""
        async with self.db.tx() as conn:
            inv = await _find(conn, msg.resourceUuid, owned_inventories(), "owned by an account")
            moving = [(inv, msg.resourceUuid)]
            if inv.name == "VmInstance":
                volumes = inventory.get("Volume")
                attached = select(volumes.key).where(volumes.table.c.vmInstanceUuid == msg.resourceUuid)
                moving += [(volumes, uuid) for uuid in (await conn.execute(attached)).scalars()]
            await conn.execute(delete(refs).where(refs.c.resourceUuid.in_([uuid for _, uuid in moving])))
            project = await conn.scalar(
                select(PROJECT.key).where(PROJECT.table.c.accountUuid == msg.accountUuid, PROJECT.table.c.isDefault)
            )
            kind = await conn.scalar(select(ACCOUNT.table.c.type).where(ACCOUNT.key == msg.accountUuid))
            if kind == "SystemAdmin":  # an admin's resources need no row
                now = utcnow()
                return ACCOUNT_RESOURCE_REF.render_row(
                    {
                        "resourceUuid": msg.resourceUuid,
                        "resourceType": inv.resource_type,
                        "accountUuid": msg.accountUuid,
                        "projectUuid": project,
                        "createDate": now,
                        "lastOpDate": now,
                    }
                )
            new_owner = Caller(accountUuid=msg.accountUuid, projectUuid=project)
            for moved, uuid in moving:
                await claim_for(conn, new_owner, moved, await load_row(conn, moved, uuid))
            return await _ref_inventory(conn, msg.resourceUuid)

    async def sweep_ownership(self) -> int:
        """Remove ownership and sharing rows whose resource is gone; returns how many."""
        removed = 0
        async with self.db.tx() as conn:
            for inv in shareable_inventories():
                for table in (refs, shared):
                    gone = table.c.resourceUuid.not_in(select(inv.key))
                    result = await conn.execute(delete(table).where(table.c.resourceType == inv.resource_type, gone))
                    removed += result.rowcount or 0
        if removed:
            log.info("ownership rows of removed resources deleted", count=removed)
        return removed


async def _ref_inventory(conn: Any, uuid: str) -> dict[str, Any]:
    rows = (await conn.execute(select(refs).where(refs.c.resourceUuid == uuid))).all()
    return ACCOUNT_RESOURCE_REF.render_rows(rows)[0]
