"""OpenStack cloud APIs: register an existing OpenStack (admin credentials), discover it into
clusters, hosts, storage, L2 networks and images, sync it again, delete it, import its flavors as
instance offerings (docs/openstack.md)."""

from __future__ import annotations

from typing import Annotated, ClassVar

from pydantic import AfterValidator, Field, StringConstraints

from cloudbus.apis.backup_storage import Password, Text
from cloudbus.apis.routing import Concerns
from cloudbus.core.messages import (
    APICreateMessage,
    APIDeleteMessage,
    APIMessage,
    APIQueryMessage,
    Description,
    Name,
    ref,
)


def _auth_url(value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise ValueError("authUrl is Keystone's identity endpoint, e.g. http://10.0.0.2:5000/v3")
    return value


AuthUrl = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1024), AfterValidator(_auth_url)
]


class _OpenStackCloud(Concerns):
    resource: ClassVar[str] = "OpenStackCloud"


class AddOpenStackCloud(_OpenStackCloud, APICreateMessage):
    """Register an OpenStack cloud in `zoneUuid` with admin credentials, and discover it: a cluster
    per Nova availability zone, a host per nova-compute, a primary storage per Cinder volume type,
    a Glance backup storage, an L2 network per provider network (and one for tenant networks)."""

    name: Name
    zoneUuid: ref("Zone")
    authUrl: AuthUrl
    regionName: Text = "RegionOne"
    username: Text
    password: Password
    projectName: Text
    userDomainName: Text = "Default"
    projectDomainName: Text = "Default"
    description: Description | None = None


class SyncOpenStackCloud(_OpenStackCloud, APIMessage):
    """Discover the cloud again: add what appeared, remove what vanished, reconnect the hosts
    (which corrects VM states from Nova); the reply lists what changed."""

    resource_field: ClassVar[str | None] = "uuid"

    uuid: ref("OpenStackCloud")


class DeleteOpenStackCloud(_OpenStackCloud, APIDeleteMessage):
    """Delete what discovery made (cloudbus rows, through the cascade; VMs, volumes and networks
    cloudbus created in OpenStack go with them) and forget the cloud. OpenStack's own
    availability zones, computes, volume types and networks are left as they are."""

    uuid: ref("OpenStackCloud", missing_ok=True)


class QueryOpenStackCloud(APIQueryMessage):
    inventory: ClassVar[str] = "OpenStackCloud"


class ImportOpenStackFlavors(_OpenStackCloud, APIMessage):
    """An InstanceOffering per public Nova flavor of the cloud (only those of `flavorIds` when
    given): named as the flavor, its vCPUs and RAM; a flavor imported already (its offering
    still there) is skipped. All or nothing. Reply: `inventories`, the offerings made."""

    resource_field: ClassVar[str | None] = "cloudUuid"

    cloudUuid: ref("OpenStackCloud")
    flavorIds: Annotated[list[Text], Field(min_length=1)] | None = None
