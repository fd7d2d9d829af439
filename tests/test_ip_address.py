"""IP addresses: AllocateIp / ReturnIp (exact under concurrency), QueryIpAddress, GetFreeIp,
CheckIpAvailability."""

from __future__ import annotations

import asyncio
import ipaddress
from typing import Any

from cloudbus.apis.internal.network import AllocateIp, ReturnIp
from cloudbus.core.messages import Reply
from cloudbus.testing import Cloud


async def _l3(cloud: Cloud, start: str = "10.0.0.2", end: str = "10.0.0.21", name: str = "l3") -> dict[str, Any]:
    zone = await cloud.ok("CreateZone", name="z")
    l2 = await cloud.ok("CreateL2NoVlanNetwork", name="l2", zoneUuid=zone["uuid"], physicalInterface="eth0")
    l3 = await cloud.ok("CreateL3Network", name=name, l2NetworkUuid=l2["uuid"])
    await cloud.ok(
        "AddIpRange",
        l3NetworkUuid=l3["uuid"],
        name="r",
        startIp=start,
        endIp=end,
        netmask="255.255.255.224",
        gateway="10.0.0.1",
    )
    (l3,) = await cloud.query("QueryL3Network", ("uuid", "=", l3["uuid"]))
    return l3


async def _allocate(cloud: Cloud, l3: dict[str, Any], **params: Any) -> Reply:
    return await cloud.node.bus.call(AllocateIp(l3NetworkUuid=l3["uuid"], **params))


async def test_allocate_and_return(cloud: Cloud) -> None:
    l3 = await _l3(cloud)
    reply = await _allocate(cloud, l3, vmNicUuid="d" * 32)
    assert reply.success
    ip = reply.get("ip")
    assert ipaddress.IPv4Address("10.0.0.2") <= ipaddress.IPv4Address(ip) <= ipaddress.IPv4Address("10.0.0.21")
    assert (reply.get("netmask"), reply.get("gateway"), reply.get("ipVersion")) == ("255.255.255.224", "10.0.0.1", 4)
    assert reply.get("ipRangeUuid") == l3["ipRanges"][0]["uuid"]

    (used,) = await cloud.ok("QueryIpAddress")
    assert (used["uuid"], used["ip"], used["l3NetworkUuid"], used["vmNicUuid"]) == (
        reply.get("usedIpUuid"),
        ip,
        l3["uuid"],
        "d" * 32,
    )
    assert used["usedFor"] == "VmNic" and used["ipInLong"] == int(ipaddress.IPv4Address(ip))
    assert [u["ip"] for u in await cloud.query("QueryIpAddress", ("l3Network.name", "=", "l3"))] == [ip]
    assert await cloud.query("QueryIpAddress", ("l3Network.name", "=", "other")) == []
    assert [u["ip"] for u in await cloud.query("QueryIpAddress", ("ipRange.name", "=", "r"))] == [ip]

    await cloud.node.bus.call_ok(ReturnIp(usedIpUuids=[reply.get("usedIpUuid")]))
    assert await cloud.ok("QueryIpAddress") == []
    await cloud.node.bus.call_ok(ReturnIp(usedIpUuids=[reply.get("usedIpUuid")]))  # idempotent
    # by nic
    await _allocate(cloud, l3, vmNicUuid="e" * 32)
    await _allocate(cloud, l3, vmNicUuid="e" * 32)
    await _allocate(cloud, l3, vmNicUuid="f" * 32)
    returned = await cloud.node.bus.call_ok(ReturnIp(vmNicUuids=["e" * 32]))
    assert returned.get("returned") == 2
    assert [u["vmNicUuid"] for u in await cloud.ok("QueryIpAddress")] == ["f" * 32]


async def test_required_ip(cloud: Cloud) -> None:
    l3 = await _l3(cloud)
    reply = await _allocate(cloud, l3, requiredIp="10.0.0.7")
    assert reply.success and reply.get("ip") == "10.0.0.7"
    before = await cloud.snapshot()
    taken = await _allocate(cloud, l3, requiredIp="10.0.0.7")
    assert taken.error.code == "L3.1000" and "10.0.0.7" in taken.error.details
    outside = await _allocate(cloud, l3, requiredIp="10.0.0.30")
    assert outside.error.code == "SYS.1007" and "not in any IP range" in outside.error.details
    malformed = await _allocate(cloud, l3, requiredIp="10.0.0")
    assert malformed.error.code == "SYS.1007"
    assert await cloud.snapshot() == before


async def test_exhausted_l3_fails_with_l3_1000_naming_it(cloud: Cloud) -> None:
    l3 = await _l3(cloud, start="10.0.0.2", end="10.0.0.3", name="tiny")
    ips = {(await _allocate(cloud, l3)).get("ip") for _ in range(2)}
    assert ips == {"10.0.0.2", "10.0.0.3"}
    before = await cloud.snapshot()
    error = (await _allocate(cloud, l3)).error
    assert error.code == "L3.1000" and "tiny" in error.details and l3["uuid"] in error.details
    assert await cloud.snapshot() == before
    missing = await cloud.node.bus.call(AllocateIp(l3NetworkUuid="a" * 32))
    assert missing.error.code == "SYS.1003"


async def test_disabled_l3_gives_no_ip(cloud: Cloud) -> None:
    l3 = await _l3(cloud)
    await cloud.ok("ChangeL3NetworkState", uuid=l3["uuid"], stateEvent="disable")
    error = (await _allocate(cloud, l3)).error
    assert error.code == "L3.1000" and "Disabled" in error.details


async def test_concurrent_allocations_are_exact(cloud: Cloud) -> None:
    l3 = await _l3(cloud)  # a /27 with a 20-address range
    replies = await asyncio.gather(*(_allocate(cloud, l3) for _ in range(40)))
    ok = [r for r in replies if r.success]
    assert len(ok) == 20 and len({r.get("ip") for r in ok}) == 20
    assert [r.error.code for r in replies if not r.success] == ["L3.1000"] * 20
    assert len(await cloud.ok("QueryIpAddress")) == 20


async def test_two_hundred_concurrent_allocations_on_150_addresses(cloud: Cloud) -> None:
    zone = await cloud.ok("CreateZone", name="z")
    l2 = await cloud.ok("CreateL2NoVlanNetwork", name="l2", zoneUuid=zone["uuid"], physicalInterface="eth0")
    l3 = await cloud.ok("CreateL3Network", name="big", l2NetworkUuid=l2["uuid"])
    for start, end in (("10.8.0.10", "10.8.0.109"), ("10.8.1.10", "10.8.1.59")):  # 100 + 50 addresses
        await cloud.ok(
            "AddIpRange",
            l3NetworkUuid=l3["uuid"],
            name="r",
            startIp=start,
            endIp=end,
            netmask="255.255.0.0",
            gateway="10.8.0.1",
        )
    replies = await asyncio.gather(*(_allocate(cloud, l3) for _ in range(200)))
    ok = [r for r in replies if r.success]
    assert len(ok) == 150 and len({r.get("ip") for r in ok}) == 150
    assert sum(1 for r in replies if not r.success and r.error.code == "L3.1000") == 50


async def test_get_free_ip(cloud: Cloud) -> None:
    l3 = await _l3(cloud)
    range_uuid = l3["ipRanges"][0]["uuid"]
    await _allocate(cloud, l3, requiredIp="10.0.0.3")
    free = await cloud.ok("GetFreeIp", l3NetworkUuid=l3["uuid"], limit=3)
    assert free == [
        {"ip": ip, "ipRangeUuid": range_uuid, "netmask": "255.255.255.224", "gateway": "10.0.0.1"}
        for ip in ("10.0.0.2", "10.0.0.4", "10.0.0.5")
    ]
    assert len(await cloud.ok("GetFreeIp", ipRangeUuid=range_uuid)) == 19
    assert [f["ip"] for f in await cloud.ok("GetFreeIp", l3NetworkUuid=l3["uuid"], start="10.0.0.20")] == [
        "10.0.0.20",
        "10.0.0.21",
    ]
    assert (await cloud.error("GetFreeIp")).code == "SYS.1007"
    assert (await cloud.error("GetFreeIp", l3NetworkUuid=l3["uuid"], start="nope")).code == "SYS.1007"
    assert (await cloud.error("GetFreeIp", ipRangeUuid="b" * 32)).code == "SYS.1003"


async def test_check_ip_availability(cloud: Cloud) -> None:
    l3 = await _l3(cloud)
    await _allocate(cloud, l3, requiredIp="10.0.0.5")

    async def check(ip: str) -> Reply:
        return await cloud.client.request(_build("CheckIpAvailability", l3NetworkUuid=l3["uuid"], ip=ip))

    free = await check("10.0.0.6")
    assert free.success and free.get("available") is True
    for ip, why in (("10.0.0.5", "in use"), ("10.0.0.1", "gateway"), ("10.0.0.30", "not in any ip range")):
        reply = await check(ip)
        assert reply.get("available") is False and why in reply.get("reason"), ip
    assert (await cloud.error("CheckIpAvailability", l3NetworkUuid=l3["uuid"], ip="10.0.0.256")).code == "SYS.1007"


def _build(name: str, **params: Any) -> Any:
    from cloudbus.apis.catalog import api
    from cloudbus.core.messages import build

    cls = api(name)
    assert cls is not None
    return build(cls, params)
