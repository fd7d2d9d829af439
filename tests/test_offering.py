"""Instance and disk offerings: create, bad input, update, state, delete, query."""

from __future__ import annotations

from cloudbus.core.ids import new_uuid
from cloudbus.core.units import GiB
from cloudbus.testing import Cloud


async def test_instance_offering_lifecycle(cloud: Cloud) -> None:
    uuid = new_uuid()
    offering = await cloud.ok(
        "CreateInstanceOffering", name="small", cpuNum=2, memorySize=2 * GiB, sortKey=3, resourceUuid=uuid
    )
    assert offering["uuid"] == uuid
    assert (offering["cpuNum"], offering["memorySize"], offering["state"], offering["type"]) == (
        2,
        2 * GiB,
        "Enabled",
        "UserVm",
    )
    for field in ("cpuSpeed", "reservedMemorySize", "allocatorStrategy", "sortKey", "createDate", "lastOpDate"):
        assert field in offering
    updated = await cloud.ok(
        "UpdateInstanceOffering", uuid=uuid, name="renamed", allocatorStrategy="LeastVmPreferredHostAllocatorStrategy"
    )
    assert (updated["name"], updated["allocatorStrategy"]) == ("renamed", "LeastVmPreferredHostAllocatorStrategy")
    assert (await cloud.ok("ChangeInstanceOfferingState", uuid=uuid, stateEvent="disable"))["state"] == "Disabled"
    assert [o["uuid"] for o in await cloud.query("QueryInstanceOffering", ("memorySize", ">", GiB))] == [uuid]
    await cloud.ok("DeleteInstanceOffering", uuid=uuid)
    assert await cloud.ok("QueryInstanceOffering") == []
    await cloud.ok("DeleteInstanceOffering", uuid=uuid)  # already gone: success


async def test_disk_offering_lifecycle(cloud: Cloud) -> None:
    offering = await cloud.ok("CreateDiskOffering", name="d", diskSize=10 * GiB, allocationStrategy="Default")
    assert (offering["diskSize"], offering["state"], offering["type"], offering["allocatorStrategy"]) == (
        10 * GiB,
        "Enabled",
        "zstack",
        "Default",
    )
    updated = await cloud.ok("UpdateDiskOffering", uuid=offering["uuid"], description="ten", sortKey=1)
    assert (updated["description"], updated["sortKey"]) == ("ten", 1)
    assert (await cloud.ok("ChangeDiskOfferingState", uuid=offering["uuid"], stateEvent="disable"))[
        "state"
    ] == "Disabled"
    assert [o["uuid"] for o in await cloud.query("QueryDiskOffering", ("diskSize", "=", 10 * GiB))] == [
        offering["uuid"]
    ]
    await cloud.ok("DeleteDiskOffering", uuid=offering["uuid"], deleteMode="Enforcing")
    assert await cloud.ok("QueryDiskOffering") == []


async def test_bad_input_changes_nothing(cloud: Cloud) -> None:
    io = await cloud.ok("CreateInstanceOffering", name="io", cpuNum=1, memorySize=GiB)
    before = await cloud.snapshot()
    cases = [
        ("CreateInstanceOffering", {"name": "x", "cpuNum": 0, "memorySize": GiB}, "cpuNum"),
        ("CreateInstanceOffering", {"name": "x", "cpuNum": 1025, "memorySize": GiB}, "cpuNum"),
        ("CreateInstanceOffering", {"name": "x", "cpuNum": 1, "memorySize": 0}, "memorySize"),
        ("CreateInstanceOffering", {"name": "x", "cpuNum": "two", "memorySize": GiB}, "cpuNum"),
        ("CreateInstanceOffering", {"name": "x", "cpuNum": 1}, "memorySize"),
        ("CreateInstanceOffering", {"name": "", "cpuNum": 1, "memorySize": GiB}, "name"),
        ("CreateInstanceOffering", {"name": "x", "cpuNum": 1, "memorySize": GiB, "type": "Foo"}, "type"),
        ("CreateDiskOffering", {"name": "x", "diskSize": 0}, "diskSize"),
        ("CreateDiskOffering", {"name": "x"}, "diskSize"),
        ("CreateDiskOffering", {"name": "x", "diskSize": GiB, "color": "red"}, "color"),
        ("ChangeInstanceOfferingState", {"uuid": io["uuid"], "stateEvent": "maintain"}, "stateEvent"),
        ("DeleteDiskOffering", {"uuid": io["uuid"], "deleteMode": "Force"}, "deleteMode"),
    ]
    for api, params, field in cases:
        error = await cloud.error(api, **params)
        assert error.code == "SYS.1007" and field in error.details, (api, params, error)
    error = await cloud.error("UpdateDiskOffering", uuid=new_uuid(), name="x")
    assert error.code == "SYS.1003"
    assert await cloud.snapshot() == before
