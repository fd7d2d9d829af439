"""The query service (`query`): answers every Query* API from the inventory declarations,
for a normal account only what it owns or is shared with it (inventory/tenancy.py)."""

from __future__ import annotations

from cloudbus import inventory
from cloudbus.core.auth import tenant
from cloudbus.core.messages import APIQueryMessage, Reply
from cloudbus.core.service import Service, handles
from cloudbus.inventory.query import run_query


class QueryService(Service):
    service_id = "query"

    @handles(APIQueryMessage, chain=False)
    async def query(self, msg: APIQueryMessage) -> Reply:
        target = inventory.get(msg.inventory)
        async with self.db.read() as conn:
            return await run_query(conn, target, msg, tenant())
