"""What the OpenStack tests share: cloudbus's login to the private real OpenStack
(tests/support/openstack.py), a cloudbus started against it that deletes its clouds (and so
sweeps what they made) when done, a ready VM environment, and the admin's views of what
cloudbus made. The fixtures (`admin`, `os_settings`, `os_cloud`) are in tests/conftest.py.
"""

from __future__ import annotations

import contextlib
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from cloudbus.testing import Cloud

MiB = 1 << 20
GiB = 1 << 30


def admin_connection(env: dict[str, str]) -> Any:
    """openstacksdk as the OpenStack admin: the tests' eyes."""
    import openstack

    return openstack.connect(
        auth_url=env["OS_AUTH_URL"],
        username=env["OS_USERNAME"],
        password=env["OS_PASSWORD"],
        project_name=env["OS_PROJECT_NAME"],
        user_domain_name=env["OS_USER_DOMAIN_NAME"],
        project_domain_name=env["OS_PROJECT_DOMAIN_NAME"],
        region_name=env["OS_REGION_NAME"],
        load_yaml_config=False,
        load_envvars=False,
    )


def login(env: dict[str, str]) -> dict[str, str]:
    """AddOpenStackCloud's login parameters from the OS_* values."""
    return {
        "authUrl": env["OS_AUTH_URL"],
        "username": env["OS_USERNAME"],
        "password": env["OS_PASSWORD"],
        "projectName": env["OS_PROJECT_NAME"],
        "userDomainName": env["OS_USER_DOMAIN_NAME"],
        "projectDomainName": env["OS_PROJECT_DOMAIN_NAME"],
        "regionName": env["OS_REGION_NAME"],
    }


@contextlib.asynccontextmanager
async def started(db_url: str, bus_url: str | None) -> AsyncIterator[Cloud]:
    async with Cloud.start(db_url, bus_url, namespace=f"t{secrets.token_hex(5)}") as cloud:
        try:
            yield cloud
        finally:  # what a failed test left: its clouds' deletion sweeps their tagged resources
            for registered in await cloud.ok("QueryOpenStackCloud"):
                await cloud.api("DeleteOpenStackCloud", uuid=registered["uuid"])


async def add_cloud(cloud: Cloud, env: dict[str, str], **extra: Any) -> dict[str, Any]:
    zone = await cloud.ok("CreateZone", name="os-zone")
    return await cloud.ok("AddOpenStackCloud", name="os", zoneUuid=zone["uuid"], **login(env) | extra)


def raw_image(path: Path, size: int = MiB) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        out.truncate(size)
    return path


async def vm_env(cloud: Cloud, env: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    """A registered cloud, an image uploaded to its Glance, an L3 on its tenant networks, offerings."""
    registered = await add_cloud(cloud, env)
    (bs,) = await cloud.query("QueryBackupStorage", ("type", "=", "OpenStackGlance"))
    source = raw_image(tmp_path / "src" / "disk.raw")
    image = await cloud.ok("AddImage", name="tiny", url=source.as_uri(), format="raw", backupStorageUuids=[bs["uuid"]])
    (l2,) = await cloud.query("QueryL2Network", ("physicalInterface", "=", "tenant-networks"))
    l3 = await cloud.ok("CreateL3Network", name="os-l3", l2NetworkUuid=l2["uuid"])
    await cloud.ok(
        "AddIpRange",
        l3NetworkUuid=l3["uuid"],
        name="r",
        startIp="10.77.0.10",
        endIp="10.77.0.50",
        netmask="255.255.255.0",
        gateway="10.77.0.1",
    )
    await cloud.ok("AddDnsToL3Network", l3NetworkUuid=l3["uuid"], dns="10.77.0.2")
    return {
        "cloud": registered,
        "bs": bs,
        "image": image,
        "l3": l3,
        "offering": await cloud.ok("CreateInstanceOffering", name="small", cpuNum=1, memorySize=128 * MiB),
        "disk": await cloud.ok("CreateDiskOffering", name="d1", diskSize=GiB),
    }


def server_of(admin: Any, vm_uuid: str) -> Any:
    return next(iter(admin.compute.servers(all_projects=True, name=f"^{vm_uuid}$")), None)


def volume_named(admin: Any, name: str) -> Any:
    return next(iter(admin.block_storage.volumes(all_projects=True, name=name)), None)


def tagged(admin: Any, label: str) -> dict[str, list[str]]:
    """What OpenStack holds with cloudbus's tag for one registered cloud."""
    return {
        "servers": [s.name for s in admin.compute.servers(all_projects=True, tags=label)],
        "ports": [p.name for p in admin.network.ports(tags=label)],
        "networks": [n.name for n in admin.network.networks(tags=label)],
        "volumes": [
            v.name
            for v in admin.block_storage.volumes(all_projects=True, details=True)
            if (v.metadata or {}).get("cloudbus") == label
        ],
        "images": [i.name for i in admin.image.images(tag=label)],
    }


NOTHING = {"servers": [], "ports": [], "networks": [], "volumes": [], "images": []}
