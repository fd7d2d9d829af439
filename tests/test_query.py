"""The query language as users see it: Query* APIs through the `cloud` fixture (both backends).

Topology used by most tests (`topology` fixture):

    zone east (no description, default)    zone West ("second zone")
      cluster c-east-1: host Small  10.0.0.11   2 GiB  cpu 4
      cluster c-east-2: host medium 10.0.0.12  16 GiB  cpu 8
                                            cluster c-west: host LARGE 10.0.0.13  64 GiB  cpu 32 ("big box")

Host names differ in case on purpose (`=` is case-sensitive, `like` is not, sorting is
bytewise) and memory sizes are chosen so that comparing them as strings gives other
answers than comparing them as numbers.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, insert
from sqlalchemy.ext.asyncio import create_async_engine

from cloudbus.core.errors import CloudBusError
from cloudbus.core.messages import APIQueryMessage, QueryCondition
from cloudbus.core.units import GiB
from cloudbus.inventory.declarations import INVENTORIES, Inventory, Join, ListField, Via
from cloudbus.inventory.query import resolve_path, run_query
from cloudbus.testing import Cloud


@pytest.fixture
async def topology(cloud: Cloud) -> dict[str, dict[str, Any]]:
    east = await cloud.ok("CreateZone", name="east", isDefault=True)
    west = await cloud.ok("CreateZone", name="West", description="second zone")
    clusters = {}
    for name, zone in (("c-east-1", east), ("c-east-2", east), ("c-west", west)):
        clusters[name] = await cloud.ok("CreateCluster", name=name, zoneUuid=zone["uuid"], hypervisorType="Simulator")
    hosts = {}
    for name, ip, cluster, memory, cpu, description in (
        ("Small", "10.0.0.11", "c-east-1", 2 * GiB, 4, None),
        ("medium", "10.0.0.12", "c-east-2", 16 * GiB, 8, None),
        ("LARGE", "10.0.0.13", "c-west", 64 * GiB, 32, "big box"),
    ):
        hosts[name] = await cloud.ok(
            "AddSimulatorHost",
            name=name,
            managementIp=ip,
            clusterUuid=clusters[cluster]["uuid"],
            cpuCapacity=cpu,
            memoryCapacity=memory,
            description=description,
        )
    return {"zones": {"east": east, "west": west}, "clusters": clusters, "hosts": hosts}


async def names(cloud: Cloud, api: str, *conditions: tuple[str, str, Any], **params: Any) -> list[str]:
    """Names of the inventories a query returns, sorted (unless the test sorts itself)."""
    return sorted(inv["name"] for inv in await cloud.query(api, *conditions, **params))


async def ordered(cloud: Cloud, api: str, *conditions: tuple[str, str, Any], **params: Any) -> list[str]:
    return [inv["name"] for inv in await cloud.query(api, *conditions, **params)]


# --------------------------------------------------------------------------- operators


async def test_no_condition_returns_everything(cloud: Cloud, topology: dict) -> None:
    assert await names(cloud, "QueryHost") == ["LARGE", "Small", "medium"]
    assert await names(cloud, "QueryZone") == ["West", "east"]


async def test_equal_and_not_equal_are_case_sensitive(cloud: Cloud, topology: dict) -> None:
    assert await names(cloud, "QueryHost", ("name", "=", "Small")) == ["Small"]
    assert await names(cloud, "QueryHost", ("name", "=", "small")) == []
    assert await names(cloud, "QueryHost", ("name", "!=", "Small")) == ["LARGE", "medium"]
    assert await names(cloud, "QueryHost", ("name", "!=", "small")) == ["LARGE", "Small", "medium"]
    assert await names(cloud, "QueryHost", ("name", "in", "small,large")) == []


async def test_like_is_case_insensitive(cloud: Cloud, topology: dict) -> None:
    assert await names(cloud, "QueryHost", ("name", "like", "%arg%")) == ["LARGE"]
    assert await names(cloud, "QueryHost", ("name", "like", "s%")) == ["Small"]
    assert await names(cloud, "QueryHost", ("name", "like", "MEDIUM")) == ["medium"]
    assert await names(cloud, "QueryHost", ("name", "not like", "%A%")) == ["medium"]
    # `_` is one character, and the pattern is used as given (no implicit %...%).
    assert await names(cloud, "QueryHost", ("managementIp", "like", "10.0.0.1_")) == ["LARGE", "Small", "medium"]
    assert await names(cloud, "QueryHost", ("managementIp", "like", "0.0.1")) == []


async def test_numbers_compare_as_numbers(cloud: Cloud, topology: dict) -> None:
    # As strings "2147483648" > "10000000000" and "68719476736" > "17179869184"...
    assert await names(cloud, "QueryHost", ("totalMemoryCapacity", ">", 10000000000)) == ["LARGE", "medium"]
    assert await names(cloud, "QueryHost", ("totalMemoryCapacity", "<", 17 * GiB)) == ["Small", "medium"]
    assert await names(cloud, "QueryHost", ("totalMemoryCapacity", ">=", 16 * GiB)) == ["LARGE", "medium"]
    assert await names(cloud, "QueryHost", ("totalMemoryCapacity", "<=", 16 * GiB)) == ["Small", "medium"]
    assert await names(cloud, "QueryHost", ("totalMemoryCapacity", "=", 2 * GiB)) == ["Small"]
    assert await names(cloud, "QueryHost", ("totalMemoryCapacity", "!=", 2 * GiB)) == ["LARGE", "medium"]
    assert await names(cloud, "QueryHost", ("totalCpuCapacity", ">", 10)) == ["LARGE"]
    assert await names(cloud, "QueryHost", ("totalCpuCapacity", "<", 10)) == ["Small", "medium"]


async def test_in_and_not_in(cloud: Cloud, topology: dict) -> None:
    assert await names(cloud, "QueryHost", ("name", "in", "Small,LARGE,nothing")) == ["LARGE", "Small"]
    assert await names(cloud, "QueryHost", ("name", "not in", "Small,LARGE")) == ["medium"]
    assert await names(cloud, "QueryHost", ("managementIp", "in", "10.0.0.12")) == ["medium"]
    memory = f"{2 * GiB},{64 * GiB}"
    assert await names(cloud, "QueryHost", ("totalMemoryCapacity", "in", memory)) == ["LARGE", "Small"]
    assert await names(cloud, "QueryHost", ("totalMemoryCapacity", "not in", memory)) == ["medium"]


async def test_null_tests(cloud: Cloud, topology: dict) -> None:
    assert await names(cloud, "QueryZone", ("description", "is null", None)) == ["east"]
    assert await names(cloud, "QueryZone", ("description", "is not null", None)) == ["West"]
    assert await names(cloud, "QueryHost", ("description", "is null", None)) == ["Small", "medium"]
    assert await names(cloud, "QueryHost", ("description", "is not null", None)) == ["LARGE"]
    # SQL semantics: a comparison never matches NULL, so `!=` leaves out rows without a value.
    assert await names(cloud, "QueryHost", ("description", "!=", "big box")) == []


async def test_booleans(cloud: Cloud, topology: dict) -> None:
    assert await names(cloud, "QueryZone", ("isDefault", "=", "true")) == ["east"]
    assert await names(cloud, "QueryZone", ("isDefault", "=", "FALSE")) == ["West"]
    assert await names(cloud, "QueryZone", ("isDefault", "!=", "true")) == ["West"]
    error = await cloud.error("QueryZone", conditions=[{"name": "isDefault", "op": "=", "value": "yes"}])
    assert error.code == "SYS.1007"
    assert "isDefault" in error.details and "yes" in error.details


async def test_dates_compare_as_instants(cloud: Cloud, topology: dict) -> None:
    medium = topology["hosts"]["medium"]
    assert medium["createDate"].endswith("Z")
    assert await names(cloud, "QueryHost", ("createDate", ">=", medium["createDate"])) == ["LARGE", "medium"]
    assert await names(cloud, "QueryHost", ("createDate", "<", medium["createDate"])) == ["Small"]
    assert await names(cloud, "QueryHost", ("createDate", "=", medium["createDate"])) == ["medium"]
    # date-only and explicit offsets are accepted
    assert await names(cloud, "QueryHost", ("createDate", ">", "2000-01-01")) == ["LARGE", "Small", "medium"]
    assert await names(cloud, "QueryHost", ("createDate", "<", "2000-01-01T02:00:00+02:00")) == []
    error = await cloud.error("QueryHost", conditions=[{"name": "createDate", "op": ">", "value": "yesterday"}])
    assert error.code == "SYS.1007"
    assert "createDate" in error.details and "yesterday" in error.details


async def test_like_on_numbers_matches_their_digits(cloud: Cloud, topology: dict) -> None:
    assert await names(cloud, "QueryHost", ("totalMemoryCapacity", "like", "17%")) == ["medium"]
    error = await cloud.error("QueryZone", conditions=[{"name": "isDefault", "op": "like", "value": "t%"}])
    assert error.code == "SYS.1007"
    assert "isDefault" in error.details


async def test_conditions_are_anded_and_duplicates_harmless(cloud: Cloud, topology: dict) -> None:
    assert await names(cloud, "QueryHost", ("name", "like", "%m%"), ("totalMemoryCapacity", ">", GiB)) == [
        "Small",
        "medium",
    ]
    assert await names(cloud, "QueryHost", ("name", "like", "%m%"), ("name", "!=", "Small")) == ["medium"]
    twice = ("name", "=", "medium")
    assert await names(cloud, "QueryHost", twice, twice, twice) == ["medium"]
    assert await names(cloud, "QueryHost", ("name", "=", "Small"), ("name", "=", "medium")) == []


# --------------------------------------------------------------------------- joins


async def test_nested_two_hops_both_directions(cloud: Cloud, topology: dict) -> None:
    assert await names(cloud, "QueryHost", ("cluster.zone.name", "=", "West")) == ["LARGE"]
    assert await names(cloud, "QueryHost", ("cluster.zone.name", "=", "east")) == ["Small", "medium"]
    assert await names(cloud, "QueryZone", ("cluster.host.managementIp", "=", "10.0.0.11")) == ["east"]
    assert await names(cloud, "QueryZone", ("cluster.host.totalMemoryCapacity", ">", 32 * GiB)) == ["West"]
    # host -> its zone -> every cluster of that zone
    assert await names(cloud, "QueryHost", ("zone.cluster.name", "=", "c-east-2")) == ["Small", "medium"]
    # one hop, both ways
    assert await names(cloud, "QueryCluster", ("host.name", "like", "%all%")) == ["c-east-1"]
    assert await names(cloud, "QueryCluster", ("zone.description", "is null", None)) == ["c-east-1", "c-east-2"]
    # a path that loops back to the queried type: hosts sharing a zone with `medium`
    assert await names(cloud, "QueryHost", ("zone.host.name", "=", "medium")) == ["Small", "medium"]


async def test_negative_ops_through_a_join_mean_some_related_row_matches(cloud: Cloud, topology: dict) -> None:
    # east has c-east-2, whose name differs from c-east-1: east matches too.
    assert await names(cloud, "QueryZone", ("cluster.name", "!=", "c-east-1")) == ["West", "east"]
    assert await names(cloud, "QueryZone", ("host.name", "!=", "Small")) == ["West", "east"]
    assert await names(cloud, "QueryZone", ("cluster.name", "not like", "%east-1")) == ["West", "east"]
    # Only when no cluster of the zone is left out does the zone drop out.
    assert await names(cloud, "QueryZone", ("cluster.name", "not in", "c-east-1,c-east-2")) == ["West"]
    # Each condition has its own sub-select: they may match different clusters of one zone.
    assert await names(cloud, "QueryZone", ("cluster.name", "=", "c-east-1"), ("cluster.name", "=", "c-east-2")) == [
        "east"
    ]


async def test_join_on_zone_without_hosts(cloud: Cloud, topology: dict) -> None:
    await cloud.ok("CreateZone", name="empty")
    assert "empty" not in await names(cloud, "QueryZone", ("host.name", "!=", "x"))
    assert "empty" not in await names(cloud, "QueryZone", ("host.uuid", "is not null", None))
    assert await names(cloud, "QueryZone", ("name", "=", "empty"), ("cluster.name", "like", "%")) == []


# --------------------------------------------------------------------------- paging, sorting, count, fields


async def test_sort_ascending_descending_and_paging(cloud: Cloud, topology: dict) -> None:
    by_memory = ["Small", "medium", "LARGE"]
    assert await ordered(cloud, "QueryHost", sortBy="totalMemoryCapacity") == by_memory
    assert await ordered(cloud, "QueryHost", sortBy="totalMemoryCapacity", sortDirection="desc") == by_memory[::-1]
    assert await ordered(cloud, "QueryHost", sortBy="totalMemoryCapacity", limit=2) == by_memory[:2]
    assert await ordered(cloud, "QueryHost", sortBy="totalMemoryCapacity", limit=2, start=1) == by_memory[1:]
    assert await ordered(cloud, "QueryHost", sortBy="totalMemoryCapacity", start=3) == []
    # strings sort bytewise on both databases: upper case before lower case
    assert await ordered(cloud, "QueryHost", sortBy="name") == ["LARGE", "Small", "medium"]
    assert await ordered(cloud, "QueryHost", sortBy="name", sortDirection="desc") == ["medium", "Small", "LARGE"]
    # without sortBy: creation order
    assert await ordered(cloud, "QueryHost") == ["Small", "medium", "LARGE"]


async def test_sort_is_stable_on_ties(cloud: Cloud, topology: dict) -> None:
    # Every host has state Enabled: pages must still partition the hosts.
    pages = [
        await ordered(cloud, "QueryHost", sortBy="state", limit=1, start=start, sortDirection=direction)
        for direction in ("asc", "desc")
        for start in range(3)
    ]
    assert sorted(name for page in pages[:3] for name in page) == ["LARGE", "Small", "medium"]
    assert sorted(name for page in pages[3:] for name in page) == ["LARGE", "Small", "medium"]


async def test_sort_puts_null_first_ascending(cloud: Cloud, topology: dict) -> None:
    hosts = await ordered(cloud, "QueryHost", sortBy="description")
    assert hosts[-1] == "LARGE"
    hosts = await ordered(cloud, "QueryHost", sortBy="description", sortDirection="desc")
    assert hosts[0] == "LARGE"


async def test_count_and_reply_with_count(cloud: Cloud, topology: dict) -> None:
    reply = await cloud.api("QueryHost", count=True)
    assert reply.success and reply.total == 3 and reply.inventories is None
    big = [{"name": "totalMemoryCapacity", "op": ">", "value": str(10 * GiB)}]
    reply = await cloud.api("QueryHost", conditions=big, count=True, limit=1)
    assert reply.total == 2 and reply.inventories is None

    reply = await cloud.api("QueryHost", conditions=big, replyWithCount=True, limit=1, start=1, sortBy="name")
    assert reply.total == 2
    assert [h["name"] for h in reply.inventories] == ["medium"]

    reply = await cloud.api("QueryHost", conditions=[{"name": "name", "op": "=", "value": "nobody"}])
    assert reply.success and reply.inventories == [] and reply.total is None
    assert await cloud.ok("QueryHost", limit=0) == []


async def test_fields_limit_the_keys_returned(cloud: Cloud, topology: dict) -> None:
    hosts = await cloud.query("QueryHost", ("name", "=", "LARGE"), fields=["uuid", "name", "totalMemoryCapacity"])
    assert hosts == [{"uuid": topology["hosts"]["LARGE"]["uuid"], "name": "LARGE", "totalMemoryCapacity": 64 * GiB}]
    # a trailing empty entry (`fields=uuid,` on the CLI) is tolerated
    zones = await cloud.query("QueryZone", fields=["name", ""], sortBy="name")
    assert zones == [{"name": "West"}, {"name": "east"}]
    full = await cloud.query("QueryHost", ("name", "=", "LARGE"))
    assert full[0]["managementIp"] == "10.0.0.13" and full[0]["clusterUuid"] == topology["clusters"]["c-west"]["uuid"]


# --------------------------------------------------------------------------- errors


async def assert_invalid(cloud: Cloud, api: str, *mentions: str, **params: Any) -> None:
    error = await cloud.error(api, **params)
    assert error.code == "SYS.1007", error
    for text in mentions:
        assert text in error.details, (text, error.details)


def cond(name: str, op: str, value: str | None = None) -> list[dict[str, Any]]:
    return [{"name": name, "op": op, "value": value}]


async def test_errors_name_the_field(cloud: Cloud, topology: dict) -> None:
    await assert_invalid(cloud, "QueryHost", "field[foo]", "Host", conditions=cond("foo", "=", "x"))
    await assert_invalid(cloud, "QueryHost", "cluster.foo", "Cluster", conditions=cond("cluster.foo", "=", "x"))
    await assert_invalid(cloud, "QueryHost", "nowhere.name", "nowhere", conditions=cond("nowhere.name", "=", "x"))
    await assert_invalid(
        cloud,
        "QueryHost",
        "cluster.zone.nowhere.name",
        "nowhere",
        conditions=cond("cluster.zone.nowhere.name", "=", "x"),
    )
    # a join is not a field, and a field is not a join
    await assert_invalid(cloud, "QueryHost", "field[cluster]", conditions=cond("cluster", "=", "x"))
    await assert_invalid(cloud, "QueryHost", "name.x", conditions=cond("name.x", "=", "x"))
    # values that do not fit the field's type
    await assert_invalid(
        cloud, "QueryHost", "totalMemoryCapacity", "lots", conditions=cond("totalMemoryCapacity", ">", "lots")
    )
    await assert_invalid(
        cloud, "QueryHost", "totalMemoryCapacity", "value[x]", conditions=cond("totalMemoryCapacity", "in", "1,x")
    )
    await assert_invalid(cloud, "QueryZone", "cluster.host.cpuNum", conditions=cond("cluster.host.cpuNum", "<", "4.5"))
    await assert_invalid(cloud, "QueryHost", "name", conditions=cond("name", "=", None))
    # unknown ops are refused before the query engine runs
    await assert_invalid(cloud, "QueryHost", "op", conditions=cond("name", "==", "x"))


async def test_bad_sort_by_and_fields(cloud: Cloud, topology: dict) -> None:
    await assert_invalid(cloud, "QueryHost", "sortBy[foo]", sortBy="foo")
    await assert_invalid(cloud, "QueryHost", "sortBy[cluster.name]", sortBy="cluster.name")
    await assert_invalid(cloud, "QueryHost", "fields[status2]", "Host", fields=["uuid", "status2"])
    await assert_invalid(cloud, "QueryHost", "fields[cluster]", fields=["cluster"])
    await assert_invalid(cloud, "QueryHost", sortDirection="up")


async def test_large_values_do_not_overflow(cloud: Cloud, topology: dict) -> None:
    # cpuNum is a 32-bit column: a 64-bit value must still compare (PostgreSQL int4 vs int8).
    assert await names(cloud, "QueryHost", ("cpuNum", "<", 10**15)) == await names(
        cloud, "QueryHost", ("cpuNum", "is not null", None)
    )
    await assert_invalid(cloud, "QueryHost", "cpuNum", conditions=cond("cpuNum", "<", str(10**30)))


# --------------------------------------------------------------------------- resolve_path


def test_resolve_path() -> None:
    host = INVENTORIES["Host"]
    inventory, field = resolve_path(host, "cluster.zone.name")
    assert (inventory.name, field) == ("Zone", "name")
    assert resolve_path(host, "totalMemoryCapacity").type.python_type is int
    with pytest.raises(Exception, match=r"inventory\[Host\] has no field\[cluster\.zone\.nope\]"):
        resolve_path(host, "cluster.zone.nope")


# --------------------------------------------------------------------------- via tables and list fields
# No shipped inventory declares these yet: a throwaway declaration exercises the engine
# directly on SQLite (the engine is generic, so this is the code path future resources use).


async def test_via_joins_and_list_fields(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    md = MetaData()
    rack = Table("rack", md, Column("uuid", String(32), primary_key=True), Column("name", String(32)))
    box = Table(
        "box",
        md,
        Column("uuid", String(32), primary_key=True),
        Column("name", String(32)),
        Column("size", Integer),
    )
    ref = Table(
        "box_rack_ref",
        md,
        Column("id", Integer, primary_key=True),
        Column("boxUuid", String(32), ForeignKey("box.uuid")),
        Column("rackUuid", String(32), ForeignKey("rack.uuid")),
    )
    tag = Table("box_tag", md, Column("boxUuid", String(32)), Column("tag", String(32)))
    box_inv = Inventory(
        name="TestBox",
        table=box,
        service_id="test",
        joins={"rack": Join("TestRack", via=Via(ref, "boxUuid", "rackUuid"))},
        list_fields={"tags": ListField(tag, "boxUuid", "tag")},
    )
    rack_inv = Inventory(
        name="TestRack",
        table=rack,
        service_id="test",
        joins={"box": Join("TestBox", via=Via(ref, "rackUuid", "boxUuid"))},
    )
    monkeypatch.setitem(INVENTORIES, "TestBox", box_inv)
    monkeypatch.setitem(INVENTORIES, "TestRack", rack_inv)

    engine = create_async_engine(f"sqlite+aiosqlite:///{tmp_path / 'via.db'}")
    try:
        async with engine.begin() as conn:
            await conn.run_sync(md.create_all)
            await conn.execute(insert(rack), [{"uuid": "r1", "name": "rack1"}, {"uuid": "r2", "name": "rack2"}])
            await conn.execute(
                insert(box),
                [
                    {"uuid": "b1", "name": "B1", "size": 9},
                    {"uuid": "b2", "name": "b2", "size": 10},
                    {"uuid": "b3", "name": "b3", "size": 100},
                ],
            )
            await conn.execute(
                insert(ref),
                [
                    {"boxUuid": "b1", "rackUuid": "r1"},
                    {"boxUuid": "b2", "rackUuid": "r1"},
                    {"boxUuid": "b2", "rackUuid": "r2"},
                ],
            )
            await conn.execute(
                insert(tag),
                [{"boxUuid": "b1", "tag": "web"}, {"boxUuid": "b1", "tag": "db"}, {"boxUuid": "b3", "tag": "Web"}],
            )

            async def q(inv: Inventory, *conds: tuple[str, str, str | None], **params: Any) -> list[str]:
                msg = APIQueryMessage(conditions=[QueryCondition(name=n, op=o, value=v) for n, o, v in conds], **params)
                reply = await run_query(conn, inv, msg)
                return sorted(i["uuid"] for i in reply.inventories or [])

            assert await q(box_inv, ("rack.name", "=", "rack2")) == ["b2"]
            assert await q(box_inv, ("rack.name", "!=", "rack2")) == ["b1", "b2"]
            assert await q(rack_inv, ("box.size", ">", "9")) == ["r1", "r2"]
            assert await q(rack_inv, ("box.rack.name", "=", "rack2")) == ["r1", "r2"]
            assert await q(rack_inv, ("box.tags", "=", "db")) == ["r1"]
            assert await q(box_inv, ("tags", "=", "web")) == ["b1"]
            assert await q(box_inv, ("tags", "like", "WEB")) == ["b1", "b3"]
            assert await q(box_inv, ("tags", "in", "db,none")) == ["b1"]
            assert await q(box_inv, ("tags", "is not null", None)) == ["b1", "b3"]
            reply = await run_query(
                conn,
                box_inv,
                APIQueryMessage(conditions=[QueryCondition(name="uuid", op="=", value="b1")], fields=["tags"]),
            )
            assert reply.inventories == [{"tags": ["db", "web"]}]
            reply = await run_query(
                conn, box_inv, APIQueryMessage(conditions=[QueryCondition(name="uuid", op="=", value="b3")])
            )
            assert reply.inventories == [{"uuid": "b3", "name": "b3", "size": 100, "tags": ["Web"]}]
            # a list field can be selected but not sorted by
            with pytest.raises(CloudBusError, match=r"sortBy\[tags\]"):
                await run_query(conn, box_inv, APIQueryMessage(sortBy="tags"))
    finally:
        await engine.dispose()
