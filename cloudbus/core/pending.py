"""Writes a task owes to its next transaction: an API's record of execution, folded into the
handler's first write (services.records).

`Database.tx()` runs a task's `PendingWrite` first thing in its next write transaction (or
in that of a task it started: the holder is shared), so the write commits or rolls back
with it; the bus runs it in its own transaction before a call leaves the task (`settle`),
so it is never later than the task's first effect outside this process.

Kept apart from `core.db` so that the bus, which settles, imports no database driver.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable
from typing import Any


class PendingWrite:
    """`write(conn)`, owed by the current task (`pending_write`); `done` once it committed
    or is in a transaction that has not failed yet."""

    def __init__(self, db: Any, write: Callable[[Any], Awaitable[None]]) -> None:
        self.db, self.write, self.done = db, write, False

    async def settle(self) -> None:
        if not self.done:
            async with self.db.tx():
                pass


pending_write: contextvars.ContextVar[PendingWrite | None] = contextvars.ContextVar("pending_write", default=None)


async def settle_pending_write() -> None:
    """Write what the current task owes before it acts outside this process (bus calls)."""
    pending = pending_write.get()
    if pending is not None and not pending.done:
        await pending.settle()
