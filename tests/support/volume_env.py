"""Test set-up for volume and snapshot tests: a zone with one simulator host, a simulator
primary storage attached to its cluster, a disk offering, and VMs.

`vm_row()` writes a VM row directly (the state the compute service would leave), so the
volume tests exercise attach/detach/revert in every VM state without depending on the VM
creation flow; `tests/test_volume_vm.py` covers the same paths with VMs created by the API.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert

from cloudbus import inventory
from cloudbus.core.ids import new_uuid, utcnow
from cloudbus.core.units import GiB
from cloudbus.testing import Cloud


async def storage_env(cloud: Cloud, *, capacity: int = 100 * GiB, disk: int = 10 * GiB) -> dict[str, Any]:
    env: dict[str, Any] = dict(await cloud.build_env())
    zone, cluster = env["zones"][0], env["clusters"][0]
    ps = await cloud.ok(
        "AddSimulatorPrimaryStorage", name="ps", zoneUuid=zone["uuid"], url="/sim/ps", totalCapacity=capacity
    )
    await cloud.ok("AttachPrimaryStorageToCluster", primaryStorageUuid=ps["uuid"], clusterUuid=cluster["uuid"])
    env["ps"] = ps
    env["offering"] = await cloud.ok("CreateDiskOffering", name="d", diskSize=disk)
    return env


async def vm_row(cloud: Cloud, env: dict[str, Any], state: str = "Stopped") -> str:
    """A VM in `state` on the env's host (no host when Stopped/Created)."""
    uuid = new_uuid()
    host = env["hosts"][0]
    on_host = state in ("Running", "Paused")
    now = utcnow()
    async with cloud.db.tx() as conn:
        await conn.execute(
            insert(inventory.get("VmInstance").table).values(
                uuid=uuid,
                name=f"vm-{state}",
                createDate=now,
                lastOpDate=now,
                zoneUuid=host["zoneUuid"],
                clusterUuid=host["clusterUuid"],
                hostUuid=host["uuid"] if on_host else None,
                lastHostUuid=host["uuid"],
                type="UserVm",
                hypervisorType="Simulator",
                memorySize=GiB,
                reservedMemorySize=0,
                cpuNum=1,
                cpuSpeed=0,
                state=state,
            )
        )
    return uuid


async def set_vm_state(cloud: Cloud, vm_uuid: str, state: str) -> None:
    from sqlalchemy import update

    table = inventory.get("VmInstance").table
    async with cloud.db.tx() as conn:
        await conn.execute(update(table).where(table.c.uuid == vm_uuid).values(state=state))


async def available(cloud: Cloud, ps_uuid: str) -> int:
    (ps,) = await cloud.query("QueryPrimaryStorage", ("uuid", "=", ps_uuid))
    return int(ps["availableCapacity"])


def ps_driver(cloud: Cloud) -> Any:
    return cloud.node.storage("SimulatorPrimaryStorage")
