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
from cloudbus.cascade.messages import CascadeStep
from cloudbus.core import errors
from cloudbus.core.messages import Reply
from cloudbus.core.service import Service, handles
from cloudbus.inventory.declarations import Inventory


class ResourceService(Service):
    resource_types: ClassVar[tuple[str, ...]] = ()

    @handles(CascadeStep, chain=False)
    async def cascade(self, step: CascadeStep) -> Reply | None:
        if step.resourceType not in self.resource_types:
            raise errors.fail(errors.UNKNOWN_MESSAGE, f"service[{self.service_id}] does not own {step.resourceType}")
        inv = inventory.get(step.resourceType)
        if step.action == "resolve":
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
        async with self.db.read() as conn:
            rows = await conn.execute(select(inv.key).where(column.in_(step.parentUuids)).order_by(inv.key))
            return list(rows.scalars())

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
