"""The text of a reply as the CLI prints it: JSON, 4-space indent, sorted keys.

`render(reply)` is exactly `json.dumps(reply.to_json(), indent=4, sort_keys=True,
ensure_ascii=False)`, in a fifth of the time for a large reply: json.dumps indents with its
pure-Python encoder, and `to_json` walks the payload through pydantic first, although a
payload is JSON values already (the inventory declarations render rows so). Here only the
small rest of the reply goes through `model_dump`; the payload is key-sorted once in Python
and encoded by pydantic-core, whose indented output is json.dumps's byte for byte for
strings, ints, booleans and null. Anything else (a float, whose shortest form can differ, a
tuple, an object) takes the json.dumps road. docs/performance/cli.md has the numbers.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic_core import PydanticSerializationError, to_json

from cloudbus.core.messages import Reply


def render(reply: Reply) -> str:
    """`json.dumps(reply.to_json(), indent=4, sort_keys=True, ensure_ascii=False)`, fast."""
    data = reply.model_dump(mode="json", exclude_none=True, exclude=set(_PAYLOADS))
    try:
        for key in _PAYLOADS:
            value = getattr(reply, key)
            if value is not None:
                data[key] = value
        return to_json(_sorted_dict(data), indent=4).decode()
    except (_NotPlain, PydanticSerializationError):  # PydanticSerializationError: a lone surrogate
        return json.dumps(reply.to_json(), indent=4, sort_keys=True, ensure_ascii=False)


_PAYLOADS = ("inventory", "inventories")
_SCALARS = frozenset({str, int, bool, type(None)})


class _NotPlain(Exception):
    """A value pydantic-core would print otherwise than json.dumps, or json.dumps not at all."""


def _sorted_dict(data: dict[Any, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in sorted(data):
        value = data[key]
        if type(key) is not str:
            key = _PLAIN_KEYS.get(key) or _plain_key(key)
        out[key] = value if type(value) in _SCALARS else _sorted_nested(value)
    return out


def _sorted_list(items: list[Any]) -> list[Any]:
    return [value if type(value) in _SCALARS else _sorted_nested(value) for value in items]


def _sorted_nested(value: Any) -> Any:
    if type(value) is dict:
        return _sorted_dict(value)
    if type(value) is list:
        return _sorted_list(value)
    return _plain_str(value)


def _plain_str(value: Any) -> str:
    # json.dumps prints a str subclass as the str it holds; pydantic-core serialises one (the
    # `quoted_name` column names SQLAlchemy hands out as inventory keys) ~30x slower than a str
    if isinstance(value, str):
        return str.__str__(value)
    raise _NotPlain(type(value).__name__)


# str-subclass keys -> plain str: a 100-VM reply has ~4,000 keys but some 60 distinct column names
_PLAIN_KEYS: dict[str, str] = {}


def _plain_key(key: Any) -> str:
    plain = _plain_str(key)
    if len(_PLAIN_KEYS) < 4096:  # a bound for the shell's long life: column names are few
        _PLAIN_KEYS[key] = plain
    return plain
