"""The cascade engine (reference section 4): delete a resource and everything below it.

1. Resolve, top-down, which resources of each descendant type are affected (one
   `resolve` message per (parent type, child type) pair, answered by the owning service).
2. Permissive: a `check` pass over everything affected, then a `delete` pass; the first
   failure aborts with SYS.1004 wrapping its cause. Enforcing: one `forceDelete` pass,
   failures logged and ignored.
3. A `cleanup` pass over everything (failures logged and ignored).

Every step done is published as the event `cascade.<action>` (progress for long deletes).

Each pass visits (parent, child) pairs post-order (children before parents), sequentially,
without rollback, as one message per pair to the service owning the child type (one per
owner node when several nodes share the ring; a part whose node died on the way is sent
again to the new owner: every step is idempotent). A pair of many resources goes as several
messages of at most `STEP_CHUNK` uuids (and a resolve of many parents, of at most
`STEP_CHUNK` parent uuids): the services answer each with a few statements over the whole
chunk, and no statement grows past the bound-parameter limits of SQLite and PostgreSQL.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from cloudbus import inventory
from cloudbus.cascade.graph import Pair, build_graph, plan, resolution_order
from cloudbus.cascade.messages import CascadeAction, CascadeStep
from cloudbus.core import errors
from cloudbus.core.bus import Bus
from cloudbus.core.logging import get_logger
from cloudbus.core.messages import DeleteMode, Event, Reply

if TYPE_CHECKING:
    import networkx as nx

log = get_logger(__name__)

RESEND_LIMIT = 5
# uuids per step message: large enough that a 10,000-VM zone costs a handful of messages per
# pair, small enough that a service's `IN (...)` stays far below PostgreSQL's 32,767 bound
# parameters (a step may bind its uuids several times) and a chunk's work stays short
STEP_CHUNK = 1000


def chunks(uuids: list[str]) -> list[list[str]]:
    return [uuids[i : i + STEP_CHUNK] for i in range(0, len(uuids), STEP_CHUNK)]


@cache
def graph() -> nx.DiGraph:
    return build_graph(inventory.INVENTORIES.values())


def owner(resource_type: str) -> str:
    return inventory.get(resource_type).service_id


class Cascade:
    def __init__(
        self, bus: Bus, root: str, uuids: list[str], mode: DeleteMode, context: dict[str, Any] | None = None
    ) -> None:
        self.bus, self.root, self.uuids, self.mode = bus, root, list(dict.fromkeys(uuids)), mode
        self.context = context or {}
        self.affected: dict[str, list[str]] = {root: self.uuids}
        self.pair_uuids: dict[Pair, list[str]] = {(None, root): self.uuids}

    async def resolve(self) -> None:
        g = graph()
        affected: dict[str, set[str]] = {self.root: set(self.uuids)}
        for node in resolution_order(g, self.root):
            for parent in sorted(g.predecessors(node)):
                parent_uuids = sorted(affected.get(parent, ()))
                if not parent_uuids:
                    continue
                found: set[str] = set()
                for part in chunks(parent_uuids):
                    reply = await self.bus.call_ok(
                        self._step("resolve", node, parent, parent_uuids=part), service=owner(node)
                    )
                    found.update(reply.get("uuids") or [])
                self.pair_uuids[(parent, node)] = sorted(found)
                affected.setdefault(node, set()).update(found)
        self.affected = {node: sorted(uuids) for node, uuids in affected.items()}

    async def run_pass(self, action: CascadeAction, *, tolerate: bool) -> None:
        for parent, node in plan(graph(), self.root):
            uuids = self.pair_uuids.get((parent, node))
            if not uuids:
                continue
            parent_uuids = self.affected.get(parent, []) if parent else []
            reply = await self._send(action, node, parent, uuids, parent_uuids, tolerate=tolerate)
            await self.bus.publish(
                Event(
                    name=f"cascade.{action}",
                    data={
                        "rootType": self.root,
                        "resourceType": node,
                        "parentType": parent,
                        "uuids": uuids,
                        "success": reply.success,
                    },
                )
            )
            if reply.success:
                continue
            if not tolerate:
                raise errors.CloudBusError(errors.err(errors.DELETE, _details(reply.error), reply.error))
            log.warning(
                "cascade step failed, ignored",
                action=action,
                type=node,
                parent=parent,
                code=reply.error.code if reply.error else None,
            )

    async def _send(
        self,
        action: CascadeAction,
        node: str,
        parent: str | None,
        uuids: list[str],
        parent_uuids: list[str],
        *,
        tolerate: bool,
    ) -> Reply:
        """One step, split by owner node and into chunks; the first failure, or success."""
        pending, failed = uuids, None
        for _attempt in range(RESEND_LIMIT):
            ring = self.bus.ring
            parts = ring.partition(pending) if ring is not None and len(ring) > 1 else {None: pending}
            pending = []
            for node_uuid, owned in parts.items():
                for part in chunks(owned):
                    msg = self._step(action, node, parent, uuids=part, parent_uuids=parent_uuids)
                    msg.routeUuid = part[0] if node_uuid else None
                    reply = await self.bus.call(msg, service=owner(node))
                    if not reply.success and reply.error is not None and reply.error.code == errors.NODE_UNAVAILABLE:
                        pending += part  # its owner left the ring: again, to the new owner
                    elif not reply.success and failed is None:
                        failed = reply
                    if failed is not None and not tolerate:
                        return failed  # Permissive: the first failure ends the pass
            if not pending:
                break
        else:
            failed = failed or Reply.failure(
                errors.err(errors.NODE_UNAVAILABLE, f"cascade {action} of {node}: owners kept leaving the ring")
            )
        return failed or Reply()

    def _step(
        self,
        action: CascadeAction,
        node: str,
        parent: str | None,
        *,
        parent_uuids: list[str] | None = None,
        uuids: list[str] | None = None,
    ) -> CascadeStep:
        return CascadeStep(
            action=action,
            resourceType=node,
            rootType=self.root,
            parentType=parent,
            parentUuids=parent_uuids or [],
            uuids=uuids or [],
            deleteMode=self.mode,
            context=self.context,
        )


def _details(error: errors.ErrorCode | None) -> str | None:
    return error.details if error is not None else None


async def cascade_delete(
    bus: Bus, root: str, uuids: list[str], mode: DeleteMode, context: dict[str, Any] | None = None
) -> None:
    """Delete `uuids` of type `root` with everything below them; raises SYS.1004 on failure.

    Every step carries the affected uuids of its own type (`uuids`) and of its parent type
    (`parentUuids`), plus the caller's `context`.
    """
    cascade = Cascade(bus, root, uuids, mode, context)
    try:
        await cascade.resolve()
    except errors.CloudBusError as exc:
        raise errors.CloudBusError(errors.err(errors.DELETE, exc.error.details, exc.error)) from None
    if mode == "Permissive":
        await cascade.run_pass("check", tolerate=False)
        await cascade.run_pass("delete", tolerate=False)
    else:
        await cascade.run_pass("forceDelete", tolerate=True)
    await cascade.run_pass("cleanup", tolerate=True)


async def cascade_detach(bus: Bus, root: str, uuids: list[str], context: dict[str, Any]) -> None:
    """Tell everything below `uuids` that a friend relation was cut (`context` says which).

    One `detach` pass, children before parents; failures are logged and ignored, as in
    ZStack (the detach itself has already happened).
    """
    cascade = Cascade(bus, root, uuids, "Enforcing", context)
    await cascade.resolve()
    await cascade.run_pass("detach", tolerate=True)
