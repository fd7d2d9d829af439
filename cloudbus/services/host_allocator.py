"""Host side of VM placement: pick and reserve hosts, give capacity back, run VM commands.

Used by the host service's thin handlers of AllocateHost / ReturnHostCapacity /
HypervisorCommand (cloudbus/apis/internal/host.py). Reading the network and storage
tables here is read-only SQL for the candidate search, as allowed for allocation.

Exactness under concurrency comes from one conditional UPDATE per try
(`... WHERE availableCpuCapacity >= :cpu AND availableMemoryCapacity >= :mem`): two
callers racing for the last slot of a host cannot both succeed, and nothing serialises
allocations on a shared key, so creations on different hosts run in parallel.
"""

from __future__ import annotations

import functools
import random
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, bindparam, case, delete, exists, select, update

from cloudbus import inventory
from cloudbus.apis.internal.host import NO_AVAILABLE_HOST, AllocateHost
from cloudbus.core import errors
from cloudbus.core.db import Database, upsert_into
from cloudbus.inventory.cluster import CLUSTER
from cloudbus.inventory.host import HOST
from cloudbus.inventory.host import host_allocation_table as ALLOCATION

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection


def _attached_clusters(resource: str) -> tuple[Any, Any, Any]:
    """(ref table, resource column, cluster column) of `resource`'s attachedClusterUuids."""
    spec = inventory.get(resource).list_fields["attachedClusterUuids"]
    return spec.table, spec.table.c[spec.key_col], spec.table.c[spec.value_col]


def candidate_query(msg: AllocateHost, l2_uuids: list[str]) -> tuple[Select[Any], dict[str, Any]]:
    """Hosts that could take the VM now: the placement rules of AllocateHost, as one SELECT
    (built once per shape of request) and its parameters."""
    params: dict[str, Any] = {"cpu": msg.cpuNum, "memory": msg.memorySize, "disk": msg.diskSize}
    params |= {"zone": msg.zoneUuid, "cluster": msg.clusterUuid, "host": msg.hostUuid}
    params |= {"exclude": list(msg.excludeHostUuids or []), "ps": list(msg.primaryStorageUuids or [])}
    params |= {f"l2_{i}": l2 for i, l2 in enumerate(l2_uuids)}
    shape = (
        bool(msg.zoneUuid),
        bool(msg.clusterUuid),
        bool(msg.hostUuid),
        bool(msg.excludeHostUuids),
        len(l2_uuids),
        bool(msg.primaryStorageUuids),
    )
    return _candidate_statement(*shape), params


@functools.cache
def _candidate_statement(
    zone: bool, cluster: bool, host: bool, exclude: bool, l2s: int, ps_listed: bool
) -> Select[Any]:
    h, c = HOST.table, CLUSTER.table
    query = (
        select(h.c.uuid, h.c.clusterUuid, h.c.zoneUuid, h.c.hypervisorType)
        .select_from(h.join(c, c.c.uuid == h.c.clusterUuid))
        .where(
            h.c.state == "Enabled",
            h.c.status == "Connected",
            c.c.state == "Enabled",
            h.c.availableCpuCapacity >= bindparam("cpu"),
            h.c.availableMemoryCapacity >= bindparam("memory"),
        )
    )
    if zone:
        query = query.where(h.c.zoneUuid == bindparam("zone"))
    if cluster:
        query = query.where(h.c.clusterUuid == bindparam("cluster"))
    if host:
        query = query.where(h.c.uuid == bindparam("host"))
    if exclude:
        query = query.where(h.c.uuid.not_in(bindparam("exclude", expanding=True)))
    l2_ref, l2_col, l2_cluster = _attached_clusters("L2Network")
    for i in range(l2s):
        attached = exists().where(l2_cluster == h.c.clusterUuid, l2_col == bindparam(f"l2_{i}"))
        query = query.where(attached.select_from(l2_ref))
    ps = inventory.get("PrimaryStorage").table
    ps_ref, ps_col, ps_cluster = _attached_clusters("PrimaryStorage")
    ps_ok = [
        ps_cluster == h.c.clusterUuid,
        ps.c.state == "Enabled",
        ps.c.status == "Connected",
        ps.c.availableCapacity >= bindparam("disk"),
    ]
    if ps_listed:
        ps_ok.append(ps.c.uuid.in_(bindparam("ps", expanding=True)))
    return query.where(exists().where(*ps_ok).select_from(ps_ref.join(ps, ps.c.uuid == ps_col))).order_by(HOST.key)


@functools.cache
def _l2_statement() -> Select[Any]:
    l3 = inventory.get("L3Network").table
    return select(l3.c.uuid, l3.c.l2NetworkUuid).where(l3.c.uuid.in_(bindparam("l3s", expanding=True)))


async def _l2_of(conn: AsyncConnection, l3_uuids: list[str]) -> list[str]:
    if not l3_uuids:
        return []
    rows = await conn.execute(_l2_statement(), {"l3s": l3_uuids})
    found = {row[0]: row[1] for row in rows}
    missing = [u for u in l3_uuids if u not in found]
    if missing:
        raise errors.fail(NO_AVAILABLE_HOST, f"l3Network[uuid:{missing[0]}] not found")
    return sorted(set(found.values()))


async def candidates(db: Database, msg: AllocateHost) -> list[tuple[str, str, str, str]]:
    """(hostUuid, clusterUuid, zoneUuid, hypervisorType) of every fitting host, in random order
    (spreads the load and makes racing allocations pick different hosts)."""
    async with db.read() as conn:
        l2_uuids = await _l2_of(conn, msg.l3NetworkUuids)
        rows = [tuple(r) for r in await conn.execute(*candidate_query(msg, l2_uuids))]
    random.shuffle(rows)
    return rows


_h = HOST.table
_RESERVE = (
    update(_h)
    .where(
        _h.c.uuid == bindparam("host"),
        _h.c.state == "Enabled",
        _h.c.status == "Connected",
        _h.c.availableCpuCapacity >= bindparam("cpu"),
        _h.c.availableMemoryCapacity >= bindparam("memory"),
    )
    .values(
        availableCpuCapacity=_h.c.availableCpuCapacity - bindparam("cpu"),
        availableMemoryCapacity=_h.c.availableMemoryCapacity - bindparam("memory"),
    )
)


async def reserve(conn: AsyncConnection, host_uuid: str, cpu: int, memory: int, owner: str | None) -> bool:
    """Take `cpu`/`memory` from one host if it still has them (and is still usable).

    With an `owner`, what it took is added to the owner's allocation row in the same
    transaction, so `release(owner)` later gives back exactly that.
    """
    result = await conn.execute(_RESERVE, {"host": host_uuid, "cpu": cpu, "memory": memory})
    if result.rowcount != 1:
        return False
    if owner is not None:
        await _add_allocation(conn, owner, host_uuid, cpu, memory)
    return True


async def _add_allocation(conn: AsyncConnection, owner: str, host_uuid: str, cpu: int, memory: int) -> None:
    """Insert the owner's row on this host, or grow it: one upsert."""
    params = {"ownerUuid": owner, "hostUuid": host_uuid, "cpuNum": cpu, "memorySize": memory}
    await conn.execute(_allocation_upsert(conn.dialect.name), params)


@functools.cache
def _allocation_upsert(dialect: str) -> Any:
    a = ALLOCATION
    upsert = upsert_into(dialect, a)
    return upsert.on_conflict_do_update(
        index_elements=[a.c.ownerUuid, a.c.hostUuid],
        set_={
            "cpuNum": a.c.cpuNum + upsert.excluded.cpuNum,
            "memorySize": a.c.memorySize + upsert.excluded.memorySize,
        },
    )


async def release(
    db: Database,
    owner: str,
    *,
    host_uuid: str | None = None,
    keep_host_uuid: str | None = None,
    cpu: int | None = None,
    memory: int | None = None,
) -> None:
    """Give back what `owner` holds: on `host_uuid` (every host when None) but not on
    `keep_host_uuid`; only `cpu`/`memory` of it when given (a VM shrinking in place).

    The rows are removed with DELETE ... RETURNING and their amounts given back in the same
    transaction: a second release of the same owner finds nothing, so nothing is returned twice.
    """
    a = ALLOCATION
    where = [a.c.ownerUuid == owner]
    if host_uuid is not None:
        where.append(a.c.hostUuid == host_uuid)
    if keep_host_uuid is not None:
        where.append(a.c.hostUuid != keep_host_uuid)
    async with db.tx() as conn:
        if cpu is None and memory is None:
            rows = (
                await conn.execute(delete(a).where(*where).returning(a.c.hostUuid, a.c.cpuNum, a.c.memorySize))
            ).all()
            for host, held_cpu, held_memory in rows:
                await _give_back(conn, host, held_cpu, held_memory)
            return
        held = (await conn.execute(select(a.c.hostUuid, a.c.cpuNum, a.c.memorySize).where(*where))).first()
        if held is None:
            return
        less_cpu, less_memory = min(cpu or 0, held[1]), min(memory or 0, held[2])
        await conn.execute(
            update(a)
            .where(a.c.ownerUuid == owner, a.c.hostUuid == held[0])
            .values(cpuNum=a.c.cpuNum - less_cpu, memorySize=a.c.memorySize - less_memory)
        )
        await _give_back(conn, held[0], less_cpu, less_memory)


async def allocate(db: Database, msg: AllocateHost) -> dict[str, Any]:
    """Reserve on the first candidate that still fits; HOST_ALLOCATION.1000 if none does."""
    if msg.dryRun:
        return {"hostUuids": sorted(row[0] for row in await candidates(db, msg))}
    # one short transaction per try: a try that waits on a host row another allocation holds
    # must not also hold a pooled connection through the tries after it (PostgreSQL)
    for host_uuid, cluster_uuid, zone_uuid, hypervisor in await candidates(db, msg):
        async with db.tx() as conn:
            if await reserve(conn, host_uuid, msg.cpuNum, msg.memorySize, msg.ownerUuid):
                return {
                    "hostUuid": host_uuid,
                    "clusterUuid": cluster_uuid,
                    "zoneUuid": zone_uuid,
                    "hypervisorType": hypervisor,
                }
    raise errors.fail(
        NO_AVAILABLE_HOST,
        f"no available host found for cpuNum[{msg.cpuNum}] memorySize[{msg.memorySize}]"
        f"{_hints(msg)}: no Enabled and Connected host with enough capacity is attached to the "
        "requested networks and to a primary storage with enough space",
    )


def _hints(msg: AllocateHost) -> str:
    given = {k: getattr(msg, k) for k in ("zoneUuid", "clusterUuid", "hostUuid") if getattr(msg, k)}
    return "".join(f" {k}[{v}]" for k, v in given.items())


async def give_back(db: Database, host_uuid: str, cpu: int, memory: int) -> None:
    """Return capacity that no owner row records."""
    async with db.tx() as conn:
        await _give_back(conn, host_uuid, cpu, memory)


async def _give_back(conn: AsyncConnection, host_uuid: str, cpu: int, memory: int) -> None:
    """Return capacity, never above the host's totals (the host may have been reconnected smaller)."""
    h = HOST.table
    new_cpu = h.c.availableCpuCapacity + cpu
    new_memory = h.c.availableMemoryCapacity + memory
    await conn.execute(
        update(h)
        .where(h.c.uuid == host_uuid)
        .values(
            availableCpuCapacity=case((new_cpu > h.c.totalCpuCapacity, h.c.totalCpuCapacity), else_=new_cpu),
            availableMemoryCapacity=case(
                (new_memory > h.c.totalMemoryCapacity, h.c.totalMemoryCapacity), else_=new_memory
            ),
        )
    )


async def release_owners(db: Database, owners: list[str]) -> None:
    """Give back everything `owners` hold, on every host: `release` for a batch, one transaction.

    One DELETE ... RETURNING takes every row; the amounts go back summed per host (the cap at
    the host's totals gives the same result summed as one by one: capacity only grows here).
    """
    a = ALLOCATION
    held: dict[str, list[int]] = {}
    async with db.tx() as conn:
        rows = await conn.execute(
            delete(a).where(a.c.ownerUuid.in_(owners)).returning(a.c.hostUuid, a.c.cpuNum, a.c.memorySize)
        )
        for host, cpu, memory in rows.all():
            total = held.setdefault(host, [0, 0])
            total[0] += cpu
            total[1] += memory
        for host, (cpu, memory) in sorted(held.items()):
            await _give_back(conn, host, cpu, memory)


__all__ = ["allocate", "candidates", "give_back", "release", "release_owners", "reserve"]
