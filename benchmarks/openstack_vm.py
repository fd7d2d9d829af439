"""What a VM on OpenStack costs through cloudbus, next to the same work done with openstacksdk alone.

    python tests/support/openstack.py up           # a private real OpenStack (or: source your openrc)
    python benchmarks/openstack_vm.py --runs 5

An embedded cloud (LocalBus + SQLite file) registers the OpenStack of the OS_* variables (the
private one's login by default), uploads a 1 MiB raw image to its Glance, and makes an L3 on
its tenant networks. Medians of `--runs` runs, in ms, each next to its floor measured in the
same run against the same OpenStack:

- create: CreateVmInstance until it answers Running (placement, IP allocation, a Cinder volume
  from the Glance image, a Neutron network + subnet on the first run, a port with the fixed IP
  and MAC, a server booting from the volume, ACTIVE) | floor: openstacksdk alone: volume from
  the image until available, port with a fixed IP, server booting from the volume until ACTIVE;
- stop+start: StopVmInstance + StartVmInstance | floor: stop_server until SHUTOFF +
  start_server until ACTIVE;
- destroy: DestroyVmInstance + ExpungeVmInstance (server, port and volume gone) | floor:
  delete server, wait, delete port, delete volume, wait.

With `--tenant`, a tenant registered for the run drives the VMs (its servers and volumes are
made by its own project-scoped login, its ports by the admin in its project), and the floor is
the same work done with that tenant's own openstacksdk login (the port by the admin).

Results are written to benchmarks/openstack_vm.json (openstack_vm_tenant.json with `--tenant`)
and go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: import tests.*

from cloudbus.core.logging import configure
from cloudbus.core.units import MiB
from cloudbus.services.openstack.compute import ensure_flavor, wait_server, wait_volume
from cloudbus.services.openstack.connection import Login, connect, wait
from cloudbus.testing import Cloud
from tests.support.openstack_cloud import as_tenant, distinct_tenant_ids, tenant_connection, tenant_identity

RESULTS = Path(__file__).with_suffix(".json")
PRIVATE = {  # tests/support/openstack.py's login, when no OS_* is set
    "OS_AUTH_URL": "http://127.0.0.1:5000/v3",
    "OS_USERNAME": "admin",
    "OS_PASSWORD": "secret",
    "OS_PROJECT_NAME": "admin",
    "OS_USER_DOMAIN_NAME": "Default",
    "OS_PROJECT_DOMAIN_NAME": "Default",
    "OS_REGION_NAME": "RegionOne",
}


def env(name: str) -> str:
    return os.environ.get(name) or PRIVATE[name]


def ms(seconds: list[float]) -> float:
    return round(statistics.median(seconds) * 1000, 1)


def login() -> Login:
    return Login(
        authUrl=env("OS_AUTH_URL"),
        regionName=env("OS_REGION_NAME"),
        username=env("OS_USERNAME"),
        password=env("OS_PASSWORD"),
        projectName=env("OS_PROJECT_NAME"),
        userDomainName=env("OS_USER_DOMAIN_NAME"),
        projectDomainName=env("OS_PROJECT_DOMAIN_NAME"),
    )


def floor_run(conn: Any, admin: Any, image_id: str, network_id: str, subnet_id: str, ip: str) -> dict[str, float]:
    """The same VM with openstacksdk alone, as `conn` (the admin's or a tenant's login; the admin
    makes the port and the flavor); returns the seconds of each phase."""
    t0 = time.perf_counter()
    volume = conn.block_storage.create_volume(name="bench-floor", size=1, image_id=image_id)
    wait_volume(conn, volume.id, "available", "floor volume")
    project = {"project_id": conn.current_project_id} if conn is not admin else {}
    fixed_ips = [{"subnet_id": subnet_id, "ip_address": ip}]
    port = admin.network.create_port(network_id=network_id, fixed_ips=fixed_ips, **project)
    flavor = ensure_flavor(admin, 1, 128 * MiB)
    bdm = [{"boot_index": 0, "uuid": volume.id, "source_type": "volume", "destination_type": "volume"}]
    server = conn.compute.create_server(
        name="bench-floor", flavor_id=flavor.id, networks=[{"port": port.id}], block_device_mapping=bdm
    )
    wait_server(conn, server.id, "ACTIVE", "floor server")
    created = time.perf_counter()
    conn.compute.stop_server(server)
    wait_server(conn, server.id, "SHUTOFF", "floor stop")
    conn.compute.start_server(server)
    wait_server(conn, server.id, "ACTIVE", "floor start")
    restarted = time.perf_counter()
    conn.compute.delete_server(server)
    wait("floor delete", lambda: conn.compute.find_server(server.id, ignore_missing=True), lambda s: s is None)
    admin.network.delete_port(port)
    wait_volume(conn, volume.id, "available", "floor volume detached")
    conn.block_storage.delete_volume(volume)
    wait(
        "floor volume delete",
        lambda: conn.block_storage.find_volume(volume.id, ignore_missing=True),
        lambda v: v is None,
    )
    done = time.perf_counter()
    return {"create": created - t0, "stop+start": restarted - created, "destroy": done - restarted}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tenant", action="store_true", help="drive the VMs as a tenant, with its own login")
    args = parser.parse_args()
    configure(level="WARNING")
    scratch = Path(tempfile.mkdtemp(prefix="cloudbus-bench-os-"))
    os.environ["CLOUDBUS_HOME"] = str(scratch / "home")
    image = scratch / "tiny.raw"
    with image.open("wb") as out:
        out.truncate(MiB)
    conn = await asyncio.to_thread(connect, login())
    results: dict[str, dict[str, list[float]]] = {"cloudbus": {}, "floor": {}}
    async with Cloud.start(f"sqlite:///{scratch / 'cloudbus.db'}", None, namespace="bench") as cloud:
        zone = await cloud.ok("CreateZone", name="bench")
        registered = await cloud.ok("AddOpenStackCloud", name="bench", zoneUuid=zone["uuid"], **vars(login()))
        (bs,) = await cloud.query("QueryBackupStorage", ("type", "=", "OpenStackGlance"))
        img = await cloud.ok("AddImage", name="tiny", url=image.as_uri(), format="raw", backupStorageUuids=[bs["uuid"]])
        (l2,) = await cloud.query("QueryL2Network", ("physicalInterface", "=", "tenant-networks"))
        l3 = await cloud.ok("CreateL3Network", name="bench", l2NetworkUuid=l2["uuid"])
        await cloud.ok(
            "AddIpRange",
            l3NetworkUuid=l3["uuid"],
            name="r",
            startIp="10.99.0.10",
            endIp="10.99.0.200",
            netmask="255.255.255.0",
            gateway="10.99.0.1",
        )
        offering = await cloud.ok("CreateInstanceOffering", name="small", cpuNum=1, memorySize=128 * MiB)
        glance_id = img["backupStorageRefs"][0]["installPath"].removeprefix("glance://")
        floor_conn, tenant = conn, None
        if args.tenant:
            tenant = await _tenant(cloud, [img["uuid"], l3["uuid"], offering["uuid"]])
            identity = await tenant_identity(cloud, tenant.tenantId)
            floor_conn = tenant_connection({k: env(k) for k in PRIVATE}, identity)
            floor_conn.cloudbus_tenant = tenant.tenantId  # its listings are its project's own
        try:
            for run in range(args.runs):
                async with as_tenant(cloud, tenant.tenantId, tenant.apikey) if tenant else _same(cloud) as actor:
                    took = await cloudbus_run(actor, run, offering["uuid"], img["uuid"], l3["uuid"])
                for name, seconds in took.items():
                    results["cloudbus"].setdefault(name, []).append(seconds)
                (network,) = list(conn.network.networks(name=l3["uuid"]))
                (subnet,) = list(conn.network.subnets(name=l3["uuid"]))
                floor = await asyncio.to_thread(
                    floor_run, floor_conn, conn, glance_id, network.id, subnet.id, "10.99.0.250"
                )
                for name, took in floor.items():
                    results["floor"].setdefault(name, []).append(took)
        finally:
            await cloud.api("DeleteZone", uuid=zone["uuid"])
            if tenant:
                (row,) = await cloud.query("QueryTenant", ("tenantId", "=", tenant.tenantId))
                await cloud.api("DeleteAccount", uuid=row["accountUuid"])
    summary = {
        name: {"cloudbus_ms": ms(results["cloudbus"][name]), "floor_ms": ms(results["floor"][name])}
        for name in results["cloudbus"]
    }
    summary["runs"] = args.runs  # type: ignore[assignment]
    summary["cloud"] = registered["authUrl"]  # type: ignore[assignment]
    summary["as"] = "tenant" if tenant else "admin"  # type: ignore[assignment]
    print(f"{'':12} {'cloudbus':>10} {'floor':>10}   (medians of {args.runs} runs as {summary['as']}, ms)")
    for name in ("create", "stop+start", "destroy"):
        print(f"{name:12} {summary[name]['cloudbus_ms']:>10} {summary[name]['floor_ms']:>10}")
    out = RESULTS.with_name("openstack_vm_tenant.json") if tenant else RESULTS
    out.write_text(json.dumps(summary, indent=2) + "\n")


async def cloudbus_run(cloud: Cloud, run: int, offering: str, image: str, l3: str) -> dict[str, float]:
    """One VM through cloudbus: create, stop+start, destroy+expunge; the seconds of each."""
    t0 = time.perf_counter()
    vm = await cloud.ok(
        "CreateVmInstance", name=f"bench{run}", instanceOfferingUuid=offering, imageUuid=image, l3NetworkUuids=[l3]
    )
    t1 = time.perf_counter()
    await cloud.ok("StopVmInstance", uuid=vm["uuid"])
    await cloud.ok("StartVmInstance", uuid=vm["uuid"])
    t2 = time.perf_counter()
    await cloud.ok("DestroyVmInstance", uuid=vm["uuid"])
    await cloud.ok("ExpungeVmInstance", uuid=vm["uuid"])
    t3 = time.perf_counter()
    return {"create": t1 - t0, "stop+start": t2 - t1, "destroy": t3 - t2}


async def _tenant(cloud: Cloud, shared: list[str]) -> Any:
    """A tenant for the run, allowed to use the image, L3 and offering."""
    await distinct_tenant_ids(cloud)
    await cloud.ok("ShareResource", resourceUuids=shared, toPublic=True)
    reply = await cloud.api("CreateTenant", tenantName=f"bench-{os.getpid()}")
    if not reply.success:
        raise SystemExit(f"CreateTenant failed: {reply.error}")
    return reply


@contextlib.asynccontextmanager
async def _same(cloud: Cloud) -> AsyncIterator[Cloud]:
    yield cloud


if __name__ == "__main__":
    asyncio.run(main())
