"""Tag service (`tag`): user and system tags on any resource, and their removal with it.

Tags have no foreign key (one table serves every resource type), so keeping them honest is
this service's job. Rule: **a tag lives exactly as long as a row with its resourceUuid
exists in the table of its resourceType.** `sweep()` enforces it generically, whatever
removed the row (a cascade, a detach, an expunge timer, another node):
- the API portal sends `SweepTags` after every successful API that is not a query or a
  create, before answering, so a caller never sees tags of a resource it just deleted;
- the service sweeps on start and every `SWEEP_INTERVAL` seconds, for rows removed
  outside an API call.
A sweep is one read per tagged resource type (nothing when there are no tags) and writes
only when it finds orphans; several nodes sweeping at once is harmless.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, delete, exists, insert, literal, select, union_all
from sqlalchemy.exc import IntegrityError

from cloudbus.apis.internal.tag import RecordTags, SweepTags
from cloudbus.apis.tag import CreateSystemTag, CreateUserTag, DeleteTag, UpdateSystemTag
from cloudbus.core import errors
from cloudbus.core.ids import new_uuid
from cloudbus.core.logging import get_logger
from cloudbus.core.messages import Reply
from cloudbus.core.periodic import Periodic
from cloudbus.core.service import handles
from cloudbus.inventory.declarations import Inventory
from cloudbus.inventory.tag import (
    SYSTEM_TAG,
    USER_TAG,
    check_tags,
    primary_inventories,
    taggable_by_resource_type,
)
from cloudbus.services.base import ResourceService
from cloudbus.services.common import load, new_row, set_fields

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

log = get_logger(__name__)

DUPLICATE_TAG = errors.register("TAG.1000", "Duplicated tag")

# Seconds between background sweeps for tags of resources removed outside an API call.
SWEEP_INTERVAL = 60.0


class TagService(ResourceService):
    service_id = "tag"

    def __init__(self, node: Any) -> None:
        super().__init__(node)
        self.sweeper = Periodic(self.sweep, SWEEP_INTERVAL, "tag sweep")

    async def start(self) -> None:
        await self.sweeper.start()

    async def stop(self) -> None:
        await self.sweeper.stop()

    # -- APIs -----------------------------------------------------------------------------

    @handles(CreateUserTag)
    async def create_user_tag(self, msg: CreateUserTag) -> dict[str, Any]:
        return await self._create(USER_TAG, msg.resourceType, msg.resourceUuid, msg.tag)

    @handles(CreateSystemTag)
    async def create_system_tag(self, msg: CreateSystemTag) -> dict[str, Any]:
        return await self._create(SYSTEM_TAG, msg.resourceType, msg.resourceUuid, msg.tag)

    @handles(UpdateSystemTag)
    async def update_system_tag(self, msg: UpdateSystemTag) -> dict[str, Any]:
        table = SYSTEM_TAG.table
        async with self.db.tx() as conn:
            tag = await load(conn, SYSTEM_TAG, msg.uuid)
            await self._refuse_duplicate(conn, table, tag["resourceUuid"], msg.tag, except_uuid=msg.uuid)
            try:
                await set_fields(conn, SYSTEM_TAG, msg.uuid, tag=msg.tag)
            except IntegrityError:
                raise _duplicate(tag["resourceUuid"], msg.tag) from None
            return await load(conn, SYSTEM_TAG, msg.uuid)

    @handles(DeleteTag)
    async def delete_tag(self, msg: DeleteTag) -> None:
        async with self.db.read() as conn:
            for inv in (USER_TAG, SYSTEM_TAG):
                if await conn.scalar(select(inv.key).where(inv.key == msg.uuid)) is not None:
                    break
            else:
                return  # already gone: deletes are idempotent
        await self.delete_cascade(inv.name, [msg.uuid], msg.deleteMode)

    # -- internal contract ------------------------------------------------------------------

    @handles(RecordTags)
    async def record(self, msg: RecordTags) -> Reply:
        for field, tags in (("userTags", msg.userTags), ("systemTags", msg.systemTags)):
            problem = check_tags(tags, field)
            if problem:
                raise errors.invalid_argument(problem)
        async with self.db.read() as conn:
            target = await self._target(conn, msg.resourceType, msg.resourceUuid)
        recorded: dict[str, list[dict[str, Any]]] = {}
        for key, inv, tags in (("userTags", USER_TAG, msg.userTags), ("systemTags", SYSTEM_TAG, msg.systemTags)):
            recorded[key] = []
            for tag in dict.fromkeys(t.strip() for t in tags or []):
                try:
                    recorded[key].append(await self._insert(inv, target, msg.resourceUuid, tag))
                except errors.CloudBusError as exc:
                    if exc.error.code != DUPLICATE_TAG:
                        raise
        return Reply(**recorded)

    @handles(SweepTags, chain=False)
    async def sweep_tags(self, msg: SweepTags) -> Reply:
        return Reply(removed=await self.sweep())

    # -- machinery --------------------------------------------------------------------------

    async def _create(self, inv: Inventory, resource_type: str, resource_uuid: str, tag: str) -> dict[str, Any]:
        async with self.db.read() as conn:
            target = await self._target(conn, resource_type, resource_uuid)
        return await self._insert(inv, target, resource_uuid, tag)

    async def _target(self, conn: AsyncConnection, resource_type: str | None, resource_uuid: str) -> Inventory:
        """The inventory of the tagged resource; SYS.1007 / SYS.1003 when there is none."""
        if resource_type is None:
            found = await _find_owner(conn, resource_uuid)
            if found is None:
                raise errors.not_found(f"invalid field[resourceUuid], resource[uuid:{resource_uuid}] not found")
            return found
        target = taggable_by_resource_type().get(resource_type)
        if target is None:
            known = ", ".join(sorted(taggable_by_resource_type()))
            raise errors.invalid_argument(
                f"invalid field[resourceType]: [{resource_type}] is not a resource type; valid types are [{known}]"
            )
        if await conn.scalar(select(target.key).where(target.key == resource_uuid, *target.restrict())) is None:
            raise errors.not_found(
                f"invalid field[resourceUuid], resource[uuid:{resource_uuid}, type:{resource_type}] not found"
            )
        return target

    async def _insert(self, inv: Inventory, target: Inventory, resource_uuid: str, tag: str) -> dict[str, Any]:
        uuid = new_uuid()
        row = new_row(uuid, resourceUuid=resource_uuid, resourceType=target.resource_type, tag=tag)
        if inv is USER_TAG:
            row.update(type="User", tagPatternUuid=None)
        else:
            row.update(type="System", inherent=False)
        async with self.db.tx() as conn:
            # the resource may have gone since it was checked: never tag a missing row
            if await conn.scalar(select(target.key).where(target.key == resource_uuid, *target.restrict())) is None:
                raise errors.not_found(
                    f"invalid field[resourceUuid], resource[uuid:{resource_uuid}, "
                    f"type:{target.resource_type}] not found"
                )
            await self._refuse_duplicate(conn, inv.table, resource_uuid, tag)
            try:
                await conn.execute(insert(inv.table).values(row))
            except IntegrityError:
                raise _duplicate(resource_uuid, tag) from None
            return await load(conn, inv, uuid)

    async def _refuse_duplicate(
        self, conn: AsyncConnection, table: Table, resource_uuid: str, tag: str, *, except_uuid: str | None = None
    ) -> None:
        query = select(table.c.uuid).where(table.c.resourceUuid == resource_uuid, table.c.tag == tag)
        if except_uuid is not None:
            query = query.where(table.c.uuid != except_uuid)
        if await conn.scalar(query) is not None:
            raise _duplicate(resource_uuid, tag)

    async def sweep(self) -> int:
        """Remove the tags whose resource row is gone; returns how many."""
        by_type = taggable_by_resource_type()
        removed = 0
        for inv in (USER_TAG, SYSTEM_TAG):
            table = inv.table
            async with self.db.read() as conn:
                types = list((await conn.execute(select(table.c.resourceType).distinct())).scalars())
                doomed: list[str] = []
                for resource_type in types:
                    if await conn.scalar(select(_orphans(table, resource_type, by_type.get(resource_type)))):
                        doomed.append(resource_type)
            if not doomed:
                continue
            async with self.db.tx() as conn:
                for resource_type in doomed:
                    owner = by_type.get(resource_type)
                    result = await conn.execute(delete(table).where(_orphan_clause(table, resource_type, owner)))
                    removed += result.rowcount or 0
        if removed:
            log.info("tags of removed resources deleted", count=removed)
        return removed


def _orphan_clause(table: Table, resource_type: str, owner: Inventory | None) -> Any:
    """Tags of `resource_type` whose resource row is gone (all of them if the type is unknown)."""
    clause = table.c.resourceType == resource_type
    if owner is None:
        return clause
    return clause & ~exists(select(owner.key).where(owner.key == table.c.resourceUuid))


def _orphans(table: Table, resource_type: str, owner: Inventory | None) -> Any:
    return exists(select(table.c.uuid).where(_orphan_clause(table, resource_type, owner)))


async def _find_owner(conn: AsyncConnection, resource_uuid: str) -> Inventory | None:
    """The inventory whose table holds `resource_uuid` (one statement over every table)."""
    inventories = primary_inventories()
    parts = [select(literal(i).label("n")).where(inv.key == resource_uuid) for i, inv in enumerate(inventories)]
    found = await conn.scalar(union_all(*parts).limit(1)) if parts else None
    return None if found is None else inventories[int(found)]


def _duplicate(resource_uuid: str, tag: str) -> errors.CloudBusError:
    return errors.fail(DUPLICATE_TAG, f"duplicated tag[{tag}] on resource[uuid:{resource_uuid}]")
