"""The management-node service: membership, the ring, and takeover of dead nodes' work.

Each node keeps a row in `management_node` and beats every `interval` seconds. A node whose
last beat is older than `interval * misses` is dead: the first node to mark it so (a guarded
UPDATE, so exactly one wins) logs it and tells the others (`managementNode.changed`). Every
node builds its ring from the rows it sees alive, on each beat and on each change event, so
the nodes agree on ownership within one beat of any change.

Takeover (run by whoever sees a node gone, by every node at start for work left by a cloud
that stopped whole, and on every beat for anything a previous takeover could not settle):
each operation journal of a node that is not alive is claimed
and sent as a RecoverOperation to its service, which runs it on the resource's new owner;
Running API records that no journal will settle are answered SYS.1012. A node that finds
its own row marked dead stops itself (`on_fenced`), so two nodes never both think they own
a resource for long.

A node that stops cleanly marks itself `Leaving`: it drops out of every ring at once (new
work goes to the others) but keeps beating, so nobody takes over what it is finishing; once
its bus has drained it deletes its row, and whatever it could not finish is taken over like
a dead node's work.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, insert, select, update

from cloudbus import __version__
from cloudbus.apis.internal.management import RecoverOperation
from cloudbus.core import errors
from cloudbus.core.ids import utcnow
from cloudbus.core.logging import get_logger
from cloudbus.core.messages import Event, Reply
from cloudbus.core.ring import HashRing
from cloudbus.core.service import Service
from cloudbus.inventory.management_node import MANAGEMENT_NODE
from cloudbus.services import journal

log = get_logger(__name__)

NODES = MANAGEMENT_NODE.table
CHANGED = "managementNode.changed"
RECORD_RETENTION = timedelta(days=1)
ALIVE = ("Running", "Leaving")  # beating; only Running nodes are on the ring


class ManagementNodeService(Service):
    service_id = MANAGEMENT_NODE.service_id

    def __init__(self, node: Any) -> None:
        super().__init__(node)
        self.interval: float = node.heartbeat_interval
        self.misses: int = node.heartbeat_misses
        self.on_fenced: Callable[[], None] = getattr(node, "on_fenced", lambda: None)
        self._loop: asyncio.Task[None] | None = None
        self._subscription: Any = None
        self._takeover = asyncio.Lock()
        self._beats = 0
        self._leaving = False

    @property
    def me(self) -> str:
        return str(self.node.uuid)

    async def start(self) -> None:
        now = utcnow()
        async with self.db.tx() as conn:
            await conn.execute(
                insert(NODES).values(
                    uuid=self.me,
                    hostName=socket.gethostname(),
                    heartbeat=now,
                    state="Running",
                    version=__version__,
                    createDate=now,
                    lastOpDate=now,
                    beatAt=time.time(),
                )
            )
        self._subscription = await self.bus.subscribe(CHANGED, self._on_changed)
        await self.refresh()
        await self.bus.publish(Event(name=CHANGED, data={"joined": self.me}))
        self._loop = asyncio.ensure_future(self._beat_loop())

    async def stop(self) -> None:
        """Leave the ring at once; keep beating while the bus drains (see `closed`)."""
        self._leaving = True
        async with self.db.tx() as conn:
            await conn.execute(update(NODES).where(NODES.c.uuid == self.me).values(state="Leaving"))
        if self._subscription is not None:
            await self._subscription.cancel()
        await self.bus.publish(Event(name=CHANGED, data={"leaving": self.me}))

    async def closed(self) -> None:
        """The bus has drained: nothing more runs here; what is left is the others' to take over."""
        if self._loop is not None:
            self._loop.cancel()
            await asyncio.gather(self._loop, return_exceptions=True)
        async with self.db.tx() as conn:
            await conn.execute(delete(NODES).where(NODES.c.uuid == self.me))

    # --- heartbeat and membership ------------------------------------------------------

    async def _beat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                if not await self.beat():
                    log.error("this management node was declared dead by the others; stopping", node=self.me)
                    self.on_fenced()
                    return
                await self.refresh()
                self._beats += 1
                if self._beats % 1000 == 0:
                    await self.node.records.purge(RECORD_RETENTION)
            except Exception as exc:  # the database may be away for a while: keep beating
                log.warning("heartbeat failed", error=f"{type(exc).__name__}: {exc}")

    async def beat(self) -> bool:
        """Refresh this node's row; False if the others have declared it dead."""
        async with self.db.tx() as conn:
            result = await conn.execute(
                update(NODES)
                .where(NODES.c.uuid == self.me, NODES.c.state.in_(ALIVE))
                .values(heartbeat=utcnow(), beatAt=time.time())
            )
            return result.rowcount == 1

    async def _on_changed(self, _event: Event) -> None:
        await self.refresh()

    async def refresh(self) -> None:
        """Read membership, declare the silent dead, adopt the ring of the live nodes."""
        threshold = time.time() - self.interval * self.misses
        async with self.db.read() as conn:
            rows = (await conn.execute(select(NODES.c.uuid, NODES.c.state, NODES.c.beatAt))).all()
        live = {uuid for uuid, state, beat in rows if state == "Running" and beat >= threshold}
        if not self._leaving:
            live.add(self.me)
        for uuid, state, beat in rows:
            if state in ALIVE and beat < threshold and uuid != self.me and await self._declare_dead(uuid, threshold):
                log.warning("management node declared dead", dead=uuid, silent_for=round(time.time() - beat, 1))
                await self.bus.publish(Event(name=CHANGED, data={"dead": uuid}))
        old = self.bus.ring
        if old is None or old.members != live:
            self.bus.set_ring(HashRing(live))
            log.info("ring changed", members=sorted(live), node=self.me)
        if not self._leaving:  # what is left to take over is for the nodes that stay
            self._spawn_takeover()

    async def _declare_dead(self, uuid: str, threshold: float) -> bool:
        async with self.db.tx() as conn:
            result = await conn.execute(
                update(NODES)
                .where(NODES.c.uuid == uuid, NODES.c.state.in_(ALIVE), NODES.c.beatAt < threshold)
                .values(state="Dead", lastOpDate=utcnow())
            )
            return result.rowcount == 1

    # --- takeover ------------------------------------------------------------------------

    def _spawn_takeover(self) -> None:
        if not self._takeover.locked():
            task = asyncio.ensure_future(self.takeover())
            task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def takeover(self) -> None:
        """Settle every operation and API record left by nodes that are not alive."""
        async with self._takeover:
            started = time.monotonic()
            # alive = a beating row, read now: a node that joined since the last ring update
            # already counts (its row is written before it serves anything), and so does a
            # node that is leaving but still finishing its work
            async with self.db.read() as conn:
                live = set((await conn.execute(select(NODES.c.uuid).where(NODES.c.state.in_(ALIVE)))).scalars())
            live.add(self.me)
            recovered, dead = 0, set()
            for row in await journal.orphans(self.db, live):
                if not await journal.claim(self.db, row["uuid"], row["nodeUuid"], self.me):
                    continue
                dead.add(row["nodeUuid"])
                reply = await self.bus.call(
                    RecoverOperation(journalUuid=row["uuid"], resourceUuid=row["resourceUuid"]),
                    service=row["serviceId"],
                )
                if await journal.claim(self.db, row["uuid"], self.me, row["nodeUuid"]):
                    # not settled (its new owner left too, or the recovery failed): next beat
                    code = reply.error and reply.error.code
                    log.warning("operation not recovered yet", journal=row["uuid"], code=code)
                    continue
                recovered += 1
                if not reply.success:
                    log.info("operation rolled back", journal=row["uuid"], code=reply.error and reply.error.code)
            for msg_id in await self.node.records.orphans(live):
                unknown = errors.err(
                    errors.NODE_UNAVAILABLE,
                    f"the management node running message[id:{msg_id}] died before it finished; "
                    "query the resource to see what was done",
                )
                if await self.node.records.finish(msg_id, Reply.failure(unknown)):
                    recovered += 1
            async with self.db.tx() as conn:
                gone = await conn.execute(delete(NODES).where(NODES.c.state == "Dead").returning(NODES.c.uuid))
                dead.update(gone.scalars())
            if dead or recovered:
                log.info(
                    "takeover done",
                    dead=sorted(dead),
                    recovered=recovered,
                    seconds=round(time.monotonic() - started, 3),
                    node=self.me,
                )
