"""Operation journals: the persisted progress of multi-step operations on one resource.

An operation opens its journal before its first change (`open`), with everything a
successor must know to settle it, and closes it when settled (`close`). A journal written
under a recorded API message is dropped with the API's record instead (Records.finish),
so "journal present, record Running" always means: the outcome is still to be decided.
When a node dies, the node that notices sends each of its journals to the owning service
as a RecoverOperation (cloudbus.services.base.ResourceService.recover_operation).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import delete, insert, select, update

from cloudbus.core.db import Database
from cloudbus.core.ids import new_uuid, utcnow
from cloudbus.inventory.management_node import operation_journal_table as JOURNAL

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

_INSERT = insert(JOURNAL)  # built once: every VM operation opens a journal


@dataclass
class Journal:
    db: Database
    uuid: str
    api_id: str | None
    state: dict[str, Any]

    @classmethod
    async def open(
        cls,
        db: Database,
        *,
        node: str,
        service: str,
        resource: str,
        kind: str,
        api_id: str | None,
        conn: AsyncConnection | None = None,
        **state: Any,
    ) -> Journal:
        """Write the journal; in `conn` when given, so it commits with the operation's first change."""
        now = utcnow()
        journal = cls(db, new_uuid(), api_id, state)
        row = {
            "uuid": journal.uuid,
            "nodeUuid": node,
            "serviceId": service,
            "resourceUuid": resource,
            "kind": kind,
            "apiId": api_id,
            "state": _dump(state),
            "createDate": now,
            "lastOpDate": now,
        }
        if conn is not None:
            await conn.execute(_INSERT, row)
            return journal
        async with db.tx() as own:
            await own.execute(_INSERT, row)
        return journal

    async def close(self) -> None:
        if self.api_id is None:
            await drop(self.db, self.uuid)


async def load(db: Database, uuid: str) -> dict[str, Any] | None:
    async with db.read() as conn:
        row = (await conn.execute(select(JOURNAL).where(JOURNAL.c.uuid == uuid))).mappings().first()
    if row is None:
        return None
    return {**row, "state": json.loads(row["state"])}


async def drop(db: Database, uuid: str) -> None:
    async with db.tx() as conn:
        await conn.execute(delete(JOURNAL).where(JOURNAL.c.uuid == uuid))


async def orphans(db: Database, live: set[str]) -> list[dict[str, Any]]:
    """Journals of nodes not in `live`."""
    async with db.read() as conn:
        rows = await conn.execute(
            select(JOURNAL.c.uuid, JOURNAL.c.nodeUuid, JOURNAL.c.serviceId, JOURNAL.c.resourceUuid).where(
                JOURNAL.c.nodeUuid.not_in(live)
            )
        )
        return [dict(r) for r in rows.mappings()]


async def claim(db: Database, uuid: str, old: str, new: str) -> bool:
    """Take journal `uuid` over from node `old`; False if another node already did."""
    async with db.tx() as conn:
        result = await conn.execute(
            update(JOURNAL).where(JOURNAL.c.uuid == uuid, JOURNAL.c.nodeUuid == old).values(nodeUuid=new)
        )
        return result.rowcount == 1


def _dump(state: dict[str, Any]) -> str:
    return json.dumps(state, default=str)
