"""Network bring-up for tests: an L2 attached to clusters, an L3 with an IP range, DNS and
the Flat provider's services (what a VM needs to get a nic)."""

from __future__ import annotations

from typing import Any

from cloudbus.testing import Cloud


async def flat_provider(cloud: Cloud) -> dict[str, Any]:
    (provider,) = await cloud.query("QueryNetworkServiceProvider", ("type", "=", "Flat"))
    return provider


async def build_network(
    cloud: Cloud,
    zone_uuid: str,
    cluster_uuids: list[str] = (),  # type: ignore[assignment]
    *,
    name: str = "net",
    vlan: int | None = None,
    start_ip: str = "192.168.100.10",
    end_ip: str = "192.168.100.200",
    netmask: str = "255.255.255.0",
    gateway: str = "192.168.100.1",
    dns: str | None = "8.8.8.8",
    services: tuple[str, ...] = ("DHCP", "DNS", "SNAT"),
    interface: str = "eth0",
) -> dict[str, Any]:
    """L2 (+ attach to `cluster_uuids`) -> L3 -> range -> dns -> services; returns them by kind."""
    common = {"name": f"{name}-l2", "zoneUuid": zone_uuid, "physicalInterface": interface}
    if vlan is None:
        l2 = await cloud.ok("CreateL2NoVlanNetwork", **common)
    else:
        l2 = await cloud.ok("CreateL2VlanNetwork", vlan=vlan, **common)
    for cluster_uuid in cluster_uuids:
        await cloud.ok("AttachL2NetworkToCluster", l2NetworkUuid=l2["uuid"], clusterUuid=cluster_uuid)
    l3 = await cloud.ok("CreateL3Network", name=f"{name}-l3", l2NetworkUuid=l2["uuid"])
    ip_range = await cloud.ok(
        "AddIpRange",
        l3NetworkUuid=l3["uuid"],
        name=f"{name}-range",
        startIp=start_ip,
        endIp=end_ip,
        netmask=netmask,
        gateway=gateway,
    )
    if dns:
        await cloud.ok("AddDnsToL3Network", l3NetworkUuid=l3["uuid"], dns=dns)
    if services:
        provider = await flat_provider(cloud)
        await cloud.ok(
            "AttachNetworkServiceToL3Network",
            l3NetworkUuid=l3["uuid"],
            networkServices={provider["uuid"]: list(services)},
        )
    (l2,) = await cloud.query("QueryL2Network", ("uuid", "=", l2["uuid"]))
    (l3,) = await cloud.query("QueryL3Network", ("uuid", "=", l3["uuid"]))
    return {"l2": l2, "l3": l3, "ipRange": ip_range}
