"""Tag APIs (reference 2.10): CreateUserTag, CreateSystemTag, UpdateSystemTag, DeleteTag,
QueryUserTag, QuerySystemTag.

`resourceUuid` names the tagged resource (as in ZStack's APICreateTagMsg), so these are
plain API messages, not APICreateMessage: a tag's own uuid is always generated.
"""

from typing import Annotated, ClassVar

from pydantic import StringConstraints

from cloudbus.apis.routing import Concerns
from cloudbus.core.messages import APIDeleteMessage, APIMessage, APIQueryMessage, Uuid
from cloudbus.inventory.tag import TAG_MAX_LENGTH

Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=TAG_MAX_LENGTH)]
ResourceType = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]


class _Tags(Concerns):
    # user and system tags have one owner, the tag service: either type names it
    resource: ClassVar[str] = "UserTag"


class CreateUserTag(_Tags, APIMessage):
    resource_field: ClassVar[str | None] = "resourceUuid"

    resourceType: ResourceType
    resourceUuid: Uuid
    tag: Tag


class CreateSystemTag(_Tags, APIMessage):
    resource_field: ClassVar[str | None] = "resourceUuid"

    resourceType: ResourceType
    resourceUuid: Uuid
    tag: Tag


class UpdateSystemTag(_Tags, APIMessage):
    resource_field: ClassVar[str | None] = "uuid"

    uuid: Uuid
    tag: Tag


class DeleteTag(_Tags, APIDeleteMessage):
    """Deletes a user or a system tag; an unknown uuid succeeds without doing anything."""

    uuid: Uuid


class QueryUserTag(APIQueryMessage):
    inventory: ClassVar[str] = "UserTag"


class QuerySystemTag(APIQueryMessage):
    inventory: ClassVar[str] = "SystemTag"
