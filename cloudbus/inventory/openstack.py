"""OpenStack clouds cloudbus drives (OpenStackCloudInventory), and what discovery mapped.

`openstack_cloud` holds how to reach the cloud: Keystone's URL, region, the admin login
(`password` encrypted at rest by core/secrets.py, never rendered). `openstack_resource`
maps each cloudbus resource discovery made (a cluster per availability zone, a host per
nova-compute, a primary storage per volume type, the Glance backup storage, an L2 per
provider network) to the OpenStack object it stands for. Resources cloudbus creates in
OpenStack (servers, ports, volumes, networks) need no row: each is named by the uuid of the
cloudbus resource it realises and tagged `cloudbus`. `openstack_tenant` (OpenStackTenantInventory)
is a cloudbus tenant's Keystone identity in a cloud.
"""

from sqlalchemy import Column, ForeignKey, String, Table

from cloudbus.inventory.declarations import Inventory, Join, register
from cloudbus.inventory.schema import UtcDateTime, common_columns, metadata, uuid_column

openstack_cloud_table = Table(
    "openstack_cloud",
    metadata,
    *common_columns(),
    uuid_column("zoneUuid", ForeignKey("zone.uuid"), nullable=False, index=True),
    Column("authUrl", String(1024), nullable=False),
    Column("regionName", String(255), nullable=False),
    Column("username", String(255), nullable=False),
    Column("password", String(1024), nullable=False),
    Column("projectName", String(255), nullable=False),
    Column("userDomainName", String(255), nullable=False),
    Column("projectDomainName", String(255), nullable=False),
    Column("status", String(32), nullable=False),
)

openstack_resource_table = Table(
    "openstack_resource",
    metadata,
    Column("resourceUuid", String(32), primary_key=True),
    Column("cloudUuid", String(32), ForeignKey("openstack_cloud.uuid", ondelete="CASCADE"), nullable=False, index=True),
    Column("resourceType", String(64), nullable=False),
    Column("openstackId", String(255)),
    Column("openstackName", String(255), nullable=False),
)

# A cloudbus tenant's own identity in a cloud (seeds 000 and 004): a Keystone domain, project and
# user named after the tenant id, the user a member of the project, its password encrypted.
openstack_tenant_table = Table(
    "openstack_tenant",
    metadata,
    uuid_column(primary_key=True),
    uuid_column("tenantUuid", ForeignKey("tenant_info.uuid", ondelete="CASCADE"), nullable=False, index=True),
    uuid_column("cloudUuid", ForeignKey("openstack_cloud.uuid", ondelete="CASCADE"), nullable=False, index=True),
    Column("tenantId", String(20), nullable=False),
    Column("domainId", String(64), nullable=False),
    Column("projectId", String(64), nullable=False),
    Column("userId", String(64), nullable=False),
    Column("password", String(1024), nullable=False),
    Column("createDate", UtcDateTime(), nullable=False),
    Column("lastOpDate", UtcDateTime(), nullable=False),
)

OPENSTACK_CLOUD = register(
    Inventory(
        name="OpenStackCloud",
        table=openstack_cloud_table,
        service_id="openstack",
        hidden=frozenset({"password"}),
        parents={"Zone": "zoneUuid"},
        joins={"zone": Join("Zone", self_key="zoneUuid")},
        cascade_last=True,
    )
)

OPENSTACK_TENANT = register(
    Inventory(
        name="OpenStackTenant",
        table=openstack_tenant_table,
        service_id="openstack",
        hidden=frozenset({"password"}),
        parents={"Tenant": "tenantUuid", "OpenStackCloud": "cloudUuid"},
    )
)
