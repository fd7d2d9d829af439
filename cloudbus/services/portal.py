"""The API portal (`api.portal`): where every API message enters, on any node.

It checks declared resource references (ZStack's ApiParamValidator: a missing resource
is SYS.1003; for delete APIs a well-formed unknown uuid succeeds without doing anything),
forwards the message to the owning service, and publishes the outcome as the event
`api.<ApiName>` for subscribers.

Who is calling (core/auth.py): the portal turns the message's credentials -- a session, or
seed 000's API key -- into the caller every later step of the message sees. Without
credentials only the login family may be called (ID.1001), except on an embedded node
(in-process bus), whose callers act as `admin`. A normal account may call only APIs on
what accounts own (ID.1002 for the cloud's infrastructure and the admin's identity APIs),
and a resource outside its view (inventory/tenancy.py) is answered as an unknown one: it
may act on what it owns and use what is shared with it. `projectUuid` on a create names
the project owning the new resource (an admin may create for a tenant's project: the
resource is then that account's, within its quotas).

Tags (the tag service owns them): the `userTags` / `systemTags` of a Create* API are
checked before dispatch and recorded for the created resource after it succeeded; after
any API that can remove resources (Delete*, Destroy*, Expunge*, Detach*, Remove*) the tag
service sweeps the tags of removed resources, before the caller gets the answer; its
background sweep catches rows removed any other way.
"""

from __future__ import annotations

import functools
from dataclasses import replace
from typing import Any

from sqlalchemy import func, literal, select

from cloudbus import inventory
from cloudbus.apis.internal.identity import AuthenticateApiKey, AuthenticateSession
from cloudbus.apis.internal.tag import RecordTags, SweepTags
from cloudbus.core import errors
from cloudbus.core.auth import (
    EMBEDDED_ADMIN,
    INVALID_SESSION,
    NO_PERMISSION,
    PORTAL,
    Caller,
    current_caller,
    current_credentials,
)
from cloudbus.core.logging import get_logger
from cloudbus.core.messages import (
    APICreateMessage,
    APIDeleteMessage,
    APIMessage,
    APIQueryMessage,
    Event,
    Message,
    Reply,
)
from cloudbus.core.service import Service, current_message_id, handles
from cloudbus.inventory.identity import PROJECT
from cloudbus.inventory.tag import check_tags
from cloudbus.inventory.tenancy import owned_by, visible

log = get_logger(__name__)

# APIs whose success or partial failure may remove rows (and so orphan their tags).
REMOVING_APIS = ("Delete", "Destroy", "Expunge", "Detach", "Remove")


class ApiPortal(Service):
    service_id = PORTAL
    records_messages = False  # the owning service records the API under the same id

    @handles(APIMessage, chain=False)
    async def route(self, msg: APIMessage) -> Reply:
        caller = await self.authenticate(msg)
        if caller is not None:
            if not caller.admin and admin_only(type(msg)):
                raise errors.fail(
                    NO_PERMISSION,
                    f"account[uuid:{caller.accountUuid}] is not allowed to call {msg.message_name()}: "
                    "it needs a SystemAdmin account",
                )
            current_caller.set(caller)
        viewer = caller.tenant if caller is not None else None
        skip = await self.check_refs(msg, viewer)
        if skip is None and viewer is not None:
            skip = await self.check_acted_on(msg, viewer)
        if skip is not None:
            return skip
        if isinstance(msg, APICreateMessage) and msg.projectUuid is not None and caller is not None:
            current_caller.set(await self.for_project(caller, msg.projectUuid))
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
            outcome = {"success": reply.success} if msg.secret_reply else reply.to_json()
            await self.bus.publish(Event(name=f"api.{msg.message_name()}", data=outcome))
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

    async def authenticate(self, msg: APIMessage) -> Caller | None:
        """The caller `msg` acts for (None for the login family, which checks its own secrets)."""
        if not msg.needs_session:
            return None
        credentials = current_credentials.get()
        if credentials is None:
            if self.bus.embedded:
                return current_caller.get() or EMBEDDED_ADMIN
            raise errors.fail(INVALID_SESSION, f"{msg.message_name()} needs a session or an API key: log in first")
        if credentials.session is not None:
            check: Message = AuthenticateSession(sessionUuid=credentials.session)
        elif credentials.apikey and credentials.tenantId and credentials.platformUserId:
            check = AuthenticateApiKey(
                apikey=credentials.apikey,
                tenantId=credentials.tenantId,
                platformUserId=credentials.platformUserId,
                resourceUuids=credentials.resourceUuids or named_resources(msg),
            )
        else:
            raise errors.fail(INVALID_SESSION, "an API key needs apikey, tenantId and platformUserId together")
        found = (await self.bus.call(check)).raise_for_error()
        return Caller(
            accountUuid=found.get("accountUuid"),
            projectUuid=found.get("projectUuid"),
            userUuid=found.get("userUuid"),
            admin=found.get("admin") is True,
        )

    async def for_project(self, caller: Caller, project_uuid: str) -> Caller:
        """The caller a create naming `projectUuid` acts as: that project's account and project."""
        projects = PROJECT.table
        async with self.db.read() as conn:
            account = await conn.scalar(select(projects.c.accountUuid).where(projects.c.uuid == project_uuid))
        if account is None or (not caller.admin and account != caller.accountUuid):
            raise errors.not_found(
                f"invalid field[projectUuid], resource[uuid:{project_uuid}, type:ProjectVO] not found"
            )
        if account == caller.accountUuid:
            return replace(caller, projectUuid=project_uuid)
        return Caller(accountUuid=account, projectUuid=project_uuid, userUuid=None, admin=False)

    async def check_acted_on(self, msg: APIMessage, viewer: str) -> Reply | None:
        """For an API acting on a resource named by a plain uuid field (not a declared reference:
        a tag's `resourceUuid`, a tag's `uuid`): the resource must be the account's own, else it
        is answered as an unknown one (a delete succeeds doing nothing)."""
        field = msg.resource_field
        resource = getattr(type(msg), "resource", "")
        uuid = getattr(msg, field, None) if field else None
        if not resource or not isinstance(uuid, str) or field in msg.refs():
            return None
        inv = inventory.get(resource)
        tenancy = inv.tenancy
        if tenancy is None or tenancy.by != "resource":
            return None
        async with self.db.read() as conn:
            # a row of the API's own inventory (a tag) is the account's when its resource is
            parent = await conn.scalar(select(inv.table.c[tenancy.column]).where(inv.key == uuid))
            owned = await conn.scalar(select(func.count()).where(owned_by(literal(parent or uuid), viewer)))
        if owned:
            return None
        if isinstance(msg, APIDeleteMessage):
            return Reply()
        raise errors.not_found(f"invalid field[{field}], resource[uuid:{uuid}] not found")

    async def check_refs(self, msg: APIMessage, viewer: str | None = None) -> Reply | None:
        """SYS.1003 when a referenced resource does not exist -- or, for a normal account
        (`viewer`), is outside its view: the resource the API acts on must be its own, others
        its own or shared with it. Every reference counted in one SELECT."""
        given: list[tuple[str, Any, list[str]]] = []
        for field, declared in msg.refs().items():
            value: Any = getattr(msg, field)
            if value is not None:
                given.append((field, declared, value if isinstance(value, list) else [value]))
        if not given:
            return None

        def known(field: str, declared: Any) -> list[Any]:
            inv = inventory.get(declared.resource)
            if viewer is None:
                return []
            return [visible(inv, inv.table, viewer, owned=field == msg.resource_field)]

        counts = [
            select(func.count())
            .where(inventory.get(declared.resource).table.c.uuid.in_(uuids), *known(field, declared))
            .scalar_subquery()
            for field, declared, uuids in given
        ]
        async with self.db.read() as conn:
            found = (await conn.execute(select(*counts))).one()
            for (field, declared, uuids), count in zip(given, found, strict=True):
                if count == len(set(uuids)):
                    continue
                if declared.missing_ok:
                    return Reply()
                table = inventory.get(declared.resource).table
                seen = set(
                    await conn.scalars(select(table.c.uuid).where(table.c.uuid.in_(uuids), *known(field, declared)))
                )
                missing = [u for u in uuids if u not in seen]
                raise errors.not_found(
                    f"invalid field[{field}], resource[uuid:{missing[0]}, "
                    f"type:{inventory.get(declared.resource).resource_type}] not found"
                )
        return None


@functools.cache
def admin_only(cls: type[APIMessage]) -> bool:
    """Whether only a SystemAdmin may call API `cls`: as it declares, else a query is anyone's and
    any other API is an admin's unless it concerns a resource type accounts own."""
    if cls.admin_only is not None:
        return cls.admin_only
    if issubclass(cls, APIQueryMessage):
        return False
    resource = getattr(cls, "resource", "")
    return not resource or inventory.get(resource).tenancy is None


def named_resources(msg: APIMessage) -> list[str]:
    """The uuids an API names (its references and the resource it acts on): what seed 000's
    platform authoriser is asked about when the client did not list them itself."""
    names = [*msg.refs(), *([msg.resource_field] if msg.resource_field else [])]
    found: list[str] = []
    for field in dict.fromkeys(names):
        value = getattr(msg, field, None)
        found += [v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str)]
    return list(dict.fromkeys(found))
