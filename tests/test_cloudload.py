"""benchmarks/cloudload.py writes what the API writes: a small cloud built through the API
and one of the same shape bulk-loaded agree table by table on everything but uuids, dates,
names and the values the API draws at random (IPs, MACs); DeleteZone then removes the loaded
cloud exactly as it removes the API-built one."""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from benchmarks.cloudload import load_cloud
from cloudbus.core.ids import new_uuid
from cloudbus.core.units import GiB
from cloudbus.inventory.schema import metadata
from cloudbus.testing import BOOKKEEPING, ZONE_INDEPENDENT, Cloud

UUID_IN_TEXT = re.compile(r"[0-9a-f]{32}")
VMS, DATA_VOLUMES, NICS = 6, 2, 2
DISK_SIZES = (10 * GiB, 20 * GiB)

# drawn at random by the API (the loader draws them in order): checked for consistency instead
RANDOM = {"ip", "ipInLong", "mac"}


@pytest.fixture
async def loaded(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Cloud]:
    """A second, empty cloud on its own database: the loader writes into it."""
    if backend == "local":
        url = f"sqlite:///{tmp_path / 'loaded.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database(f"t_{new_uuid()[:12]}")
    async with Cloud.start(url) as cloud:
        yield cloud


async def _build_through_api(cloud: Cloud) -> None:
    env = await cloud.build_vm_cloud(hosts=1, network_cidr="10.0.0.0/16")
    l3s = [env["l3"]["uuid"]]
    for k in range(1, NICS):
        l3 = await cloud.ok("CreateL3Network", name=f"l3-{k}", l2NetworkUuid=env["l2"]["uuid"])
        await cloud.ok("AddIpRangeByNetworkCidr", name="r", l3NetworkUuid=l3["uuid"], networkCidr=f"10.{k}.0.0/16")
        l3s.append(l3["uuid"])
    disks = [
        (await cloud.ok("CreateDiskOffering", name=f"d{n}", diskSize=size))["uuid"] for n, size in enumerate(DISK_SIZES)
    ]
    for i in range(VMS):
        await cloud.ok(
            "CreateVmInstance",
            name=f"vm{i}",
            instanceOfferingUuid=env["offering"]["uuid"],
            imageUuid=env["image"]["uuid"],
            l3NetworkUuids=l3s,
            dataDiskOfferingUuids=[disks[(i + k) % len(disks)] for k in range(DATA_VOLUMES)],
        )


def _uuid_owners(snapshot: dict[str, list[tuple[Any, ...]]]) -> dict[str, str]:
    """uuid -> the table whose row it names."""
    owners: dict[str, str] = {}
    for name, rows in snapshot.items():
        table = metadata.tables[name]
        if "uuid" in table.c and table.c.uuid.primary_key:
            position = list(table.c.keys()).index("uuid")
            owners.update({row[position]: name for row in rows})
    return owners


def _value(owners: dict[str, str], value: Any) -> Any:
    if not isinstance(value, str):
        return value
    return owners.get(value) or UUID_IN_TEXT.sub("<uuid>", value)  # an install path names its resource


def _canonical(snapshot: dict[str, list[tuple[Any, ...]]]) -> dict[str, Counter[tuple[Any, ...]]]:
    """Each table's rows with uuids replaced by the table they name, dates, names and random values left out."""
    owners = _uuid_owners(snapshot)
    out: dict[str, Counter[tuple[Any, ...]]] = {}
    for name, rows in snapshot.items():
        columns = list(metadata.tables[name].c)
        kept = [
            (i, c.name)
            for i, c in enumerate(columns)
            if c.name not in RANDOM and c.name != "name" and not c.name.endswith("Date")
        ]
        out[name] = Counter(tuple((column, _value(owners, row[i])) for i, column in kept) for row in rows)
    return out


async def _rows(cloud: Cloud, table: str) -> list[dict[str, Any]]:
    async with cloud.db.read() as conn:
        return [dict(r) for r in (await conn.execute(select(metadata.tables[table]))).mappings()]


async def _vm_shapes(cloud: Cloud) -> Counter[tuple[Any, ...]]:
    """Per VM: its volumes (type, size, device, offering size), its nics (device, L3's range) and what it holds on
    its host: the foreign-key structure row by row, which `_canonical` sees only table by table."""
    volumes, nics, allocations = [await _rows(cloud, t) for t in ("volume", "vm_nic", "host_allocation")]
    offerings = {d["uuid"]: d["diskSize"] for d in await _rows(cloud, "disk_offering")}
    ranges = {r["l3NetworkUuid"]: r["networkCidr"] for r in await _rows(cloud, "ip_range")}
    shapes: Counter[tuple[Any, ...]] = Counter()
    for vm in await _rows(cloud, "vm_instance"):
        own = sorted(
            (
                v["type"],
                v["size"],
                v["deviceId"],
                offerings.get(v["diskOfferingUuid"]),
                v["uuid"] == vm["rootVolumeUuid"],
            )
            for v in volumes
            if v["vmInstanceUuid"] == vm["uuid"]
        )
        vnics = sorted((n["deviceId"], ranges[n["l3NetworkUuid"]]) for n in nics if n["vmInstanceUuid"] == vm["uuid"])
        held = sorted(
            (a["hostUuid"] == vm["hostUuid"], a["cpuNum"]) for a in allocations if a["ownerUuid"] == vm["uuid"]
        )
        default = ranges[vm["defaultL3NetworkUuid"]]
        shapes[(tuple(own), tuple(vnics), tuple(held), default)] += 1
    return shapes


async def _check_addresses(cloud: Cloud) -> None:
    """IPs and MACs: each nic's IP is its used IP, inside its L3's range, unique; MACs unique."""
    nics, used = await _rows(cloud, "vm_nic"), {u["uuid"]: u for u in await _rows(cloud, "used_ip")}
    ranges = {r["uuid"]: r for r in await _rows(cloud, "ip_range")}
    assert len({n["mac"] for n in nics}) == len(nics)
    assert len(used) == len(nics) == len({(u["l3NetworkUuid"], u["ip"]) for u in used.values()})
    for nic in nics:
        ip = used[nic["usedIpUuid"]]
        assert (ip["vmNicUuid"], ip["ip"], ip["l3NetworkUuid"]) == (nic["uuid"], nic["ip"], nic["l3NetworkUuid"])
        assert ip["ipInLong"] == int(ipaddress.IPv4Address(ip["ip"])) and nic["mac"].startswith("fa:")
        block = ranges[ip["ipRangeUuid"]]
        first, last = (int(ipaddress.IPv4Address(block[k])) for k in ("startIp", "endIp"))
        assert first <= ip["ipInLong"] <= last


async def _cloud_tables(cloud: Cloud) -> dict[str, list[tuple[Any, ...]]]:
    # login sessions say who is logged in, not what the cloud is (over the broker the
    # API-built cloud's client holds an admin session)
    skipped = BOOKKEEPING | {"session"}
    return {name: rows for name, rows in (await cloud.snapshot()).items() if name not in skipped}


async def test_a_loaded_cloud_is_the_cloud_the_api_builds(cloud: Cloud, loaded: Cloud) -> None:
    await _build_through_api(cloud)
    env = await load_cloud(loaded.db, VMS, data_volumes=DATA_VOLUMES, nics=NICS, hosts=1, disk_sizes=DISK_SIZES)
    assert len(env["l3s"]) == NICS and len(env["diskOfferings"]) == len(DISK_SIZES)

    built, bulk = await _cloud_tables(cloud), await _cloud_tables(loaded)
    assert {t: len(r) for t, r in bulk.items()} == {t: len(r) for t, r in built.items()}
    assert _canonical(bulk) == _canonical(built)
    assert await _vm_shapes(loaded) == await _vm_shapes(cloud)
    for each in (cloud, loaded):
        await _check_addresses(each)

    # the cascade runs on loaded rows as on API-made ones
    await cloud.ok("DeleteZone", uuid=(await cloud.query("QueryZone"))[0]["uuid"])
    await loaded.ok("DeleteZone", uuid=env["zone"])
    after = await _cloud_tables(loaded)
    assert _canonical(after) == _canonical(await _cloud_tables(cloud))
    assert {t for t, rows in after.items() if rows} <= ZONE_INDEPENDENT


async def test_capacity_agrees_with_the_vms_on_many_hosts(loaded: Cloud) -> None:
    vms = 50
    env = await load_cloud(loaded.db, vms, data_volumes=1, nics=1, hosts=7, clusters=2, cpu_num=2, memory_size=GiB)
    hosts = await loaded.query("QueryHost")
    per_host = Counter(vm["hostUuid"] for vm in await loaded.ok("QueryVmInstance"))
    assert len(hosts) == 7 and sorted(per_host.values()) == [7, 7, 7, 7, 7, 7, 8]
    for host in hosts:
        running = per_host[host["uuid"]]
        assert host["totalCpuCapacity"] - host["availableCpuCapacity"] == 2 * running
        assert host["totalMemoryCapacity"] - host["availableMemoryCapacity"] == GiB * running
    (ps,) = await loaded.query("QueryPrimaryStorage")
    used = sum(v["size"] for v in await loaded.ok("QueryVolume"))
    assert ps["totalCapacity"] - ps["availableCapacity"] == used == vms * (GiB + 10 * GiB)
    (l3,) = env["l3s"]
    assert len(await loaded.query("QueryIpAddress", ("l3NetworkUuid", "=", l3))) == vms
    # a VM created through the API after the load gets a free IP and fitting capacity
    vm = await loaded.ok(
        "CreateVmInstance",
        name="after",
        instanceOfferingUuid=env["offering"],
        imageUuid=env["image"],
        l3NetworkUuids=[l3],
    )
    assert vm["state"] == "Running" and len(await loaded.query("QueryIpAddress", ("l3NetworkUuid", "=", l3))) == vms + 1
