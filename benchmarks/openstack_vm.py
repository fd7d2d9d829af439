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

Results are written to benchmarks/openstack_vm.json and go in docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run as a script: import tests.*

from cloudbus.core.logging import configure
from cloudbus.services.openstack.compute import ensure_flavor, wait_server, wait_volume
from cloudbus.services.openstack.connection import Login, connect, wait
from cloudbus.testing import Cloud

RESULTS = Path(__file__).with_suffix(".json")
MiB = 1 << 20
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


def floor_run(conn: Any, image_id: str, network_id: str, subnet_id: str, ip: str) -> dict[str, float]:
    """The same VM with openstacksdk alone; returns the seconds of each phase."""
    t0 = time.perf_counter()
    volume = conn.block_storage.create_volume(name="bench-floor", size=1, image_id=image_id)
    wait_volume(conn, volume.id, "available", "floor volume")
    port = conn.network.create_port(network_id=network_id, fixed_ips=[{"subnet_id": subnet_id, "ip_address": ip}])
    flavor = ensure_flavor(conn, 1, 128 * MiB)
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
    conn.network.delete_port(port)
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
        try:
            for run in range(args.runs):
                t0 = time.perf_counter()
                vm = await cloud.ok(
                    "CreateVmInstance",
                    name=f"bench{run}",
                    instanceOfferingUuid=offering["uuid"],
                    imageUuid=img["uuid"],
                    l3NetworkUuids=[l3["uuid"]],
                )
                t1 = time.perf_counter()
                await cloud.ok("StopVmInstance", uuid=vm["uuid"])
                await cloud.ok("StartVmInstance", uuid=vm["uuid"])
                t2 = time.perf_counter()
                await cloud.ok("DestroyVmInstance", uuid=vm["uuid"])
                await cloud.ok("ExpungeVmInstance", uuid=vm["uuid"])
                t3 = time.perf_counter()
                for name, took in (("create", t1 - t0), ("stop+start", t2 - t1), ("destroy", t3 - t2)):
                    results["cloudbus"].setdefault(name, []).append(took)
                (network,) = list(conn.network.networks(name=l3["uuid"]))
                (subnet,) = list(conn.network.subnets(name=l3["uuid"]))
                floor = await asyncio.to_thread(floor_run, conn, glance_id, network.id, subnet.id, "10.99.0.250")
                for name, took in floor.items():
                    results["floor"].setdefault(name, []).append(took)
        finally:
            await cloud.api("DeleteZone", uuid=zone["uuid"])
    summary = {
        name: {"cloudbus_ms": ms(results["cloudbus"][name]), "floor_ms": ms(results["floor"][name])}
        for name in results["cloudbus"]
    }
    summary["runs"] = args.runs  # type: ignore[assignment]
    summary["cloud"] = registered["authUrl"]  # type: ignore[assignment]
    print(f"{'':12} {'cloudbus':>10} {'floor':>10}   (medians of {args.runs} runs, ms)")
    for name in ("create", "stop+start", "destroy"):
        print(f"{name:12} {summary[name]['cloudbus_ms']:>10} {summary[name]['floor_ms']:>10}")
    RESULTS.write_text(json.dumps(summary, indent=2) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
