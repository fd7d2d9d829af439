"""IP allocation on the database, exact under concurrency on SQLite and PostgreSQL.

An allocation reads the L3's ranges, picks a free address at random (ZStack's default
RandomIpAllocatorStrategy: racing allocations rarely collide) and inserts the `used_ip`
row in the same short transaction. The pick draws a few random addresses and asks which
of them are taken (one indexed lookup), so its cost does not grow with the number of
used IPs; only a nearly full L3 falls back to reading every used IP of it. UNIQUE(l3NetworkUuid, ip)
decides a race: the loser's insert fails, its transaction rolls back and it picks again
from what is left, so an IP is never given twice and L3.1000 is only answered when the
L3 really has no free address. (On SQLite writers are serialised anyway.)
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, delete, insert, or_, select
from sqlalchemy.exc import IntegrityError

from cloudbus.apis.internal.network import CANNOT_ALLOCATE_IP
from cloudbus.core import errors
from cloudbus.core.ids import new_uuid
from cloudbus.inventory.ip_range import IP_RANGE, USED_IP
from cloudbus.inventory.l3_network import L3_NETWORK
from cloudbus.services.common import missing, new_row
from cloudbus.services.network.ipam import Span, ipv4, pick_random, random_candidates, to_int, to_ip

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

_rng = random.SystemRandom()

# Every failed attempt means another allocation got an address, so the loop ends; the
# bound only guards against a bug turning it into a busy loop.
_MAX_ATTEMPTS = 100_000

# Random addresses probed per allocation before reading the whole used list: with half of
# an L3 taken, all 16 are taken once in 65,536 allocations.
_PROBES = 16


# the statements of every allocation, built once (building one costs more than running it)
_ranges = IP_RANGE.table
_SPANS = (
    select(_ranges).where(_ranges.c.l3NetworkUuid == bindparam("l3")).order_by(_ranges.c.createDate, _ranges.c.uuid)
)
_SPANS_OF_RANGE = _SPANS.where(_ranges.c.uuid == bindparam("range"))
_TAKEN = select(USED_IP.table.c.ip).where(
    USED_IP.table.c.l3NetworkUuid == bindparam("l3"), USED_IP.table.c.ip.in_(bindparam("ips", expanding=True))
)
_L3 = select(L3_NETWORK.table.c.uuid, L3_NETWORK.table.c.name, L3_NETWORK.table.c.state).where(
    L3_NETWORK.table.c.uuid == bindparam("l3")
)
_INSERT_USED = insert(USED_IP.table)


async def spans_of(conn: AsyncConnection, l3_uuid: str, range_uuid: str | None = None) -> list[Span]:
    if range_uuid is None:
        rows = (await conn.execute(_SPANS, {"l3": l3_uuid})).all()
    else:
        rows = (await conn.execute(_SPANS_OF_RANGE, {"l3": l3_uuid, "range": range_uuid})).all()
    return [Span(r.uuid, to_int(r.startIp), to_int(r.endIp), r.netmask, r.gateway) for r in rows]


async def used_of(conn: AsyncConnection, l3_uuid: str) -> list[int]:
    table = USED_IP.table
    query = select(table.c.ipInLong).where(table.c.l3NetworkUuid == l3_uuid).order_by(table.c.ipInLong)
    return list((await conn.execute(query)).scalars())


async def _probe(conn: AsyncConnection, l3_uuid: str, spans: list[Span]) -> tuple[Span, int] | None:
    """The first free address of a few random draws, or None when all were taken."""
    drawn = random_candidates(spans, _PROBES, _rng)
    if not drawn:
        return None
    ips = sorted({to_ip(value) for _, value in drawn})
    taken = set((await conn.execute(_TAKEN, {"l3": l3_uuid, "ips": ips})).scalars())
    return next(((span, value) for span, value in drawn if to_ip(value) not in taken), None)


async def _l3_row(conn: AsyncConnection, l3_uuid: str) -> dict[str, Any]:
    """Just the columns allocation needs: the write transaction stays short."""
    row = (await conn.execute(_L3, {"l3": l3_uuid})).first()
    if row is None:
        raise missing(L3_NETWORK, l3_uuid)
    return dict(row._mapping)


def _no_ip(l3: dict[str, Any], why: str) -> errors.CloudBusError:
    return errors.fail(
        CANNOT_ALLOCATE_IP, (f"cannot allocate an IP on l3Network[uuid:{l3['uuid']}, name:{l3['name']}]: {why}")
    )


async def allocate(
    db: Any,
    l3_uuid: str,
    *,
    required_ip: str | None = None,
    range_uuid: str | None = None,
    used_for: str | None = None,
    vm_nic_uuid: str | None = None,
) -> dict[str, Any]:
    """Record a used IP of `l3_uuid` and return its inventory (L3.1000 when none is free)."""
    required = int(ipv4(required_ip, "requiredIp")) if required_ip else None
    for _attempt in range(_MAX_ATTEMPTS):
        try:
            async with db.tx() as conn:
                l3 = await _l3_row(conn, l3_uuid)
                if l3["state"] != "Enabled":
                    raise _no_ip(l3, f"it is {l3['state']}")
                spans = await spans_of(conn, l3_uuid, range_uuid)
                if required is not None:
                    span, value = await _required(conn, l3, spans, required)
                else:
                    picked = await _probe(conn, l3_uuid, spans) or pick_random(
                        spans, await used_of(conn, l3_uuid), _rng
                    )
                    if picked is None:
                        scope = f"ipRange[uuid:{range_uuid}]" if range_uuid else "its IP ranges"
                        raise _no_ip(l3, f"no free IP left in {scope}")
                    span, value = picked
                uuid = new_uuid()
                row = new_row(
                    uuid,
                    ipRangeUuid=span.uuid,
                    l3NetworkUuid=l3_uuid,
                    ipVersion=4,
                    ip=to_ip(value),
                    netmask=span.netmask,
                    gateway=span.gateway,
                    usedFor=used_for,
                    ipInLong=value,
                    vmNicUuid=vm_nic_uuid,
                )
                await conn.execute(_INSERT_USED, row)
                return USED_IP.render_row(row)
        except IntegrityError:
            if required is not None:
                raise errors.fail(
                    CANNOT_ALLOCATE_IP, (f"IP[{required_ip}] of l3Network[uuid:{l3_uuid}] is in use")
                ) from None
            continue  # lost a race for that address: pick again from what is left
    raise errors.fail(errors.INTERNAL, f"IP allocation on l3Network[uuid:{l3_uuid}] did not settle")


async def _required(conn: AsyncConnection, l3: dict[str, Any], spans: list[Span], value: int) -> tuple[Span, int]:
    span = next((s for s in spans if s.start <= value <= s.end), None)
    if span is None:
        raise errors.invalid_argument(
            f"requiredIp[{to_ip(value)}] is not in any IP range of l3Network[uuid:{l3['uuid']}, name:{l3['name']}]"
        )
    table = USED_IP.table
    taken = await conn.scalar(
        select(table.c.uuid).where(table.c.l3NetworkUuid == l3["uuid"], table.c.ipInLong == value)
    )
    if taken is not None:
        raise _no_ip(l3, f"IP[{to_ip(value)}] is in use")
    return span, value


async def release(db: Any, used_ip_uuids: list[str], vm_nic_uuids: list[str]) -> int:
    """Delete used IPs by uuid and by nic; idempotent. Returns how many went."""
    table = USED_IP.table
    clauses = []
    if used_ip_uuids:
        clauses.append(table.c.uuid.in_(used_ip_uuids))
    if vm_nic_uuids:
        clauses.append(table.c.vmNicUuid.in_(vm_nic_uuids))
    if not clauses:
        return 0
    async with db.tx() as conn:
        result = await conn.execute(delete(table).where(or_(*clauses)))
        return int(result.rowcount or 0)
