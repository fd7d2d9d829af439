"""Simulator hosts: connect, capacity, state and status, reconnect, failures."""

from __future__ import annotations

import asyncio

from cloudbus.testing import Cloud


async def _cluster(cloud: Cloud, hypervisor: str = "Simulator") -> dict:
    zone = await cloud.ok("CreateZone", name="z")
    return await cloud.ok("CreateCluster", name="c", zoneUuid=zone["uuid"], hypervisorType=hypervisor)


async def test_add_simulator_host_connects_with_capacity(cloud: Cloud) -> None:
    cluster = await _cluster(cloud)
    host = await cloud.ok(
        "AddSimulatorHost",
        name="h1",
        managementIp="10.0.0.11",
        clusterUuid=cluster["uuid"],
        cpuCapacity=32,
        memoryCapacity=64 << 30,
    )
    assert (host["status"], host["state"], host["hypervisorType"]) == ("Connected", "Enabled", "Simulator")
    assert (host["zoneUuid"], host["clusterUuid"]) == (cluster["zoneUuid"], cluster["uuid"])
    assert host["totalCpuCapacity"] == host["availableCpuCapacity"] == 32
    assert host["totalMemoryCapacity"] == host["availableMemoryCapacity"] == 64 << 30
    assert (host["cpuCapacity"], host["memoryCapacity"]) == (32, 64 << 30)
    assert [c.command for c in cloud.sim.commands if c.uuid == host["uuid"]] == ["connect"]


async def test_host_goes_connecting_then_connected(cloud: Cloud) -> None:
    cluster = await _cluster(cloud)
    seen: list[str] = []

    async def record(event: object) -> None:
        seen.append(event.data["newStatus"])  # type: ignore[attr-defined]

    await cloud.node.bus.subscribe("host.status.changed", record)
    await cloud.ok("AddSimulatorHost", name="h", managementIp="10.0.0.1", clusterUuid=cluster["uuid"])
    for _ in range(100):
        if len(seen) >= 2:
            break
        await asyncio.sleep(0.01)
    assert seen == ["Connecting", "Connected"]


async def test_failed_connect_leaves_no_host(cloud: Cloud) -> None:
    cluster = await _cluster(cloud)
    before = await cloud.snapshot()
    cloud.sim.fail("connect")
    error = await cloud.error("AddSimulatorHost", name="h", managementIp="10.0.0.1", clusterUuid=cluster["uuid"])
    assert error.code == "HOST.1000"
    assert error.cause.code == "SYS.1006" and "connect" in error.cause.details
    assert await cloud.snapshot() == before


async def test_duplicate_management_ip_rejected(cloud: Cloud) -> None:
    cluster = await _cluster(cloud)
    await cloud.ok("AddSimulatorHost", name="h1", managementIp="10.0.0.1", clusterUuid=cluster["uuid"])
    before = await cloud.snapshot()
    error = await cloud.error("AddSimulatorHost", name="h2", managementIp="10.0.0.1", clusterUuid=cluster["uuid"])
    assert error.code == "SYS.1007" and "10.0.0.1" in error.details
    assert await cloud.snapshot() == before


async def test_concurrent_adds_with_one_ip_create_one_host(cloud: Cloud) -> None:
    cluster = await _cluster(cloud)
    replies = await asyncio.gather(
        *(
            cloud.api("AddSimulatorHost", name=f"h{i}", managementIp="10.9.9.9", clusterUuid=cluster["uuid"])
            for i in range(5)
        )
    )
    assert sum(r.success for r in replies) == 1
    assert {r.error.code for r in replies if not r.success} == {"SYS.1007"}
    assert len(await cloud.ok("QueryHost")) == 1


async def test_simulator_host_needs_simulator_cluster(cloud: Cloud) -> None:
    cluster = await _cluster(cloud, "KVM")
    error = await cloud.error("AddSimulatorHost", name="h", managementIp="10.0.0.1", clusterUuid=cluster["uuid"])
    assert error.code == "SYS.1007" and "Simulator" in error.details


async def test_bad_capacity_rejected(cloud: Cloud) -> None:
    cluster = await _cluster(cloud)
    error = await cloud.error(
        "AddSimulatorHost", name="h", managementIp="10.0.0.1", clusterUuid=cluster["uuid"], cpuCapacity="lots"
    )
    assert error.code == "SYS.1007" and "cpuCapacity" in error.details


async def test_update_host(cloud: Cloud) -> None:
    cluster = await _cluster(cloud)
    h1 = await cloud.ok("AddSimulatorHost", name="h1", managementIp="10.0.0.1", clusterUuid=cluster["uuid"])
    await cloud.ok("AddSimulatorHost", name="h2", managementIp="10.0.0.2", clusterUuid=cluster["uuid"])
    updated = await cloud.ok("UpdateHost", uuid=h1["uuid"], name="renamed", managementIp="10.0.0.3")
    assert (updated["name"], updated["managementIp"]) == ("renamed", "10.0.0.3")
    error = await cloud.error("UpdateHost", uuid=h1["uuid"], managementIp="10.0.0.2")
    assert error.code == "SYS.1007"


async def test_host_state_machine(cloud: Cloud) -> None:
    cluster = await _cluster(cloud)
    host = await cloud.ok("AddSimulatorHost", name="h", managementIp="10.0.0.1", clusterUuid=cluster["uuid"])
    uuid = host["uuid"]
    assert (await cloud.ok("ChangeHostState", uuid=uuid, stateEvent="disable"))["state"] == "Disabled"
    assert (await cloud.ok("ChangeHostState", uuid=uuid, stateEvent="maintain"))["state"] == "Maintenance"
    assert (await cloud.ok("ChangeHostState", uuid=uuid, stateEvent="enable"))["state"] == "Enabled"
    assert (await cloud.ok("ChangeHostState", uuid=uuid, stateEvent="enable"))["state"] == "Enabled"
    error = await cloud.error("ChangeHostState", uuid=uuid, stateEvent="explode")
    assert error.code == "SYS.1007"


async def test_reconnect_host(cloud: Cloud) -> None:
    cluster = await _cluster(cloud)
    host = await cloud.ok(
        "AddSimulatorHost", name="h", managementIp="10.0.0.1", clusterUuid=cluster["uuid"], cpuCapacity=8
    )
    reconnected = await cloud.ok("ReconnectHost", uuid=host["uuid"])
    assert reconnected["status"] == "Connected"
    assert len(cloud.sim.issued("connect", host["uuid"])) == 2

    cloud.sim.fail("connect", uuid=host["uuid"])
    error = await cloud.error("ReconnectHost", uuid=host["uuid"])
    assert error.code == "HOST.1002" and error.cause.code == "SYS.1006"
    [after] = await cloud.query("QueryHost", ("uuid", "=", host["uuid"]))
    assert after["status"] == "Disconnected"
    assert (await cloud.ok("ReconnectHost", uuid=host["uuid"]))["status"] == "Connected"


async def test_operations_on_one_host_run_one_at_a_time(cloud: Cloud) -> None:
    cluster = await _cluster(cloud)
    a = await cloud.ok("AddSimulatorHost", name="a", managementIp="10.0.0.1", clusterUuid=cluster["uuid"])
    b = await cloud.ok("AddSimulatorHost", name="b", managementIp="10.0.0.2", clusterUuid=cluster["uuid"])
    cloud.sim.clear()
    cloud.sim.delay("connect", 0.3, times=None)
    await asyncio.gather(*(cloud.ok("ReconnectHost", uuid=u) for u in (a["uuid"], a["uuid"], b["uuid"])))
    first, second = sorted(cloud.sim.issued("connect", a["uuid"]), key=lambda c: c.started)
    assert second.started >= first.finished  # same host: serialized
    [other] = cloud.sim.issued("connect", b["uuid"])
    assert other.started < first.finished  # different host: in parallel


async def test_delete_host(cloud: Cloud) -> None:
    cluster = await _cluster(cloud)
    host = await cloud.ok("AddSimulatorHost", name="h", managementIp="10.0.0.1", clusterUuid=cluster["uuid"])
    await cloud.ok("DeleteHost", uuid=host["uuid"])
    assert await cloud.ok("QueryHost") == []
    assert [c.command for c in cloud.sim.commands if c.uuid == host["uuid"]] == ["connect", "prepareDelete", "delete"]
    # the IP is free again
    await cloud.ok("AddSimulatorHost", name="h", managementIp="10.0.0.1", clusterUuid=cluster["uuid"])


async def test_a_hung_hypervisor_times_out_and_leaves_nothing(cloud: Cloud) -> None:
    cluster = await _cluster(cloud)
    before = await cloud.snapshot()
    cloud.node.driver_timeout = 0.2
    cloud.sim.delay("connect", 5.0)
    error = await cloud.error("AddSimulatorHost", name="h", managementIp="10.0.0.1", clusterUuid=cluster["uuid"])
    assert error.code == "HOST.1000"
    assert error.cause.code == "SYS.1001" and "connect" in error.cause.details
    assert await cloud.snapshot() == before
