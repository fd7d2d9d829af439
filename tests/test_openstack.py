"""cloudbus driving a real OpenStack (Keystone, Placement, Glance, Nova with its fake compute,
Neutron, Cinder), started by tests/support/openstack.py: run by `pytest --backend=openstack`.

Every check reads OpenStack itself through openstacksdk as its admin: the server exists with
the flavor, ports, IPs, MACs and volumes cloudbus reports, and after a destroy, a rollback or
a zone deletion nothing cloudbus made is left in Nova, Neutron, Cinder or Glance, while what
was made out of band stays.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from cloudbus.core.units import MiB
from cloudbus.inventory.quota import QUOTAS
from cloudbus.testing import Cloud
from tests.support.cluster import wait_until
from tests.support.openstack_cloud import (
    NOTHING,
    add_cloud,
    as_tenant,
    distinct_tenant_ids,
    login,
    raw_image,
    server_of,
    started,
    tagged,
    tenant_connection,
    tenant_identity,
    vm_env,
    volume_named,
)

pytestmark = pytest.mark.openstack


# --- registering and discovering ------------------------------------------------------------


async def test_add_discovers_zones_computes_volume_types_glance_and_networks(
    os_cloud: Cloud, openstack_env: dict[str, str], admin: Any
) -> None:
    cloud = os_cloud
    registered = await add_cloud(cloud, openstack_env)
    assert registered["status"] == "Connected"
    assert "password" not in registered
    assert registered["authUrl"] == openstack_env["OS_AUTH_URL"]

    zones = sorted(z.name for z in admin.compute.availability_zones() if z.name != "internal")
    clusters = await cloud.query("QueryCluster", ("zoneUuid", "=", registered["zoneUuid"]))
    assert sorted(c["name"] for c in clusters) == [f"os-{z}" for z in zones]
    assert {c["hypervisorType"] for c in clusters} == {"OpenStack"}

    hosts = await cloud.ok("QueryHost")
    computes = {s.host for s in admin.compute.services(binary="nova-compute")}
    assert {h["name"] for h in hosts} == computes
    for host in hosts:
        assert host["status"] == "Connected"
        (hypervisor,) = [
            h for h in admin.compute.hypervisors(details=True) if h.service_details["host"] == host["name"]
        ]
        inv = {i.resource_class: i for i in admin.placement.resource_provider_inventories(hypervisor.id)}
        vcpus = int(inv["VCPU"].total * inv["VCPU"].allocation_ratio)
        assert host["totalCpuCapacity"] == vcpus
        ram = int((inv["MEMORY_MB"].total - inv["MEMORY_MB"].reserved) * inv["MEMORY_MB"].allocation_ratio)
        assert host["totalMemoryCapacity"] == ram * MiB

    storages = await cloud.ok("QueryPrimaryStorage")
    assert sorted(p["name"] for p in storages) == sorted(f"os-{t.name}" for t in admin.block_storage.types())
    assert {p["type"] for p in storages} == {"OpenStackCinder"}
    assert {p["status"] for p in storages} == {"Connected"}
    for ps in storages:
        assert sorted(ps["attachedClusterUuids"]) == sorted(c["uuid"] for c in clusters)

    (bs,) = await cloud.ok("QueryBackupStorage")
    assert (bs["type"], bs["status"]) == ("OpenStackGlance", "Connected")
    assert bs["attachedZoneUuids"] == [registered["zoneUuid"]]

    l2s = await cloud.ok("QueryL2Network")
    providers = {
        n.name
        for n in admin.network.networks()
        if n.provider_physical_network and (n.is_shared or n.is_router_external)
    }
    assert sorted(n["name"] for n in l2s) == sorted([f"os-{p}" for p in providers] + ["os-tenant-networks"])
    assert {(n["type"], n["vSwitchType"]) for n in l2s} == {("OpenStackNeutron", "OpenStackNeutron")}

    # the admin password is nowhere a user can read it, nor stored in the clear
    async with cloud.db.read() as conn:
        from sqlalchemy import text

        stored = (await conn.execute(text("select password from openstack_cloud"))).scalar_one()
    assert stored.startswith("fernet:") and openstack_env["OS_PASSWORD"] not in stored
    conditions = [{"name": "password", "op": "=", "value": openstack_env["OS_PASSWORD"]}]
    assert (await cloud.error("QueryOpenStackCloud", conditions=conditions)).code == "SYS.1007"


async def test_add_with_a_wrong_login_or_region_fails_coded_and_leaves_nothing(
    os_cloud: Cloud, openstack_env: dict[str, str]
) -> None:
    cloud = os_cloud
    zone = await cloud.ok("CreateZone", name="z")
    before = await cloud.snapshot()
    cases = [
        {"password": "not-the-password"},
        {"regionName": "NoSuchRegion"},
        {"authUrl": "http://127.0.0.1:1/v3"},
    ]
    for change in cases:
        error = await cloud.error(
            "AddOpenStackCloud", name="bad", zoneUuid=zone["uuid"], **login(openstack_env) | change
        )
        assert error.code == "OPENSTACK.1000", change
        assert error.cause is not None and error.cause.code == "OPENSTACK.1001", (change, error.to_json())
        assert await cloud.snapshot() == before, change
    error = await cloud.error(
        "AddOpenStackCloud", name="bad", zoneUuid=zone["uuid"], **login(openstack_env) | {"authUrl": "ftp://x"}
    )
    assert error.code == "SYS.1007"


async def test_sync_adds_and_removes_what_changed_in_openstack(
    os_cloud: Cloud, openstack_env: dict[str, str], admin: Any
) -> None:
    cloud = os_cloud
    registered = await add_cloud(cloud, openstack_env)
    name = f"cbtest-{secrets.token_hex(3)}"
    # public images other tests put in (or take out of) the shared Glance meanwhile are synced too
    images = {i["uuid"] for i in await cloud.ok("QueryImage")}

    async def changes() -> dict[str, list[str]]:
        reply = await cloud.api("SyncOpenStackCloud", uuid=registered["uuid"])
        assert reply.success, reply.to_json()
        images.update(i["uuid"] for i in await cloud.ok("QueryImage"))
        return {k: [u for u in reply.changes[k] if u not in images] for k in ("added", "removed")}

    vtype = admin.block_storage.create_type(name=name)
    try:
        changed = await changes()
        (ps,) = await cloud.query("QueryPrimaryStorage", ("name", "=", f"os-{name}"))
        assert changed == {"added": [ps["uuid"]], "removed": []}
    finally:
        admin.block_storage.delete_type(vtype)
    assert await changes() == {"added": [], "removed": [ps["uuid"]]}
    assert await cloud.query("QueryPrimaryStorage", ("name", "=", f"os-{name}")) == []


# --- driving it ------------------------------------------------------------------------------


async def test_vm_lifecycle_is_real_in_nova_neutron_cinder_and_glance(
    os_cloud: Cloud, openstack_env: dict[str, str], admin: Any, tmp_path: Path
) -> None:
    cloud = os_cloud
    env = await vm_env(cloud, openstack_env, tmp_path)
    label = f"cloudbus-{env['cloud']['uuid']}"

    # the image is in Glance, active, with the size cloudbus reports
    (glance_image,) = list(admin.image.images(name=env["image"]["uuid"]))
    assert glance_image.status == "active" and label in glance_image.tags
    assert env["image"]["status"] == "Ready" and env["image"]["size"] == MiB

    vm = await cloud.ok(
        "CreateVmInstance",
        name="vm1",
        instanceOfferingUuid=env["offering"]["uuid"],
        imageUuid=env["image"]["uuid"],
        l3NetworkUuids=[env["l3"]["uuid"]],
        dataDiskOfferingUuids=[env["disk"]["uuid"]],
    )
    assert vm["state"] == "Running"
    server = server_of(admin, vm["uuid"])
    assert server is not None and server.status == "ACTIVE"
    flavor = admin.compute.find_flavor(server.flavor["original_name"])
    assert (flavor.vcpus, flavor.ram) == (1, 128)

    # the nic: a port with cloudbus's IP and MAC on a network and subnet named by the L3
    (nic,) = vm["vmNics"]
    (port,) = list(admin.network.ports(device_id=server.id))
    assert port.mac_address == nic["mac"]
    assert [ip["ip_address"] for ip in port.fixed_ips] == [nic["ip"]]
    subnet = admin.network.get_subnet(port.fixed_ips[0]["subnet_id"])
    assert (subnet.name, subnet.cidr, subnet.gateway_ip) == (env["l3"]["uuid"], "10.77.0.0/24", "10.77.0.1")
    assert subnet.dns_nameservers == ["10.77.0.2"]
    assert subnet.allocation_pools == [{"start": "10.77.0.10", "end": "10.77.0.50"}]

    # the volumes: Cinder volumes named by the volume uuids, attached to the server
    volumes = {v["type"]: v for v in vm["allVolumes"]}
    root, data = volumes["Root"], volumes["Data"]
    attached = {a["id"] for a in server.attached_volumes}
    for volume in (root, data):
        found = volume_named(admin, volume["uuid"])
        assert found is not None and found.status == "in-use" and found.id in attached
        assert volume["installPath"] == f"cinder://{found.id}"
    assert volume_named(admin, root["uuid"]).is_bootable
    assert volume_named(admin, data["uuid"]).size == 1

    async def state_after(api: str, **params: Any) -> tuple[str, str]:
        inv = await cloud.ok(api, uuid=vm["uuid"], **params)
        return inv["state"], server_of(admin, vm["uuid"]).status

    assert await state_after("StopVmInstance") == ("Stopped", "SHUTOFF")
    bigger = await cloud.ok("CreateInstanceOffering", name="bigger", cpuNum=2, memorySize=256 * MiB)
    await cloud.ok("ChangeInstanceOffering", vmInstanceUuid=vm["uuid"], instanceOfferingUuid=bigger["uuid"])
    assert await state_after("StartVmInstance") == ("Running", "ACTIVE")
    flavor = server_of(admin, vm["uuid"]).flavor  # resized (and confirmed) before the start
    assert (flavor["vcpus"], flavor["ram"]) == (2, 256)
    assert await state_after("RebootVmInstance") == ("Running", "ACTIVE")
    reply = await cloud.api("GetVmConsoleAddress", uuid=vm["uuid"])
    assert reply.success, reply.to_json()
    assert reply.protocol == "vnc" and reply.url.startswith("http") and f":{reply.port}/" in reply.url
    assert await state_after("PauseVmInstance") == ("Paused", "PAUSED")
    assert await state_after("ResumeVmInstance") == ("Running", "ACTIVE")
    # a sync reads every server of the compute back: a running VM stays running
    await cloud.ok("SyncOpenStackCloud", uuid=env["cloud"]["uuid"])
    (seen,) = await cloud.query("QueryVmInstance", ("uuid", "=", vm["uuid"]))
    assert (seen["state"], server_of(admin, vm["uuid"]).status) == ("Running", "ACTIVE")

    # a data volume made later is attached live, and detached again
    extra = await cloud.ok("CreateDataVolume", name="extra", diskOfferingUuid=env["disk"]["uuid"])
    await cloud.ok("AttachDataVolumeToVm", volumeUuid=extra["uuid"], vmInstanceUuid=vm["uuid"])
    found = volume_named(admin, extra["uuid"])
    assert found.status == "in-use" and found.attachments[0]["server_id"] == server.id
    await cloud.ok("DetachDataVolumeFromVm", uuid=extra["uuid"])
    assert volume_named(admin, extra["uuid"]).status == "available"

    await cloud.ok("DestroyVmInstance", uuid=vm["uuid"])
    await cloud.ok("ExpungeVmInstance", uuid=vm["uuid"])
    assert server_of(admin, vm["uuid"]) is None
    assert list(admin.network.ports(device_id=server.id)) == []
    assert volume_named(admin, root["uuid"]) is None
    await cloud.ok("DeleteDataVolume", uuid=extra["uuid"])
    await cloud.ok("ExpungeDataVolume", uuid=extra["uuid"])
    assert volume_named(admin, extra["uuid"]) is None

    await cloud.ok("DeleteImage", uuid=env["image"]["uuid"])
    await cloud.ok("ExpungeImage", imageUuid=env["image"]["uuid"])
    assert list(admin.image.images(name=env["image"]["uuid"])) == []

    # the L3 deleted: the Neutron network and subnet made for it go with it
    assert len(list(admin.network.networks(name=env["l3"]["uuid"]))) == 1
    await cloud.ok("DeleteL3Network", uuid=env["l3"]["uuid"])
    assert list(admin.network.networks(name=env["l3"]["uuid"])) == []
    assert list(admin.network.subnets(name=env["l3"]["uuid"])) == []


async def test_a_failed_create_removes_what_it_made_in_openstack(
    os_cloud: Cloud, openstack_env: dict[str, str], admin: Any, tmp_path: Path
) -> None:
    """A Cinder quota that lets the root volume be made but not the data volume."""
    cloud = os_cloud
    env = await vm_env(cloud, openstack_env, tmp_path)
    label = f"cloudbus-{env['cloud']['uuid']}"
    project = admin.identity.find_project(openstack_env["OS_PROJECT_NAME"])
    quota = admin.block_storage.get_quota_set(project.id, usage=True)
    in_use = int(quota.usage["volumes"])
    before = await cloud.snapshot()
    admin.block_storage.update_quota_set(project.id, volumes=in_use + 1)
    try:
        error = await cloud.error(
            "CreateVmInstance",
            name="vm-fails",
            instanceOfferingUuid=env["offering"]["uuid"],
            imageUuid=env["image"]["uuid"],
            l3NetworkUuids=[env["l3"]["uuid"]],
            dataDiskOfferingUuids=[env["disk"]["uuid"]],
        )
    finally:
        admin.block_storage.update_quota_set(project.id, volumes=quota.volumes)
    assert "quota" in str(error.to_json()).lower() or "exceed" in str(error.to_json()).lower(), error.to_json()
    assert await cloud.snapshot() == before
    left = tagged(admin, label)
    assert (left["servers"], left["ports"], left["volumes"]) == ([], [], [])


async def test_out_of_band_detach_stop_and_delete_are_reconciled_by_sync(
    os_cloud: Cloud, openstack_env: dict[str, str], admin: Any, tmp_path: Path
) -> None:
    cloud = os_cloud
    env = await vm_env(cloud, openstack_env, tmp_path)
    params = {"instanceOfferingUuid": env["offering"]["uuid"], "imageUuid": env["image"]["uuid"]}
    vm = await cloud.ok(
        "CreateVmInstance",
        name="vm",
        l3NetworkUuids=[env["l3"]["uuid"]],
        dataDiskOfferingUuids=[env["disk"]["uuid"]],
        **params,
    )
    server = server_of(admin, vm["uuid"])

    # the data volume detached behind cloudbus's back: the sync detaches it in cloudbus too
    (data,) = await cloud.query("QueryVolume", ("vmInstanceUuid", "=", vm["uuid"]), ("type", "=", "Data"))
    cinder_id = data["installPath"].removeprefix("cinder://")
    admin.compute.delete_volume_attachment(server, cinder_id)
    await wait_until(
        lambda: admin.block_storage.get_volume(cinder_id).status == "available",
        120,
        lambda: f"volume still {admin.block_storage.get_volume(cinder_id).status}",
    )
    reply = await cloud.api("SyncOpenStackCloud", uuid=env["cloud"]["uuid"])
    assert reply.success and reply.changes["detached"] == [data["uuid"]], reply.to_json()
    (seen,) = await cloud.query("QueryVolume", ("uuid", "=", data["uuid"]))
    assert seen["vmInstanceUuid"] is None
    (running,) = await cloud.query("QueryVmInstance", ("uuid", "=", vm["uuid"]))
    assert running["state"] == "Running"
    again = await cloud.api("SyncOpenStackCloud", uuid=env["cloud"]["uuid"])
    assert again.changes["detached"] == []  # nothing more to correct

    admin.compute.stop_server(server)
    admin.compute.wait_for_server(admin.compute.get_server(server.id), status="SHUTOFF", wait=120)
    await cloud.ok("SyncOpenStackCloud", uuid=env["cloud"]["uuid"])
    (seen,) = await cloud.query("QueryVmInstance", ("uuid", "=", vm["uuid"]))
    assert seen["state"] == "Stopped"

    await cloud.ok("StartVmInstance", uuid=vm["uuid"])
    admin.compute.delete_server(server)
    admin.compute.wait_for_delete(server, wait=120)
    await cloud.ok("SyncOpenStackCloud", uuid=env["cloud"]["uuid"])
    (seen,) = await cloud.query("QueryVmInstance", ("uuid", "=", vm["uuid"]))
    assert seen["state"] == "Stopped"  # ZStack's VmTracer: a VM whose hypervisor lost it is stopped

    # starting it again boots a new server from the same root volume
    await cloud.ok("StartVmInstance", uuid=vm["uuid"])
    again = server_of(admin, vm["uuid"])
    assert again is not None and again.id != server.id and again.status == "ACTIVE"
    root = volume_named(admin, vm["rootVolumeUuid"])
    assert root.attachments[0]["server_id"] == again.id


async def test_deleting_the_zone_removes_what_cloudbus_made_and_nothing_else(
    os_cloud: Cloud, openstack_env: dict[str, str], admin: Any, tmp_path: Path
) -> None:
    cloud = os_cloud
    env = await vm_env(cloud, openstack_env, tmp_path)
    label = f"cloudbus-{env['cloud']['uuid']}"
    params = {"instanceOfferingUuid": env["offering"]["uuid"], "imageUuid": env["image"]["uuid"]}
    vm = await cloud.ok("CreateVmInstance", name="vm", l3NetworkUuids=[env["l3"]["uuid"]], **params)
    loose = await cloud.ok("CreateDataVolume", name="loose", diskOfferingUuid=env["disk"]["uuid"])
    await cloud.ok("AttachDataVolumeToVm", volumeUuid=loose["uuid"], vmInstanceUuid=vm["uuid"])
    await cloud.ok("DetachDataVolumeFromVm", uuid=loose["uuid"])  # made in Cinder, now on its own
    made = tagged(admin, label)
    assert made["servers"] == [vm["uuid"]] and len(made["volumes"]) == 2 and made["networks"] == [env["l3"]["uuid"]]

    # out of band: a server of the operator's own, booted from the same Glance image
    (glance_image,) = list(admin.image.images(name=env["image"]["uuid"]))
    flavor = admin.compute.find_flavor(server_of(admin, vm["uuid"]).flavor["original_name"])
    outsider = admin.compute.create_server(
        name=f"outsider-{secrets.token_hex(3)}", flavor_id=flavor.id, image_id=glance_image.id, networks="none"
    )
    try:
        admin.compute.wait_for_server(outsider, status="ACTIVE", wait=120)
        await cloud.ok("DeleteZone", uuid=env["cloud"]["zoneUuid"])
        assert tagged(admin, label) == NOTHING
        assert admin.compute.get_server(outsider.id).status == "ACTIVE"
        assert await cloud.ok("QueryOpenStackCloud") == []
        for query in ("QueryCluster", "QueryHost", "QueryPrimaryStorage", "QueryBackupStorage", "QueryL2Network"):
            assert await cloud.ok(query) == [], query
    finally:
        admin.compute.delete_server(outsider)


async def test_security_groups_are_neutron_groups_kept_in_step(
    os_cloud: Cloud, openstack_env: dict[str, str], admin: Any, tmp_path: Path
) -> None:
    cloud = os_cloud
    env = await vm_env(cloud, openstack_env, tmp_path)
    params = {"instanceOfferingUuid": env["offering"]["uuid"], "imageUuid": env["image"]["uuid"]}
    (provider,) = await cloud.query("QueryNetworkServiceProvider", ("type", "=", "SecurityGroup"))
    services = {provider["uuid"]: ["SecurityGroup"]}
    await cloud.ok("AttachNetworkServiceToL3Network", l3NetworkUuid=env["l3"]["uuid"], networkServices=services)
    sg = await cloud.ok("CreateSecurityGroup", name="web")
    await cloud.ok("AttachSecurityGroupToL3Network", securityGroupUuid=sg["uuid"], l3NetworkUuid=env["l3"]["uuid"])
    ssh = {"type": "Ingress", "protocol": "TCP", "dstPortRange": "22,8000-8080", "srcIpRange": "10.0.0.0/8"}
    await cloud.ok("AddSecurityGroupRule", securityGroupUuid=sg["uuid"], rules=[ssh])

    def rules_of(group: Any) -> set[tuple[Any, ...]]:
        fresh = admin.network.get_security_group(group.id)
        keys = ("direction", "protocol", "port_range_min", "port_range_max", "remote_ip_prefix")
        return {tuple(r[k] for k in keys) for r in fresh.security_group_rules}

    # a nic in no group: its port is not filtered
    vm = await cloud.ok("CreateVmInstance", name="vm", l3NetworkUuids=[env["l3"]["uuid"]], **params)
    (nic,) = vm["vmNics"]
    (port,) = list(admin.network.ports(name=nic["uuid"]))
    assert port.is_port_security_enabled is False and port.security_group_ids == []

    # joining the group: the port gets the Neutron group named by it, with exactly its rules
    await cloud.ok("AddVmNicToSecurityGroup", securityGroupUuid=sg["uuid"], vmNicUuids=[nic["uuid"]])
    (group,) = list(admin.network.security_groups(name=sg["uuid"]))
    port = admin.network.get_port(port.id)
    assert port.is_port_security_enabled is True and port.security_group_ids == [group.id]
    assert rules_of(group) == {
        ("ingress", "tcp", 22, 22, "10.0.0.0/8"),
        ("ingress", "tcp", 8000, 8080, "10.0.0.0/8"),
    }

    # a rule added and one deleted: Neutron follows
    icmp = {"type": "Egress", "protocol": "ICMP", "dstIpRange": "192.168.1.0/24"}
    added = await cloud.ok("AddSecurityGroupRule", securityGroupUuid=sg["uuid"], rules=[icmp])
    assert ("egress", "icmp", None, None, "192.168.1.0/24") in rules_of(group)
    tcp_rules = [r["uuid"] for r in added["rules"] if r["protocol"] == "TCP"]
    await cloud.ok("DeleteSecurityGroupRule", ruleUuids=tcp_rules)
    assert rules_of(group) == {("egress", "icmp", None, None, "192.168.1.0/24")}

    # leaving the group, then the group deleted: the port is unfiltered, the Neutron group gone
    await cloud.ok("DeleteVmNicFromSecurityGroup", securityGroupUuid=sg["uuid"], vmNicUuids=[nic["uuid"]])
    port = admin.network.get_port(port.id)
    assert port.is_port_security_enabled is False and port.security_group_ids == []
    await cloud.ok("AddVmNicToSecurityGroup", securityGroupUuid=sg["uuid"], vmNicUuids=[nic["uuid"]])
    await cloud.ok("DeleteSecurityGroup", uuid=sg["uuid"])
    assert list(admin.network.security_groups(name=sg["uuid"])) == []
    assert admin.network.get_port(port.id).security_group_ids == []


async def test_the_periodic_sync_notices_a_server_stopped_behind_cloudbus_back(
    openstack_env: dict[str, str], db_url: str, bus_url: str | None, os_settings: Any, admin: Any, tmp_path: Path
) -> None:
    os_settings.setenv("CLOUDBUS_OPENSTACK_SYNC_INTERVAL", "1")
    async with started(db_url, bus_url) as cloud:
        env = await vm_env(cloud, openstack_env, tmp_path)
        params = {"instanceOfferingUuid": env["offering"]["uuid"], "imageUuid": env["image"]["uuid"]}
        vm = await cloud.ok("CreateVmInstance", name="vm", l3NetworkUuids=[env["l3"]["uuid"]], **params)
        server = server_of(admin, vm["uuid"])
        admin.compute.stop_server(server)

        async def stopped() -> bool:
            (seen,) = await cloud.query("QueryVmInstance", ("uuid", "=", vm["uuid"]))
            return seen["state"] == "Stopped"

        await wait_until(stopped, 120, lambda: f"vm {vm['uuid']} still not Stopped after its server was")
        assert admin.compute.get_server(server.id).status == "SHUTOFF"


async def test_the_example_drives_the_openstack_of_the_os_variables(
    os_cloud: Cloud, openstack_env: dict[str, str], admin: Any, os_settings: pytest.MonkeyPatch
) -> None:
    """examples/openstack.cb, as its header says to run it (OS_* set, /tmp/tiny.raw made)."""
    from cloudbus.apis.cli import Session, run_lines
    from cloudbus.core.config import Settings

    for name, value in openstack_env.items():
        os_settings.setenv(name, value)
    raw_image(Path("/tmp/tiny.raw"))
    session = Session(Settings.from_env())
    session.client = os_cloud.client
    status = await run_lines(EXAMPLE.read_text().splitlines(), session, echo=False)
    assert status == 0
    found = session.names
    assert found["running"] == [{"name": "vm1", "state": "Running", "hostUuid": found["vm"]["hostUuid"]}]
    assert found["snap"]["status"] == "Ready"
    assert {h["status"] for h in found["hosts"]} == {"Connected"}
    # the script tore it all down: nothing of it is left in OpenStack, nor in cloudbus
    assert tagged(admin, f"cloudbus-{found['cloud']['uuid']}") == NOTHING
    assert await os_cloud.ok("QueryOpenStackCloud") == []


async def test_a_tenant_gets_its_own_keystone_domain_project_and_user(
    os_cloud: Cloud, openstack_env: dict[str, str], admin: Any
) -> None:
    cloud = os_cloud
    await distinct_tenant_ids(cloud)
    early = await cloud.api("CreateTenant", tenantName=f"early-{secrets.token_hex(3)}")
    await add_cloud(cloud, openstack_env)  # a tenant registered before the cloud gets its identity now
    reply = await cloud.api("CreateTenant", tenantName=f"acme-{secrets.token_hex(3)}")
    assert reply.success, reply.to_json()
    for tenant_id in (early.tenantId, reply.tenantId):
        domain = admin.identity.find_domain(tenant_id)
        project = admin.identity.find_project(tenant_id, domain_id=domain.id)
        user = admin.identity.find_user(tenant_id, domain_id=domain.id)
        assert domain.is_enabled and project is not None and user.default_project_id == project.id
        (assignment,) = list(admin.identity.role_assignments(user_id=user.id, scope_project_id=project.id))
        assert admin.identity.get_role(assignment.role["id"]).name == "member"
        limits = {lim.resource_name: lim.resource_limit for lim in admin.identity.limits(domain_id=domain.id)}
        assert limits["servers"] == QUOTAS["vm.num"].default  # its quotas are mirrored (seed 004)

        # the tenant's own login works, scoped to its own project, and sees nothing of the admin's
        row = await tenant_identity(cloud, tenant_id)
        assert (row["domainId"], row["projectId"], row["userId"]) == (domain.id, project.id, user.id)
        own = tenant_connection(openstack_env, row)
        assert own.current_project_id == project.id
        assert list(own.block_storage.volumes()) == []
        own.close()

    # the tenant's account deleted: its Keystone identity goes with it
    (tenant,) = await cloud.query("QueryTenant", ("tenantId", "=", tenant_id))
    await cloud.ok("DeleteAccount", uuid=tenant["accountUuid"])
    assert admin.identity.find_domain(tenant_id) is None
    assert admin.identity.find_user(user.id) is None and admin.identity.find_project(project.id) is None

    # a registration Keystone refuses (a domain of that name exists) is undone, and takes nothing
    taken = admin.identity.create_domain(name=f"t-{int(tenant_id[2:]) + 1:010d}")  # the next id
    try:
        before = await cloud.snapshot()
        error = await cloud.error("CreateTenant", tenantName=f"acme-{secrets.token_hex(3)}")
        assert error.cause is not None and error.cause.code == "OPENSTACK.1002", error.to_json()
        assert await cloud.snapshot() == before
        assert list(admin.identity.projects(domain_id=taken.id)) == []
        assert list(admin.identity.users(domain_id=taken.id)) == []
    finally:
        admin.identity.update_domain(taken, is_enabled=False)
        admin.identity.delete_domain(taken)


EXAMPLE = Path(__file__).parent.parent / "examples" / "openstack.cb"


async def test_each_tenant_drives_openstack_as_its_own_project(
    os_cloud: Cloud, openstack_env: dict[str, str], admin: Any, tmp_path: Path
) -> None:
    cloud = os_cloud
    env = await vm_env(cloud, openstack_env, tmp_path)
    shared = [env[k]["uuid"] for k in ("image", "l3", "offering", "disk")]
    await cloud.ok("ShareResource", resourceUuids=shared, toPublic=True)
    await distinct_tenant_ids(cloud)
    tenants = []
    for name in ("a", "b"):
        reply = await cloud.api("CreateTenant", tenantName=f"{name}-{secrets.token_hex(3)}")
        assert reply.success, reply.to_json()
        tenants.append((reply.tenantId, reply.apikey, await tenant_identity(cloud, reply.tenantId)))
    vms = []
    for tenant_id, apikey, _ in tenants:
        async with as_tenant(cloud, tenant_id, apikey) as own:
            vms.append(
                await own.ok(
                    "CreateVmInstance",
                    name=f"vm-{tenant_id}",
                    instanceOfferingUuid=env["offering"]["uuid"],
                    imageUuid=env["image"]["uuid"],
                    l3NetworkUuids=[env["l3"]["uuid"]],
                    dataDiskOfferingUuids=[env["disk"]["uuid"]],
                )
            )

    # the server, its volumes and its port are the tenant's own project's, in OpenStack's eyes
    servers = []
    for (_, _, identity), vm in zip(tenants, vms, strict=True):
        server = server_of(admin, vm["uuid"])
        assert server.project_id == identity["projectId"]
        volumes = [admin.block_storage.get_volume(a["id"]) for a in server.attached_volumes]
        assert len(volumes) == 2 and {v.project_id for v in volumes} == {identity["projectId"]}
        (port,) = admin.network.ports(name=vm["vmNics"][0]["uuid"])
        assert (port.project_id, port.device_id) == (identity["projectId"], server.id)
        servers.append(server)

    # each tenant's own login sees its own server, volumes and port, and nothing of the other's
    for (_, _, identity), mine, theirs in zip(tenants, servers, reversed(servers), strict=True):
        own = tenant_connection(openstack_env, identity)
        try:
            assert [s.id for s in own.compute.servers()] == [mine.id]
            assert own.compute.find_server(theirs.id, ignore_missing=True) is None
            assert {v.id for v in own.block_storage.volumes()} == {a["id"] for a in mine.attached_volumes}
            assert [p.device_id for p in own.network.ports(device_id=theirs.id)] == []
        finally:
            own.close()

    # the tenant's later operations stay in its project: a snapshot of its root volume is its own
    (tenant_id, apikey, identity), vm = tenants[0], vms[0]
    async with as_tenant(cloud, tenant_id, apikey) as own:
        await own.ok("StopVmInstance", uuid=vm["uuid"])
        assert (await own.ok("StartVmInstance", uuid=vm["uuid"]))["state"] == "Running"
        snapshot = await own.ok("CreateVolumeSnapshot", volumeUuid=vm["rootVolumeUuid"], name="snap")
    cinder_snapshot = admin.block_storage.get_snapshot(snapshot["primaryStorageInstallPath"].split("://")[1])
    assert cinder_snapshot.project_id == identity["projectId"]

    # the tenant's account deleted: its server and volumes go from OpenStack, then its identity
    (tenant,) = await cloud.query("QueryTenant", ("tenantId", "=", tenant_id))
    await cloud.ok("DeleteAccount", uuid=tenant["accountUuid"])
    assert server_of(admin, vm["uuid"]) is None
    assert [v.id for v in admin.block_storage.volumes(all_projects=True, project_id=identity["projectId"])] == []
    assert admin.identity.find_project(identity["projectId"]) is None
    assert server_of(admin, vms[1]["uuid"]).status == "ACTIVE"  # the other tenant's is untouched

    # its nic detached: Nova lets the port go and Neutron no longer has it
    other = vms[1]
    await cloud.ok("DetachL3NetworkFromVm", vmNicUuid=other["vmNics"][0]["uuid"])
    assert list(admin.network.ports(name=other["vmNics"][0]["uuid"])) == []
    assert list(admin.compute.server_interfaces(server_of(admin, other["uuid"]))) == []

    # and attached again: a new port, the owner's, with the nic's IP and MAC, on the server
    again = await cloud.ok("AttachL3NetworkToVm", vmInstanceUuid=other["uuid"], l3NetworkUuid=env["l3"]["uuid"])
    (nic,) = again["vmNics"]
    (port,) = admin.network.ports(name=nic["uuid"])
    server = server_of(admin, other["uuid"])
    assert (port.project_id, port.device_id, port.mac_address) == (tenants[1][2]["projectId"], server.id, nic["mac"])
    assert [ip["ip_address"] for ip in port.fixed_ips] == [nic["ip"]]
    assert [i.port_id for i in admin.compute.server_interfaces(server)] == [port.id]
