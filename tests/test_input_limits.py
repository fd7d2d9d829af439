"""Input that no column can hold or no terminal should print is refused at validation.

Integers beyond the signed 64-bit range (every int of every message, at any depth) and
names/descriptions holding control or bidirectional formatting characters answer SYS.1007
naming the field, before anything is sent: nothing changes, nothing is logged as an error.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import types
from typing import Annotated, Any, Union, get_args, get_origin

import pytest
import structlog

import cloudbus.apis.internal as internal_package
import cloudbus.cascade.messages  # noqa: F401  (registers the cascade step messages)
from cloudbus.apis.catalog import apis
from cloudbus.apis.cli import prepare
from cloudbus.apis.parser import split_line
from cloudbus.core.envelope import decode
from cloudbus.core.errors import CloudBusError
from cloudbus.core.messages import INT64_MAX, INT64_MIN, Message, build, message_class
from cloudbus.testing import Cloud

for _module in pkgutil.iter_modules(internal_package.__path__):
    importlib.import_module(f"{internal_package.__name__}.{_module.name}")

HUGE = 2**63
CONTROLS = ["\n", "\t", "\x1b", "\x7f", "\x85", "\u200f", "\u202e", "\u2066", "\u2029"]


def _every_message() -> list[type[Message]]:
    found, todo = [], list(Message.__subclasses__())
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def _too_big(annotation: Any) -> Any:
    """A value of the field's shape with an int just past the 64-bit range in it; None: no int."""
    origin, args = get_origin(annotation), get_args(annotation)
    if annotation is int:
        return HUGE
    if origin is Annotated:
        return _too_big(args[0])
    if origin in (Union, types.UnionType):
        return next((v for v in map(_too_big, args) if v is not None), None)
    if origin in (list, set, frozenset) and args:
        inner = _too_big(args[0])
        return None if inner is None else [inner]
    if origin is dict and len(args) == 2:
        inner = _too_big(args[1])
        return None if inner is None else {"k": inner}
    return None


def _error_at(cls: type[Message], data: dict[str, Any], field: str) -> list[dict[str, Any]]:
    """Validation errors of `data` located at `field` (other missing fields are not our business)."""
    try:
        cls.model_validate(data)
    except Exception as exc:
        return [e for e in exc.errors() if e["loc"] and e["loc"][0] == field]  # type: ignore[attr-defined]
    return []


def _errors_logged(logs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for entry in logs if entry.get("log_level") in ("error", "critical", "exception")]


async def _refused(cloud: Cloud, api: str, field: str, **params: Any) -> str:
    error = await cloud.error(api, **params)
    assert error.code == "SYS.1007", error.to_json()
    assert f"field[{field}]" in (error.details or ""), error.details
    return error.details or ""


# -- every int of every message ------------------------------------------------------------


def test_every_int_field_of_every_message_is_bounded_to_64_bits() -> None:
    messages = _every_message()
    checked: list[str] = []
    unbounded: list[str] = []
    for cls in messages:
        for field, info in cls.model_fields.items():
            value = _too_big(info.annotation)
            if value is None:
                continue
            checked.append(f"{cls.__name__}.{field}")
            found = _error_at(cls, {field: value}, field)
            if not any(e["type"] == "less_than_equal" and e["ctx"]["le"] <= INT64_MAX for e in found):
                unbounded.append(f"{cls.__name__}.{field}: {found}")
    assert len(messages) > 150 and len(checked) > len(messages)  # `timeout` at least, in each
    assert unbounded == []


def test_the_bound_is_inclusive_and_narrower_bounds_stay() -> None:
    cls = message_class("CreateInstanceOffering")
    assert cls is not None
    msg = build(cls, {"name": "o", "cpuNum": 1, "memorySize": INT64_MAX, "sortKey": INT64_MIN})
    assert (msg.memorySize, msg.sortKey) == (INT64_MAX, INT64_MIN)  # type: ignore[attr-defined]
    with pytest.raises(CloudBusError) as info:
        build(cls, {"name": "o", "cpuNum": 1025, "memorySize": 1})
    assert "less than or equal to 1024" in (info.value.error.details or "")


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"timeout": HUGE}, "timeout", f"at most {INT64_MAX}"),
        ({"sortKey": INT64_MIN - 1}, "sortKey", f"at least {INT64_MIN}"),
        ({"sortKey": str(HUGE)}, "sortKey", f"at most {INT64_MAX}"),  # a numeric string, as JSON clients send
        ({"sortKey": 10**5000}, "sortKey", "<integer of 16610 bits>"),  # too long even to print
    ],
)
def test_out_of_range_texts(data: dict[str, Any], field: str, words: str) -> None:
    cls = message_class("CreateInstanceOffering")
    assert cls is not None
    with pytest.raises(CloudBusError) as info:
        build(cls, {"name": "o", "cpuNum": 1, "memorySize": 1, **data})
    assert info.value.error.code == "SYS.1007"
    details = info.value.error.details or ""
    assert f"of field[{field}] of message[CreateInstanceOffering]: out of range" in details and words in details


def test_ints_inside_a_nested_model_are_bounded() -> None:
    cls = message_class("AddSecurityGroupRule")
    assert cls is not None
    rule = {"type": "Ingress", "protocol": "TCP", "startPort": HUGE, "endPort": 22}
    for rules in ([rule], json.dumps([rule])):  # as a list, and as zstack-cli's JSON text
        with pytest.raises(CloudBusError) as info:
            build(cls, {"securityGroupUuid": "0" * 32, "rules": rules})
        assert info.value.error.code == "SYS.1007"
        assert f"invalid value[{HUGE}] of field[rules.0.startPort]" in (info.value.error.details or "")


def test_a_wire_body_with_a_huge_number_is_refused() -> None:
    """What a remote client sends: JSON, whose numbers have no size limit."""
    cls = message_class("CreateDiskOffering")
    assert cls is not None
    body = json.loads('{"name": "d", "diskSize": 99999999999999999999999999999}')
    with pytest.raises(CloudBusError) as info:
        build(cls, body)
    assert info.value.error.code == "SYS.1007" and "field[diskSize]" in (info.value.error.details or "")


def test_an_envelope_with_a_number_longer_than_python_converts_is_refused() -> None:
    raw = b'{"v": 1, "kind": "call", "id": "x", "name": "CreateZone", "body": {"n": ' + b"9" * 5000 + b"}}"
    with pytest.raises(CloudBusError) as info:
        decode(raw)
    assert info.value.error.code == "SYS.1007" and "malformed envelope" in (info.value.error.details or "")


async def test_huge_ints_are_refused_through_the_api_and_change_nothing(cloud: Cloud) -> None:
    env = await cloud.build_env()
    before = await cloud.snapshot()
    with structlog.testing.capture_logs() as logs:
        details = [
            await _refused(cloud, "CreateInstanceOffering", "memorySize", name="o", cpuNum=1, memorySize=HUGE),
            await _refused(
                cloud,
                "AddSimulatorHost",
                "cpuCapacity",
                name="h",
                managementIp="10.9.9.9",
                clusterUuid=env["clusters"][0]["uuid"],
                cpuCapacity=10**30,
            ),
            await _refused(cloud, "CreateDiskOffering", "diskSize", name="d", diskSize=99999999999999999999999999999),
            await _refused(cloud, "QueryVmInstance", "limit", limit=99999999999999999999999),
        ]
    assert all(f"an integer may be at most {INT64_MAX}" in d for d in details)
    assert details[0] == (
        f"invalid value[{HUGE}] of field[memorySize] of message[CreateInstanceOffering]: "
        f"out of range, an integer may be at most {INT64_MAX} (signed 64 bits)"
    )
    assert _errors_logged(logs) == []
    assert await cloud.snapshot() == before


def test_the_text_command_path_refuses_a_huge_int() -> None:
    with pytest.raises(CloudBusError) as info:
        prepare(split_line("CreateInstanceOffering name=x cpuNum=1 memorySize=9223372036854775808"))
    assert info.value.error.code == "SYS.1007"
    assert "field[memorySize]" in (info.value.error.details or "")
    _command, msg = prepare(split_line("CreateInstanceOffering name=x cpuNum=1 memorySize=8191P"))
    assert msg.memorySize == 8191 << 50  # type: ignore[attr-defined]  # the largest P that fits


def test_a_number_too_long_for_python_to_convert_is_refused_by_name() -> None:
    with pytest.raises(CloudBusError) as info:
        prepare(split_line("CreateInstanceOffering name=x cpuNum=1 memorySize=" + "9" * 5000))
    assert info.value.error.code == "SYS.1007"
    assert "field[memorySize]" in (info.value.error.details or "")


# -- names and descriptions ------------------------------------------------------------------


def test_every_name_and_description_field_refuses_a_bidi_override() -> None:
    """By field name, so a `name` typed as a plain `str` is caught too (not only the shared types)."""
    checked: list[str] = []
    wrong: list[str] = []
    for name, cls in apis().items():
        for field in cls.model_fields:
            if field not in ("name", "description"):
                continue
            checked.append(f"{name}.{field}")
            found = _error_at(cls, {field: "a\u202eb"}, field)
            if not any("U+202E" in e["msg"] for e in found):
                wrong.append(f"{name}.{field}: {found}")
    assert len(checked) > 60
    assert wrong == []


@pytest.mark.parametrize("char", CONTROLS, ids=[f"U+{ord(c):04X}" for c in CONTROLS])
async def test_control_characters_in_names_and_descriptions_are_refused(cloud: Cloud, char: str) -> None:
    zone = await cloud.ok("CreateZone", name="z1")
    before = await cloud.snapshot()
    code = f"U+{ord(char):04X}"
    with structlog.testing.capture_logs() as logs:
        assert code in await _refused(cloud, "CreateZone", "name", name=f"zone{char}x")
        assert code in await _refused(cloud, "CreateZone", "description", name="z2", description=f"one{char}two")
        assert code in await _refused(cloud, "UpdateZone", "name", uuid=zone["uuid"], name=f"{char}z")
    assert _errors_logged(logs) == []
    assert await cloud.snapshot() == before


async def test_a_trailing_newline_is_refused_not_stripped(cloud: Cloud) -> None:
    details = await _refused(cloud, "CreateZone", "name", name="zone\n")
    assert details == (
        "invalid value['zone\\n'] of field[name] of message[CreateZone]: character U+000A (control character) "
        "at position 4 is not allowed: names and descriptions may not contain control or bidirectional "
        "formatting characters"
    )
    details = await _refused(cloud, "CreateZone", "name", name="a\u202eb")
    assert "character U+202E (RIGHT-TO-LEFT OVERRIDE) at position 1 is not allowed" in details
    assert await cloud.query("QueryZone") == []


async def test_plain_unicode_names_and_descriptions_still_work(cloud: Cloud) -> None:
    zone = await cloud.ok("CreateZone", name="zone-ü-北京", description="première zone — 北京 (مرحبا)")
    assert (zone["name"], zone["description"]) == ("zone-ü-北京", "première zone — 北京 (مرحبا)")
    zone = await cloud.ok("UpdateZone", uuid=zone["uuid"], name="  spaced  ")
    assert zone["name"] == "spaced"  # surrounding spaces are still stripped
