"""Security groups as Neutron security groups (blocking calls, run in worker threads).

A cloudbus security group is a Neutron group named by its uuid and tagged with the cloud's
label; its rules are made to match exactly (extra Neutron rules, the defaults included, are
deleted). One cloudbus rule may become several Neutron rules: Neutron takes one CIDR and one
port span per rule, cloudbus takes IP ranges and port lists. Disabled rules and DROP rules
(Neutron only allows) have no Neutron rule. A port of a nic in no group has port security off:
in ZStack a nic outside every group is not filtered.
"""

from __future__ import annotations

import ipaddress
from typing import Any

# (direction, ethertype, protocol, port_range_min, port_range_max, remote_ip_prefix, remote_group_id)
NeutronRule = tuple[str, str, str | None, int | None, int | None, str | None, str | None]
RULE_KEYS = (
    "direction",
    "ethertype",
    "protocol",
    "port_range_min",
    "port_range_max",
    "remote_ip_prefix",
    "remote_group_id",
)


def neutron_rules(rule: dict[str, Any], remote_group_id: str | None) -> list[NeutronRule]:
    if rule.get("state", "Enabled") != "Enabled" or rule.get("action", "ACCEPT") != "ACCEPT":
        return []
    direction = "ingress" if rule["type"] == "Ingress" else "egress"
    ethertype = "IPv6" if int(rule["ipVersion"]) == 6 else "IPv4"
    protocol = None if rule["protocol"] == "ALL" else str(rule["protocol"]).lower()
    addresses = rule["srcIpRange"] if direction == "ingress" else rule["dstIpRange"]
    prefixes: list[str | None] = list(_prefixes(addresses)) or [None]
    spans: list[tuple[int | None, int | None]] = [(None, None)]
    if protocol in ("tcp", "udp") and rule.get("dstPortRange"):
        spans = [_span(part) for part in str(rule["dstPortRange"]).split(",")]
    return [(direction, ethertype, protocol, lo, hi, p, remote_group_id) for p in prefixes for lo, hi in spans]


def _prefixes(addresses: str | None) -> list[str]:
    found: list[str] = []
    for part in (addresses or "").split(","):
        part = part.strip()
        if not part:
            continue
        if "-" in part:
            first, last = (ipaddress.ip_address(a.strip()) for a in part.split("-", 1))
            found += [str(n) for n in ipaddress.summarize_address_range(first, last)]  # type: ignore[arg-type]
        else:
            found.append(str(ipaddress.ip_network(part, strict=False)))
    return found


def _span(part: str) -> tuple[int, int]:
    low, _, high = part.strip().partition("-")
    return int(low), int(high or low)


def find_group(conn: Any, uuid: str) -> Any:
    return next(iter(conn.network.security_groups(name=uuid)), None)


def ensure_group(conn: Any, uuid: str, label: str, name: str = "") -> Any:
    """The Neutron group of cloudbus group `uuid`, made (tagged, empty of rules) if missing."""
    group = find_group(conn, uuid)
    if group is None:
        group = conn.network.create_security_group(name=uuid, description=f"cloudbus security group {name}".strip())
        conn.network.set_tags(group, [label])
        for rule in group.security_group_rules or []:  # Neutron's default egress rules are not cloudbus's
            conn.network.delete_security_group_rule(rule["id"], ignore_missing=True)
        group = conn.network.get_security_group(group.id)
    return group


def sync_group(conn: Any, group: dict[str, Any], label: str) -> str:
    """Make the Neutron group's rules exactly those of cloudbus group `group` ({uuid, name,
    rules}); returns its Neutron id."""
    made = ensure_group(conn, group["uuid"], label, group.get("name") or "")
    wanted: set[NeutronRule] = set()
    for rule in group["rules"]:
        remote = rule.get("remoteSecurityGroupUuid")
        remote_id = ensure_group(conn, remote, label).id if remote else None
        wanted.update(neutron_rules(rule, remote_id))
    existing: dict[NeutronRule, str] = {}
    for rule in made.security_group_rules or []:
        existing[tuple(rule.get(k) for k in RULE_KEYS)] = rule["id"]  # type: ignore[assignment]
    for key, rule_id in existing.items():
        if key not in wanted:
            conn.network.delete_security_group_rule(rule_id, ignore_missing=True)
    for key in wanted - set(existing):
        fields = dict(zip(RULE_KEYS, key, strict=True))
        conn.network.create_security_group_rule(
            security_group_id=made.id, **{k: v for k, v in fields.items() if v is not None}
        )
    return str(made.id)


def port_fields(group_ids: list[str]) -> dict[str, Any]:
    """What a port of a nic in `group_ids` gets: the groups, or no filtering at all."""
    if group_ids:
        return {"is_port_security_enabled": True, "security_group_ids": group_ids}
    return {"is_port_security_enabled": False, "security_group_ids": []}


def apply(conn: Any, nics: list[dict[str, Any]], label: str, deleted: list[str]) -> None:
    """Bring the groups of `nics` ({uuid, securityGroups}) in step and give each nic's port its
    groups; then delete the Neutron groups of cloudbus groups that are gone."""
    ids: dict[str, str] = {}
    for nic in nics:
        for group in nic.get("securityGroups") or []:
            if group["uuid"] not in ids:
                ids[group["uuid"]] = sync_group(conn, group, label)
    for nic in nics:
        port = next(iter(conn.network.ports(name=nic["uuid"])), None)
        if port is None:  # not realised yet: its start gives it its groups
            continue
        wanted = [ids[g["uuid"]] for g in nic.get("securityGroups") or []]
        if sorted(port.security_group_ids or []) != sorted(wanted) or port.is_port_security_enabled != bool(wanted):
            conn.network.update_port(port, **port_fields(wanted))
    for uuid in deleted:
        group = find_group(conn, uuid)
        if group is not None and label in (group.tags or []):
            conn.network.delete_security_group(group, ignore_missing=True)
