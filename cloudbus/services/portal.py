"""The API portal (`api.portal`): where every API message enters, on any node.

It checks declared resource references (ZStack's ApiParamValidator: a missing resource
is SYS.1003; for delete APIs a well-formed unknown uuid succeeds without doing anything),
forwards the message to the owning service, and publishes the outcome as the event
`api.<ApiName>` for subscribers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from cloudbus import inventory
from cloudbus.core import errors
from cloudbus.core.messages import APIMessage, APIQueryMessage, Event, Reply
from cloudbus.core.service import Service, handles


class ApiPortal(Service):
    service_id = "api.portal"

    @handles(APIMessage, chain=False)
    async def route(self, msg: APIMessage) -> Reply:
        skip = await self.check_refs(msg)
        if skip is not None:
            return skip
        reply = await self.bus.call(msg, service=msg.service_id)
        if not isinstance(msg, APIQueryMessage):
            await self.bus.publish(Event(name=f"api.{msg.message_name()}", data=reply.to_json()))
        return reply

    async def check_refs(self, msg: APIMessage) -> Reply | None:
        refs = msg.refs()
        if not refs:
            return None
        async with self.db.read() as conn:
            for field, declared in refs.items():
                value: Any = getattr(msg, field)
                if value is None:
                    continue
                uuids = value if isinstance(value, list) else [value]
                table = inventory.get(declared.resource).table
                found = await conn.scalar(select(func.count()).where(table.c.uuid.in_(uuids)))
                if found == len(set(uuids)):
                    continue
                if declared.missing_ok:
                    return Reply()
                missing = [u for u in uuids if not await conn.scalar(select(table.c.uuid).where(table.c.uuid == u))]
                raise errors.not_found(
                    f"invalid field[{field}], resource[uuid:{missing[0]}, "
                    f"type:{inventory.get(declared.resource).resource_type}] not found"
                )
        return None
