"""Zone service: create, update, change state, delete (through the cascade), cascade steps."""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, update

from cloudbus.apis.zone import ChangeZoneState, CreateZone, DeleteZone, UpdateZone
from cloudbus.core.service import handles
from cloudbus.inventory.zone import ZONE
from cloudbus.services.base import ResourceService
from cloudbus.services.common import STATE_EVENTS, changes, load, new_row, set_fields


class ZoneService(ResourceService):
    service_id = "zone"

    @handles(CreateZone, record_late=True)
    async def create(self, msg: CreateZone) -> dict[str, Any]:
        uuid = msg.new_resource_uuid()
        async with self.db.tx() as conn:
            if msg.isDefault:
                await conn.execute(update(ZONE.table).values(isDefault=False))
            row = new_row(
                uuid,
                name=msg.name,
                description=msg.description,
                state="Enabled",
                type="zstack",
                isDefault=msg.isDefault,
            )
            await conn.execute(insert(ZONE.table).values(row))
            return await load(conn, ZONE, uuid)

    @handles(UpdateZone, record_late=True)
    async def update(self, msg: UpdateZone) -> dict[str, Any]:
        async with self.db.tx() as conn:
            await load(conn, ZONE, msg.uuid)
            if msg.isDefault:
                await conn.execute(update(ZONE.table).values(isDefault=False))
            await set_fields(conn, ZONE, msg.uuid, **changes(msg, "name", "description", "isDefault"))
            return await load(conn, ZONE, msg.uuid)

    @handles(ChangeZoneState, record_late=True)
    async def change_state(self, msg: ChangeZoneState) -> dict[str, Any]:
        async with self.db.tx() as conn:
            await load(conn, ZONE, msg.uuid)
            await set_fields(conn, ZONE, msg.uuid, state=STATE_EVENTS[msg.stateEvent])
            return await load(conn, ZONE, msg.uuid)

    @handles(DeleteZone)
    async def delete(self, msg: DeleteZone) -> None:
        await self.delete_cascade("Zone", [msg.uuid], msg.deleteMode)
