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

import unicodedata
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, is_dataclass
from typing import Annotated, Any, ClassVar, Literal, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    StringConstraints,
    ValidationError,
)
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

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

# Bidirectional formatting characters: embeddings/overrides, isolates and the marks. In a
# name they make a terminal or a table show text in another order than it is stored
# ("Trojan Source"), so `vm-\u202eexe.txt` would look like another resource's name.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
# Line and paragraph separators end a line in many terminals and viewers, like a newline.
_LINE_BREAKS = frozenset("\u2028\u2029")


def _forbidden_character(value: str) -> tuple[int, str] | None:
    for index, char in enumerate(value):
        if char in _BIDI or char in _LINE_BREAKS or unicodedata.category(char) == "Cc":
            return index, char
    return None


def _plain_text(value: Any) -> Any:
    """Refuse control characters (C0, DEL, C1) and bidirectional formatting in a name or description.

    Names and descriptions are printed to terminals (CLI tables, logs, `zstack-cli`-style
    output): an ESC starts a terminal escape sequence, a bidi override reorders what is
    shown, and a newline or tab breaks the one-line table cell and the one-event-per-line
    log, and can forge a line of output. So descriptions refuse newline and tab too: they
    are one-line labels here, like every other column of an inventory table. The check runs
    before `strip_whitespace`, so a trailing newline is refused rather than silently cut.
    """
    if isinstance(value, str) and (found := _forbidden_character(value)) is not None:
        index, char = found
        label = unicodedata.name(char, "control character")
        raise ValueError(
            f"character U+{ord(char):04X} ({label}) at position {index} is not allowed: "
            "names and descriptions may not contain control or bidirectional formatting characters"
        )
    return value


Name = Annotated[
    str, BeforeValidator(_plain_text), StringConstraints(strip_whitespace=True, min_length=1, max_length=255)
]
Description = Annotated[str, BeforeValidator(_plain_text), StringConstraints(max_length=2048)]

# Every integer of every message fits a signed 64-bit column (BIGINT): a larger one would
# reach the database driver and fail there as an internal error, after work had begun.
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
# Keys of a core schema whose values are data, not schemas: left as they are.
_NOT_SCHEMA = frozenset({"default", "metadata", "serialization", "config", "expected", "ref"})
_INT64_ERROR = "int64_out_of_range"


def _bound_ints(schema: Any, handler: GetCoreSchemaHandler, own: type, seen: frozenset[str] = frozenset()) -> Any:
    """A copy of core schema `schema` (of message class `own`) with every int 64-bit bounded.

    Existing bounds are kept when narrower (`Field(ge=1, le=1024)` stays so). pydantic-core
    validates a nested model or dataclass with that class's own prebuilt validator, whatever
    schema is given here: a nested message is bounded by its own schema already, any other
    nested model (a rule of AddSecurityGroupRule) gets its ints checked once it is built.
    A reference to another schema is inlined as a bounded copy (without its `ref`, so the
    referenced schema stays as it is), once per branch so a recursive one ends.
    """
    if isinstance(schema, list):
        return [_bound_ints(item, handler, own, seen) for item in schema]
    if not isinstance(schema, dict):
        return schema
    kind = schema.get("type")
    if kind == "int":
        ge, le = schema.get("ge", INT64_MIN), schema.get("le", INT64_MAX)
        return {**schema, "ge": max(ge, INT64_MIN), "le": min(le, INT64_MAX)}
    if kind in ("model", "dataclass") and schema["cls"] is not own:
        if isinstance(schema["cls"], type) and issubclass(schema["cls"], Message):
            return schema
        return core_schema.no_info_after_validator_function(_check_nested_ints, schema)
    if kind == "definition-ref" and schema["schema_ref"] not in seen:
        try:
            target = handler.resolve_ref_schema(schema)  # type: ignore[arg-type]
        except LookupError:  # not defined yet
            return schema
        inlined = {key: value for key, value in target.items() if key != "ref"}
        return _bound_ints(inlined, handler, own, seen | {schema["schema_ref"]})
    return {key: val if key in _NOT_SCHEMA else _bound_ints(val, handler, own, seen) for key, val in schema.items()}


def _check_nested_ints(value: Any) -> Any:
    """After-validator of a nested model: every int in it, at any depth, in the 64-bit range."""
    for path, number in _ints(value, ()):
        if not INT64_MIN <= number <= INT64_MAX:
            raise PydanticCustomError(_INT64_ERROR, "{path} out of range", {"path": ".".join(path), "value": number})
    return value


def _ints(value: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], int]]:
    if isinstance(value, int) and not isinstance(value, bool):
        yield path, value
        return
    if isinstance(value, BaseModel) or is_dataclass(value):
        items: Iterable[tuple[Any, Any]] = vars(value).items()
    elif isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list | tuple | set | frozenset):
        items = enumerate(value)
    else:
        return
    for key, item in items:
        yield from _ints(item, (*path, str(key)))


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
    """Base of every message. Unknown parameters are rejected (`extra="forbid"`).

    `defer_build`: a class's validator is built when the class is first validated, not when
    it is defined. A node defines some 160 message classes and a one-shot CLI uses two or
    three: building them all took a sixth of its start-up (docs/performance/cli.md).
    """

    model_config = ConfigDict(extra="forbid", frozen=False, validate_assignment=False, defer_build=True)

    service_id: ClassVar[str] = ""
    resource_field: ClassVar[str | None] = None
    is_api: ClassVar[bool] = False
    # executed at most once per message id: the receiving service records the id and the
    # reply, so a redelivered or retried message gets the recorded outcome (core.service)
    exactly_once: ClassVar[bool] = False

    systemTags: list[str] | None = None
    userTags: list[str] | None = None
    timeout: int | None = Field(default=None, description="milliseconds; unset = the default timeout")

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

    @classmethod
    def __get_pydantic_core_schema__(cls, source: type[BaseModel], handler: GetCoreSchemaHandler, /) -> CoreSchema:
        """The generated schema, with every int (also in lists, dicts, unions) 64-bit bounded."""
        return _bound_ints(handler(source), handler, cls)

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
    exactly_once: ClassVar[bool] = True
    # fields a client sends as the SHA-512 hex of what was typed (passwords, as zstack-cli)
    wire_hashed: ClassVar[tuple[str, ...]] = ()
    # False for the login family: the one APIs called without a session or an API key
    needs_session: ClassVar[bool] = True
    # who may call it (the portal): None = derived from the resource type it concerns (a
    # normal account may act on what accounts own, never on the cloud's infrastructure)
    admin_only: ClassVar[bool | None] = None
    # its reply holds a secret shown once (a session, an API key): never recorded for
    # exactly-once (so not exactly-once), never published in its `api.<Name>` event
    secret_reply: ClassVar[bool] = False
    # long work that publishes `api.progress` events under the API's id (core.progress):
    # the CLI follows those only for such APIs
    reports_progress: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.secret_reply:
            cls.exactly_once = False


class APICreateMessage(APIMessage):
    """A create API: the caller may choose the new resource's uuid, and the project owning
    it (a normal account's own; default: its default project)."""

    resourceUuid: Uuid | None = None
    projectUuid: Uuid | None = None

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
    exactly_once: ClassVar[bool] = False  # reads: running one twice changes nothing

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
    value, message = first.get("input"), first["msg"].removeprefix("Value error, ")
    if kind == _INT64_ERROR:  # deep in a nested model: the path and the int are in the context
        loc, value = f"{loc}.{first['ctx']['path']}", first["ctx"]["value"]
    message = _int64_message(first) or message
    return errors.invalid_argument(f"invalid value[{_shown(value)}] of field[{loc}] of message[{name}]: {message}")


def _int64_message(error: Any) -> str | None:
    """Own words for an int refused by the 64-bit bound (not by a narrower one of the field)."""
    kind, ctx = error["type"], error.get("ctx") or {}
    too_small = kind == _INT64_ERROR and ctx["value"] < 0
    if (kind == "less_than_equal" and ctx.get("le") == INT64_MAX) or (kind == _INT64_ERROR and not too_small):
        return f"out of range, an integer may be at most {INT64_MAX} (signed 64 bits)"
    if (kind == "greater_than_equal" and ctx.get("ge") == INT64_MIN) or too_small:
        return f"out of range, an integer may be at least {INT64_MIN} (signed 64 bits)"
    return None


def _shown(value: Any, limit: int = 200) -> str:
    """`repr` of a refused input, cut to `limit` characters (a huge int's repr can even fail)."""
    try:
        text = repr(value)
    except ValueError:  # an int with more digits than sys.get_int_max_str_digits()
        return f"<integer of {value.bit_length()} bits>" if isinstance(value, int) else "<unprintable>"
    return text if len(text) <= limit else f"{text[:limit]}...({len(text)} characters)"


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
