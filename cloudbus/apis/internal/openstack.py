"""Messages the openstack service sends to make what it discovered (a cluster, a host, a primary
storage and a backup storage of the cloud's own types, with the uuid the discovery recorded first),
and the one the identity service sends it when a tenant is registered."""

from __future__ import annotations

from typing import ClassVar

from cloudbus.apis.routing import Concerns
from cloudbus.core.messages import Message


class _Discovered(Message):
    name: str
    description: str | None = None
    resourceUuid: str

    def new_resource_uuid(self) -> str:
        return self.resourceUuid


class _Cluster(Concerns):
    resource: ClassVar[str] = "Cluster"


class _Host(Concerns):
    resource: ClassVar[str] = "Host"


class _PrimaryStorage(Concerns):
    resource: ClassVar[str] = "PrimaryStorage"


class _BackupStorage(Concerns):
    resource: ClassVar[str] = "BackupStorage"


class AddDiscoveredCluster(_Cluster, _Discovered):
    zoneUuid: str
    hypervisorType: str
    type: str = "zstack"
    architecture: str | None = None


class AddDiscoveredHost(_Host, _Discovered):
    """A host of `hypervisorType` (its driver knows how to reach it), connected as it is added."""

    managementIp: str
    clusterUuid: str
    hypervisorType: str


class AddDiscoveredPrimaryStorage(_PrimaryStorage, _Discovered):
    zoneUuid: str
    url: str
    type: str


class AddDiscoveredBackupStorage(_BackupStorage, _Discovered):
    url: str
    type: str


class _OpenStackTenant(Concerns):
    resource: ClassVar[str] = "OpenStackTenant"


class ProvisionTenant(_OpenStackTenant, Message):
    """A tenant was registered (CreateTenant): give it its own Keystone domain, project and user in
    every Connected OpenStack cloud, or in none (a failure undoes what was made and fails)."""

    tenantUuid: str
    tenantId: str
    tenantName: str
