"""L3 networks: create/update/state, IP ranges, DNS, network services, nested queries, cascade."""

from __future__ import annotations

import asyncio
from typing import Any

from cloudbus.apis.internal.network import AllocateIp
from cloudbus.core.messages import Event
from cloudbus.testing import Cloud
from tests.support.network import build_network, flat_provider


async def _l2(cloud: Cloud) -> dict[str, Any]:
    zone = await cloud.ok("CreateZone", name="z")
    return await cloud.ok("CreateL2NoVlanNetwork", name="l2", zoneUuid=zone["uuid"], physicalInterface="eth0")


async def _l3(cloud: Cloud, **params: Any) -> dict[str, Any]:
    l2 = await _l2(cloud)
    return await cloud.ok("CreateL3Network", name="l3", l2NetworkUuid=l2["uuid"], **params)


def _range(l3: dict[str, Any], **params: Any) -> dict[str, Any]:
    base = {
        "l3NetworkUuid": l3["uuid"],
        "name": "r",
        "startIp": "10.0.0.10",
        "endIp": "10.0.0.20",
        "netmask": "255.255.255.0",
        "gateway": "10.0.0.1",
    }
    return {**base, **params}


async def test_create_update_and_change_state(cloud: Cloud) -> None:
    l2 = await _l2(cloud)
    l3 = await cloud.ok("CreateL3Network", name="l3", l2NetworkUuid=l2["uuid"], dnsDomain="example.org")
    assert (l3["type"], l3["category"], l3["ipVersion"], l3["state"]) == ("L3BasicNetwork", "Private", 4, "Enabled")
    assert (l3["zoneUuid"], l3["l2NetworkUuid"], l3["system"], l3["enableIPAM"]) == (
        l2["zoneUuid"],
        l2["uuid"],
        False,
        True,
    )
    assert (l3["dns"], l3["ipRanges"], l3["networkServices"], l3["dnsDomain"]) == ([], [], [], "example.org")

    updated = await cloud.ok("UpdateL3Network", uuid=l3["uuid"], name="new", category="Public", system=True)
    assert (updated["name"], updated["category"], updated["system"]) == ("new", "Public", True)
    assert (await cloud.ok("ChangeL3NetworkState", uuid=l3["uuid"], stateEvent="disable"))["state"] == "Disabled"
    assert (await cloud.ok("ChangeL3NetworkState", uuid=l3["uuid"], stateEvent="enable"))["state"] == "Enabled"

    before = await cloud.snapshot()
    for params in ({"category": "Secret"}, {"ipVersion": 6}, {"type": "L3VpcNetwork"}, {"l2NetworkUuid": "b" * 32}):
        error = await cloud.error("CreateL3Network", **{"name": "x", "l2NetworkUuid": l2["uuid"], **params})
        assert error.code in ("SYS.1007", "SYS.1003")
    assert (await cloud.error("ChangeL3NetworkState", uuid=l3["uuid"], stateEvent="maintain")).code == "SYS.1007"
    assert await cloud.snapshot() == before


async def test_add_ip_range_and_query_it(cloud: Cloud) -> None:
    l3 = await _l3(cloud)
    ip_range = await cloud.ok("AddIpRange", **_range(l3))
    assert (ip_range["startIp"], ip_range["endIp"], ip_range["gateway"]) == ("10.0.0.10", "10.0.0.20", "10.0.0.1")
    assert (ip_range["networkCidr"], ip_range["prefixLen"], ip_range["ipVersion"]) == ("10.0.0.0/24", 24, 4)
    assert (ip_range["ipRangeType"], ip_range["l3NetworkUuid"]) == ("Normal", l3["uuid"])
    second = await cloud.ok("AddIpRange", **_range(l3, name="r2", startIp="10.0.0.21", endIp="10.0.0.30"))

    (queried,) = await cloud.query("QueryL3Network", ("ipRanges.startIp", "=", "10.0.0.21"))
    assert [r["uuid"] for r in queried["ipRanges"]] == [ip_range["uuid"], second["uuid"]]
    assert await cloud.query("QueryL3Network", ("ipRanges.startIp", "=", "10.0.0.99")) == []
    assert [r["uuid"] for r in await cloud.query("QueryIpRange", ("l3Network.name", "=", "l3"))] == [
        ip_range["uuid"],
        second["uuid"],
    ]
    assert [r["uuid"] for r in await cloud.query("QueryIpRange", ("endIp", "=", "10.0.0.30"))] == [second["uuid"]]
    renamed = await cloud.ok("UpdateIpRange", uuid=second["uuid"], name="renamed")
    assert renamed["name"] == "renamed"


async def test_bad_ip_ranges_change_nothing(cloud: Cloud) -> None:
    l3 = await _l3(cloud)
    await cloud.ok("AddIpRange", **_range(l3))
    before = await cloud.snapshot()
    bad = {
        "start after end": {"startIp": "10.0.0.50", "endIp": "10.0.0.40"},
        "gateway outside the network": {"startIp": "10.0.0.30", "endIp": "10.0.0.40", "gateway": "10.0.1.1"},
        "gateway inside the range": {"startIp": "10.0.0.30", "endIp": "10.0.0.40", "gateway": "10.0.0.35"},
        "bad netmask": {"startIp": "10.0.0.30", "endIp": "10.0.0.40", "netmask": "255.0.255.0"},
        "not an ip": {"startIp": "10.0.0.300", "endIp": "10.0.0.40"},
        "ipv6": {"startIp": "fe80::1", "endIp": "fe80::9"},
        "overlap": {"startIp": "10.0.0.15", "endIp": "10.0.0.25"},
        "inside": {"startIp": "10.0.0.11", "endIp": "10.0.0.12"},
        "another subnet": {"startIp": "10.0.0.30", "endIp": "10.0.0.40", "netmask": "255.255.0.0"},
        "broadcast": {"startIp": "10.0.0.30", "endIp": "10.0.0.255"},
    }
    for why, params in bad.items():
        error = await cloud.error("AddIpRange", **_range(l3, **params))
        assert error.code == "SYS.1007", why
    overlap = await cloud.error("AddIpRange", **_range(l3, startIp="10.0.0.15", endIp="10.0.0.25"))
    assert "overlaps" in overlap.details
    assert (await cloud.error("AddIpRange", **{**_range(l3), "l3NetworkUuid": "c" * 32})).code == "SYS.1003"
    assert await cloud.snapshot() == before


async def test_add_ip_range_by_network_cidr(cloud: Cloud) -> None:
    l3 = await _l3(cloud)
    before = await cloud.snapshot()
    for cidr in ("192.168.1.0/33", "abc", "192.168.1.0", "10.0.0.0/31", "300.1.1.0/24", ""):
        error = await cloud.error("AddIpRangeByNetworkCidr", l3NetworkUuid=l3["uuid"], name="c", networkCidr=cidr)
        assert error.code == "SYS.1007", cidr
    middle = await cloud.error(
        "AddIpRangeByNetworkCidr",
        l3NetworkUuid=l3["uuid"],
        name="c",
        networkCidr="192.168.1.0/24",
        gateway="192.168.1.9",
    )
    assert middle.code == "SYS.1007"
    assert await cloud.snapshot() == before

    ip_range = await cloud.ok(
        "AddIpRangeByNetworkCidr", l3NetworkUuid=l3["uuid"], name="c", networkCidr="192.168.1.0/24"
    )
    assert (ip_range["gateway"], ip_range["startIp"], ip_range["endIp"]) == (
        "192.168.1.1",
        "192.168.1.2",
        "192.168.1.254",
    )
    assert (ip_range["netmask"], ip_range["networkCidr"]) == ("255.255.255.0", "192.168.1.0/24")
    other = await _l3(cloud)
    last = await cloud.ok(
        "AddIpRangeByNetworkCidr",
        l3NetworkUuid=other["uuid"],
        name="c",
        networkCidr="172.16.0.0/30",
        gateway="172.16.0.2",
    )
    assert (last["startIp"], last["endIp"], last["gateway"]) == ("172.16.0.1", "172.16.0.1", "172.16.0.2")


async def test_dns(cloud: Cloud) -> None:
    l3 = await _l3(cloud)
    await cloud.ok("AddDnsToL3Network", l3NetworkUuid=l3["uuid"], dns="8.8.8.8")
    with_dns = await cloud.ok("AddDnsToL3Network", l3NetworkUuid=l3["uuid"], dns="1.1.1.1")
    assert with_dns["dns"] == ["8.8.8.8", "1.1.1.1"]  # in the order added
    before = await cloud.snapshot()
    duplicate = await cloud.error("AddDnsToL3Network", l3NetworkUuid=l3["uuid"], dns="8.8.8.8")
    assert duplicate.code == "SYS.1007" and "8.8.8.8" in duplicate.details
    assert (await cloud.error("AddDnsToL3Network", l3NetworkUuid=l3["uuid"], dns="8.8.8")).code == "SYS.1007"
    assert await cloud.snapshot() == before

    assert [n["uuid"] for n in await cloud.query("QueryL3Network", ("dns", "like", "%8.8.%"))] == [l3["uuid"]]
    assert [n["uuid"] for n in await cloud.query("QueryL3Network", ("dns", "=", "1.1.1.1"))] == [l3["uuid"]]
    assert await cloud.query("QueryL3Network", ("dns", "=", "9.9.9.9")) == []
    removed = await cloud.ok("RemoveDnsFromL3Network", l3NetworkUuid=l3["uuid"], dns="8.8.8.8")
    assert removed["dns"] == ["1.1.1.1"]
    assert await cloud.query("QueryL3Network", ("dns", "like", "%8.8.%")) == []


async def test_network_service_providers_and_attachment(cloud: Cloud) -> None:
    providers = {p["type"]: p for p in await cloud.ok("QueryNetworkServiceProvider")}
    assert set(providers) == {"Flat", "SecurityGroup"}
    assert {"DHCP", "DNS", "SNAT", "SecurityGroup"} <= set(providers["Flat"]["networkServiceTypes"])
    assert providers["SecurityGroup"]["networkServiceTypes"] == ["SecurityGroup"]
    assert providers["Flat"]["attachedL2NetworkUuids"] == []
    flat, sg = providers["Flat"]["uuid"], providers["SecurityGroup"]["uuid"]

    l3 = await _l3(cloud)
    before = await cloud.snapshot()
    bad = [
        {"e" * 32: ["DHCP"]},  # unknown provider
        {flat: ["LoadBalancer"]},  # a type the provider does not offer
        {flat: []},
        {},
        "not a map",
        f"{{'{flat}': 'DHCP'}}",
    ]
    for services in bad:
        error = await cloud.error("AttachNetworkServiceToL3Network", l3NetworkUuid=l3["uuid"], networkServices=services)
        assert error.code == "SYS.1007", services
    assert await cloud.snapshot() == before

    # a map, or the string zstack-cli users type
    await cloud.ok("AttachNetworkServiceToL3Network", l3NetworkUuid=l3["uuid"], networkServices={flat: ["DHCP", "DNS"]})
    attached = await cloud.ok(
        "AttachNetworkServiceToL3Network",
        l3NetworkUuid=l3["uuid"],
        networkServices=f"{{'{flat}': ['SNAT'], '{sg}': ['SecurityGroup']}}",
    )
    assert {(s["networkServiceProviderUuid"], s["networkServiceType"]) for s in attached["networkServices"]} == {
        (flat, "DHCP"),
        (flat, "DNS"),
        (flat, "SNAT"),
        (sg, "SecurityGroup"),
    }
    before = await cloud.snapshot()
    again = await cloud.error(
        "AttachNetworkServiceToL3Network", l3NetworkUuid=l3["uuid"], networkServices={flat: ["DHCP"]}
    )
    assert again.code == "SYS.1007" and "DHCP" in again.details
    assert await cloud.snapshot() == before

    refs = await cloud.query("QueryNetworkServiceL3NetworkRef", ("networkServiceType", "=", "SNAT"))
    assert [(r["l3NetworkUuid"], r["networkServiceProviderUuid"]) for r in refs] == [(l3["uuid"], flat)]
    assert [n["uuid"] for n in await cloud.query("QueryL3Network", ("serviceProvider.type", "=", "SecurityGroup"))] == [
        l3["uuid"]
    ]
    assert [
        n["uuid"] for n in await cloud.query("QueryL3Network", ("networkServices.networkServiceType", "=", "DNS"))
    ] == [l3["uuid"]]
    detached = await cloud.ok(
        "DetachNetworkServiceFromL3Network", l3NetworkUuid=l3["uuid"], networkServices={sg: ["SecurityGroup"]}
    )
    assert "SecurityGroup" not in {s["networkServiceType"] for s in detached["networkServices"]}


async def test_providers_are_created_once_by_concurrent_starts(cloud: Cloud) -> None:
    service = next(s for s in cloud.node.services if s.service_id == "network.l3")
    before = await cloud.snapshot()
    await asyncio.gather(*(service.ensure_providers() for _ in range(5)))
    assert await cloud.snapshot() == before


async def test_nested_queries(cloud: Cloud) -> None:
    env = await cloud.build_env()
    zone = env["zones"][0]
    net = await build_network(cloud, zone["uuid"], [env["clusters"][0]["uuid"]], name="n1", vlan=9)
    await build_network(cloud, zone["uuid"], name="n2", start_ip="10.1.0.2", end_ip="10.1.0.9", gateway="10.1.0.1")
    l3 = net["l3"]["uuid"]
    assert [n["uuid"] for n in await cloud.query("QueryL3Network", ("l2Network.vlan", "=", "9"))] == [l3]
    assert [n["uuid"] for n in await cloud.query("QueryL3Network", ("l2Network.cluster.name", "=", "cluster0-0"))] == [
        l3
    ]
    assert len(await cloud.query("QueryL3Network", ("zone.name", "=", "zone0"))) == 2
    assert [z["uuid"] for z in await cloud.query("QueryZone", ("l3Network.name", "=", "n1-l3"))] == [zone["uuid"]]
    assert [
        n["uuid"] for n in await cloud.query("QueryL2Network", ("l3Network.ipRanges.startIp", "=", "10.1.0.2"))
    ] != []
    await cloud.node.bus.call_ok(AllocateIp(l3NetworkUuid=l3))
    assert [n["uuid"] for n in await cloud.query("QueryL3Network", ("usedIp.ip", "like", "192.168.100.%"))] == [l3]
    bad = await cloud.error("QueryL3Network", conditions=[{"name": "ipRanges.nope", "op": "=", "value": "1"}])
    assert bad.code == "SYS.1007"


async def test_delete_ip_range_removes_its_used_ips_only(cloud: Cloud) -> None:
    l3 = await _l3(cloud)
    first = await cloud.ok("AddIpRange", **_range(l3, startIp="10.0.0.10", endIp="10.0.0.10"))
    second = await cloud.ok("AddIpRange", **_range(l3, name="r2", startIp="10.0.0.11", endIp="10.0.0.11"))
    for _ in range(2):
        await cloud.node.bus.call_ok(AllocateIp(l3NetworkUuid=l3["uuid"]))
    await cloud.ok("DeleteIpRange", uuid=first["uuid"])
    assert [r["uuid"] for r in await cloud.ok("QueryIpRange")] == [second["uuid"]]
    assert [(u["ip"], u["ipRangeUuid"]) for u in await cloud.ok("QueryIpAddress")] == [("10.0.0.11", second["uuid"])]
    await cloud.ok("DeleteIpRange", uuid=first["uuid"])  # idempotent


async def test_delete_l3_removes_ranges_ips_dns_and_services(cloud: Cloud) -> None:
    env = await cloud.build_env()
    net = await build_network(cloud, env["zones"][0]["uuid"])
    await cloud.node.bus.call_ok(AllocateIp(l3NetworkUuid=net["l3"]["uuid"]))
    empty = await cloud.snapshot()
    await cloud.ok("DeleteL3Network", uuid=net["l3"]["uuid"], deleteMode="Enforcing")
    after = await cloud.snapshot()
    for table in ("l3_network", "ip_range", "used_ip", "l3_network_dns", "network_service_l3_network_ref"):
        assert empty[table] and after[table] == [], table
    assert len(after["l2_network"]) == 1


async def test_delete_zone_cascades_zone_l2_l3_ip_range(cloud: Cloud) -> None:
    env = await cloud.build_env()
    zone = env["zones"][0]["uuid"]
    await build_network(cloud, zone, [env["clusters"][0]["uuid"]], vlan=11)
    await cloud.node.bus.call_ok(AllocateIp(l3NetworkUuid=(await cloud.ok("QueryL3Network"))[0]["uuid"]))
    events: list[tuple[str, str | None]] = []

    async def record(event: Event) -> None:
        if event.name == "cascade.delete":
            events.append((event.data["resourceType"], event.data["parentType"]))

    await cloud.node.bus.subscribe("cascade.*", record)
    await cloud.ok("DeleteZone", uuid=zone)
    for _ in range(200):
        if ("Zone", None) in events:
            break
        await asyncio.sleep(0.01)
    order = [pair for pair in events if pair[0] in ("IpRange", "L3Network", "L2Network", "Zone")]
    assert order == [("IpRange", "L3Network"), ("L3Network", "L2Network"), ("L2Network", "Zone"), ("Zone", None)]
    after = await cloud.snapshot()
    for table in (
        "zone",
        "l2_network",
        "l2_network_cluster_ref",
        "l3_network",
        "ip_range",
        "used_ip",
        "l3_network_dns",
    ):
        assert after[table] == [], table
    assert len(after["network_service_provider"]) == 2
    assert await flat_provider(cloud)
