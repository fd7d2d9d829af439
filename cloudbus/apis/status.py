"""`cloudbus status`: the management nodes, the ring they form, and the bus and database health.

The answer comes through the same door as any API (QueryManagementNode over the bus), so a
healthy report proves the broker, a node and its database all answered. The ring is rebuilt
from the Running nodes exactly as the nodes build it; each node's share is measured on a
sample of uuids. Exit status 0 when healthy, 1 otherwise.
"""

from __future__ import annotations

import json
import time
from typing import Any

from cloudbus.apis.management_node import QueryManagementNode
from cloudbus.core.config import Settings
from cloudbus.core.ids import new_uuid
from cloudbus.core.ring import HashRing

SAMPLE = 10_000


async def status(settings: Settings, session: Any) -> int:
    report: dict[str, Any] = {"bus": "in-process" if not settings.bus_url else "rabbitmq"}
    try:
        await session.start()
        started = time.monotonic()
        reply = await session.request(QueryManagementNode())
    except Exception as exc:  # the broker is unreachable: say so, as a status
        report.update(healthy=False, error=f"{type(exc).__name__}: {exc}")
        print(json.dumps(report, indent=2, sort_keys=True))
        return 1
    report["apiRoundTripMs"] = round((time.monotonic() - started) * 1000, 1)
    if not reply.success:
        report.update(healthy=False, error=reply.error.to_json() if reply.error else None)
        print(json.dumps(report, indent=2, sort_keys=True))
        return 1
    nodes = reply.inventories or []
    ring = HashRing(n["uuid"] for n in nodes if n["state"] == "Running")
    counts = ring.partition(new_uuid() for _ in range(SAMPLE))
    report.update(
        healthy=bool(nodes),
        database="ok",
        nodes=[{k: n[k] for k in ("uuid", "hostName", "state", "heartbeat", "version")} for n in nodes],
        ring={str(node): f"{100 * len(uuids) / SAMPLE:.1f}%" for node, uuids in sorted(counts.items(), key=str)},
    )
    print(json.dumps(report, indent=2, sort_keys=True))
    return 0 if nodes else 1
