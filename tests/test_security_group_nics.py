"""Security groups with networks and VMs: attaching to L3 networks, nic membership, and
memberships following nics and VMs through detaches, expunges and cascades."""

from __future__ import annotations

from typing import Any

from cloudbus.core.ids import new_uuid
from cloudbus.testing import Cloud
from tests.support.network import build_network, flat_provider
from tests.support.vm_env import create_vm, vm_env


async def _env(cloud: Cloud) -> dict[str, Any]:
    """vm_env with the SecurityGroup service on its L3, a second L3 without it, and a group."""
    env = await vm_env(cloud)
    provider = await flat_provider(cloud)
    await cloud.ok(
        "AttachNetworkServiceToL3Network",
        l3NetworkUuid=env["l3"]["uuid"],
        networkServices={provider["uuid"]: ["SecurityGroup"]},
    )
    env["plain"] = await build_network(
        cloud,
        env["zones"][0]["uuid"],
        [c["uuid"] for c in env["clusters"]],
        name="plain",
        vlan=20,
        start_ip="10.20.0.10",
        end_ip="10.20.0.100",
        gateway="10.20.0.1",
    )
    env["sg"] = await cloud.ok("CreateSecurityGroup", name="sg")
    return env


async def _members(cloud: Cloud, *conditions: tuple[str, str, Any]) -> list[tuple[str, str, str]]:
    refs = await cloud.query("QueryVmNicInSecurityGroup", *conditions)
    return sorted((r["securityGroupUuid"], r["vmNicUuid"], r["vmInstanceUuid"]) for r in refs)


async def _attached_vm(cloud: Cloud, env: dict[str, Any], name: str = "vm") -> dict[str, Any]:
    vm = await create_vm(cloud, env, name=name)
    await cloud.ok("AddVmNicToSecurityGroup", securityGroupUuid=env["sg"]["uuid"], vmNicUuids=[vm["vmNics"][0]["uuid"]])
    return vm


async def test_attach_and_detach_l3(cloud: Cloud) -> None:
    env = await _env(cloud)
    sg, l3, plain = env["sg"]["uuid"], env["l3"]["uuid"], env["plain"]["l3"]["uuid"]
    before = await cloud.snapshot()
    error = await cloud.error("AttachSecurityGroupToL3Network", securityGroupUuid=sg, l3NetworkUuid=plain)
    assert error.code == "SYS.1006" and "SecurityGroup" in error.details
    error = await cloud.error("AttachSecurityGroupToL3Network", securityGroupUuid=sg, l3NetworkUuid=new_uuid())
    assert error.code == "SYS.1003"
    assert await cloud.snapshot() == before

    group = await cloud.ok("AttachSecurityGroupToL3Network", securityGroupUuid=sg, l3NetworkUuid=l3)
    assert group["attachedL3NetworkUuids"] == [l3]
    error = await cloud.error("AttachSecurityGroupToL3Network", securityGroupUuid=sg, l3NetworkUuid=l3)
    assert error.code == "SYS.1007"
    assert [g["uuid"] for g in await cloud.query("QuerySecurityGroup", ("l3Network.name", "=", "net-l3"))] == [sg]
    assert [g["uuid"] for g in await cloud.query("QuerySecurityGroup", ("attachedL3NetworkUuids", "=", l3))] == [sg]
    assert [n["uuid"] for n in await cloud.query("QueryL3Network", ("securityGroup.name", "=", "sg"))] == [l3]

    group = await cloud.ok("DetachSecurityGroupFromL3Network", securityGroupUuid=sg, l3NetworkUuid=l3)
    assert group["attachedL3NetworkUuids"] == []
    error = await cloud.error("DetachSecurityGroupFromL3Network", securityGroupUuid=sg, l3NetworkUuid=l3)
    assert error.code == "SYS.1007"


async def test_add_and_remove_nics(cloud: Cloud) -> None:
    env = await _env(cloud)
    sg = env["sg"]["uuid"]
    vm = await create_vm(cloud, env, l3NetworkUuids=[env["l3"]["uuid"], env["plain"]["l3"]["uuid"]])
    nic, plain_nic = (sorted(vm["vmNics"], key=lambda n: n["deviceId"])[i]["uuid"] for i in (0, 1))

    before = await cloud.snapshot()
    error = await cloud.error("AddVmNicToSecurityGroup", securityGroupUuid=sg, vmNicUuids=[nic])
    assert error.code == "SG.1000" and nic in error.details  # the SG is not on the nic's L3 yet
    await cloud.ok("AttachSecurityGroupToL3Network", securityGroupUuid=sg, l3NetworkUuid=env["l3"]["uuid"])
    before = await cloud.snapshot()
    error = await cloud.error("AddVmNicToSecurityGroup", securityGroupUuid=sg, vmNicUuids=[nic, plain_nic])
    assert error.code == "SG.1000" and plain_nic in error.details
    error = await cloud.error("AddVmNicToSecurityGroup", securityGroupUuid=sg, vmNicUuids=[new_uuid()])
    assert error.code == "SYS.1003"
    error = await cloud.error("AddVmNicToSecurityGroup", securityGroupUuid=sg, vmNicUuids=[])
    assert error.code == "SYS.1007"
    assert await cloud.snapshot() == before

    await cloud.ok("AddVmNicToSecurityGroup", securityGroupUuid=sg, vmNicUuids=[nic])
    await cloud.ok("AddVmNicToSecurityGroup", securityGroupUuid=sg, vmNicUuids=[nic])  # already in: no change
    assert await _members(cloud) == [(sg, nic, vm["uuid"])]
    (ref,) = await cloud.ok("QueryVmNicInSecurityGroup")
    assert ref["priority"] == 1
    assert [n["uuid"] for n in await cloud.query("QueryVmNic", ("securityGroup.name", "=", "sg"))] == [nic]
    ip = next(n["ip"] for n in vm["vmNics"] if n["uuid"] == nic)
    assert [g["uuid"] for g in await cloud.query("QuerySecurityGroup", ("vmNic.ip", "=", ip))] == [sg]
    assert await _members(cloud, ("vmInstance.name", "=", "vm")) == [(sg, nic, vm["uuid"])]

    await cloud.ok("DeleteVmNicFromSecurityGroup", securityGroupUuid=sg, vmNicUuids=[nic, new_uuid()])
    assert await _members(cloud) == []


async def test_detaching_the_l3_takes_its_nics_out(cloud: Cloud) -> None:
    env = await _env(cloud)
    sg, l3 = env["sg"]["uuid"], env["l3"]["uuid"]
    await cloud.ok("AttachSecurityGroupToL3Network", securityGroupUuid=sg, l3NetworkUuid=l3)
    await _attached_vm(cloud, env)
    await cloud.ok("DetachSecurityGroupFromL3Network", securityGroupUuid=sg, l3NetworkUuid=l3)
    assert await _members(cloud) == []


async def test_delete_security_group_removes_memberships_and_bindings(cloud: Cloud) -> None:
    env = await _env(cloud)
    sg, l3 = env["sg"]["uuid"], env["l3"]["uuid"]
    await cloud.ok("AttachSecurityGroupToL3Network", securityGroupUuid=sg, l3NetworkUuid=l3)
    vm = await _attached_vm(cloud, env)
    await cloud.ok("DeleteSecurityGroup", uuid=sg)
    assert await _members(cloud) == []
    assert await cloud.query("QueryL3Network", ("securityGroup.uuid", "=", sg)) == []
    (nic,) = (await cloud.query("QueryVmInstance", ("uuid", "=", vm["uuid"])))[0]["vmNics"]
    assert nic["uuid"] == vm["vmNics"][0]["uuid"]  # the nic itself stays


async def test_memberships_follow_their_nics(cloud: Cloud) -> None:
    env = await _env(cloud)
    sg, l3 = env["sg"]["uuid"], env["l3"]["uuid"]
    await cloud.ok("AttachSecurityGroupToL3Network", securityGroupUuid=sg, l3NetworkUuid=l3)
    stopped = await _attached_vm(cloud, env, "stopped")
    destroyed = await _attached_vm(cloud, env, "destroyed")
    detached = await _attached_vm(cloud, env, "detached")

    await cloud.ok("StopVmInstance", uuid=stopped["uuid"])
    await cloud.ok("DestroyVmInstance", uuid=destroyed["uuid"])  # Delay policy: nic rows stay
    await cloud.ok("DetachL3NetworkFromVm", vmNicUuid=detached["vmNics"][0]["uuid"])
    assert {m[2] for m in await _members(cloud)} == {stopped["uuid"], destroyed["uuid"]}

    await cloud.ok("ExpungeVmInstance", uuid=destroyed["uuid"])
    assert {m[2] for m in await _members(cloud)} == {stopped["uuid"]}


async def test_deleting_a_host_keeps_memberships_deleting_the_l3_drops_them(cloud: Cloud) -> None:
    env = await _env(cloud)
    sg, l3 = env["sg"]["uuid"], env["l3"]["uuid"]
    await cloud.ok("AttachSecurityGroupToL3Network", securityGroupUuid=sg, l3NetworkUuid=l3)
    vm = await _attached_vm(cloud, env)
    await cloud.ok("DeleteHost", uuid=vm["hostUuid"])  # stops the VM; its nic stays in the group
    assert [m[2] for m in await _members(cloud)] == [vm["uuid"]]

    await cloud.ok("DeleteL3Network", uuid=l3)  # detaches the nic and unbinds the group
    assert await _members(cloud) == []
    (group,) = await cloud.query("QuerySecurityGroup", ("uuid", "=", sg))
    assert group["attachedL3NetworkUuids"] == []


async def test_delete_zone_leaves_only_the_group(cloud: Cloud) -> None:
    env = await _env(cloud)
    sg, l3 = env["sg"]["uuid"], env["l3"]["uuid"]
    await cloud.ok("AttachSecurityGroupToL3Network", securityGroupUuid=sg, l3NetworkUuid=l3)
    await cloud.ok("AddSecurityGroupRule", securityGroupUuid=sg, rules=[{"type": "Ingress", "protocol": "ICMP"}])
    await _attached_vm(cloud, env)
    await cloud.ok("DeleteZone", uuid=env["zones"][0]["uuid"])
    assert await _members(cloud) == []
    (group,) = await cloud.ok("QuerySecurityGroup")
    assert (group["attachedL3NetworkUuids"], len(group["rules"])) == ([], 1)
