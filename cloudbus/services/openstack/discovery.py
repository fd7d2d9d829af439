"""What an OpenStack cloud has that cloudbus maps onto its own resources (blocking reads, run
in worker threads), and the sweep that removes what cloudbus made in it.

- a cluster per availability zone that has nova-computes;
- a host per nova-compute that reports a hypervisor (its resource provider's capacity);
- a primary storage per Cinder volume type;
- one backup storage: Glance;
- an L2 network per provider network (shared or external, with a physical network), and one
  for tenant networks (each L3 on it gets a Neutron network of its own);
- an image per active public Glance image that no cloudbus made (none of its tags is a
  `cloudbus-<cloud uuid>`): the operator's, so cloudbus never deletes its bits.

Flavors are no discovered kind: ImportOpenStackFlavors makes offerings of the public ones on
demand (`read_flavors`), mapped as FLAVOR rows that discovery leaves alone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cloudbus.core import errors
from cloudbus.services.openstack.compute import delete_server
from cloudbus.services.openstack.connection import TAG
from cloudbus.services.openstack.storage import remove_volume

CLUSTER, HOST, PRIMARY, BACKUP, L2 = "ClusterVO", "HostVO", "PrimaryStorageVO", "BackupStorageVO", "L2NetworkVO"
IMAGE, FLAVOR = "ImageVO", "InstanceOfferingVO"
# the order resources are made in (a host needs its cluster, an image its backup storage);
# removals go the other way
KINDS = (CLUSTER, HOST, PRIMARY, BACKUP, L2, IMAGE)
TENANT_NETWORKS = "tenant-networks"

FLAVORS = errors.register("OPENSTACK.1121", "Unable to import the OpenStack flavors")


@dataclass(frozen=True)
class Found:
    kind: str
    name: str  # OpenStack's name: the zone, the compute's host, the volume type, the network
    openstackId: str | None = None
    details: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind, self.openstackId or self.name)


def key_of(row: dict[str, Any]) -> tuple[str, str]:
    """The `Found.key` of a mapping row."""
    return (row["resourceType"], row["openstackId"] or row["openstackName"])


def read_cloud(conn: Any) -> list[Found]:
    found: list[Found] = []
    hypervisors = {(h.service_details or {}).get("host"): h for h in conn.compute.hypervisors(details=True)}
    for zone in conn.compute.availability_zones(details=True):
        computes = sorted(h for h, services in (zone.hosts or {}).items() if "nova-compute" in services)
        if not computes:
            continue
        found.append(Found(CLUSTER, zone.name))
        for compute in computes:
            hypervisor = hypervisors.get(compute)
            if hypervisor is None:  # not reported to Placement yet: the next sync adds it
                continue
            ip = hypervisor.host_ip or compute
            found.append(Found(HOST, compute, hypervisor.id, {"zone": zone.name, "managementIp": ip}))
    for vtype in conn.block_storage.types():
        found.append(Found(PRIMARY, vtype.name, vtype.id))
    found.append(Found(BACKUP, "glance"))
    for network in conn.network.networks():
        physnet = network.provider_physical_network
        if physnet and (network.is_shared or network.is_router_external):
            details = {"physnet": physnet, "vlan": network.provider_segmentation_id}
            details["type"] = network.provider_network_type
            found.append(Found(L2, network.name, network.id, details))
    found.append(Found(L2, TENANT_NETWORKS, None, {"physnet": TENANT_NETWORKS, "type": "tenant"}))
    for image in conn.image.images(visibility="public", status="active"):
        if (item := _operator_image(image)) is not None:
            found.append(item)
    return found


def _operator_image(image: Any) -> Found | None:
    """An image Found, with AddDiscoveredImage's fields, unless a cloudbus made the image."""
    if any(t.startswith(f"{TAG}-") for t in image.tags or ()):
        return None
    size = int(image.size or 0)
    os_type = str(image.os_type or (image.properties or {}).get("os_type") or "")
    details = {
        "format": image.disk_format or "raw",
        "mediaType": "ISO" if image.disk_format == "iso" else "RootVolumeTemplate",
        "platform": "Windows" if os_type.lower() == "windows" else "Linux",
        "size": int(image.virtual_size or size),
        "actualSize": size,
        "md5Sum": image.checksum,
    }
    return Found(IMAGE, image.name or image.id, image.id, details)


def read_flavors(conn: Any, ids: list[str] | None) -> list[Any]:
    """The public flavors, or those of `ids` (each must be one), in the order asked."""
    public = {f.id: f for f in conn.compute.flavors(details=True, is_public=True)}
    if ids is None:
        return sorted(public.values(), key=lambda f: (f.vcpus, f.ram, f.name))
    missing = [i for i in ids if i not in public]
    if missing:
        raise errors.fail(FLAVORS, f"no public flavor of id {', '.join(missing)} in the cloud")
    return [public[i] for i in dict.fromkeys(ids)]


def sweep(conn: Any, label: str) -> dict[str, int]:
    """Delete everything tagged `label` (what cloudbus made for one registered cloud): servers,
    then ports, security groups, subnets and networks, volumes and their snapshots, images,
    Manila shares (their access rules go with them; a cloud without Manila has none). Counts by kind."""
    from cloudbus.services.openstack.nas import remove_share  # the NAS handlers' own removal

    kinds = ("servers", "ports", "securityGroups", "subnets", "networks", "volumes", "images", "shares")
    removed = dict.fromkeys(kinds, 0)
    for server in list(conn.compute.servers(all_projects=True, tags=label)):
        delete_server(conn, server.name, label)
        removed["servers"] += 1
    for kind, listing, delete in (
        ("ports", conn.network.ports, conn.network.delete_port),
        ("securityGroups", conn.network.security_groups, conn.network.delete_security_group),
        ("subnets", conn.network.subnets, conn.network.delete_subnet),
        ("networks", conn.network.networks, conn.network.delete_network),
    ):
        for item in list(listing(tags=label)):
            delete(item, ignore_missing=True)
            removed[kind] += 1
    for snapshot in list(conn.block_storage.snapshots(all_projects=True, details=True)):
        if (snapshot.metadata or {}).get(TAG) == label:
            conn.block_storage.delete_snapshot(snapshot, ignore_missing=True)
    for volume in list(conn.block_storage.volumes(all_projects=True, details=True)):
        if (volume.metadata or {}).get(TAG) == label:
            remove_volume(conn, volume.id, f"volume[{volume.name}]")
            removed["volumes"] += 1
    for image in list(conn.image.images(tag=label)):
        conn.image.delete_image(image, ignore_missing=True)
        removed["images"] += 1
    if conn.has_service("shared-file-system"):
        for share in list(conn.shared_file_system.shares(all_projects=True)):
            if (share.metadata or {}).get(TAG) == label:
                remove_share(conn, share.id)
                removed["shares"] += 1
    return removed
