"""Security group rules: validating AddSecurityGroupRule input and normalising it to rows.

Pure functions (no database): the service adds what needs the database (the group's
ipVersion, existing rules for duplicates, remote groups). Error codes: SG.1002 duplicate
rule, SG.1003 protocol/port error, SG.1004 address error (CIDR / IP range), SG.1005
remote-group error, SG.1006 rule inconsistent with its group (ipVersion).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from cloudbus.apis.security_group import SecurityGroupRuleAO
from cloudbus.core import errors

DUPLICATE_RULE = errors.register("SG.1002", "Duplicated security group rules")
INVALID_PORT = errors.register("SG.1003", "Invalid security group rule protocol or port")
INVALID_ADDRESS = errors.register("SG.1004", "Invalid security group rule address")
INVALID_REMOTE = errors.register("SG.1005", "Invalid security group rule remote group")
INVALID_RULE = errors.register("SG.1006", "Invalid security group rule")

PORT_MIN, PORT_MAX = 0, 65535

# What makes two rules the same rule (ZStack compares these, not action/state/description).
IDENTITY = ("type", "ipVersion", "protocol", "srcIpRange", "dstIpRange", "dstPortRange", "remoteSecurityGroupUuid")


def identity(rule: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(rule.get(k) for k in IDENTITY)


def normalise(ao: SecurityGroupRuleAO, index: int, group_ip_version: int) -> dict[str, Any]:
    """The stored fields of rule `index` of the request; raises SG.1003..1006."""
    where = f"rules[{index}]"
    ip_version = group_ip_version if ao.ipVersion is None else ao.ipVersion
    if ip_version not in (4, 6):
        raise errors.fail(INVALID_RULE, f"{where}: ipVersion must be 4 or 6, got {ao.ipVersion}")
    if ip_version != group_ip_version:
        raise errors.fail(
            INVALID_RULE, f"{where}: ipVersion[{ip_version}] differs from the security group's [{group_ip_version}]"
        )
    start, end, port_range = _ports(ao, where)
    src, dst = _addresses(ao, where, ip_version)
    if ao.remoteSecurityGroupUuid is not None and (src or dst):
        raise errors.fail(
            INVALID_REMOTE, f"{where}: remoteSecurityGroupUuid and an IP range / allowedCidr exclude each other"
        )
    return {
        "type": ao.type,
        "ipVersion": ip_version,
        "protocol": ao.protocol,
        "state": ao.state,
        "description": ao.description,
        "srcIpRange": src,
        "dstIpRange": dst,
        "srcPortRange": None,
        "dstPortRange": port_range,
        "action": ao.action,
        "remoteSecurityGroupUuid": ao.remoteSecurityGroupUuid,
        # legacy fields, kept consistent with the new ones
        "allowedCidr": src if ao.type == "Ingress" else dst,
        "startPort": start,
        "endPort": end,
    }


def _ports(ao: SecurityGroupRuleAO, where: str) -> tuple[int, int, str | None]:
    """(startPort, endPort, dstPortRange)."""
    legacy = (ao.startPort, ao.endPort)
    if ao.protocol in ("ICMP", "ALL"):
        if any(p not in (None, -1) for p in legacy) or ao.dstPortRange:
            raise errors.fail(INVALID_PORT, f"{where}: protocol {ao.protocol} takes no ports (or -1)")
        return -1, -1, None
    if ao.dstPortRange is not None and any(p is not None for p in legacy):
        raise errors.fail(INVALID_PORT, f"{where}: give startPort/endPort or dstPortRange, not both")
    if ao.dstPortRange is not None:
        spans = [_span(part, where) for part in ao.dstPortRange.split(",")]
        text = ",".join(f"{a}" if a == b else f"{a}-{b}" for a, b in spans)
        if len(spans) == 1:
            return spans[0][0], spans[0][1], text
        return -1, -1, text
    if ao.startPort is None or ao.endPort is None:
        needs = "needs startPort and endPort (or dstPortRange)"
        raise errors.fail(INVALID_PORT, f"{where}: protocol {ao.protocol} {needs}")
    start, end = _check_span(ao.startPort, ao.endPort, where)
    return start, end, f"{start}" if start == end else f"{start}-{end}"


def _span(text: str, where: str) -> tuple[int, int]:
    low, sep, high = text.strip().partition("-")
    try:
        a = int(low)
        b = int(high) if sep else a
    except ValueError:
        raise errors.fail(INVALID_PORT, f"{where}: invalid port range [{text.strip()}]") from None
    return _check_span(a, b, where)


def _check_span(start: int, end: int, where: str) -> tuple[int, int]:
    for port in (start, end):
        if not PORT_MIN <= port <= PORT_MAX:
            raise errors.fail(INVALID_PORT, f"{where}: port[{port}] is out of {PORT_MIN}..{PORT_MAX}")
    if start > end:
        raise errors.fail(INVALID_PORT, f"{where}: startPort[{start}] is greater than endPort[{end}]")
    return start, end


def _addresses(ao: SecurityGroupRuleAO, where: str, ip_version: int) -> tuple[str | None, str | None]:
    """(srcIpRange, dstIpRange), each checked and written canonically."""
    src, dst = ao.srcIpRange, ao.dstIpRange
    if ao.type == "Ingress" and dst:
        raise errors.fail(INVALID_ADDRESS, f"{where}: an Ingress rule takes srcIpRange, not dstIpRange")
    if ao.type == "Egress" and src:
        raise errors.fail(INVALID_ADDRESS, f"{where}: an Egress rule takes dstIpRange, not srcIpRange")
    if ao.allowedCidr:
        if src or dst:
            raise errors.fail(INVALID_ADDRESS, f"{where}: give allowedCidr or an IP range, not both")
        cidr = _network(ao.allowedCidr, where, ip_version, field="allowedCidr")
        return (cidr, None) if ao.type == "Ingress" else (None, cidr)
    value = src or dst
    if not value:
        return None, None
    canonical = ",".join(_range_item(item, where, ip_version) for item in value.split(","))
    return (canonical, None) if ao.type == "Ingress" else (None, canonical)


def _network(text: str, where: str, ip_version: int, *, field: str) -> str:
    try:
        network = ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        expected = "expected a CIDR like 10.0.0.0/24"
        raise errors.fail(INVALID_ADDRESS, f"{where}: invalid {field}[{text}], {expected}") from None
    if network.version != ip_version:
        raise errors.fail(INVALID_ADDRESS, f"{where}: {field}[{text}] is not an IPv{ip_version} address")
    return str(network)


def _range_item(text: str, where: str, ip_version: int) -> str:
    item = text.strip()
    if "/" in item:
        return _network(item, where, ip_version, field="ip range")
    low, sep, high = item.partition("-")
    try:
        ips = [ipaddress.ip_address(p.strip()) for p in ((low, high) if sep else (low,))]
    except ValueError:
        raise errors.fail(INVALID_ADDRESS, f"{where}: invalid ip range [{item}]") from None
    if any(ip.version != ip_version for ip in ips):
        raise errors.fail(INVALID_ADDRESS, f"{where}: ip range [{item}] is not IPv{ip_version}")
    if sep and ips[0] > ips[1]:  # type: ignore[operator]
        raise errors.fail(INVALID_ADDRESS, f"{where}: ip range [{item}] starts after it ends")
    return "-".join(str(ip) for ip in ips)
