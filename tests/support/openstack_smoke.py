"""Smoke test of the private OpenStack (tests/support/openstack.py): one boot-from-volume round trip.

Run with the OpenStack venv's python (it has openstacksdk) and the OS_* variables that
``openstack.py up`` prints::

    eval "$(python tests/support/openstack.py up)"; export $(python tests/support/openstack.py env | cut -d= -f1)
    /var/cache/cloudbus-openstack/venv-*/bin/python tests/support/openstack_smoke.py

Creates a network + subnet + port, a 1 MiB raw image, a volume from it, a flavor and a server booted
from that volume on that port; stops, starts and deletes everything, printing each operation's ms.
Waits poll fresh GETs: openstacksdk's wait helpers return at once when the *local* object already
has the target status (reference pitfall 8).
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Run as a script, this directory is sys.path[0] and its openstack.py would shadow openstacksdk.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import openstack  # noqa: E402
from openstack import exceptions  # noqa: E402

TIMEOUT = 180.0
timings: list[tuple[str, float]] = []


def timed(label: str, fn: Callable[[], Any]) -> Any:
    t0 = time.monotonic()
    result = fn()
    ms = (time.monotonic() - t0) * 1000
    timings.append((label, ms))
    print(f"{label:32} {ms:8.0f} ms", file=sys.stderr, flush=True)
    return result


def poll(what: str, fn: Callable[[], bool]) -> None:
    deadline = time.monotonic() + TIMEOUT
    while not fn():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.25)


def server_in(conn: openstack.connection.Connection, sid: str, status: str) -> Callable[[], bool]:
    def check() -> bool:
        s = conn.compute.get_server(sid)
        if s.status == "ERROR":
            raise RuntimeError(f"server {sid} went to ERROR: {s.fault}")
        return bool(s.status == status and not s.task_state)

    return check


def volume_in(conn: openstack.connection.Connection, vid: str, status: str) -> Callable[[], bool]:
    def check() -> bool:
        v = conn.block_storage.get_volume(vid)
        if v.status.startswith("error"):
            raise RuntimeError(f"volume {vid} went to {v.status}")
        return bool(v.status == status)

    return check


def gone(getter: Callable[[str], Any], rid: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            getter(rid)
        except exceptions.NotFoundException:
            return True
        return False

    return check


def main() -> int:
    conn = openstack.connect()  # reads OS_* from the environment
    tag = f"smoke-{uuid.uuid4().hex[:6]}"
    t_all = time.monotonic()

    image = timed(
        "image upload 1 MiB raw → active",
        lambda: conn.image.create_image(
            name=tag, data=b"\0" * 1024 * 1024, disk_format="raw", container_format="bare", wait=True, timeout=TIMEOUT
        ),
    )
    flavor = timed("flavor create", lambda: conn.compute.create_flavor(name=tag, ram=256, vcpus=1, disk=1))
    net = timed("network create", lambda: conn.network.create_network(name=tag))
    subnet = timed(
        "subnet create",
        lambda: conn.network.create_subnet(name=tag, network_id=net.id, ip_version=4, cidr="10.77.0.0/24"),
    )
    port = timed("port create", lambda: conn.network.create_port(name=tag, network_id=net.id))

    def make_volume() -> Any:
        v = conn.block_storage.create_volume(name=tag, size=1, image_id=image.id)
        poll("volume available", volume_in(conn, v.id, "available"))
        return v

    vol = timed("volume from image → available", make_volume)

    def boot() -> Any:
        bdm = [
            {
                "boot_index": 0,
                "uuid": vol.id,
                "source_type": "volume",
                "destination_type": "volume",
                "delete_on_termination": False,
            }
        ]
        s = conn.compute.create_server(
            name=tag, flavor_id=flavor.id, networks=[{"port": port.id}], block_device_mapping=bdm
        )
        poll("server ACTIVE", server_in(conn, s.id, "ACTIVE"))
        return s

    server = timed("server BFV + port → ACTIVE", boot)
    p = conn.network.get_port(port.id)
    print(f"port binding: host={p.binding_host_id} vif_type={p.binding_vif_type} status={p.status}", file=sys.stderr)

    def stop() -> None:
        conn.compute.stop_server(server.id)
        poll("server SHUTOFF", server_in(conn, server.id, "SHUTOFF"))

    def start() -> None:
        conn.compute.start_server(server.id)
        poll("server ACTIVE", server_in(conn, server.id, "ACTIVE"))

    timed("server stop → SHUTOFF", stop)
    timed("server start → ACTIVE", start)

    def delete_server() -> None:
        conn.compute.delete_server(server.id)
        poll("server gone", gone(conn.compute.get_server, server.id))

    def delete_volume() -> None:
        poll("volume detached", volume_in(conn, vol.id, "available"))
        conn.block_storage.delete_volume(vol.id)
        poll("volume gone", gone(conn.block_storage.get_volume, vol.id))

    timed("server delete → gone", delete_server)
    timed("volume delete → gone", delete_volume)
    timed("port delete", lambda: conn.network.delete_port(port.id))
    timed("subnet delete", lambda: conn.network.delete_subnet(subnet.id))
    timed("network delete", lambda: conn.network.delete_network(net.id))
    timed("flavor delete", lambda: conn.compute.delete_flavor(flavor.id))
    timed("image delete", lambda: conn.image.delete_image(image.id))
    total = (time.monotonic() - t_all) * 1000
    print(f"{'total':32} {total:8.0f} ms", file=sys.stderr)
    for label, ms in timings:
        print(f"{label}\t{ms:.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
