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

from cloudbus.core.units import GiB, MiB
from cloudbus.testing import Cloud


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


@contextlib.asynccontextmanager
async def as_tenant(cloud: Cloud, tenant_id: str, apikey: str) -> AsyncIterator[Cloud]:
    """The same cloudbus as a tenant drives it: a client of its own sending the tenant's API key."""
    from cloudbus.core.auth import Credentials

    async with cloud.connect(Credentials(apikey=apikey, tenantId=tenant_id, platformUserId="p1")) as client:
        yield Cloud(cloud.node, client, cloud.bus_url, **cloud.bus_options)


async def tenant_identity(cloud: Cloud, tenant_id: str) -> dict[str, Any]:
    """A tenant's OpenStackTenant row in the one registered cloud: its Keystone ids and password."""
    from sqlalchemy import select

    from cloudbus.inventory.openstack import openstack_tenant_table

    async with cloud.db.read() as conn:
        query = select(openstack_tenant_table).where(openstack_tenant_table.c.tenantId == tenant_id)
        (row,) = (await conn.execute(query)).mappings().all()
    return dict(row)


def tenant_connection(env: dict[str, str], identity: dict[str, Any]) -> Any:
    """openstacksdk logged in as a tenant's own Keystone user, scoped to its own project."""
    import openstack

    from cloudbus.core import secrets as kept

    name = identity["tenantId"]
    return openstack.connect(
        auth_url=env["OS_AUTH_URL"],
        username=name,
        password=kept.decrypt(identity["password"]),
        project_name=name,
        user_domain_name=name,
        project_domain_name=name,
        region_name=env["OS_REGION_NAME"],
        load_yaml_config=False,
        load_envvars=False,
    )


async def distinct_tenant_ids(cloud: Cloud) -> None:
    """Start this cloudbus's tenant serial at a random point: tenants' Keystone domains are named
    by their ids, and other cloudbus databases (earlier or parallel runs) share the OpenStack."""
    from sqlalchemy import update

    from cloudbus.inventory.identity import tenant_serial_table

    async with cloud.db.tx() as conn:
        await conn.execute(update(tenant_serial_table).values(last=secrets.randbelow(10**9) + 10**8))
