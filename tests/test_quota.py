"""Quotas, strict two levels (seed 004): ZStack's names and defaults on accounts, limits on
projects, ID.1003 / ID.1004, and the limits holding under concurrent creates, on both backends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from cloudbus.core.passwords import sha512_hex
from cloudbus.inventory.quota import QUOTAS
from cloudbus.testing import Cloud


@pytest.fixture
async def env(cloud: Cloud) -> AsyncIterator[dict[str, Any]]:
    env = await cloud.build_vm_cloud(cpu=1000, memory=1 << 50)
    public = [env["image"]["uuid"], env["offering"]["uuid"], env["l2"]["uuid"]]
    await cloud.ok("ShareResource", resourceUuids=public, toPublic=True)
    env["account"] = await cloud.ok("CreateAccount", name="carol", password=sha512_hex("carol-pw"))
    async with cloud.logged_in("carol", "carol-pw") as carol:
        env["carol"] = carol
        l3 = await carol.ok("CreateL3Network", name="l3", l2NetworkUuid=env["l2"]["uuid"])
        await carol.ok("AddIpRangeByNetworkCidr", name="r", l3NetworkUuid=l3["uuid"], networkCidr="10.9.0.0/20")
        env["carolL3"] = l3
        yield env


async def _vm(carol: Cloud, env: dict[str, Any], name: str, **extra: Any) -> Any:
    return await carol.api(
        "CreateVmInstance",
        name=name,
        instanceOfferingUuid=env["offering"]["uuid"],
        imageUuid=env["image"]["uuid"],
        l3NetworkUuids=[env["carolL3"]["uuid"]],
        **extra,
    )


async def test_a_new_account_has_zstacks_default_quotas(cloud: Cloud, env: dict[str, Any]) -> None:
    account = env["account"]["uuid"]
    quotas = {q["name"]: q["value"] for q in await env["carol"].query("QueryQuota")}
    assert quotas == {name: quota.default for name, quota in QUOTAS.items()}
    assert quotas["vm.totalNum"] == 20 and quotas["vm.memorySize"] == 85899345920
    # seed 004's QueryLimit reads the same rows
    assert len(await cloud.query("QueryLimit", ("accountUuid", "=", account))) == len(QUOTAS)
    usage = await cloud.api("GetAccountQuotaUsage", uuid=account)
    used = {u["name"]: u["used"] for u in usage.get("usages")}
    assert used["l3.num"] == 1 and used["vm.num"] == 0


async def test_a_create_over_quota_fails_with_id1003_and_changes_nothing(cloud: Cloud, env: dict[str, Any]) -> None:
    account, carol = env["account"]["uuid"], env["carol"]
    await cloud.ok("UpdateQuota", identityUuid=account, name="vm.num", value=1)
    assert (await _vm(carol, env, "vm1")).success
    before = await cloud.snapshot()
    reply = await _vm(carol, env, "vm2")
    assert reply.error.code == "ID.1003"
    assert "vm.num" in reply.error.details and "limit 1" in reply.error.details and "usage 1" in reply.error.details
    assert await cloud.snapshot() == before
    # memory: the offering's 1 GiB against a 1.5 GiB limit with 1 GiB used
    await cloud.ok("UpdateQuota", identityUuid=account, name="vm.num", value=10)
    await cloud.ok("UpdateQuota", identityUuid=account, name="vm.memorySize", value=3 << 29)
    reply = await _vm(carol, env, "vm3")
    assert reply.error.code == "ID.1003" and "vm.memorySize" in reply.error.details
    # lowering a limit below the usage is allowed, and blocks creates
    await cloud.ok("UpdateQuota", identityUuid=account, name="vm.memorySize", value=1 << 40)
    await cloud.ok("UpdateQuota", identityUuid=account, name="l3.num", value=0)
    error = await carol.error("CreateL3Network", name="l3b", l2NetworkUuid=env["l2"]["uuid"])
    assert error.code == "ID.1003" and "l3.num" in error.details
    usage = await cloud.api("GetAccountQuotaUsage", uuid=account)
    assert {u["name"]: u["used"] for u in usage.get("usages")}["vm.num"] == 1
    # a normal account may read its own usage, not change its quotas
    assert (await carol.api("GetAccountQuotaUsage", uuid=account)).success
    assert (await carol.error("UpdateQuota", identityUuid=account, name="vm.num", value=99)).code == "ID.1002"


async def test_limits_are_strictly_two_level(cloud: Cloud, env: dict[str, Any]) -> None:
    account = env["account"]["uuid"]
    project = await cloud.ok("CreateProject", accountUuid=account, name="p1")
    before = await cloud.snapshot()
    for wrong in ({}, {"accountUuid": account, "projectUuid": project["uuid"]}):
        assert (await cloud.error("CreateLimit", name="vm.num", value=3, **wrong)).code == "SYS.1007"
    # the account already has its default limit on vm.num: UpdateLimit changes it
    assert (await cloud.error("CreateLimit", accountUuid=account, name="vm.num", value=3)).code == "SYS.1007"
    error = await cloud.error("CreateLimit", projectUuid=project["uuid"], name="vm.num", value=21)
    assert error.code == "ID.1004" and "exceeds" in error.details
    assert await cloud.snapshot() == before
    limit = await cloud.ok("CreateLimit", projectUuid=project["uuid"], name="vm.num", value=6, description="p1 vms")
    assert (limit["identityUuid"], limit["identityType"], limit["value"]) == (project["uuid"], "Project", 6)
    [account_limit] = await cloud.query("QueryLimit", ("identityUuid", "=", account), ("name", "=", "vm.num"))
    error = await cloud.error("UpdateLimit", uuid=account_limit["uuid"], value=5)
    assert error.code == "ID.1004" and "project" in error.details
    assert (await cloud.ok("UpdateLimit", uuid=limit["uuid"], value=4))["value"] == 4
    assert (await cloud.ok("UpdateLimit", uuid=account_limit["uuid"], value=5))["value"] == 5
    await cloud.ok("DeleteLimit", uuid=limit["uuid"])
    assert await cloud.query("QueryLimit", ("uuid", "=", limit["uuid"])) == []


async def test_twenty_parallel_creates_under_limits_of_10_and_6_6(cloud: Cloud, env: dict[str, Any]) -> None:
    """The account may run 10 VMs, each of its two projects 6: 20 creates at once (10 per project)
    end with exactly 10 VMs, no project above 6."""
    account, carol = env["account"]["uuid"], env["carol"]
    await cloud.ok("UpdateQuota", identityUuid=account, name="vm.num", value=10)
    projects = [await cloud.ok("CreateProject", accountUuid=account, name=f"p{i}") for i in (1, 2)]
    for project in projects:
        await cloud.ok("CreateLimit", projectUuid=project["uuid"], name="vm.num", value=6)
    replies = await asyncio.gather(*(_vm(carol, env, f"vm{i}", projectUuid=projects[i % 2]["uuid"]) for i in range(20)))
    created = [r.inventory for r in replies if r.success]
    refused = [r.error for r in replies if not r.success]
    assert len(created) == 10
    assert {e.code for e in refused} == {"ID.1003"}
    vms = await carol.query("QueryVmInstance")
    assert len(vms) == 10 and all(v["state"] == "Running" for v in vms)
    refs = await cloud.query("QueryAccountResourceRef", ("resourceType", "=", "VmInstanceVO"))
    per_project = {p["uuid"]: sum(r["projectUuid"] == p["uuid"] for r in refs) for p in projects}
    assert sum(per_project.values()) == 10 and max(per_project.values()) <= 6
    usage = await cloud.api("GetAccountQuotaUsage", uuid=account)
    assert {u["name"]: u["used"] for u in usage.get("usages")}["vm.num"] == 10


async def test_change_resource_owner_stays_within_the_new_owners_quotas(cloud: Cloud, env: dict[str, Any]) -> None:
    account = env["account"]["uuid"]
    vm = await cloud.ok(
        "CreateVmInstance",
        name="admins",
        instanceOfferingUuid=env["offering"]["uuid"],
        imageUuid=env["image"]["uuid"],
        l3NetworkUuids=[env["l3"]["uuid"]],
    )
    await cloud.ok("UpdateQuota", identityUuid=account, name="volume.capacity", value=0)
    before = await cloud.snapshot()
    error = await cloud.error("ChangeResourceOwner", resourceUuid=vm["uuid"], accountUuid=account)
    assert error.code == "ID.1003" and "volume.capacity" in error.details  # its root volume would pass it
    assert await cloud.snapshot() == before
    assert await env["carol"].query("QueryVmInstance") == []
    await cloud.ok("UpdateQuota", identityUuid=account, name="volume.capacity", value=1 << 40)
    await cloud.ok("ChangeResourceOwner", resourceUuid=vm["uuid"], accountUuid=account)
    assert [v["uuid"] for v in await env["carol"].query("QueryVmInstance")] == [vm["uuid"]]
