"""zstack-cli command syntax: text -> (API class, parameters), before any validation.

    CreateZone name=zone1 description='first zone'
    AddSimulatorHost name=h1 managementIp=10.0.0.1 clusterUuid=... memoryCapacity=64G
    QueryHost cluster.zone.name=zone1 'totalMemoryCapacity>1073741824' fields=uuid,name sortBy=name

Rules (reference sections 6.2 and 3.2):

- A line is split with `shlex` (so quotes group words); lines starting with `#` and
  blank lines are nothing. In one-shot mode the shell already did the splitting: each
  argv element is one token (`parse_tokens`), never re-split.
- The first token names the API (exact name; a unique case-insensitive match is
  accepted too). Every other token is `key=value`, split at the FIRST `=`.
- Values are converted by the type of the pydantic field they go to: list fields split
  on commas (empty items dropped, so `fields=uuid,name,` works) or take a JSON/Python
  list literal when the value starts with `[`; dict fields take a JSON/Python literal;
  int fields take plain numbers or binary size suffixes; bool fields take true/false.
  Anything that does not convert is passed through unchanged so that validation
  (`messages.build`) reports it as SYS.1007 with the usual wording.
- Size suffixes (int fields only): `K`, `M`, `G`, `T`, `P` = powers of 1024, case
  insensitive, optionally followed by `B` (`64G` = `64g` = `64GB` = 68719476736); a bare
  trailing `B` means bytes (`512B` = 512). Whole numbers only (`1.5G` is rejected by
  validation), because silently rounding a capacity is worse than asking again.
- Query APIs: the reserved keys (`RESERVED_QUERY_KEYS`) are parameters; every other token
  is a condition whose operator is spelled by the key's trailing characters (table in
  `_SUFFIX_OPS`); tokens with no `=` but a `>`/`<` are strict comparisons. `~=`/`!~=`
  values without `%` or `_` become `%value%`. Condition values are sent as strings:
  typing them is the query engine's job (it knows the column types).

Errors: a token that cannot be read at all (no `=`, empty key, unbalanced quote, a
parameter given twice) is a `UsageError` (the CLI exits 2: the user mistyped the
command). An unknown API is reported as the API error SYS.1008 (`CloudBusError`, exit 1),
exactly what a management node answers for a message nobody handles, so scripts see the
same code whether the name was checked locally or remotely. A `conditions=` value that
is not a list of condition dicts is SYS.1007 (it is a bad argument value, not bad syntax).
"""

from __future__ import annotations

import ast
import json
import re
import shlex
import types
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from cloudbus.core import errors
from cloudbus.core.errors import CloudBusError
from cloudbus.core.messages import APIMessage, APIQueryMessage, Ref
from cloudbus.core.passwords import sha512_hex

RESERVED_QUERY_KEYS = frozenset(
    {
        "conditions",
        "count",
        "limit",
        "start",
        "timeout",
        "replyWithCount",
        "sortBy",
        "sortDirection",
        "fields",
        "filterName",
    }
)

# Key suffix -> operator, longest suffixes first so `!?` wins over `?` and `!`.
_SUFFIX_OPS: tuple[tuple[str, str], ...] = (
    ("!?", "not in"),
    ("!~", "not like"),
    ("?", "in"),
    ("~", "like"),
    ("!", "!="),
    (">", ">="),
    ("<", "<="),
)

_SIZE = re.compile(r"^\s*([+-]?\d+)\s*([kmgtp]?)(b?)\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


class UsageError(Exception):
    """The command line cannot be read (the CLI exits 2 and prints usage)."""


@dataclass
class Command:
    """A parsed command: the API class and the raw parameter dict for `messages.build`."""

    api: type[APIMessage]
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.api.message_name()


# -- splitting ---------------------------------------------------------------------------


def split_line(line: str) -> list[str]:
    """Split one command line like a POSIX shell; comments and blank lines give []."""
    if not line.strip() or line.lstrip().startswith("#"):
        return []
    try:
        return shlex.split(line)
    except ValueError as exc:  # "No closing quotation" and friends
        raise UsageError(f"cannot split the line: {exc}") from None


def parse_line(line: str, catalog: dict[str, type[APIMessage]] | None = None) -> Command | None:
    """Parse one line of text (interactive shell, `-f` files); None for blank/comment lines."""
    tokens = split_line(line)
    return parse_tokens(tokens, catalog) if tokens else None


def parse_tokens(tokens: Sequence[str], catalog: dict[str, type[APIMessage]] | None = None) -> Command:
    """Parse already-split tokens: `[ApiName, "k=v", ...]`."""
    if not tokens:
        raise UsageError("no API given")
    api = find_api(tokens[0], catalog)
    if issubclass(api, APIQueryMessage):
        return Command(api, _query_params(api, tokens[1:]))
    params: dict[str, Any] = {}
    for token in tokens[1:]:
        key, value = _split_token(token)
        _put(params, key, convert(api, key, value))
    for key in api.wire_hashed:  # what was typed never leaves the CLI (zstack-cli does the same)
        if isinstance(params.get(key), str):
            params[key] = sha512_hex(params[key])
    return Command(api, params)


def find_api(name: str, catalog: dict[str, type[APIMessage]] | None = None) -> type[APIMessage]:
    if catalog is None:
        from cloudbus.apis.catalog import apis

        catalog = apis()
    if name in catalog:
        return catalog[name]
    folded = [cls for key, cls in catalog.items() if key.lower() == name.lower()]
    if len(folded) == 1:
        return folded[0]
    raise CloudBusError(
        errors.err(errors.UNKNOWN_MESSAGE, f"no API named [{name}]; run 'cloudbus help' for the list of APIs")
    )


def _split_token(token: str) -> tuple[str, str]:
    key, sep, value = token.partition("=")
    if not sep:
        raise UsageError(f"malformed parameter [{token}]: expected key=value (no spaces around '=')")
    if not key:
        raise UsageError(f"malformed parameter [{token}]: the name before '=' is empty")
    return key, value


def _put(params: dict[str, Any], key: str, value: Any) -> None:
    # A repeated key is almost always a typo in a long command; silently keeping one of
    # the two values would run something the user did not mean.
    if key in params:
        raise UsageError(f"parameter [{key}] is given twice")
    params[key] = value


# -- value conversion --------------------------------------------------------------------


def convert(api: type[APIMessage], key: str, value: str) -> Any:
    """Convert a raw value by the type of field `key` (unknown keys are left to validation)."""
    info = api.model_fields.get(key)
    if info is None:
        return value
    kind = field_kind(info)
    if kind == "list":
        return _to_list(value)
    if kind == "dict":
        return _literal(value, value)
    if kind == "int":
        return parse_size(value)
    if kind == "bool":
        return {"true": True, "false": False}.get(value.strip().lower(), value)
    return value


def parse_size(value: str) -> int | str:
    """`512M` -> 536870912; `64GB` -> 68719476736; `123` -> 123; unparseable -> unchanged."""
    match = _SIZE.match(value)
    if match is None:
        return value
    number, unit, _bytes = match.groups()
    try:
        return int(number) * _UNITS[unit.lower()]
    except ValueError:  # more digits than Python converts: validation refuses it by name
        return value


def _to_list(value: str) -> list[Any] | str:
    if value.lstrip().startswith("["):
        parsed = _literal(value, None)
        if isinstance(parsed, list):
            return parsed
    return [item.strip() for item in value.split(",") if item.strip()]


def _literal(value: str, default: Any) -> Any:
    """JSON first (what people paste), then a Python literal (what zstack-cli accepted)."""
    try:
        return json.loads(value)
    except ValueError:
        pass
    try:
        return ast.literal_eval(value)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        return default


# -- query commands ----------------------------------------------------------------------


def _query_params(api: type[APIMessage], tokens: Sequence[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    explicit: list[Any] = []
    conditions: list[dict[str, Any]] = []
    for token in tokens:
        if "=" not in token:
            conditions.append(_strict_condition(token))
            continue
        key, value = _split_token(token)
        if key == "conditions":
            _put(params, key, None)  # only for the duplicate check
            explicit = _conditions_literal(value)
        elif key in RESERVED_QUERY_KEYS:
            _put(params, key, convert(api, key, value))
        else:
            conditions.append(condition(key, value))
    params.pop("conditions", None)
    if explicit or conditions:
        params["conditions"] = [*explicit, *conditions]
    return params


def condition(key: str, value: str) -> dict[str, Any]:
    """One `key=value` query token (already split at the first `=`) -> a condition dict."""
    for suffix, suffix_op in _SUFFIX_OPS:
        if key.endswith(suffix) and len(key) > len(suffix):
            name, op = key[: -len(suffix)], suffix_op
            break
    else:
        name, op = key, "="
    if name[-1] in "!?~<>":
        raise UsageError(f"malformed query condition [{key}={value}]: unknown operator")
    if value == "null" and op in ("=", "!="):
        return {"name": name, "op": "is null" if op == "=" else "is not null"}
    if op in ("like", "not like") and "%" not in value and "_" not in value:
        value = f"%{value}%"
    return {"name": name, "op": op, "value": value}


def _strict_condition(token: str) -> dict[str, Any]:
    match = re.match(r"^([^<>]+)([<>])(.*)$", token, re.DOTALL)
    if match is None:
        raise UsageError(
            f"malformed query condition [{token}]: expected name=value, name>value, name<value "
            "(or !=, >=, <=, ?=, !?=, ~=, !~=)"
        )
    name, op, value = match.groups()
    return {"name": name, "op": op, "value": value}


def _conditions_literal(value: str) -> list[Any]:
    parsed = _literal(value, None)
    if not isinstance(parsed, list) or not all(isinstance(item, dict) for item in parsed):
        raise errors.invalid_argument(
            f"invalid value[{value!r}] of field[conditions]: expected a list of "
            """{"name": ..., "op": ..., "value": ...} dicts"""
        )
    # Condition values are strings on the wire (reference 3.1); `"value": 4` in a pasted
    # literal means "4", not a type error.
    return [{**item, "value": _wire_value(item["value"])} if "value" in item else item for item in parsed]


def _wire_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple):
        return ",".join(str(_wire_value(v)) for v in value)
    return value


# -- field introspection (shared with help and completion) -------------------------------


def unwrap(annotation: Any) -> tuple[Any, bool, list[Any]]:
    """Strip `Annotated[...]` and `X | None`: (core type, nullable, Annotated metadata)."""
    nullable = False
    metadata: list[Any] = []
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            metadata.extend(annotation.__metadata__)
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            nullable = nullable or len(args) < len(get_args(annotation))
            if len(args) != 1:
                return annotation, nullable, metadata
            annotation = args[0]
        else:
            return annotation, nullable, metadata


def field_kind(info: FieldInfo) -> str:
    """'list', 'dict', 'bool', 'int', 'float', 'choice' (a Literal) or 'str'."""
    core, _nullable, _meta = unwrap(info.annotation)
    origin = get_origin(core) or core
    if origin in (list, tuple, set, frozenset):
        return "list"
    if origin is dict:
        return "dict"
    if origin is Literal:
        return "choice"
    if core is bool:
        return "bool"
    if core is int:
        return "int"
    if core is float:
        return "float"
    return "str"


def valid_values(info: FieldInfo) -> list[str]:
    core, _nullable, _meta = unwrap(info.annotation)
    if get_origin(core) is Literal:
        return [str(v) for v in get_args(core)]
    if core is bool:
        return ["true", "false"]
    return []


def field_ref(info: FieldInfo) -> Ref | None:
    """The resource a uuid field refers to (`ref("Zone")`), for help and completion."""
    for meta in [*info.metadata, *unwrap(info.annotation)[2]]:
        if isinstance(meta, Ref):
            return meta
    core = unwrap(info.annotation)[0]
    for arg in get_args(core):
        for meta in getattr(arg, "__metadata__", ()):
            if isinstance(meta, Ref):
                return meta
    return None


def type_name(info: FieldInfo) -> str:
    kind = field_kind(info)
    reference = field_ref(info)
    if reference is not None:
        return f"uuid list of {reference.resource}" if kind == "list" else f"uuid of {reference.resource}"
    core, _nullable, metadata = unwrap(info.annotation)
    if any(getattr(getattr(m, "func", None), "__name__", "") == "_check_uuid" for m in [*metadata, *info.metadata]):
        return "uuid"
    if kind == "list":
        items = get_args(core)
        if items and isinstance(items[0], type) and issubclass(items[0], BaseModel):
            return f"list of {{{', '.join(items[0].model_fields)}}} (JSON)"
        return "list (comma-separated)"
    if kind == "choice":
        return "str"
    return kind
