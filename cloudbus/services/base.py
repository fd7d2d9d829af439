"""ResourceService: a service that owns resource types and answers their cascade steps.

Defaults follow the declarations: `resolve` finds children through the foreign key the
child declared for that parent, `check` vetoes nothing, `delete` removes the rows. A
service overrides `on_check` / `on_delete` / `on_cleanup` where its resources need more
(stop VMs, talk to a driver ...). `on_delete` gets `force=True` under Enforcing and must
then not fail because a backend is unreachable.
"""

from __future__ import annotations

from typing import Any, ClassVar

from sqlalchemy import delete, select

from cloudbus import inventory
from cloudbus.apis.internal.management import RecoverOperation
from cloudbus.cascade.engine import cascade_delete
from cloudbus.cascade.messages import CascadeStep
from cloudbus.core import errors
from cloudbus.core.messages import DeleteMode, Reply
from cloudbus.core.service import Service, current_record, handles, to_reply
from cloudbus.inventory.declarations import Inventory
from cloudbus.inventory.tenancy import account_resource_ref_table
from cloudbus.services import journal
from cloudbus.services.journal import Journal

# errors after which an operation's outcome is still open: its recovery is tried again
UNSETTLED = frozenset({errors.TIMEOUT, errors.UNDELIVERABLE, errors.NODE_UNAVAILABLE})


class ResourceService(Service):
    # the inventories declared with this service's id: an inventory declaration is the one
    # place that says which service owns a resource type
    resource_types: ClassVar[tuple[str, ...]] = ()
    # journal kind -> name of the method that finishes or rolls back such an operation
    recoverers: ClassVar[dict[str, str]] = {"cascade": "recover_cascade"}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.resource_types = tuple(n for n, inv in inventory.INVENTORIES.items() if inv.service_id == cls.service_id)

    @handles(CascadeStep, chain=False)
    async def cascade(self, step: CascadeStep) -> Reply | None:
        if step.resourceType not in self.resource_types:
            raise errors.fail(errors.UNKNOWN_MESSAGE, f"service[{self.service_id}] does not own {step.resourceType}")
        inv = inventory.get(step.resourceType)
        if step.action == "resolve":
            if step.parentType == "Project" and "Project" not in inv.parents:
                return Reply(uuids=await self.owned_by_projects(inv, step.parentUuids))
            return Reply(uuids=await self.on_resolve(inv, step))
        if step.action == "check":
            await self.on_check(inv, step)
        elif step.action in ("delete", "forceDelete"):
            await self.on_delete(inv, step, force=step.action == "forceDelete")
        elif step.action == "detach":
            await self.on_detach(inv, step)
        else:
            await self.on_cleanup(inv, step)
        return None

    async def on_resolve(self, inv: Inventory, step: CascadeStep) -> list[str]:
        """Children of `step.parentUuids` through the declared foreign key (override for others)."""
        key = inv.parents.get(step.parentType or "")
        if key is None:
            raise errors.fail(errors.INTERNAL, f"{inv.name} declares no foreign key to {step.parentType}")
        column = inv.table.c[key]
        async with self.db.read() as conn:  # unordered: the engine sorts what every chunk found
            rows = await conn.execute(select(inv.key).where(column.in_(step.parentUuids)))
            return list(rows.scalars())

    async def owned_by_projects(self, inv: Inventory, projects: list[str]) -> list[str]:
        """The resources of `inv` the projects own (account_resource_ref, the identity service's)."""
        refs = account_resource_ref_table.c
        owned = select(refs.resourceUuid).where(refs.projectUuid.in_(projects))
        async with self.db.read() as conn:
            return list((await conn.execute(select(inv.key).where(*inv.restrict(), inv.key.in_(owned)))).scalars())

    async def on_check(self, inv: Inventory, step: CascadeStep) -> None:
        """Veto by raising; nothing to check by default."""

    async def on_delete(self, inv: Inventory, step: CascadeStep, *, force: bool) -> None:
        await self.delete_rows(inv, step.uuids)

    async def on_detach(self, inv: Inventory, step: CascadeStep) -> None:
        """A parent was detached (step.rootType, step.context): nothing to do by default."""

    async def on_cleanup(self, inv: Inventory, step: CascadeStep) -> None:
        """Nothing left behind by default."""

    async def delete_rows(self, inv: Inventory, uuids: list[str]) -> None:
        async with self.db.tx() as conn:
            await conn.execute(delete(inv.table).where(inv.key.in_(uuids)))

    async def fetch(self, inv: Inventory, uuids: list[str]) -> list[dict[str, Any]]:
        async with self.db.read() as conn:
            return await inv.fetch(conn, uuids)

    # --- operation journals ----------------------------------------------------------------

    async def open_journal(self, resource: str, kind: str, **state: Any) -> Journal:
        """Start the journal of an operation on `resource` (see services.journal)."""
        return await Journal.open(
            self.db,
            node=str(self.node.uuid),
            service=self.service_id,
            resource=resource,
            kind=kind,
            api_id=current_record.get(),
            **state,
        )

    async def delete_cascade(
        self, root: str, uuids: list[str], mode: DeleteMode, context: dict[str, Any] | None = None
    ) -> None:
        """Delete through the cascade engine, journaled: if this node dies half-way, the next
        owner of `uuids[0]` runs the same cascade again (every step is idempotent) to the end."""
        journal = await self.open_journal(uuids[0], "cascade", root=root, uuids=uuids, mode=mode, context=context)
        try:
            await cascade_delete(self.bus, root, uuids, mode, context)
        finally:
            await journal.close()

    async def recover_cascade(self, state: dict[str, Any]) -> None:
        await cascade_delete(self.bus, state["root"], state["uuids"], state["mode"], state.get("context"))

    @handles(RecoverOperation)
    async def recover_operation(self, msg: RecoverOperation) -> Reply:
        """Finish or roll back an operation a dead node left (runs in the resource's chain)."""
        row = await journal.load(self.db, msg.journalUuid)
        if row is None:
            return Reply()
        method = self.recoverers.get(row["kind"])
        if method is None:
            reply = Reply.failure(
                errors.err(errors.INTERNAL, f"service[{self.service_id}] cannot recover a {row['kind']} operation")
            )
        else:
            try:
                reply = to_reply(await getattr(self, method)(row["state"]))
            except errors.CloudBusError as exc:
                if exc.error.code in UNSETTLED:
                    raise  # the journal stays: the next takeover round tries again
                reply = Reply.failure(exc.error)
        if row["apiId"]:
            await self.node.records.finish(row["apiId"], reply)
        else:
            await journal.drop(self.db, row["uuid"])
        return reply
