"""A tenant's quotas mirrored into a real OpenStack (services/openstack/limits.py): its account's
quotas are the Keystone unified limits of its domain and the Nova, Cinder and Neutron quota sets
of its project, its default project's own quotas the project's limits, under Keystone's
strict_two_level model. Read back through openstacksdk as the admin; run by
`pytest --backend=openstack`.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest
from sqlalchemy import update

from cloudbus.core.units import GiB, MiB
from cloudbus.inventory.identity import tenant_serial_table
from cloudbus.testing import Cloud
from tests.support.openstack_cloud import add_cloud, tenant_identity

pytestmark = pytest.mark.openstack

# ZStack's default quotas (inventory/quota.py) in OpenStack's units; `volumes` counts root volumes
# (vm.totalNum, 20) with data volumes (volume.data.num, 40)
DOMAIN = {
    ("compute", "servers"): 20,
    ("compute", "class:VCPU"): 80,
    ("compute", "class:MEMORY_MB"): 80 * 1024,
    ("image", "image_count_total"): 20,
    ("image", "image_size_total"): 10 * 1024 * 1024,
    ("block-storage", "volumes"): 60,
    ("block-storage", "gigabytes"): 10 * 1024,
    ("block-storage", "snapshots"): 200,
    ("network", "security_group"): 20,
    ("network", "network"): 20,
}
QUOTA_SETS = {
    "compute": {"instances": 20, "cores": 80, "ram": 80 * 1024},
    "block-storage": {"volumes": 60, "gigabytes": 10 * 1024, "snapshots": 200},
    "network": {"security_groups": 20, "networks": 20, "subnets": 20},
}
SERVICE_TYPES = {"compute": "compute", "image": "image", "block-storage": "volumev3", "network": "network"}


class Seen:
    """What OpenStack holds for one tenant, read as the admin."""

    def __init__(self, admin: Any, identity: dict[str, Any], region: str) -> None:
        self.admin, self.region = admin, region
        self.domain_id, self.project_id = identity["domainId"], identity["projectId"]
        services = {s.type: s.id for s in admin.identity.services()}
        self.keys = {services[t]: name for name, t in SERVICE_TYPES.items()}

    def _limits(self, **owner: str) -> dict[tuple[str, str], int]:
        return {
            (self.keys[limit.service_id], limit.resource_name): limit.resource_limit
            for limit in self.admin.identity.limits(region_id=self.region, **owner)
            if limit.service_id in self.keys
        }

    def domain(self) -> dict[tuple[str, str], int]:
        return self._limits(domain_id=self.domain_id)

    def project(self) -> dict[tuple[str, str], int]:
        return self._limits(project_id=self.project_id)

    def registered(self) -> dict[tuple[str, str], int]:
        return {
            (self.keys[r.service_id], r.resource_name): r.default_limit
            for r in self.admin.identity.registered_limits(region_id=self.region)
            if r.service_id in self.keys
        }

    def quota_sets(self) -> dict[str, dict[str, int]]:
        pid = self.project_id
        found = {
            "compute": self.admin.compute.get_quota_set(pid),
            "block-storage": self.admin.block_storage.get_quota_set(pid),
            "network": self.admin.network.get_quota(pid),
        }
        return {
            service: {name: getattr(found[service], name) for name in names} for service, names in QUOTA_SETS.items()
        }


async def new_tenant(cloud: Cloud, env: dict[str, str], admin: Any) -> tuple[dict[str, Any], Seen]:
    """A tenant of a registered cloud, numbered at random: other runs share this Keystone, and
    tenant ids name Keystone domains."""
    async with cloud.db.tx() as conn:
        await conn.execute(update(tenant_serial_table).values(last=secrets.randbelow(10**9) + 10**8))
    reply = await cloud.api("CreateTenant", tenantName=f"quota-{secrets.token_hex(3)}")
    assert reply.success, reply.to_json()
    (tenant,) = await cloud.query("QueryTenant", ("tenantId", "=", reply.tenantId))
    identity = await tenant_identity(cloud, reply.tenantId)
    return tenant, Seen(admin, identity, env["OS_REGION_NAME"])


async def test_a_tenant_account_quotas_are_its_domain_limits_and_its_project_quota_sets(
    os_cloud: Cloud, openstack_env: dict[str, str], admin: Any
) -> None:
    cloud = os_cloud
    await add_cloud(cloud, openstack_env)
    tenant, seen = await new_tenant(cloud, openstack_env, admin)
    account, project = tenant["accountUuid"], tenant["projectUuid"]
    assert {key: seen.registered()[key] for key in DOMAIN} == DOMAIN  # made on first use, or already there
    assert seen.domain() == DOMAIN
    assert seen.project() == {}
    assert seen.quota_sets() == QUOTA_SETS

    # the account's quota: its domain's limit and its project's quota sets
    await cloud.ok("UpdateQuota", identityUuid=account, name="vm.num", value=7)
    await cloud.ok("UpdateQuota", identityUuid=account, name="vm.memorySize", value=3 * GiB + MiB // 2)
    await cloud.ok("UpdateQuota", identityUuid=account, name="vm.totalNum", value=0)
    changed = {("compute", "servers"): 7, ("compute", "class:MEMORY_MB"): 3 * 1024, ("block-storage", "volumes"): 40}
    assert seen.domain() == DOMAIN | changed
    assert seen.quota_sets()["compute"] == {"instances": 7, "cores": 80, "ram": 3 * 1024}
    assert seen.quota_sets()["block-storage"]["volumes"] == 40

    # the default project's own limits: its Keystone project's (a term it has none of is the account's)
    servers = await cloud.ok("CreateLimit", projectUuid=project, name="vm.num", value=5)
    volumes = await cloud.ok("CreateLimit", projectUuid=project, name="volume.data.num", value=0)
    assert seen.project() == {("compute", "servers"): 5, ("block-storage", "volumes"): 0}
    await cloud.ok("UpdateLimit", uuid=servers["uuid"], value=7)
    await cloud.ok("UpdateLimit", uuid=volumes["uuid"], value=30)
    assert seen.project() == {("compute", "servers"): 7, ("block-storage", "volumes"): 30}
    await cloud.ok("UpdateLimit", uuid=servers["uuid"], value=0)  # Keystone ignores an update to 0
    assert seen.project()[("compute", "servers")] == 0
    await cloud.ok("DeleteLimit", uuid=servers["uuid"])
    assert seen.project() == {("block-storage", "volumes"): 30}
    assert seen.quota_sets()["compute"]["instances"] == 7  # the account's: the project holds all its resources

    # the account deleted: nothing of its limits and quota sets is left
    await cloud.ok("DeleteAccount", uuid=account)
    assert list(admin.identity.limits(domain_id=seen.domain_id)) == []
    assert list(admin.identity.limits(project_id=seen.project_id)) == []
    # Nova and Cinder answer nothing about a deleted project; Neutron lists the projects with quotas of their own
    assert seen.project_id not in {quota.project_id for quota in admin.network.quotas()}


async def test_a_quota_change_openstack_refuses_changes_nothing(
    os_cloud: Cloud, openstack_env: dict[str, str], admin: Any
) -> None:
    cloud = os_cloud
    await add_cloud(cloud, openstack_env)
    tenant, seen = await new_tenant(cloud, openstack_env, admin)
    # out of band: another project in the tenant's domain, allowed 15 servers
    other = admin.identity.create_project(name=f"other-{secrets.token_hex(3)}", domain_id=seen.domain_id)
    compute = next(s.id for s in admin.identity.services() if s.type == "compute")
    try:
        admin.identity.create_limit(
            service_id=compute,
            project_id=other.id,
            region_id=seen.region,
            resource_name="servers",
            resource_limit=15,
        )
        before = await cloud.snapshot()
        # strict_two_level: the domain may not allow fewer servers than one of its projects
        error = await cloud.error("UpdateQuota", identityUuid=tenant["accountUuid"], name="vm.num", value=10)
        assert error.code == "SYS.1006" and error.cause.code == "OPENSTACK.1140", error.to_json()
        assert error.cause.cause.code == "OPENSTACK.1002", error.to_json()
        assert "doesn't satisfy current hierarchy model" in error.cause.cause.details
        assert await cloud.snapshot() == before
        assert seen.domain() == DOMAIN
        assert seen.quota_sets() == QUOTA_SETS

        error = await cloud.error("CreateLimit", accountUuid=tenant["accountUuid"], name="vm.num", value=12)
        assert error.code == "SYS.1007"  # the account has that quota already: nothing sent to OpenStack
        error = await cloud.error("UpdateQuota", identityUuid=tenant["projectUuid"], name="vm.num", value=21)
        assert error.code == "ID.1004"  # above its account's: cloudbus's own two levels refuse it first
        assert await cloud.snapshot() == before
    finally:
        admin.identity.delete_project(other)  # its limits go with it
    await cloud.ok("DeleteAccount", uuid=tenant["accountUuid"])
    assert list(admin.identity.limits(domain_id=seen.domain_id)) == []
