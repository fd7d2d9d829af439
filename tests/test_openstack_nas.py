"""NAS disks on the private real OpenStack's Manila (DummyDriver, DHSS False): run by
`pytest --backend=openstack`.

Every check reads Manila itself through openstacksdk as its admin: the share cloudbus reports
exists, available, of the size, protocol and export path the inventory shows; attaching a VM
is an active read-write `ip` rule for its address; a failed create leaves no share and no row;
deleting the disk, the cloud or the tenant's account removes the share; a tenant's share is in
its own Keystone project.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from cloudbus.apis.parser import parse_line
from cloudbus.core.units import GiB
from cloudbus.testing import Cloud
from tests.support.cluster import wait_until
from tests.support.openstack_cloud import add_cloud, as_tenant, tenant_identity, vm_env

pytestmark = pytest.mark.openstack


def share_of(admin: Any, nas_uuid: str) -> Any:
    return next(iter(admin.shared_file_system.shares(all_projects=True, name=nas_uuid)), None)


def tagged_shares(admin: Any, label: str) -> list[str]:
    return sorted(
        s.name
        for s in admin.shared_file_system.shares(all_projects=True)
        if (s.metadata or {}).get("cloudbus") == label
    )


def preferred_path(admin: Any, share_id: str) -> str:
    (path,) = [e.path for e in admin.shared_file_system.export_locations(share_id) if e.is_preferred and not e.is_admin]
    return str(path)


def rules(admin: Any, share_id: str) -> list[tuple[str, str, str, str]]:
    found = admin.shared_file_system.access_rules(share_id)
    return sorted((r.access_type, r.access_to, r.access_level, r.state) for r in found)


async def settled(admin: Any, share_id: str) -> None:
    """Until Manila lets the share be deleted (no longer creating), or it is gone."""

    def check() -> bool:
        share = admin.shared_file_system.find_share(share_id, ignore_missing=True)
        return share is None or share.status != "creating"

    await wait_until(check, 120, lambda: f"share {share_id} still creating")


async def create_vm(cloud: Cloud, env: dict[str, Any]) -> dict[str, Any]:
    return await cloud.ok(
        "CreateVmInstance",
        name="vm",
        instanceOfferingUuid=env["offering"]["uuid"],
        imageUuid=env["image"]["uuid"],
        l3NetworkUuids=[env["l3"]["uuid"]],
    )


def test_the_nas_apis_parse_as_commands() -> None:
    uuid = "0123456789abcdef0123456789abcdef"
    command = parse_line(f"CreateNasDisk name=n cloudUuid={uuid} size=2G")
    assert command is not None and command.params["size"] == 2 * GiB
    command = parse_line(f"QueryNasDisk vmInstance.uuid={uuid} zone.name=z status=Ready")
    assert command is not None and [c["name"] for c in command.params["conditions"]] == [
        "vmInstance.uuid",
        "zone.name",
        "status",
    ]


async def test_a_nas_disk_is_a_manila_share_mounted_by_vm_ips(
    os_cloud: Cloud, openstack_env: dict[str, str], admin: Any, tmp_path: Path
) -> None:
    cloud = os_cloud
    env = await vm_env(cloud, openstack_env, tmp_path)
    label = f"cloudbus-{env['cloud']['uuid']}"
    vm = await create_vm(cloud, env)
    ip = vm["vmNics"][0]["ip"]

    # 1.5 GiB asked: a whole 2 GiB NFS share, every value the inventory shows read from Manila
    disk = await cloud.ok("CreateNasDisk", name="nas", cloudUuid=env["cloud"]["uuid"], size=GiB + GiB // 2)
    share = share_of(admin, disk["uuid"])
    assert share is not None and share.status == "available" and share.metadata["cloudbus"] == label
    assert (share.size, share.share_protocol, share.id) == (2, "NFS", disk["shareId"])
    assert (disk["size"], disk["protocol"], disk["status"], disk["shareType"]) == (2 * GiB, "NFS", "Ready", "default")
    assert disk["exportPath"] == preferred_path(admin, share.id)
    assert disk["zoneUuid"] == env["cloud"]["zoneUuid"] and disk["cloudUuid"] == env["cloud"]["uuid"]
    (found,) = await cloud.query("QueryNasDisk", ("zone.uuid", "=", disk["zoneUuid"]), ("status", "=", "Ready"))
    assert found["uuid"] == disk["uuid"]

    # attached: an active read-write rule for the VM's IP; the VM is the disk's mount client
    await cloud.ok("AttachNasDiskToVm", nasDiskUuid=disk["uuid"], vmInstanceUuid=vm["uuid"])
    assert rules(admin, share.id) == [("ip", ip, "rw", "active")]
    reply = await cloud.api("GetNasDiskMountClients", uuid=disk["uuid"])
    assert reply.success and reply.vmInstanceUuids == [vm["uuid"]], reply.to_json()
    assert [d["uuid"] for d in await cloud.query("QueryNasDisk", ("vmInstance.uuid", "=", vm["uuid"]))] == [
        disk["uuid"]
    ]
    await cloud.ok("AttachNasDiskToVm", nasDiskUuid=disk["uuid"], vmInstanceUuid=vm["uuid"])  # nothing more
    assert len(rules(admin, share.id)) == 1

    # detached: the rule is gone from Manila, no mount client left
    await cloud.ok("DetachNasDiskFromVm", nasDiskUuid=disk["uuid"], vmInstanceUuid=vm["uuid"])
    assert rules(admin, share.id) == []
    assert (await cloud.api("GetNasDiskMountClients", uuid=disk["uuid"])).vmInstanceUuids == []
    error = await cloud.error("DetachNasDiskFromVm", nasDiskUuid=disk["uuid"], vmInstanceUuid=vm["uuid"])
    assert error.code == "OPENSTACK.1107", error.to_json()

    # resized: Manila's extend, then its shrink
    grown = await cloud.ok("ResizeNasDisk", uuid=disk["uuid"], size=3 * GiB)
    assert (grown["size"], grown["status"], admin.shared_file_system.get_share(share.id).size) == (3 * GiB, "Ready", 3)
    shrunk = await cloud.ok("ResizeNasDisk", uuid=disk["uuid"], size=2 * GiB)
    assert (shrunk["size"], admin.shared_file_system.get_share(share.id).size) == (2 * GiB, 2)

    # deleted, while attached: the share is gone from Manila, and the rows with it
    await cloud.ok("AttachNasDiskToVm", nasDiskUuid=disk["uuid"], vmInstanceUuid=vm["uuid"])
    await cloud.ok("DeleteNasDisk", uuid=disk["uuid"])
    assert share_of(admin, disk["uuid"]) is None
    assert await cloud.ok("QueryNasDisk") == []
    assert (await cloud.snapshot())["nas_disk_vm_ref"] == []


async def test_a_failed_create_leaves_no_share_and_no_row(
    os_cloud: Cloud, openstack_env: dict[str, str], admin: Any
) -> None:
    cloud = os_cloud
    registered = await add_cloud(cloud, openstack_env)
    label = f"cloudbus-{registered['uuid']}"
    before = await cloud.snapshot()

    # refused at once: a share type Manila does not know
    error = await cloud.error(
        "CreateNasDisk", name="nas", cloudUuid=registered["uuid"], size=GiB, shareType=f"nope-{secrets.token_hex(3)}"
    )
    assert error.code == "OPENSTACK.1100" and error.cause.code == "OPENSTACK.1002", error.to_json()
    assert await cloud.snapshot() == before

    # failed later: made, then no backend can hold it (the scheduler puts it in error) -> removed
    sfs = admin.shared_file_system
    unplaceable = sfs.create_share_type(
        name=f"cloudbus-test-nowhere-{secrets.token_hex(3)}",
        extra_specs={"driver_handles_share_servers": "False", "share_backend_name": "NOWHERE"},
    )
    try:
        error = await cloud.error(
            "CreateNasDisk", name="nas", cloudUuid=registered["uuid"], size=GiB, shareType=unplaceable.name
        )
        assert error.code == "OPENSTACK.1100" and "share went error" in error.details, error.to_json()
        assert await cloud.snapshot() == before
        assert tagged_shares(admin, label) == []
    finally:
        for share in list(sfs.shares(all_projects=True, share_type_id=unplaceable.id)):
            sfs.delete_share(share.id)
        sfs.delete_share_type(unplaceable)

    # bad input is refused before Manila is asked
    error = await cloud.error("CreateNasDisk", name="nas", cloudUuid=registered["uuid"], size=GiB, protocol="CIFS")
    assert error.code == "SYS.1007", error.to_json()
    error = await cloud.error("CreateNasDisk", name="nas", cloudUuid=registered["uuid"], size=GiB - 1)
    assert error.code == "SYS.1007", error.to_json()
    assert await cloud.snapshot() == before


async def test_deleting_the_cloud_removes_the_shares_cloudbus_made_and_nothing_else(
    os_cloud: Cloud, openstack_env: dict[str, str], admin: Any
) -> None:
    cloud = os_cloud
    registered = await add_cloud(cloud, openstack_env)
    label = f"cloudbus-{registered['uuid']}"
    disk = await cloud.ok("CreateNasDisk", name="nas", cloudUuid=registered["uuid"], size=GiB)
    sfs = admin.shared_file_system
    # a share with the cloud's tag but no NAS disk (as a crash between Manila and the row leaves
    # one): the sweep's; and the operator's own share: left alone
    stray = sfs.create_share(
        name=f"stray-{secrets.token_hex(3)}", size=1, share_proto="NFS", metadata={"cloudbus": label}
    )
    own = sfs.create_share(name=f"outsider-{secrets.token_hex(3)}", size=1, share_proto="NFS")
    try:
        assert tagged_shares(admin, label) == sorted([disk["uuid"], stray.name])
        await cloud.ok("DeleteOpenStackCloud", uuid=registered["uuid"])
        assert tagged_shares(admin, label) == []
        assert await cloud.ok("QueryNasDisk") == []
        assert sfs.find_share(own.id, ignore_missing=True) is not None
    finally:
        for share in (stray, own):
            await settled(admin, share.id)
            sfs.delete_share(share.id, ignore_missing=True)


async def test_a_tenants_nas_disk_lives_in_its_own_project(
    os_cloud: Cloud, openstack_env: dict[str, str], admin: Any, tmp_path: Path
) -> None:
    cloud = os_cloud
    env = await vm_env(cloud, openstack_env, tmp_path)
    shared = [env[k]["uuid"] for k in ("image", "l3", "offering")]
    await cloud.ok("ShareResource", resourceUuids=shared, toPublic=True)
    reply = await cloud.api("CreateTenant", tenantName=f"nas-{secrets.token_hex(3)}")
    assert reply.success, reply.to_json()
    identity = await tenant_identity(cloud, reply.tenantId)

    async with as_tenant(cloud, reply.tenantId, reply.apikey) as own:
        vm = await create_vm(own, env)
        disk = await own.ok("CreateNasDisk", name="mine", cloudUuid=env["cloud"]["uuid"], size=GiB)
        await own.ok("AttachNasDiskToVm", nasDiskUuid=disk["uuid"], vmInstanceUuid=vm["uuid"])
        assert (await own.api("GetNasDiskMountClients", uuid=disk["uuid"])).vmInstanceUuids == [vm["uuid"]]
        assert [d["uuid"] for d in await own.ok("QueryNasDisk")] == [disk["uuid"]]
    share = share_of(admin, disk["uuid"])
    assert share.project_id == identity["projectId"]
    assert disk["exportPath"] == preferred_path(admin, share.id)
    assert rules(admin, share.id) == [("ip", vm["vmNics"][0]["ip"], "rw", "active")]

    # the tenant's account deleted: its disk goes through the cascade, and the share from Manila
    (tenant,) = await cloud.query("QueryTenant", ("tenantId", "=", reply.tenantId))
    await cloud.ok("DeleteAccount", uuid=tenant["accountUuid"])
    assert share_of(admin, disk["uuid"]) is None
    assert await cloud.ok("QueryNasDisk") == []
