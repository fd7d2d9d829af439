"""Exactly-once API execution and takeover of a dead node's half-done work, on one node.

The multi-node tests (tests/test_multinode.py) kill real server processes; these leave the
state a node dies in (an operation journal, an API record still Running, capacity and IPs
taken) exactly as a `kill -9` between two steps does, then let the takeover settle it, on
both backends. They check what a user sees: the VM, the host's capacity, the IPs, and the
answer a retry of the same API message gets.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select, update

from cloudbus import inventory
from cloudbus.apis.internal.host import AllocateHost
from cloudbus.apis.internal.network import AllocateIp
from cloudbus.apis.internal.storage import AllocatePrimaryStorage, SettlePrimaryStorageReservation
from cloudbus.apis.internal.volume import CreateVmVolume
from cloudbus.apis.vm_instance import CreateVmInstance, MigrateVm, StopVmInstance
from cloudbus.apis.zone import CreateZone, UpdateZone
from cloudbus.core.ids import new_uuid
from cloudbus.inventory.host import host_allocation_table
from cloudbus.inventory.management_node import api_record_table
from cloudbus.inventory.primary_storage import primary_storage_reservation_table
from cloudbus.services.journal import Journal
from cloudbus.services.records import Records
from cloudbus.testing import Cloud
from tests.support import vm_env


async def test_the_same_api_id_twice_runs_once_and_answers_the_same(cloud: Cloud) -> None:
    msg_id = new_uuid()
    first, second = await asyncio.gather(
        cloud.client.request(CreateZone(name="once"), msg_id=msg_id),
        cloud.client.request(CreateZone(name="once"), msg_id=msg_id),
    )
    again = await cloud.client.request(CreateZone(name="once"), msg_id=msg_id)
    assert first.success and second.success and again.success
    assert first.inventory == second.inventory == again.inventory
    assert [z["uuid"] for z in await cloud.query("QueryZone", ("name", "=", "once"))] == [first.inventory["uuid"]]


async def test_a_new_id_runs_again(cloud: Cloud) -> None:
    a = await cloud.client.request(CreateZone(name="twice"), msg_id=new_uuid())
    b = await cloud.client.request(CreateZone(name="twice"), msg_id=new_uuid())
    assert a.inventory["uuid"] != b.inventory["uuid"]


async def test_a_vm_create_delivered_twice_at_once_creates_one_vm(cloud: Cloud) -> None:
    # CreateVmInstance writes its record in its first transaction (record_late): the second
    # delivery must still find it there, run nothing, and answer what the first answered
    env = await _vm_cloud(cloud)
    host = env["hosts"][0]
    msg_id = new_uuid()
    create = CreateVmInstance(
        name="once",
        instanceOfferingUuid=env["offering"]["uuid"],
        imageUuid=env["image"]["uuid"],
        l3NetworkUuids=[env["l3"]["uuid"]],
    )
    first, second = await asyncio.gather(
        cloud.client.request(create, msg_id=msg_id),
        cloud.client.request(create, msg_id=msg_id),
    )
    assert first.success and second.success, (first.error, second.error)
    assert first.inventory == second.inventory
    vms = await cloud.query("QueryVmInstance", ("name", "=", "once"))
    assert [v["uuid"] for v in vms] == [first.inventory["uuid"]]
    assert (await vm_env.host(cloud, host["uuid"]))["availableCpuCapacity"] == 8 - vms[0]["cpuNum"]
    assert len(await vm_env.used_ips(cloud)) == 1


async def test_an_api_that_failed_before_writing_answers_its_retry_the_same(cloud: Cloud) -> None:
    # a late-recorded API that fails before any write is still recorded: its retry gets the
    # same error without running again
    msg_id = new_uuid()
    missing_zone = UpdateZone(uuid=new_uuid(), name="nowhere")
    # straight to the zone service (only a node may: clients reach it through the portal)
    first = await cloud.node.bus.call(missing_zone, service="zone", msg_id=msg_id)
    again = await cloud.node.bus.call(missing_zone, service="zone", msg_id=msg_id)
    assert not first.success and first.error is not None
    assert again.error == first.error
    async with cloud.db.read() as conn:
        state = await conn.scalar(select(api_record_table.c.state).where(api_record_table.c.id == msg_id))
    assert state == "Done"


# --- a node that died half-way ------------------------------------------------------------------


async def _vm_cloud(cloud: Cloud, hosts: int = 1) -> dict[str, Any]:
    return await cloud.build_vm_cloud(hosts=hosts, cpu=8, memory=8 << 30)


async def _died_while(cloud: Cloud, vm: dict[str, Any], op: str, **state: Any) -> tuple[str, str]:
    """Leave what a node killed during `op` on `vm` leaves: its journal and a Running API record."""
    dead, api_id = new_uuid(), new_uuid()
    await Records(cloud.db, dead)._claim(api_id, "SomeVmApi")
    await Journal.open(
        cloud.db, node=dead, service="vmInstance", resource=vm["uuid"], kind="vm.op", api_id=api_id,
        uuid=vm["uuid"], op=op, vm=vm, **state,
    )  # fmt: skip
    return dead, api_id


async def _take_over(cloud: Cloud) -> None:
    membership = next(s for s in cloud.node.services if s.service_id == "managementNode")
    await membership.takeover()


async def _set_vm(cloud: Cloud, uuid: str, **values: Any) -> None:
    table = inventory.get("VmInstance").table
    async with cloud.db.tx() as conn:
        await conn.execute(update(table).where(table.c.uuid == uuid).values(**values))


async def test_a_create_cut_short_is_rolled_back_and_its_retry_says_so(cloud: Cloud) -> None:
    env = await _vm_cloud(cloud)
    host = env["hosts"][0]
    vm = await vm_env.create_vm(cloud, env, strategy="JustCreate")
    row = await _raw_vm(cloud, vm["uuid"])
    # the dead node had moved it to Starting, reserved its host and taken an IP for its nic,
    # and died before writing any of that on the VM's rows
    await _set_vm(cloud, vm["uuid"], state="Starting")
    await cloud.node.bus.call_ok(
        AllocateHost(cpuNum=vm["cpuNum"], memorySize=vm["memorySize"], hostUuid=host["uuid"], ownerUuid=vm["uuid"])
    )
    nic = vm["vmNics"][0]
    await cloud.node.bus.call_ok(AllocateIp(l3NetworkUuid=env["l3"]["uuid"], vmNicUuid=nic["uuid"]))
    assert (await vm_env.host(cloud, host["uuid"]))["availableCpuCapacity"] == 8 - vm["cpuNum"]
    _, api_id = await _died_while(cloud, row, "create")

    await _take_over(cloud)

    assert await cloud.query("QueryVmInstance", ("uuid", "=", vm["uuid"])) == []
    assert await cloud.query("QueryVmNic", ("uuid", "=", nic["uuid"])) == []
    after = await vm_env.host(cloud, host["uuid"])
    assert (after["availableCpuCapacity"], after["availableMemoryCapacity"]) == (8, 8 << 30)
    assert await _used_ips(cloud, nic["uuid"]) == []
    again = CreateVmInstance(
        name="vm", instanceOfferingUuid=env["offering"]["uuid"], imageUuid=env["image"]["uuid"],
        l3NetworkUuids=[env["l3"]["uuid"]],
    )  # fmt: skip
    retry = await cloud.client.request(again, msg_id=api_id)
    assert not retry.success and retry.error.code == "SYS.1012"
    assert "rolled back" in retry.error.details
    assert await cloud.query("QueryVmInstance") == []


@pytest.mark.parametrize("settled", [False, True], ids=["reservation-open", "reservation-settled"])
async def test_a_create_cut_short_after_its_volumes_gives_every_byte_back_once(cloud: Cloud, settled: bool) -> None:
    # the dead node had reserved primary storage for the VM and created its root volume out of
    # that reservation; then it died before settling it (or just after): either way the
    # storage ends as it was before, with no volume and no reservation left
    env = await _vm_cloud(cloud)
    host, ps = env["hosts"][0], env["ps"]
    await vm_env.create_vm(cloud, env)  # storage in use: a byte returned twice would show
    vm = await vm_env.create_vm(cloud, env, strategy="JustCreate")
    row = await _raw_vm(cloud, vm["uuid"])
    before = await _ps_available(cloud, ps["uuid"])
    await _set_vm(cloud, vm["uuid"], state="Starting")
    volumes = [new_uuid()]
    size = 3 << 30
    await cloud.node.bus.call_ok(_reserve(vm, host, size))
    await cloud.node.bus.call_ok(_root_volume(vm, ps["uuid"], host["uuid"], volumes[0], size))
    if settled:
        await cloud.node.bus.call_ok(SettlePrimaryStorageReservation(ownerUuid=vm["uuid"], giveBack=False))
    assert await _ps_available(cloud, ps["uuid"]) == before - size
    await _died_while(cloud, row, "create", volumeUuids=volumes)

    await _take_over(cloud)

    assert await cloud.query("QueryVmInstance", ("uuid", "=", vm["uuid"])) == []
    assert await cloud.query("QueryVolume", ("uuid", "=", volumes[0])) == []
    assert await _ps_available(cloud, ps["uuid"]) == before
    assert await _reservations(cloud) == []


async def test_a_volume_the_dead_node_asked_for_too_late_is_refused(cloud: Cloud) -> None:
    # its creation was rolled back (the reservation given back) before the volume service got
    # to it: nothing may be carved out of capacity already returned
    env = await _vm_cloud(cloud)
    host, ps = env["hosts"][0], env["ps"]
    await vm_env.create_vm(cloud, env)
    vm = await vm_env.create_vm(cloud, env, strategy="JustCreate")
    before = await _ps_available(cloud, ps["uuid"])
    await cloud.node.bus.call_ok(_reserve(vm, host, 1 << 30))
    gave_back = await cloud.node.bus.call_ok(SettlePrimaryStorageReservation(ownerUuid=vm["uuid"], giveBack=True))
    again = await cloud.node.bus.call_ok(SettlePrimaryStorageReservation(ownerUuid=vm["uuid"], giveBack=True))
    assert (gave_back.get("settled"), again.get("settled")) == (True, False)

    late = await cloud.node.bus.call(_root_volume(vm, ps["uuid"], host["uuid"], new_uuid(), 1 << 30))

    assert not late.success and late.error.code == "PS.1004"
    assert await cloud.query("QueryVolume", ("vmInstanceUuid", "=", vm["uuid"])) == []
    assert await _ps_available(cloud, ps["uuid"]) == before


def _reserve(vm: dict[str, Any], host: dict[str, Any], size: int) -> AllocatePrimaryStorage:
    return AllocatePrimaryStorage(
        size=size, clusterUuid=host["clusterUuid"], hostUuid=host["uuid"], ownerUuid=vm["uuid"]
    )  # fmt: skip


def _root_volume(vm: dict[str, Any], ps_uuid: str, host_uuid: str, uuid: str, size: int) -> CreateVmVolume:
    return CreateVmVolume(
        resourceUuid=uuid, vmInstanceUuid=vm["uuid"], type="Root", name="root", size=size,
        primaryStorageUuid=ps_uuid, hostUuid=host_uuid, rootImageUuid=vm["imageUuid"], reservedBy=vm["uuid"],
    )  # fmt: skip


async def _ps_available(cloud: Cloud, uuid: str) -> int:
    [ps] = await cloud.query("QueryPrimaryStorage", ("uuid", "=", uuid))
    return int(ps["availableCapacity"])


async def _reservations(cloud: Cloud) -> list[Any]:
    async with cloud.db.read() as conn:
        return list((await conn.execute(select(primary_storage_reservation_table))).all())


async def test_a_stop_cut_short_is_finished_and_its_retry_gets_the_stopped_vm(cloud: Cloud) -> None:
    env = await _vm_cloud(cloud)
    host = env["hosts"][0]
    vm = await vm_env.create_vm(cloud, env)
    row = await _raw_vm(cloud, vm["uuid"])
    await _set_vm(cloud, vm["uuid"], state="Stopping")
    _, api_id = await _died_while(cloud, row, "stop")

    await _take_over(cloud)

    [stopped] = await cloud.query("QueryVmInstance", ("uuid", "=", vm["uuid"]))
    assert (stopped["state"], stopped["hostUuid"], stopped["lastHostUuid"]) == ("Stopped", None, host["uuid"])
    after = await vm_env.host(cloud, host["uuid"])
    assert (after["availableCpuCapacity"], after["availableMemoryCapacity"]) == (8, 8 << 30)
    assert await _allocations(cloud, vm["uuid"]) == []
    retry = await cloud.client.request(StopVmInstance(uuid=vm["uuid"]), msg_id=api_id)
    assert retry.success and retry.inventory["state"] == "Stopped"


async def test_a_migration_cut_short_is_rolled_back_to_the_source_host(cloud: Cloud) -> None:
    env = await _vm_cloud(cloud, hosts=2)
    src, dest = env["hosts"][0]["uuid"], env["hosts"][1]["uuid"]
    vm = await vm_env.create_vm(cloud, env, hostUuid=src)
    row = await _raw_vm(cloud, vm["uuid"])
    await cloud.node.bus.call_ok(
        AllocateHost(cpuNum=vm["cpuNum"], memorySize=vm["memorySize"], hostUuid=dest, ownerUuid=vm["uuid"])
    )
    await _set_vm(cloud, vm["uuid"], state="Migrating")
    _, api_id = await _died_while(cloud, row, "migrate")

    await _take_over(cloud)

    [back] = await cloud.query("QueryVmInstance", ("uuid", "=", vm["uuid"]))
    assert (back["state"], back["hostUuid"]) == ("Running", src)
    assert (await vm_env.host(cloud, dest))["availableCpuCapacity"] == 8
    assert (await vm_env.host(cloud, src))["availableCpuCapacity"] == 8 - vm["cpuNum"]
    assert await _allocations(cloud, vm["uuid"]) == [(src, vm["cpuNum"])]
    retry = await cloud.client.request(MigrateVm(vmInstanceUuid=vm["uuid"]), msg_id=api_id)
    assert not retry.success and retry.error.code == "SYS.1012"


async def test_takeover_leaves_the_work_of_live_nodes_alone(cloud: Cloud) -> None:
    env = await _vm_cloud(cloud)
    vm = await vm_env.create_vm(cloud, env)
    row = await _raw_vm(cloud, vm["uuid"])
    await _set_vm(cloud, vm["uuid"], state="Stopping")
    api_id = new_uuid()
    await Records(cloud.db, cloud.node.uuid)._claim(api_id, "StopVmInstance")
    await Journal.open(
        cloud.db, node=cloud.node.uuid, service="vmInstance", resource=vm["uuid"], kind="vm.op", api_id=api_id,
        uuid=vm["uuid"], op="stop", vm=row,
    )  # fmt: skip

    await _take_over(cloud)

    [still] = await cloud.query("QueryVmInstance", ("uuid", "=", vm["uuid"]))
    assert still["state"] == "Stopping"  # this node is alive: its operation is its own business


# --- helpers ----------------------------------------------------------------------------------------


async def _raw_vm(cloud: Cloud, uuid: str) -> dict[str, Any]:
    table = inventory.get("VmInstance").table
    async with cloud.db.read() as conn:
        return dict((await conn.execute(select(table).where(table.c.uuid == uuid))).mappings().one())


async def _used_ips(cloud: Cloud, nic_uuid: str) -> list[str]:
    table = inventory.get("UsedIp").table
    async with cloud.db.read() as conn:
        return list((await conn.execute(select(table.c.ip).where(table.c.vmNicUuid == nic_uuid))).scalars())


async def _allocations(cloud: Cloud, owner: str) -> list[tuple[str, int]]:
    a = host_allocation_table
    async with cloud.db.read() as conn:
        rows = await conn.execute(select(a.c.hostUuid, a.c.cpuNum).where(a.c.ownerUuid == owner))
        return [tuple(r) for r in rows]
