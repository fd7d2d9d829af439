"""Primary-storage capacity bookkeeping in atomic SQL.

Every change is a single guarded UPDATE (`available = available - :x WHERE available >= :x`)
checked by rowcount, never a read-modify-write across awaits, so reservations stay exact
under concurrency on SQLite and PostgreSQL alike. Local storage keeps each host's share in
`local_storage_host_ref`; a reservation there takes from the host's share AND the primary
storage's totals in one transaction. A reservation made for an owner is also recorded in
`primary_storage_reservation`, in that same transaction, and settled by deleting the record
first: only the transaction that deleted it gives the bytes back, so settling is idempotent.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from sqlalchemy import bindparam, case, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from cloudbus.core import errors
from cloudbus.core.db import upsert_into
from cloudbus.core.ids import utcnow
from cloudbus.inventory.primary_storage import local_storage_host_ref_table as host_ref
from cloudbus.inventory.primary_storage import primary_storage_reservation_table as reservation
from cloudbus.inventory.primary_storage import primary_storage_table as ps_table

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncConnection

# built once: every VM creation runs them (building a statement costs more than running it)
_TAKE_FROM_SHARE = (
    update(host_ref)
    .where(
        host_ref.c.primaryStorageUuid == bindparam("ps"),
        host_ref.c.hostUuid == bindparam("host"),
        host_ref.c.availableCapacity >= bindparam("size"),
    )
    .values(availableCapacity=host_ref.c.availableCapacity - bindparam("size"), lastOpDate=bindparam("now"))
)
_TAKE = (
    update(ps_table)
    .where(ps_table.c.uuid == bindparam("ps"), ps_table.c.availableCapacity >= bindparam("size"))
    .values(availableCapacity=ps_table.c.availableCapacity - bindparam("size"))
)
_OPEN = select(reservation.c.ownerUuid).where(reservation.c.ownerUuid == bindparam("owner"))
_SETTLE = delete(reservation).where(reservation.c.ownerUuid == bindparam("owner")).returning(*reservation.c)


class NoRoom(Exception):
    """Raised inside a transaction to roll back a half-made reservation."""


async def reserve(
    conn: AsyncConnection, ps_uuid: str, size: int, host_uuid: str | None, owner: str | None = None
) -> None:
    """Take `size` bytes; raises NoRoom (the caller's transaction then rolls back). With an
    `owner`, what was taken is recorded as that owner's reservation in the same transaction
    (one open reservation per owner: a second one fails, and the transaction rolls back)."""
    if host_uuid is not None:
        taken = await conn.execute(_TAKE_FROM_SHARE, {"ps": ps_uuid, "host": host_uuid, "size": size, "now": utcnow()})
        if taken.rowcount != 1:
            raise NoRoom
    taken = await conn.execute(_TAKE, {"ps": ps_uuid, "size": size})
    if taken.rowcount != 1:
        raise NoRoom
    if owner is not None:
        row = {"ownerUuid": owner, "primaryStorageUuid": ps_uuid, "hostUuid": host_uuid, "size": size}
        added = await conn.execute(_reservation_insert(conn.dialect.name), {**row, "createDate": utcnow()})
        if added.rowcount != 1:
            raise errors.operation_error(f"owner[uuid:{owner}] already holds a primary-storage reservation")


@functools.cache
def _reservation_insert(dialect: str) -> Any:
    return upsert_into(dialect, reservation).on_conflict_do_nothing()


async def is_open(conn: AsyncConnection, owner_uuid: str) -> bool:
    return await conn.scalar(_OPEN, {"owner": owner_uuid}) is not None


async def settle(conn: AsyncConnection, owner_uuid: str, *, give_back_bytes: bool) -> bool:
    """Close `owner_uuid`'s reservation, returning its bytes when asked; False if none is open."""
    # whoever deletes the record gives its bytes back, so a concurrent settle does nothing
    row = (await conn.execute(_SETTLE, {"owner": owner_uuid})).mappings().first()
    if row is None:
        return False
    if give_back_bytes:
        await give_back(conn, row["primaryStorageUuid"], row["size"], row["hostUuid"])
    return True


def _give_back(available: Any, total: Any, size: int) -> Any:
    """`available + size`, never above `total` (a double return cannot inflate capacity)."""
    return case((available + size > total, total), else_=available + size)


async def give_back(conn: AsyncConnection, ps_uuid: str, size: int, host_uuid: str | None) -> None:
    if host_uuid is not None:
        returned = await conn.execute(
            update(host_ref)
            .where(host_ref.c.primaryStorageUuid == ps_uuid, host_ref.c.hostUuid == host_uuid)
            .values(
                availableCapacity=_give_back(host_ref.c.availableCapacity, host_ref.c.totalCapacity, size),
                lastOpDate=utcnow(),
            )
        )
        if returned.rowcount != 1:
            return  # the host's share is gone, and what it held went with it
    await conn.execute(
        update(ps_table)
        .where(ps_table.c.uuid == ps_uuid)
        .values(availableCapacity=_give_back(ps_table.c.availableCapacity, ps_table.c.totalCapacity, size))
    )


async def add_host_share(
    conn: AsyncConnection, ps_uuid: str, host_uuid: str, total: int, physical_total: int, physical_available: int
) -> bool:
    """Record a host's disk under local storage and add it to the totals; False if already there."""
    now = utcnow()
    try:
        async with conn.begin_nested():
            await conn.execute(
                insert(host_ref).values(
                    primaryStorageUuid=ps_uuid,
                    hostUuid=host_uuid,
                    totalCapacity=total,
                    availableCapacity=total,
                    totalPhysicalCapacity=physical_total,
                    availablePhysicalCapacity=physical_available,
                    createDate=now,
                    lastOpDate=now,
                )
            )
    except IntegrityError:
        return False
    await conn.execute(
        update(ps_table)
        .where(ps_table.c.uuid == ps_uuid)
        .values(
            totalCapacity=ps_table.c.totalCapacity + total,
            availableCapacity=ps_table.c.availableCapacity + total,
            totalPhysicalCapacity=ps_table.c.totalPhysicalCapacity + physical_total,
            availablePhysicalCapacity=ps_table.c.availablePhysicalCapacity + physical_available,
        )
    )
    return True


async def remove_host_shares(conn: AsyncConnection, *conditions: Any) -> int:
    """Drop the host shares matching `conditions`, taking each off its storage's totals."""
    rows = (await conn.execute(select(host_ref).where(*conditions).with_for_update())).mappings().all()
    for ref in rows:
        await conn.execute(
            update(ps_table)
            .where(ps_table.c.uuid == ref["primaryStorageUuid"])
            .values(
                totalCapacity=ps_table.c.totalCapacity - ref["totalCapacity"],
                availableCapacity=ps_table.c.availableCapacity - ref["availableCapacity"],
                totalPhysicalCapacity=ps_table.c.totalPhysicalCapacity - ref["totalPhysicalCapacity"],
                availablePhysicalCapacity=ps_table.c.availablePhysicalCapacity - ref["availablePhysicalCapacity"],
            )
        )
        await conn.execute(
            delete(host_ref).where(
                host_ref.c.primaryStorageUuid == ref["primaryStorageUuid"], host_ref.c.hostUuid == ref["hostUuid"]
            )
        )
    return len(rows)
