"""IPv4 range arithmetic for IP ranges: validation (SYS.1007 on bad input), ranges from a
CIDR, overlap tests and picking free addresses. Pure functions, no database."""

from __future__ import annotations

import bisect
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from ipaddress import AddressValueError, IPv4Address, IPv4Network, NetmaskValueError, ip_address

from cloudbus.core import errors


@dataclass(frozen=True)
class RangeSpec:
    """A validated IPv4 range: what an `ip_range` row stores."""

    startIp: str
    endIp: str
    netmask: str
    gateway: str
    networkCidr: str
    prefixLen: int

    def row(self) -> dict[str, object]:
        return {
            "startIp": self.startIp,
            "endIp": self.endIp,
            "netmask": self.netmask,
            "gateway": self.gateway,
            "networkCidr": self.networkCidr,
            "prefixLen": self.prefixLen,
            "ipVersion": 4,
        }


@dataclass(frozen=True)
class Span:
    """A range of an L3 as integers, for allocation."""

    uuid: str
    start: int
    end: int
    netmask: str
    gateway: str

    @property
    def size(self) -> int:
        return self.end - self.start + 1


def ipv4(value: str, field: str) -> IPv4Address:
    try:
        return IPv4Address(value.strip())
    except (AddressValueError, ValueError):
        raise errors.invalid_argument(f"{field}[{value}] is not a valid IPv4 address") from None


def to_int(value: str) -> int:
    return int(IPv4Address(value))


def to_ip(value: int) -> str:
    return str(IPv4Address(value))


def network_of(gateway: IPv4Address, netmask: str) -> IPv4Network:
    try:
        return IPv4Network(f"{gateway}/{netmask.strip()}", strict=False)
    except (NetmaskValueError, ValueError):
        raise errors.invalid_argument(f"netmask[{netmask}] is not a valid IPv4 netmask") from None


def validate_range(start_ip: str, end_ip: str, netmask: str, gateway_ip: str) -> RangeSpec:
    """startIp <= endIp, both in the gateway's network, gateway outside the range."""
    start, end = ipv4(start_ip, "startIp"), ipv4(end_ip, "endIp")
    gateway = ipv4(gateway_ip, "gateway")
    network = network_of(gateway, netmask)
    if start > end:
        raise errors.invalid_argument(f"startIp[{start}] is greater than endIp[{end}]")
    if network.prefixlen > 30:
        raise errors.invalid_argument(f"netmask[{netmask}] leaves no room for hosts (a /30 or wider is needed)")
    for name, ip in (("startIp", start), ("endIp", end)):
        if ip not in network:
            raise errors.invalid_argument(
                f"{name}[{ip}] is not in the network[{network}] of gateway[{gateway}] and netmask[{netmask}]"
            )
        if ip in (network.network_address, network.broadcast_address):
            raise errors.invalid_argument(f"{name}[{ip}] is the network or broadcast address of [{network}]")
    if gateway in (network.network_address, network.broadcast_address):
        raise errors.invalid_argument(f"gateway[{gateway}] is the network or broadcast address of [{network}]")
    if start <= gateway <= end:
        raise errors.invalid_argument(f"gateway[{gateway}] can not be part of the range[{start} ~ {end}]")
    return RangeSpec(str(start), str(end), str(network.netmask), str(gateway), str(network), network.prefixlen)


def range_from_cidr(cidr: str, gateway_ip: str | None) -> RangeSpec:
    """The hosts of `cidr` minus the gateway (default: the first host)."""
    try:
        network = IPv4Network(cidr.strip(), strict=False)
    except (AddressValueError, NetmaskValueError, ValueError):
        raise errors.invalid_argument(f"networkCidr[{cidr}] is not a valid IPv4 CIDR, e.g. 192.168.1.0/24") from None
    if "/" not in cidr or network.prefixlen > 30:
        raise errors.invalid_argument(f"networkCidr[{cidr}] must have a prefix length of 30 or less")
    first, last = network.network_address + 1, network.broadcast_address - 1
    gateway = ipv4(gateway_ip, "gateway") if gateway_ip else first
    if gateway == first:
        start, end = first + 1, last
    elif gateway == last:
        start, end = first, last - 1
    else:
        raise errors.invalid_argument(
            f"gateway[{gateway}] must be the first[{first}] or the last[{last}] host address of [{network}]"
        )
    return validate_range(str(start), str(end), str(network.netmask), str(gateway))


def check_dns(value: str) -> str:
    try:
        return str(ip_address(value.strip()))
    except ValueError:
        raise errors.invalid_argument(f"dns[{value}] is not a valid IP address") from None


def overlaps(a_start: int, a_end: int, b_start: int, b_end: int) -> bool:
    return a_start <= b_end and b_start <= a_end


def count_free(spans: Sequence[Span], used: Sequence[int]) -> int:
    """Free addresses over `spans`; `used` sorted."""
    return sum(s.size - (bisect.bisect_right(used, s.end) - bisect.bisect_left(used, s.start)) for s in spans)


def pick_random(spans: Sequence[Span], used: Sequence[int], rng: random.Random) -> tuple[Span, int] | None:
    """A uniformly random free address (`used` sorted), or None when all are taken."""
    total = count_free(spans, used)
    if total == 0:
        return None
    nth = rng.randrange(total)
    for span in spans:
        lo, hi = bisect.bisect_left(used, span.start), bisect.bisect_right(used, span.end)
        free_here = span.size - (hi - lo)
        if nth >= free_here:
            nth -= free_here
            continue
        # the nth free address of this span: step over the used ones below the candidate
        candidate = span.start + nth
        for taken in used[lo:hi]:
            if taken <= candidate:
                candidate += 1
            else:
                break
        return span, candidate
    return None  # pragma: no cover - counted above


def random_candidates(spans: Sequence[Span], count: int, rng: random.Random) -> list[tuple[Span, int]]:
    """`count` addresses drawn uniformly from all of `spans` (used or not): the first free one
    of them is a uniformly random free address, found without reading every used IP."""
    total = sum(span.size for span in spans)
    if total <= 0:
        return []
    drawn: list[tuple[Span, int]] = []
    for _ in range(count):
        nth = rng.randrange(total)
        for span in spans:
            if nth < span.size:
                drawn.append((span, span.start + nth))
                break
            nth -= span.size
    return drawn


def iter_free(spans: Sequence[Span], used: set[int], start: int = 0) -> Iterator[tuple[Span, int]]:
    """Free addresses in address order from `start`."""
    for span in sorted(spans, key=lambda s: s.start):
        for value in range(max(span.start, start), span.end + 1):
            if value not in used:
                yield span, value
