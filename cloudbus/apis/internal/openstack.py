"""Messages the openstack service sends to make what it discovered (a cluster, a host, a primary
storage, a backup storage and L2 networks of the cloud's own types, with the uuid the discovery recorded first),
images already in its Glance (and their removal once they vanish from it), and those the identity
service sends it (a tenant registered, an account's quotas changed)."""

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


class _L2Network(Concerns):
    resource: ClassVar[str] = "L2Network"


class AddDiscoveredL2Network(_L2Network, _Discovered):
    """An L2 standing for a Neutron provider network (or for the cloud's tenant networks): its
    type is the cloud's own, so no hypervisor but OpenStack's realises it."""

    zoneUuid: str
    physicalInterface: str
    vlan: int | None = None
    type: str


class _Image(Concerns):
    resource: ClassVar[str] = "Image"


class AddDiscoveredImage(_Image, _Discovered):
    """A Ready image standing for a public Glance image cloudbus did not make, already in place on
    the cloud's Glance backup storage at `installPath` (`glance://<id>`): nothing is uploaded, and
    the image stays the operator's (the Glance driver never deletes an untagged image)."""

    backupStorageUuid: str
    installPath: str
    format: str
    mediaType: str = "RootVolumeTemplate"
    platform: str = "Linux"
    size: int
    actualSize: int
    md5Sum: str | None = None


class DeleteDiscoveredImage(_Image, Message):
    """A discovered image whose Glance image vanished (or whose cloud goes): deleted through the
    cascade and its rows removed at once, never its bits. Nothing to do if it is gone already."""

    resource_field: ClassVar[str | None] = "uuid"

    uuid: str
    deleteMode: str = "Permissive"


class _OpenStackTenant(Concerns):
    resource: ClassVar[str] = "OpenStackTenant"


class ProvisionTenant(_OpenStackTenant, Message):
    """A tenant was registered (CreateTenant): give it its own Keystone domain, project and user in
    every Connected OpenStack cloud, or in none (a failure undoes what was made and fails)."""

    tenantUuid: str
    tenantId: str
    tenantName: str


class MirrorQuotas(_OpenStackTenant, Message):
    """The quotas of an account, or of its default project, changed (UpdateQuota, CreateLimit,
    UpdateLimit, DeleteLimit): write them into every cloud its tenant has an identity in, and read
    them back; a failure writes back what each cloud held and fails. One account's run one at a time."""

    resource_field: ClassVar[str | None] = "accountUuid"

    accountUuid: str
