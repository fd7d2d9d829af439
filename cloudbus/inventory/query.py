"""Placeholder until the query engine lands."""

from typing import Any


async def run_query(conn: Any, inv: Any, msg: Any) -> Any:
    from sqlalchemy import select

    from cloudbus.core.messages import Reply

    rows = (await conn.execute(select(inv.table))).all()
    return Reply(inventories=await inv.render(conn, rows))
