"""The zstack-cli command syntax (cloudbus/apis/parser.py): pure parsing, no cloud needed."""

from __future__ import annotations

from typing import Any

import pytest

from cloudbus.apis import parser
from cloudbus.apis.catalog import apis
from cloudbus.apis.cluster import CreateCluster
from cloudbus.apis.host import AddSimulatorHost, QueryHost
from cloudbus.apis.parser import UsageError, parse_line, parse_size, parse_tokens
from cloudbus.apis.zone import CreateZone, QueryZone
from cloudbus.core.errors import CloudBusError
from cloudbus.core.messages import build

UUID = "0123456789abcdef0123456789abcdef"


def conds(line: str) -> list[dict[str, Any]]:
    command = parse_line(line)
    assert command is not None
    return command.params.get("conditions", [])


def one(line: str) -> dict[str, Any]:
    found = conds(line)
    assert len(found) == 1, found
    return found[0]


# -- splitting and plain parameters ------------------------------------------------------


def test_shlex_quoting_groups_words() -> None:
    command = parse_line("CreateZone name=zone1 description='first zone'")
    assert command is not None
    assert command.api is CreateZone
    assert command.params == {"name": "zone1", "description": "first zone"}


def test_double_quotes_and_quoted_whole_token() -> None:
    command = parse_line('CreateZone "name=my zone" description="a \\"quoted\\" word"')
    assert command is not None
    assert command.params == {"name": "my zone", "description": 'a "quoted" word'}


def test_tokens_are_not_resplit() -> None:
    # One-shot mode: argv elements are tokens as the shell quoted them.
    command = parse_tokens(["CreateZone", "name=z", "description=it's 'quoted' here"])
    assert command.params["description"] == "it's 'quoted' here"


def test_split_at_first_equals() -> None:
    command = parse_tokens(["CreateZone", "name=a=b", "description==x="])
    assert command.params == {"name": "a=b", "description": "=x="}


def test_empty_value_is_kept() -> None:
    command = parse_tokens(["CreateZone", "name=z", "description="])
    assert command.params["description"] == ""


def test_comments_and_blank_lines_are_nothing() -> None:
    assert parse_line("# CreateZone name=z") is None
    assert parse_line("   # indented comment") is None
    assert parse_line("") is None
    assert parse_line("   ") is None


def test_hash_inside_a_value_is_not_a_comment() -> None:
    command = parse_line("CreateZone name=z description=a#b")
    assert command is not None
    assert command.params["description"] == "a#b"


def test_api_name_exact_or_unique_case_insensitive() -> None:
    assert parse_tokens(["createzone", "name=z"]).api is CreateZone
    assert parse_tokens(["QUERYHOST"]).api is QueryHost


def test_unknown_api_is_sys_1008() -> None:
    with pytest.raises(CloudBusError) as info:
        parse_tokens(["CreateUniverse", "name=u"])
    assert info.value.error.code == "SYS.1008"
    assert "CreateUniverse" in (info.value.error.details or "")


@pytest.mark.parametrize(
    "tokens",
    [
        ["CreateZone", "name"],  # no '='
        ["CreateZone", "=zone1"],  # empty key
        ["CreateZone", "name=a", "name=b"],  # given twice
        [],
    ],
)
def test_usage_errors(tokens: list[str]) -> None:
    with pytest.raises(UsageError):
        parse_tokens(tokens)


def test_unbalanced_quote_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        parse_line("CreateZone name='oops")


def test_unknown_parameter_is_left_to_validation() -> None:
    command = parse_tokens(["CreateZone", "name=z", "colour=red"])
    assert command.params["colour"] == "red"
    with pytest.raises(CloudBusError) as info:
        build(command.api, command.params)
    assert info.value.error.code == "SYS.1007"


# -- typed values ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("123", 123),
        ("0", 0),
        ("512M", 512 * 1024**2),
        ("512m", 512 * 1024**2),
        ("64G", 64 * 1024**3),
        ("64GB", 64 * 1024**3),
        ("64gb", 64 * 1024**3),
        ("1T", 1024**4),
        ("2K", 2048),
        ("1P", 1024**5),
        ("512B", 512),
        (" 8G ", 8 * 1024**3),
        ("-1", -1),
    ],
)
def test_sizes(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["1.5G", "lots", "G", "12X", "", "1 0"])
def test_bad_sizes_pass_through_to_validation(text: str) -> None:
    assert parse_size(text) == text


def test_int_field_takes_size_suffix() -> None:
    command = parse_tokens(
        ["AddSimulatorHost", "name=h", "managementIp=10.0.0.1", f"clusterUuid={UUID}", "memoryCapacity=64G"]
    )
    assert command.params["memoryCapacity"] == 68719476736
    msg = build(command.api, command.params)
    assert isinstance(msg, AddSimulatorHost)
    assert msg.memoryCapacity == 68719476736


def test_bad_int_is_sys_1007() -> None:
    command = parse_tokens(["AddSimulatorHost", "name=h", "managementIp=ip", f"clusterUuid={UUID}", "cpuCapacity=x"])
    with pytest.raises(CloudBusError) as info:
        build(command.api, command.params)
    assert info.value.error.code == "SYS.1007"


def test_size_suffix_only_for_int_fields() -> None:
    assert parse_tokens(["CreateZone", "name=64G"]).params["name"] == "64G"


@pytest.mark.parametrize(("text", "expected"), [("true", True), ("False", False), ("TRUE", True)])
def test_bools(text: str, expected: bool) -> None:
    assert parse_tokens(["CreateZone", "name=z", f"isDefault={text}"]).params["isDefault"] is expected


def test_list_params_split_on_commas() -> None:
    command = parse_tokens(["CreateZone", "name=z", "systemTags=a::1,b::2,", "userTags=one"])
    assert command.params["systemTags"] == ["a::1", "b::2"]
    assert command.params["userTags"] == ["one"]


def test_list_params_take_a_literal() -> None:
    command = parse_tokens(["CreateZone", "name=z", 'systemTags=["x,y", "z"]'])
    assert command.params["systemTags"] == ["x,y", "z"]


def test_choice_values_are_validated_later() -> None:
    command = parse_tokens(["CreateCluster", "name=c", f"zoneUuid={UUID}", "hypervisorType=Xen"])
    assert command.api is CreateCluster
    with pytest.raises(CloudBusError) as info:
        build(command.api, command.params)
    assert info.value.error.code == "SYS.1007"
    assert "KVM" in (info.value.error.details or "")


# -- query spellings ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("name=h1", {"name": "name", "op": "=", "value": "h1"}),
        ("name!=h1", {"name": "name", "op": "!=", "value": "h1"}),
        ("cpuNum>=4", {"name": "cpuNum", "op": ">=", "value": "4"}),
        ("cpuNum<=4", {"name": "cpuNum", "op": "<=", "value": "4"}),
        ("name?=a,b", {"name": "name", "op": "in", "value": "a,b"}),
        ("name!?=a,b", {"name": "name", "op": "not in", "value": "a,b"}),
        ("name~=web", {"name": "name", "op": "like", "value": "%web%"}),
        ("name!~=web", {"name": "name", "op": "not like", "value": "%web%"}),
        ("name~=web%", {"name": "name", "op": "like", "value": "web%"}),
        ("name~=w_b", {"name": "name", "op": "like", "value": "w_b"}),
        ("name!~=%b", {"name": "name", "op": "not like", "value": "%b"}),
        ("description=null", {"name": "description", "op": "is null"}),
        ("description!=null", {"name": "description", "op": "is not null"}),
        ("cluster.zone.name=zone1", {"name": "cluster.zone.name", "op": "=", "value": "zone1"}),
        ("name=a=b", {"name": "name", "op": "=", "value": "a=b"}),
        ("name=", {"name": "name", "op": "=", "value": ""}),
        ("name?=null", {"name": "name", "op": "in", "value": "null"}),
    ],
)
def test_query_operators(token: str, expected: dict[str, Any]) -> None:
    assert parse_tokens(["QueryHost", token]).params["conditions"] == [expected]


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("totalMemoryCapacity>1073741824", {"name": "totalMemoryCapacity", "op": ">", "value": "1073741824"}),
        ("cpuNum<4", {"name": "cpuNum", "op": "<", "value": "4"}),
        ("createDate>2024-01-01", {"name": "createDate", "op": ">", "value": "2024-01-01"}),
    ],
)
def test_strict_comparisons_without_equals(token: str, expected: dict[str, Any]) -> None:
    assert parse_tokens(["QueryHost", token]).params["conditions"] == [expected]


def test_query_line_with_quoted_strict_comparison() -> None:
    found = conds("QueryHost cluster.zone.name=zone1 'totalMemoryCapacity>1073741824' name~=h")
    assert found == [
        {"name": "cluster.zone.name", "op": "=", "value": "zone1"},
        {"name": "totalMemoryCapacity", "op": ">", "value": "1073741824"},
        {"name": "name", "op": "like", "value": "%h%"},
    ]


def test_query_value_with_spaces() -> None:
    assert one("QueryZone 'description=first zone'") == {"name": "description", "op": "=", "value": "first zone"}


def test_repeated_conditions_are_all_kept() -> None:
    assert len(conds("QueryHost cpuNum>=2 cpuNum<=8")) == 2


@pytest.mark.parametrize("token", ["name", "!=x", ">5", "name!!=x", "name?~=x"])
def test_malformed_query_tokens(token: str) -> None:
    with pytest.raises(UsageError):
        parse_tokens(["QueryHost", token])


def test_reserved_keys_are_parameters() -> None:
    command = parse_tokens(
        [
            "QueryHost",
            "fields=uuid,name,",
            "sortBy=name",
            "sortDirection=desc",
            "limit=10",
            "start=5",
            "count=false",
            "replyWithCount=true",
            "timeout=30000",
            "name=h1",
        ]
    )
    assert command.params == {
        "fields": ["uuid", "name"],
        "sortBy": "name",
        "sortDirection": "desc",
        "limit": 10,
        "start": 5,
        "count": False,
        "replyWithCount": True,
        "timeout": 30000,
        "conditions": [{"name": "name", "op": "=", "value": "h1"}],
    }
    msg = build(command.api, command.params)
    assert isinstance(msg, QueryHost)
    assert msg.fields == ["uuid", "name"]
    assert msg.conditions[0].name == "name"


def test_filter_name_is_a_parameter_not_a_condition() -> None:
    command = parse_tokens(["QueryHost", "filterName=x"])
    assert command.params == {"filterName": "x"}
    with pytest.raises(CloudBusError) as info:  # not supported by the message: SYS.1007
        build(command.api, command.params)
    assert info.value.error.code == "SYS.1007"


def test_reserved_key_with_operator_is_a_condition() -> None:
    # `limit>=5` is a condition on a field called limit, not the limit parameter.
    assert parse_tokens(["QueryHost", "limit>=5"]).params == {
        "conditions": [{"name": "limit", "op": ">=", "value": "5"}]
    }


def test_conditions_literal_json_and_python() -> None:
    json_form = parse_tokens(["QueryHost", 'conditions=[{"name":"name","op":"=","value":"KVM1"}]', "cpuNum>=2"])
    assert json_form.params["conditions"] == [
        {"name": "name", "op": "=", "value": "KVM1"},
        {"name": "cpuNum", "op": ">=", "value": "2"},
    ]
    python_form = parse_line("""QueryHost conditions="[{'name': 'cpuNum', 'op': '>', 'value': 4}]" """)
    assert python_form is not None
    assert python_form.params["conditions"] == [{"name": "cpuNum", "op": ">", "value": "4"}]
    assert isinstance(build(python_form.api, python_form.params), QueryHost)


@pytest.mark.parametrize("value", ["nope", "{}", "[1, 2]", "[{'name': 'x'"])
def test_bad_conditions_literal_is_sys_1007(value: str) -> None:
    with pytest.raises(CloudBusError) as info:
        parse_tokens(["QueryHost", f"conditions={value}"])
    assert info.value.error.code == "SYS.1007"


def test_query_without_conditions() -> None:
    command = parse_tokens(["QueryZone"])
    assert command.api is QueryZone
    assert command.params == {}
    assert isinstance(build(command.api, command.params), QueryZone)


def test_bad_sort_direction_is_sys_1007() -> None:
    command = parse_tokens(["QueryZone", "sortDirection=up"])
    with pytest.raises(CloudBusError) as info:
        build(command.api, command.params)
    assert info.value.error.code == "SYS.1007"


# -- introspection used by help and completion -------------------------------------------


def test_field_introspection() -> None:
    fields = CreateCluster.model_fields
    assert parser.field_kind(fields["hypervisorType"]) == "choice"
    assert parser.valid_values(fields["hypervisorType"]) == ["KVM", "Simulator"]
    assert parser.type_name(fields["zoneUuid"]) == "uuid of Zone"
    assert parser.field_kind(fields["systemTags"]) == "list"
    assert parser.field_kind(AddSimulatorHost.model_fields["memoryCapacity"]) == "int"
    assert parser.field_kind(CreateZone.model_fields["isDefault"]) == "bool"
    assert parser.type_name(CreateZone.model_fields["resourceUuid"]) == "uuid"


def test_every_api_parses_without_parameters() -> None:
    for name in apis():
        assert parse_tokens([name]).api.message_name() == name
