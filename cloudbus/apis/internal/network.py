"""Messages the L3 network service handles for others (IP address management)."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from cloudbus.apis.routing import Concerns
from cloudbus.core.errors import register
from cloudbus.core.messages import Message

CANNOT_ALLOCATE_IP = register("L3.1000", "Cannot allocate an IP address")


class _UsedIp(Concerns):
    resource: ClassVar[str] = "UsedIp"


class AllocateIp(_UsedIp, Message):
    """Take a free IP of `l3NetworkUuid` (or exactly `requiredIp`) and record it as used.

    Exact under concurrency (a unique (l3NetworkUuid, ip) row). Reply: `usedIpUuid`, `ip`,
    `netmask`, `gateway`, `ipRangeUuid`, `ipVersion`. Fails with L3.1000 when none is free.
    The IP is picked at random among the free ones (ZStack's default RandomIpAllocatorStrategy),
    from `ipRangeUuid` only when given.
    """

    l3NetworkUuid: str
    requiredIp: str | None = None
    usedFor: str = "VmNic"
    vmNicUuid: str | None = None
    ipRangeUuid: str | None = None


class ReturnIp(_UsedIp, Message):
    """Free used IPs (idempotent): by uuid, and/or every IP recorded for `vmNicUuids`."""

    usedIpUuids: list[str] = Field(default_factory=list)
    vmNicUuids: list[str] = Field(default_factory=list)
