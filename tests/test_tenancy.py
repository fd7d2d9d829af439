"""Accounts that cannot see or touch each other's resources; sharing, ownership changes, and
DeleteAccount through everything an account owns (issue 8), on both backends.

Alice and bob are normal accounts; the admin builds the cloud and shares its image, its
instance offering and its L2 network with everyone, so each of them can build an L3 network
of their own and run VMs on it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import pytest

from cloudbus.core.ids import new_uuid
from cloudbus.core.passwords import sha512_hex
from cloudbus.testing import Cloud
from tests.support.invariants import check_cloud


class Tenants:
    def __init__(self, admin: Cloud, env: dict[str, Any], accounts: dict[str, dict[str, Any]]) -> None:
        self.admin, self.env, self.accounts = admin, env, accounts
        self.as_: dict[str, Cloud] = {}

    async def network(self, who: str) -> dict[str, Any]:
        cloud = self.as_[who]
        l3 = await cloud.ok("CreateL3Network", name=f"{who}-l3", l2NetworkUuid=self.env["l2"]["uuid"])
        octet = 1 + sorted(self.as_).index(who)
        await cloud.ok("AddIpRangeByNetworkCidr", name="r", l3NetworkUuid=l3["uuid"], networkCidr=f"10.{octet}.0.0/24")
        return l3

    async def vm(self, who: str, l3: dict[str, Any], name: str | None = None) -> dict[str, Any]:
        return await self.as_[who].ok(
            "CreateVmInstance",
            name=name or f"{who}-vm",
            instanceOfferingUuid=self.env["offering"]["uuid"],
            imageUuid=self.env["image"]["uuid"],
            l3NetworkUuids=[l3["uuid"]],
        )


@pytest.fixture
async def tenants(cloud: Cloud) -> AsyncIterator[Tenants]:
    env = await cloud.build_vm_cloud()
    public = [env["image"]["uuid"], env["offering"]["uuid"], env["l2"]["uuid"]]
    shared = await cloud.ok("ShareResource", resourceUuids=public, toPublic=True)
    assert {s["resourceUuid"] for s in shared} == set(public)
    accounts = {
        name: await cloud.ok("CreateAccount", name=name, password=sha512_hex(f"{name}-pw")) for name in ("alice", "bob")
    }
    t = Tenants(cloud, env, accounts)
    async with AsyncExitStack() as stack:
        for name in accounts:
            t.as_[name] = await stack.enter_async_context(cloud.logged_in(name, f"{name}-pw"))
        yield t


async def test_accounts_see_only_their_own_and_shared_resources(tenants: Tenants) -> None:
    alice, bob, admin = tenants.as_["alice"], tenants.as_["bob"], tenants.admin
    l3 = await tenants.network("alice")
    vm = await tenants.vm("alice", l3)
    assert vm["state"] == "Running"

    assert [v["uuid"] for v in await alice.query("QueryVmInstance")] == [vm["uuid"]]
    assert await bob.query("QueryVmInstance") == []
    assert await alice.ok("QueryVmInstance", count=True) == 1
    assert await bob.ok("QueryVmInstance", count=True) == 0
    assert vm["uuid"] in {v["uuid"] for v in await admin.query("QueryVmInstance")}
    # the VM's parts and its root volume are alice's too
    assert [v["vmInstanceUuid"] for v in await alice.query("QueryVolume")] == [vm["uuid"]]
    assert await bob.query("QueryVolume") == []
    assert await bob.query("QueryVmNic") == [] and len(await alice.query("QueryVmNic")) == 1
    assert await bob.query("QueryIpRange") == [] and len(await alice.query("QueryIpRange")) == 1

    # shared resources are visible to every account; the infrastructure to none
    assert [i["uuid"] for i in await bob.query("QueryImage")] == [tenants.env["image"]["uuid"]]
    assert [o["uuid"] for o in await bob.query("QueryInstanceOffering")] == [tenants.env["offering"]["uuid"]]
    assert await bob.query("QueryZone") == [] and await bob.query("QueryHost") == []
    assert await bob.ok("QueryPrimaryStorage", count=True) == 0

    # a condition through a resource outside the view never matches (nor counts)
    through = ("vmInstance.name", "=", "alice-vm")
    assert [o["uuid"] for o in await admin.query("QueryInstanceOffering", through)] == [tenants.env["offering"]["uuid"]]
    assert [o["uuid"] for o in await alice.query("QueryInstanceOffering", through)] == [tenants.env["offering"]["uuid"]]
    assert await bob.query("QueryInstanceOffering", through) == []
    assert await bob.ok("QueryInstanceOffering", count=True, conditions=[_cond(*through)]) == 0
    assert await bob.query("QueryL3Network", ("vmNic.vmInstanceUuid", "=", vm["uuid"])) == []

    # accounts see their own account, projects and quotas only
    assert [a["name"] for a in await alice.query("QueryAccount")] == ["alice"]
    assert await alice.query("QueryAccount", ("name", "=", "bob")) == []
    assert {p["accountUuid"] for p in await alice.query("QueryProject")} == {tenants.accounts["alice"]["uuid"]}
    assert {q["accountUuid"] for q in await bob.query("QueryQuota")} == {tenants.accounts["bob"]["uuid"]}


def _cond(name: str, op: str, value: str) -> dict[str, str]:
    return {"name": name, "op": op, "value": value}


async def test_another_accounts_uuid_answers_as_an_unknown_one(tenants: Tenants) -> None:
    alice, bob = tenants.as_["alice"], tenants.as_["bob"]
    vm = await tenants.vm("alice", await tenants.network("alice"))
    before = await tenants.admin.snapshot()
    unknown = new_uuid()
    for api in ("StopVmInstance", "RebootVmInstance", "PauseVmInstance", "UpdateVmInstance"):
        theirs = await bob.error(api, uuid=vm["uuid"])
        nobodys = await bob.error(api, uuid=unknown)
        assert theirs.code == nobodys.code == "SYS.1003", theirs
        assert theirs.details.replace(vm["uuid"], "U") == nobodys.details.replace(unknown, "U")
    # a delete of an unknown uuid succeeds doing nothing: so does one of another account's
    for api, uuid in (("DestroyVmInstance", vm["uuid"]), ("DeleteL3Network", vm["vmNics"][0]["l3NetworkUuid"])):
        assert (await bob.api(api, uuid=uuid)).to_json() == (await bob.api(api, uuid=unknown)).to_json()
    # using another account's L3 to create a VM
    error = await bob.error(
        "CreateVmInstance",
        name="intruder",
        instanceOfferingUuid=tenants.env["offering"]["uuid"],
        imageUuid=tenants.env["image"]["uuid"],
        l3NetworkUuids=[vm["vmNics"][0]["l3NetworkUuid"]],
    )
    assert error.code == "SYS.1003"
    # a normal account never acts on the infrastructure, nor on accounts
    assert (await alice.error("CreateZone", name="z")).code == "ID.1002"
    assert (await alice.error("MigrateVm", vmInstanceUuid=vm["uuid"])).code == "ID.1002"
    assert (await alice.error("DeleteHost", uuid=tenants.env["hosts"][0]["uuid"])).code == "ID.1002"
    assert (await alice.error("CreateAccount", name="eve", password=sha512_hex("x"))).code == "ID.1002"
    assert (await alice.error("UpdateQuota", identityUuid=vm["uuid"], name="vm.num", value=99)).code == "ID.1002"
    # a shared resource may be used, not changed: deleting it is deleting an unknown one
    assert (await alice.api("DeleteImage", uuid=tenants.env["image"]["uuid"])).success
    assert (await alice.error("UpdateImage", uuid=tenants.env["image"]["uuid"], name="mine")).code == "SYS.1003"
    assert await tenants.admin.snapshot() == before
    [vm_now] = await alice.query("QueryVmInstance")
    assert vm_now["state"] == "Running"


async def test_sharing_and_revoking(tenants: Tenants) -> None:
    bob, admin = tenants.as_["bob"], tenants.admin
    image = tenants.env["image"]["uuid"]
    await admin.ok("RevokeResourceSharing", resourceUuids=[image], toPublic=True)
    assert await bob.query("QueryImage") == []
    l3 = await tenants.network("bob")
    error = await bob.error(
        "CreateVmInstance",
        name="vm",
        instanceOfferingUuid=tenants.env["offering"]["uuid"],
        imageUuid=image,
        l3NetworkUuids=[l3["uuid"]],
    )
    assert error.code == "SYS.1003" and image in error.details
    # shared with bob alone: bob sees it, alice does not
    await admin.ok("ShareResource", resourceUuids=[image], accountUuids=[tenants.accounts["bob"]["uuid"]])
    assert [i["uuid"] for i in await bob.query("QueryImage")] == [image]
    assert await tenants.as_["alice"].query("QueryImage") == []
    vm = await tenants.vm("bob", l3)
    assert vm["imageUuid"] == image
    # the infrastructure cannot be shared; an unknown uuid is not found
    assert (await admin.error("ShareResource", resourceUuids=[tenants.env["zone"]["uuid"]], toPublic=True)).code == (
        "SYS.1007"
    )
    assert (await admin.error("ShareResource", resourceUuids=[new_uuid()], toPublic=True)).code == "SYS.1003"
    assert (await admin.error("ShareResource", resourceUuids=[image])).code == "SYS.1007"


async def test_change_resource_owner(tenants: Tenants) -> None:
    alice, bob, admin = tenants.as_["alice"], tenants.as_["bob"], tenants.admin
    l3 = await tenants.network("alice")
    vm = await tenants.vm("alice", l3)
    ref = await admin.ok("ChangeResourceOwner", resourceUuid=vm["uuid"], accountUuid=tenants.accounts["bob"]["uuid"])
    assert (ref["resourceUuid"], ref["accountUuid"]) == (vm["uuid"], tenants.accounts["bob"]["uuid"])
    assert [v["uuid"] for v in await bob.query("QueryVmInstance")] == [vm["uuid"]]
    assert await alice.query("QueryVmInstance") == []
    # its volumes went with it
    assert [v["vmInstanceUuid"] for v in await bob.query("QueryVolume")] == [vm["uuid"]]
    assert await alice.query("QueryVolume") == []
    assert (await bob.ok("StopVmInstance", uuid=vm["uuid"]))["state"] == "Stopped"
    [owned] = await admin.query("QueryAccountResourceRef", ("resourceUuid", "=", vm["uuid"]))
    assert owned["accountUuid"] == tenants.accounts["bob"]["uuid"]
    # the infrastructure has no owner to change
    error = await admin.error(
        "ChangeResourceOwner", resourceUuid=tenants.env["zone"]["uuid"], accountUuid=tenants.accounts["bob"]["uuid"]
    )
    assert error.code == "SYS.1007"


async def test_delete_account_deletes_what_it_owns(tenants: Tenants, db_url: str) -> None:
    admin = tenants.admin
    [ps_before] = await admin.query("QueryPrimaryStorage")
    alice_l3 = await tenants.network("alice")
    alice_vm = await tenants.vm("alice", alice_l3)
    await tenants.as_["alice"].ok("CreateSecurityGroup", name="sg")
    bob_vm = await tenants.vm("bob", await tenants.network("bob"))
    alice = tenants.accounts["alice"]["uuid"]

    await admin.ok("DeleteAccount", uuid=alice)

    assert await admin.query("QueryAccount", ("uuid", "=", alice)) == []
    assert await admin.query("QueryVmInstance", ("uuid", "=", alice_vm["uuid"])) == []
    assert await admin.query("QueryVolume", ("vmInstanceUuid", "=", alice_vm["uuid"])) == []
    assert await admin.query("QueryL3Network", ("uuid", "=", alice_l3["uuid"])) == []
    assert await admin.query("QuerySecurityGroup", ("name", "=", "sg")) == []
    assert await admin.query("QueryAccountResourceRef", ("accountUuid", "=", alice)) == []
    assert await admin.query("QueryQuota", ("accountUuid", "=", alice)) == []
    # bob's and the admin's resources stay
    [still] = await admin.query("QueryVmInstance", ("uuid", "=", bob_vm["uuid"]))
    assert still["state"] == "Running"
    assert await admin.query("QueryImage", ("uuid", "=", tenants.env["image"]["uuid"]))
    # her volumes' bits and capacity were given back: the storage holds only bob's VM
    [ps] = await admin.query("QueryPrimaryStorage")
    [bob_root] = await admin.query("QueryVolume", ("vmInstanceUuid", "=", bob_vm["uuid"]))
    assert ps["availableCapacity"] == ps_before["availableCapacity"] - bob_root["size"]
    assert await check_cloud(db_url) == []
    # alice's session went with her account
    assert (await tenants.as_["alice"].error("QueryVmInstance")).code == "ID.1001"


async def test_tags_go_with_their_resource(tenants: Tenants) -> None:
    alice, bob = tenants.as_["alice"], tenants.as_["bob"]
    vm = await tenants.vm("alice", await tenants.network("alice"))
    tag = await alice.ok("CreateUserTag", resourceType="VmInstanceVO", resourceUuid=vm["uuid"], tag="web")
    error = await bob.error("CreateUserTag", resourceType="VmInstanceVO", resourceUuid=vm["uuid"], tag="mine")
    assert error.code == "SYS.1003"
    assert (await bob.api("DeleteTag", uuid=tag["uuid"])).success  # as for an unknown tag: nothing done
    assert [t["uuid"] for t in await alice.query("QueryUserTag")] == [tag["uuid"]]
    assert await bob.query("QueryUserTag") == []
    assert await bob.query("QueryVmInstance", ("__userTag__", "=", "web")) == []
    await alice.ok("DeleteTag", uuid=tag["uuid"])
    assert await alice.query("QueryUserTag") == []
