"""Security groups: create, update, state, rules (validation, duplicates, priorities),
delete through the cascade, queries."""

from __future__ import annotations

import json
from typing import Any

from cloudbus.core.ids import new_uuid
from cloudbus.testing import Cloud

SSH = {"type": "Ingress", "protocol": "TCP", "startPort": 22, "endPort": 22, "allowedCidr": "10.0.0.0/8"}
WEB = {"type": "Ingress", "protocol": "TCP", "dstPortRange": "80,443,8000-8080", "srcIpRange": "0.0.0.0/0"}
OUT = {"type": "Egress", "protocol": "ALL", "dstIpRange": "192.168.0.1-192.168.0.9"}


async def _group(cloud: Cloud, name: str = "sg", **params: Any) -> dict[str, Any]:
    return await cloud.ok("CreateSecurityGroup", name=name, **params)


async def test_create_update_change_state(cloud: Cloud) -> None:
    sg = await _group(cloud, description="web tier")
    assert (sg["state"], sg["ipVersion"], sg["rules"], sg["attachedL3NetworkUuids"]) == ("Enabled", 4, [], [])
    uuid = new_uuid()
    assert (await _group(cloud, "other", resourceUuid=uuid))["uuid"] == uuid
    sg = await cloud.ok("UpdateSecurityGroup", uuid=sg["uuid"], name="renamed")
    assert (sg["name"], sg["description"]) == ("renamed", "web tier")
    sg = await cloud.ok("ChangeSecurityGroupState", uuid=sg["uuid"], stateEvent="disable")
    assert sg["state"] == "Disabled"
    assert [g["name"] for g in await cloud.query("QuerySecurityGroup", ("state", "=", "Disabled"))] == ["renamed"]


async def test_add_rules_legacy_and_new_fields(cloud: Cloud) -> None:
    sg = await _group(cloud)
    # the CLI passes the rules as a JSON string
    sg = await cloud.ok("AddSecurityGroupRule", securityGroupUuid=sg["uuid"], rules=json.dumps([SSH, WEB, OUT]))
    rules = {r["priority"] * (1 if r["type"] == "Ingress" else -1): r for r in sg["rules"]}
    ssh, web, out = rules[1], rules[2], rules[-1]
    assert (ssh["srcIpRange"], ssh["allowedCidr"], ssh["dstPortRange"], ssh["startPort"], ssh["endPort"]) == (
        "10.0.0.0/8",
        "10.0.0.0/8",
        "22",
        22,
        22,
    )
    assert (ssh["action"], ssh["state"], ssh["ipVersion"], ssh["securityGroupUuid"]) == (
        "ACCEPT",
        "Enabled",
        4,
        sg["uuid"],
    )
    assert (web["dstPortRange"], web["startPort"], web["endPort"]) == ("80,443,8000-8080", -1, -1)
    assert (out["dstIpRange"], out["srcIpRange"], out["protocol"], out["startPort"]) == (
        "192.168.0.1-192.168.0.9",
        None,
        "ALL",
        -1,
    )
    # a Python literal works too, and a list of maps
    more = [{"type": "Ingress", "protocol": "ICMP", "action": "DROP"}]
    sg = await cloud.ok("AddSecurityGroupRule", securityGroupUuid=sg["uuid"], rules=str(more))
    sg = await cloud.ok(
        "AddSecurityGroupRule",
        securityGroupUuid=sg["uuid"],
        rules=[{"type": "Egress", "protocol": "UDP", "dstPortRange": "53"}],
    )
    assert len(sg["rules"]) == 5
    found = await cloud.query("QuerySecurityGroupRule", ("securityGroup.name", "=", "sg"), ("protocol", "=", "ICMP"))
    assert [r["action"] for r in found] == ["DROP"]
    assert [g["uuid"] for g in await cloud.query("QuerySecurityGroup", ("rules.dstPortRange", "=", "53"))] == [
        sg["uuid"]
    ]


async def test_priorities_append_and_insert(cloud: Cloud) -> None:
    sg = await _group(cloud)
    rule = lambda port: {"type": "Ingress", "protocol": "TCP", "dstPortRange": str(port)}  # noqa: E731
    await cloud.ok("AddSecurityGroupRule", securityGroupUuid=sg["uuid"], rules=[rule(1), rule(2)])
    sg = await cloud.ok("AddSecurityGroupRule", securityGroupUuid=sg["uuid"], rules=[rule(3)], priority=1)
    order = [r["dstPortRange"] for r in sorted(sg["rules"], key=lambda r: r["priority"])]
    assert order == ["3", "1", "2"]
    error = await cloud.error("AddSecurityGroupRule", securityGroupUuid=sg["uuid"], rules=[rule(4)], priority=9)
    assert error.code == "SYS.1007"


async def test_bad_rules_change_nothing(cloud: Cloud) -> None:
    sg = await _group(cloud)
    await cloud.ok("AddSecurityGroupRule", securityGroupUuid=sg["uuid"], rules=[SSH])
    before = await cloud.snapshot()
    cases: list[tuple[Any, str]] = [
        ([SSH], "SG.1002"),  # the same rule again
        ([WEB, WEB], "SG.1002"),  # twice in one request
        ([{**SSH, "allowedCidr": "10.0.0.0/16"}, {**SSH, "startPort": 70000, "endPort": 70000}], "SG.1003"),
        ([{"type": "Ingress", "protocol": "TCP", "startPort": 90, "endPort": 80}], "SG.1003"),
        ([{"type": "Ingress", "protocol": "TCP"}], "SG.1003"),
        ([{"type": "Ingress", "protocol": "ICMP", "startPort": 1, "endPort": 2}], "SG.1003"),
        ([{"type": "Ingress", "protocol": "TCP", "dstPortRange": "80-x"}], "SG.1003"),
        ([{**SSH, "allowedCidr": "10.0.0.300/8"}], "SG.1004"),
        ([{**SSH, "allowedCidr": "fe80::/64"}], "SG.1004"),
        ([{"type": "Ingress", "protocol": "ALL", "dstIpRange": "1.1.1.1"}], "SG.1004"),
        ([{"type": "Egress", "protocol": "ALL", "dstIpRange": "1.1.1.9-1.1.1.1"}], "SG.1004"),
        (
            [{"type": "Ingress", "protocol": "ALL", "remoteSecurityGroupUuid": sg["uuid"], "srcIpRange": "1.1.1.1"}],
            "SG.1005",
        ),
        ([{"type": "Ingress", "protocol": "ALL", "ipVersion": 6}], "SG.1006"),
        ([{"type": "Ingress", "protocol": "ALL", "remoteSecurityGroupUuid": new_uuid()}], "SYS.1003"),
        ([{"type": "Sideways", "protocol": "ALL"}], "SYS.1007"),
        ([{"type": "Ingress", "protocol": "SCTP"}], "SYS.1007"),
        ([{"type": "Ingress", "protocol": "ALL", "colour": "red"}], "SYS.1007"),
        ([{"protocol": "ALL"}], "SYS.1007"),
        ([], "SYS.1007"),
        ("[{not json", "SYS.1007"),
    ]
    for rules, code in cases:
        error = await cloud.error("AddSecurityGroupRule", securityGroupUuid=sg["uuid"], rules=rules)
        assert error.code == code, (rules, error)
    error = await cloud.error("AddSecurityGroupRule", securityGroupUuid=new_uuid(), rules=[WEB])
    assert error.code == "SYS.1003"
    error = await cloud.error("CreateSecurityGroup", name="x", ipVersion=5)
    assert error.code == "SYS.1007"
    error = await cloud.error("CreateSecurityGroup", name="")
    assert error.code == "SYS.1007"
    assert await cloud.snapshot() == before


async def test_remote_security_groups(cloud: Cloud) -> None:
    web, db, other = await _group(cloud, "web"), await _group(cloud, "db"), await _group(cloud, "other")
    rule = {"type": "Ingress", "protocol": "TCP", "dstPortRange": "5432"}
    sg = await cloud.ok(
        "AddSecurityGroupRule",
        securityGroupUuid=db["uuid"],
        rules=[rule],
        remoteSecurityGroupUuids=[web["uuid"], other["uuid"]],
    )
    assert sorted(r["remoteSecurityGroupUuid"] for r in sg["rules"]) == sorted([web["uuid"], other["uuid"]])
    # deleting a group also deletes other groups' rules that name it as remote group
    await cloud.ok("DeleteSecurityGroup", uuid=web["uuid"])
    left = (await cloud.query("QuerySecurityGroup", ("uuid", "=", db["uuid"])))[0]["rules"]
    assert [r["remoteSecurityGroupUuid"] for r in left] == [other["uuid"]]


async def test_delete_rules(cloud: Cloud) -> None:
    a, b = await _group(cloud, "a"), await _group(cloud, "b")
    a = await cloud.ok("AddSecurityGroupRule", securityGroupUuid=a["uuid"], rules=[SSH, WEB])
    b = await cloud.ok("AddSecurityGroupRule", securityGroupUuid=b["uuid"], rules=[SSH])
    doomed = [a["rules"][0]["uuid"], b["rules"][0]["uuid"], new_uuid()]
    groups = await cloud.ok("DeleteSecurityGroupRule", ruleUuids=doomed)
    assert sorted(len(g["rules"]) for g in groups) == [0, 1]
    assert len(await cloud.ok("QuerySecurityGroupRule")) == 1
    error = await cloud.error("DeleteSecurityGroupRule", ruleUuids=[])
    assert error.code == "SYS.1007"


async def test_delete_security_group_removes_its_rules(cloud: Cloud) -> None:
    keep, doomed = await _group(cloud, "keep"), await _group(cloud, "doomed")
    await cloud.ok("AddSecurityGroupRule", securityGroupUuid=keep["uuid"], rules=[SSH])
    await cloud.ok("AddSecurityGroupRule", securityGroupUuid=doomed["uuid"], rules=[SSH, WEB, OUT])
    await cloud.ok("CreateUserTag", resourceType="SecurityGroupVO", resourceUuid=doomed["uuid"], tag="t")
    await cloud.ok("DeleteSecurityGroup", uuid=doomed["uuid"])
    await cloud.ok("DeleteSecurityGroup", uuid=doomed["uuid"])  # idempotent
    assert [g["name"] for g in await cloud.ok("QuerySecurityGroup")] == ["keep"]
    assert {r["securityGroupUuid"] for r in await cloud.ok("QuerySecurityGroupRule")} == {keep["uuid"]}
    assert await cloud.ok("QueryUserTag") == []
    await cloud.ok("DeleteSecurityGroup", uuid=keep["uuid"], deleteMode="Enforcing")
    assert await cloud.ok("QuerySecurityGroupRule") == []
