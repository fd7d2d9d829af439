"""The API portal (`api.portal`): where every API message enters, on any node.

It checks declared resource references (ZStack's ApiParamValidator: a missing resource
is SYS.1003; for delete APIs a well-formed unknown uuid succeeds without doing anything),
forwards the message to the owning service, and publishes the outcome as the event
`api.<ApiName>` for subscribers.

Tags (the tag service owns them): the `userTags` / `systemTags` of a Create* API are
checked before dispatch and recorded for the created resource after it succeeded; after
any API that can remove resources (Delete*, Destroy*, Expunge*, Detach*, Remove*) the tag
service sweeps the tags of removed resources, before the caller gets the answer; its
background sweep catches rows removed any other way.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from cloudbus import inventory
from cloudbus.apis.internal.tag import RecordTags, SweepTags
from cloudbus.core import errors
from cloudbus.core.logging import get_logger
from cloudbus.core.messages import APICreateMessage, APIMessage, APIQueryMessage, Event, Reply
from cloudbus.core.service import Service, current_message_id, handles
from cloudbus.inventory.tag import check_tags

log = get_logger(__name__)

# APIs whose success or partial failure may remove rows (and so orphan their tags).
REMOVING_APIS = ("Delete", "Destroy", "Expunge", "Detach", "Remove")


class ApiPortal(Service):
    service_id = "api.portal"
    records_messages = False  # the owning service records the API under the same id

    @handles(APIMessage, chain=False)
    async def route(self, msg: APIMessage) -> Reply:
        skip = await self.check_refs(msg)
        if skip is not None:
            return skip
        if isinstance(msg, APICreateMessage):
            for field in ("userTags", "systemTags"):
                problem = check_tags(getattr(msg, field), field)
                if problem:
                    raise errors.invalid_argument(problem)
        # the API's id travels on: the service running it records it, so a redelivered or
        # retried API (same id) is answered from that record instead of running again
        reply = await self.bus.call(msg, service=msg.service_id, msg_id=current_message_id.get())
        if not isinstance(msg, APIQueryMessage):
            await self.keep_tags(msg, reply)
            await self.bus.publish(Event(name=f"api.{msg.message_name()}", data=reply.to_json()))
        return reply

    async def keep_tags(self, msg: APIMessage, reply: Reply) -> None:
        """Record a successful create's tags for its new resource; after an API that removes
        resources (even a failed one: a Permissive delete stops half-way) sweep orphaned tags."""
        if isinstance(msg, APICreateMessage):
            created = (reply.inventory or {}).get("uuid")
            if not reply.success or not created or not (msg.userTags or msg.systemTags):
                return
            tagging: RecordTags | SweepTags = RecordTags(
                resourceUuid=created, userTags=msg.userTags, systemTags=msg.systemTags
            )
        elif msg.message_name().startswith(REMOVING_APIS):
            tagging = SweepTags()
        else:
            return
        outcome = await self.bus.call(tagging)
        if not outcome.success:  # the API's own answer stands; log what went wrong with its tags
            log.warning("tags not kept", api=msg.message_name(), code=outcome.error and outcome.error.code)

    async def check_refs(self, msg: APIMessage) -> Reply | None:
        """SYS.1003 when a referenced resource does not exist; every reference counted in one SELECT."""
        given: list[tuple[str, Any, list[str]]] = []
        for field, declared in msg.refs().items():
            value: Any = getattr(msg, field)
            if value is not None:
                given.append((field, declared, value if isinstance(value, list) else [value]))
        if not given:
            return None
        counts = [
            select(func.count()).where(inventory.get(declared.resource).table.c.uuid.in_(uuids)).scalar_subquery()
            for _, declared, uuids in given
        ]
        async with self.db.read() as conn:
            found = (await conn.execute(select(*counts))).one()
            for (field, declared, uuids), count in zip(given, found, strict=True):
                if count == len(set(uuids)):
                    continue
                if declared.missing_ok:
                    return Reply()
                table = inventory.get(declared.resource).table
                missing = [u for u in uuids if not await conn.scalar(select(table.c.uuid).where(table.c.uuid == u))]
                raise errors.not_found(
                    f"invalid field[{field}], resource[uuid:{missing[0]}, "
                    f"type:{inventory.get(declared.resource).resource_type}] not found"
                )
        return None
