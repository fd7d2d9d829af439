"""benchmarks/create_vms.py, small: what its creates, destroys and floor leave is exact.

The benchmark's own functions run here (building the cloud, creating and destroying with C in
flight, the raw-SQL floor, the checks), on the session's backend; no time is asserted.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy import update

from benchmarks import create_vms, vm_rows
from cloudbus.core.db import Database
from cloudbus.core.units import GiB
from cloudbus.inventory.host import host_table
from cloudbus.testing import Cloud

VMS, IN_FLIGHT = 60, 10


async def _totals(cloud: Cloud) -> dict[str, int]:
    hosts, (ps,) = await cloud.query("QueryHost"), await cloud.query("QueryPrimaryStorage")
    return {
        "cpu": sum(h["totalCpuCapacity"] - h["availableCpuCapacity"] for h in hosts),
        "memory": sum(h["totalMemoryCapacity"] - h["availableMemoryCapacity"] for h in hosts),
        "storage": ps["totalCapacity"] - ps["availableCapacity"],
    }


def _ips(vms: list[dict[str, Any]]) -> list[str]:
    return [nic["ip"] for vm in vms for nic in vm["vmNics"] if nic["ip"]]


async def test_created_vms_run_with_a_nic_ip_and_root_volume_and_destroying_gives_everything_back(
    cloud: Cloud, db_url: str
) -> None:
    spec = await create_vms.build(cloud, VMS)
    before = await vm_rows.capacity(db_url)
    measured, uuids = await create_vms.create_vms(cloud, spec, VMS, IN_FLIGHT)

    assert measured.calls == VMS and sorted(uuids) == sorted(set(uuids)) and len(uuids) == VMS
    vms = await cloud.query("QueryVmInstance")
    assert {vm["uuid"] for vm in vms} == set(uuids)
    assert {vm["state"] for vm in vms} == {"Running"}
    assert all(len(vm["vmNics"]) == 1 and vm["vmNics"][0]["ip"] for vm in vms)
    assert all([v["type"] for v in vm["allVolumes"]] == ["Root"] and vm["rootVolumeUuid"] for vm in vms)
    assert len(set(_ips(vms))) == VMS  # unique
    (image_size,) = {v["size"] for vm in vms for v in vm["allVolumes"]}
    assert await _totals(cloud) == {"cpu": VMS, "memory": VMS * GiB, "storage": VMS * image_size}
    assert await vm_rows.check_running(db_url, uuids, before) == []

    destroyed = await create_vms.destroy_vms(cloud, uuids, IN_FLIGHT)

    assert destroyed.calls == VMS
    vms = await cloud.query("QueryVmInstance")
    assert {vm["state"] for vm in vms} == {"Destroyed"} and _ips(vms) == []
    # Delay policy: the root volumes (and their primary storage) stay until expunged
    assert await _totals(cloud) == {"cpu": 0, "memory": 0, "storage": VMS * image_size}
    assert await vm_rows.check_destroyed(db_url, uuids, before) == []


async def test_floor_writes_the_rows_of_a_real_create_one_transaction_each(cloud: Cloud, db_url: str) -> None:
    spec = await create_vms.build(cloud, VMS)
    _, (model_vm,) = await create_vms.create_vms(cloud, spec, 1, 1)
    model = await vm_rows.template(db_url, model_vm)
    before = await vm_rows.capacity(db_url)
    hosts = [h["uuid"] for h in spec["hosts"]]

    floor = await vm_rows.floor(db_url, model, hosts, VMS, IN_FLIGHT)

    assert floor.measured.calls == VMS and len(set(floor.uuids)) == VMS
    # per VM: BEGIN, the host and primary-storage updates, vm + volume + used IP + nic + allocation
    assert floor.statements == {"BEGIN": VMS, "UPDATE": 2 * VMS, "INSERT": 5 * VMS}
    assert await vm_rows.check_running(db_url, floor.uuids, before) == []
    vms = {vm["name"]: vm for vm in await cloud.query("QueryVmInstance")}
    real, copy = vms["vm0"], vms["floor0"]
    same = {"uuid", "name", "hostUuid", "rootVolumeUuid", "createDate", "lastOpDate", "vmNics", "allVolumes"}
    assert {k: v for k, v in copy.items() if k not in same} == {k: v for k, v in real.items() if k not in same}
    assert len(set(_ips(list(vms.values())))) == VMS + 1

    # the checks see a host that holds one vCPU more than its VMs
    database = Database(db_url)
    await database.start()
    try:
        async with database.tx() as conn:
            host = host_table.c
            await conn.execute(
                update(host_table)
                .where(host.uuid == hosts[0])
                .values(availableCpuCapacity=host.availableCpuCapacity - 1)
            )
    finally:
        await database.close()
    found = await vm_rows.check_running(db_url, floor.uuids, before)
    assert len(found) == 2 and "availableCpuCapacity" in found[0] and "capacity is" in found[1]


async def test_a_whole_embedded_run_is_exact_and_reports_every_figure(db_url: str, bus_url: str | None) -> None:
    run = await create_vms.run_embedded("test", db_url, 20, 5, bus_url=bus_url)

    assert run.violations == []
    assert (run.create.calls, run.destroy.calls, run.floor.calls) == (20, 20, 20)
    assert run.statements["INSERT"] > 0 and sum(run.destroy_statements.values()) > 0
    assert run.floor_statements == {"BEGIN": 20, "UPDATE": 40, "INSERT": 100}
    assert run.cpu_ms_per_vm > 0 and run.floor_cpu_ms_per_vm > 0 and run.peak_rss_mb[0] > 0
    assert create_vms.Run.from_json(asdict(run)) == run
    row = create_vms.medians([run], 20)
    assert row["statements_per_vm"] == round(sum(run.statements.values()) / 20, 1)
    assert row["floor_statements_per_vm"] == 8.0
