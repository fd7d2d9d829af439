"""Message contracts: the base classes every API and internal message derives from.

A message is a pydantic model named after what it asks for (`CreateZone`, `QueryHost`).
Class-level declarations say where it goes and what it concerns:

- `service_id`: the id of the service that handles it (`zone`, `host`, `api.portal` ...);
- `resource_field`: the field holding the uuid of the resource it concerns, if any;
  the service runs such messages in that resource's chain queue.

Every message class registers itself by name so the wire decoder can rebuild it
(`message_class("CreateZone")`). `build()` validates a plain dict into a message and
turns every validation failure into a ZStack error code (SYS.1007, or SYS.1003 for a
malformed resource uuid), so bad input never reaches a service.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Literal, get_args, get_origin

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from cloudbus.core import errors
from cloudbus.core.errors import ErrorCode
from cloudbus.core.ids import new_uuid

_REGISTRY: dict[str, type[Message]] = {}


def _check_uuid(value: str) -> str:
    from cloudbus.core.ids import is_uuid

    if not is_uuid(value):
        raise ValueError(f"invalid uuid[{value}]: a uuid is 32 lowercase hex characters without dashes")
    return value


Uuid = Annotated[str, AfterValidator(_check_uuid)]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Description = Annotated[str, StringConstraints(max_length=2048)]


@dataclass(frozen=True)
class Ref:
    """Marks a field as a reference to an existing resource of `resource` (an inventory name).

    The API portal checks it before dispatch: a missing resource is SYS.1003 unless
    `missing_ok` (delete APIs), where the call succeeds without doing anything.
    """

    resource: str
    missing_ok: bool = False


def ref(resource: str, *, missing_ok: bool = False) -> Any:
    """`zoneUuid: ref("Zone")` is a required uuid that must name an existing zone."""
    return Annotated[Uuid, Ref(resource, missing_ok)]


def ref_list(resource: str) -> Any:
    return Annotated[list[Uuid], Ref(resource)]


class Message(BaseModel):
    """Base of every message. Unknown parameters are rejected (`extra="forbid"`)."""

    model_config = ConfigDict(extra="forbid", frozen=False, validate_assignment=False)

    service_id: ClassVar[str] = ""
    resource_field: ClassVar[str | None] = None
    is_api: ClassVar[bool] = False

    systemTags: list[str] | None = None
    userTags: list[str] | None = None
    timeout: int | None = Field(default=None, description="milliseconds; unset = the default timeout")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

    @classmethod
    def message_name(cls) -> str:
        return cls.__name__

    def resource_uuid(self) -> str | None:
        if self.resource_field is None:
            return None
        value = getattr(self, self.resource_field, None)
        return value if isinstance(value, str) else None

    def body(self) -> dict[str, Any]:
        """The message's fields as sent on the wire (unset optional fields left out)."""
        return self.model_dump(mode="json", exclude_none=True)

    @classmethod
    def refs(cls) -> dict[str, Ref]:
        """Fields declared as resource references, with their declaration."""
        found: dict[str, Ref] = {}
        for name, info in cls.model_fields.items():
            for meta in info.metadata:
                if isinstance(meta, Ref):
                    found[name] = meta
            annotation = info.annotation
            for arg in get_args(annotation) if get_origin(annotation) is not None else ():
                for meta in getattr(arg, "__metadata__", ()):
                    if isinstance(meta, Ref):
                        found[name] = meta
        return found

    @classmethod
    def parameters(cls) -> list[str]:
        return list(cls.model_fields)


class APIMessage(Message):
    """A message users send (CLI, AMQP clients, HTTP). Enters through the API portal."""

    is_api: ClassVar[bool] = True


class APICreateMessage(APIMessage):
    """A create API: the caller may choose the new resource's uuid."""

    resourceUuid: Uuid | None = None

    def new_resource_uuid(self) -> str:
        return self.resourceUuid or new_uuid()


DeleteMode = Literal["Permissive", "Enforcing"]


class APIDeleteMessage(APIMessage):
    """A delete API: runs through the cascade engine in Permissive or Enforcing mode."""

    resource_field: ClassVar[str | None] = "uuid"

    deleteMode: DeleteMode = "Permissive"


QueryOp = Literal["=", "!=", ">", ">=", "<", "<=", "in", "not in", "is null", "is not null", "like", "not like"]


class QueryCondition(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    op: QueryOp
    value: str | None = None


class APIQueryMessage(APIMessage):
    """A query API. The target inventory is declared; the engine is generic over it."""

    service_id: ClassVar[str] = "query"
    inventory: ClassVar[str] = ""

    conditions: list[QueryCondition] = Field(default_factory=list)
    limit: int = Field(default=1000, ge=0)
    start: int = Field(default=0, ge=0)
    count: bool = False
    replyWithCount: bool = False
    sortBy: str | None = None
    sortDirection: Literal["asc", "desc"] = "asc"
    fields: list[str] | None = None


class Reply(BaseModel):
    """The answer to a message: `success`, and `error` or a payload.

    API replies carry `inventory`, `inventories` and/or `total`; internal replies may
    carry any other JSON fields (`extra="allow"`).
    """

    model_config = ConfigDict(extra="allow")

    success: bool = True
    error: ErrorCode | None = None
    inventory: dict[str, Any] | None = None
    inventories: list[dict[str, Any]] | None = None
    total: int | None = None

    @classmethod
    def failure(cls, error: ErrorCode) -> Reply:
        return cls(success=False, error=error)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    def raise_for_error(self) -> Reply:
        if not self.success:
            raise errors.CloudBusError(self.error or errors.err(errors.INTERNAL, "failed without an error"))
        return self

    def get(self, key: str, default: Any = None) -> Any:
        extra = self.model_extra or {}
        return extra.get(key, getattr(self, key, default))


class Event(BaseModel):
    """Something that happened, published to every subscriber of `name`."""

    name: str
    data: dict[str, Any] = Field(default_factory=dict)


def message_class(name: str) -> type[Message] | None:
    return _REGISTRY.get(name)


def api_classes() -> dict[str, type[APIMessage]]:
    return {n: c for n, c in sorted(_REGISTRY.items()) if issubclass(c, APIMessage) and c.is_api and _concrete(c)}


def _concrete(cls: type[Message]) -> bool:
    """Base classes are not APIs: the framework's own, and any whose name starts with `_`."""
    return cls not in (APIMessage, APICreateMessage, APIDeleteMessage, APIQueryMessage) and not cls.__name__.startswith(
        "_"
    )


def build(cls: type[Message], data: dict[str, Any]) -> Message:
    """Validate `data` into `cls`, or raise CloudBusError with a ZStack code."""
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise _translate(cls, exc) from None


def _translate(cls: type[Message], exc: ValidationError) -> errors.CloudBusError:
    first = exc.errors(include_url=False)[0]
    loc = ".".join(str(part) for part in first["loc"]) or "?"
    top = str(first["loc"][0]) if first["loc"] else ""
    name = cls.message_name()
    kind = first["type"]
    if kind == "missing":
        return errors.invalid_argument(f"field[{loc}] of message[{name}] is mandatory, can not be null")
    if kind == "extra_forbidden":
        return errors.invalid_argument(f"parameter[{loc}] is not a parameter of message[{name}]")
    if kind == "literal_error":
        expected = first.get("ctx", {}).get("expected", "")
        return errors.invalid_argument(
            f"valid value for field[{loc}] of message[{name}] are [{expected}], but {first.get('input')!r} found"
        )
    if kind == "value_error" and "invalid uuid" in first["msg"] and top in cls.refs():
        return errors.not_found(f"invalid value[{first.get('input')}] of field[{loc}]: not a uuid")
    message = first["msg"].removeprefix("Value error, ")
    return errors.invalid_argument(
        f"invalid value[{first.get('input')!r}] of field[{loc}] of message[{name}]: {message}"
    )


__all__ = [
    "APICreateMessage",
    "APIDeleteMessage",
    "APIMessage",
    "APIQueryMessage",
    "DeleteMode",
    "Description",
    "ErrorCode",
    "Event",
    "Message",
    "Name",
    "QueryCondition",
    "Ref",
    "Reply",
    "Uuid",
    "api_classes",
    "build",
    "message_class",
    "ref",
    "ref_list",
]
