"""Exactly-once execution: the record of every API message id (queries aside).

`run_once(id, name, run)` inserts the record (state Running, this node) before running;
the unique id decides which delivery runs. A delivery that finds the record does not run
again: it gets the recorded reply when the record is Done, or waits for it while Running
(a redelivery after a node death waits for the takeover to settle it). Finishing a record
also drops the operation journals written under it, in the same transaction.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from cloudbus.core import errors
from cloudbus.core.bus.base import current_deadline
from cloudbus.core.db import Database
from cloudbus.core.ids import utcnow
from cloudbus.core.messages import Reply
from cloudbus.core.pending import PendingWrite, pending_write
from cloudbus.inventory.management_node import api_record_table as RECORD
from cloudbus.inventory.management_node import operation_journal_table as JOURNAL

POLL = 0.05


# the statements of every recorded API call, built once (building one costs more than running it)
_INSERT = insert(RECORD)
_FINISH = (
    update(RECORD)
    .where(RECORD.c.id == bindparam("msg_id"), RECORD.c.state == "Running")
    .values(state="Done", reply=bindparam("reply"), finishDate=bindparam("finish_date"))
)
_DROP_JOURNALS = delete(JOURNAL).where(JOURNAL.c.apiId == bindparam("msg_id"))


class _RecordedBefore(BaseException):
    """Another delivery recorded the message first (BaseException: handlers' `except
    Exception` must not turn it into a failed reply)."""


POLL_MAX = 0.5


class Records:
    def __init__(self, db: Database, node_uuid: str) -> None:
        self.db = db
        self.node_uuid = node_uuid

    async def run_once(
        self, msg_id: str, name: str, run: Callable[[], Awaitable[Reply]], *, late: bool = False
    ) -> Reply:
        """Run `run` unless `msg_id` ran before. `late`: the record goes into the handler's
        first write transaction, or before its first bus call (core.pending), not its own."""
        if not late:
            if not await self._claim(msg_id, name):
                return await self.wait(msg_id, name)
            reply = await run()
            await self.finish(msg_id, reply)
            return reply
        pending = PendingWrite(self.db, lambda conn: self._insert(conn, msg_id, name))
        token = pending_write.set(pending)
        try:
            reply = await run()
        except _RecordedBefore:
            return await self.wait(msg_id, name)
        finally:
            pending_write.reset(token)
        if pending.done:
            await self.finish(msg_id, reply)
        else:  # the handler wrote nothing: record its reply directly
            await self._record_done(msg_id, name, reply)
        return reply

    async def _claim(self, msg_id: str, name: str) -> bool:
        try:
            async with self.db.tx() as conn:
                await conn.execute(_INSERT, self._running(msg_id, name))
            return True
        except IntegrityError:
            return False

    def _running(self, msg_id: str, name: str) -> dict[str, Any]:
        return {"id": msg_id, "apiName": name, "nodeUuid": self.node_uuid, "state": "Running", "createDate": utcnow()}

    async def _insert(self, conn: Any, msg_id: str, name: str) -> None:
        try:
            await conn.execute(_INSERT, self._running(msg_id, name))
        except IntegrityError:
            raise _RecordedBefore from None

    async def _record_done(self, msg_id: str, name: str, reply: Reply) -> None:
        now = utcnow()
        try:
            async with self.db.tx() as conn:
                done = {"state": "Done", "reply": json.dumps(reply.to_json()), "finishDate": now}
                await conn.execute(_INSERT, {**self._running(msg_id, name), **done, "createDate": now})
        except IntegrityError:
            pass  # another delivery of a handler that changes nothing recorded it first

    async def wait(self, msg_id: str, name: str) -> Reply:
        """The recorded reply of `msg_id`, once its first run (or the takeover) finished it."""
        deadline = current_deadline.get() or time.time() + 1800
        pause = POLL
        while True:
            async with self.db.read() as conn:
                row = (await conn.execute(select(RECORD.c.state, RECORD.c.reply).where(RECORD.c.id == msg_id))).first()
            if row is not None and row[0] == "Done":
                return Reply.model_validate(json.loads(row[1]))
            if time.time() + pause > deadline:
                return Reply.failure(
                    errors.err(
                        errors.TIMEOUT,
                        f"message[name:{name}, id:{msg_id}] was delivered again while its first run "
                        "had not finished, and it still had not when this delivery timed out",
                    )
                )
            await asyncio.sleep(pause)
            pause = min(pause * 2, POLL_MAX)

    async def finish(self, msg_id: str, reply: Reply) -> bool:
        """Record the outcome (once: a record already Done keeps its first reply)."""
        async with self.db.tx() as conn:
            done = await conn.execute(
                _FINISH, {"msg_id": msg_id, "reply": json.dumps(reply.to_json()), "finish_date": utcnow()}
            )
            await conn.execute(_DROP_JOURNALS, {"msg_id": msg_id})
            return done.rowcount == 1

    async def orphans(self, live: set[str]) -> list[str]:
        """Running records of nodes not in `live` that no journal will settle."""
        journaled = select(JOURNAL.c.apiId).where(JOURNAL.c.apiId.is_not(None))
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(RECORD.c.id).where(
                    RECORD.c.state == "Running", RECORD.c.nodeUuid.not_in(live), RECORD.c.id.not_in(journaled)
                )
            )
            return list(rows.scalars())

    async def purge(self, older_than: timedelta) -> None:
        async with self.db.tx() as conn:
            await conn.execute(
                delete(RECORD).where(RECORD.c.state == "Done", RECORD.c.finishDate < utcnow() - older_than)
            )
