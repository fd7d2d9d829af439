"""What an OpenStack cloud has that cloudbus maps onto its own resources (blocking reads, run
in worker threads), and the sweep that removes what cloudbus made in it.

- a cluster per availability zone that has nova-computes;
- a host per nova-compute that reports a hypervisor (its resource provider's capacity);
- a primary storage per Cinder volume type;
- one backup storage: Glance;
- an L2 network per provider network (shared or external, with a physical network), and one
  for tenant networks (each L3 on it gets a Neutron network of its own).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cloudbus.services.openstack.compute import delete_server
from cloudbus.services.openstack.connection import TAG
from cloudbus.services.openstack.storage import remove_volume

CLUSTER, HOST, PRIMARY, BACKUP, L2 = "ClusterVO", "HostVO", "PrimaryStorageVO", "BackupStorageVO", "L2NetworkVO"
# the order resources are made in (a host needs its cluster); removals go the other way
KINDS = (CLUSTER, HOST, PRIMARY, BACKUP, L2)
TENANT_NETWORKS = "tenant-networks"


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
    return found


def sweep(conn: Any, label: str) -> dict[str, int]:
    """Delete everything tagged `label` (what cloudbus made for one registered cloud): servers,
    then ports, security groups, subnets and networks, volumes and their snapshots, images.
    Counts by kind."""
    removed = dict.fromkeys(("servers", "ports", "securityGroups", "subnets", "networks", "volumes", "images"), 0)
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
    return removed
