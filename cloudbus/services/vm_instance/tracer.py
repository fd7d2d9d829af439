"""Keeping VM states true to what a host's hypervisor says (ZStack's VmTracer).

A host that stops answering leaves its Running and Paused VMs `Unknown`; when it answers again
(or is reconnected) each VM on it is set to what its domain really is. A VM whose domain is
gone or shut off is `Stopped` (a shut-off domain is undefined, as a stop leaves none) and
its host capacity is given back. A domain cloudbus does not
know is reported (logged and in the reply), never destroyed: it may be someone else's.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from cloudbus.apis.internal.vm import SyncHostVms, TraceVmState
from cloudbus.core.logging import get_logger
from cloudbus.inventory.vm_instance import VM_INSTANCE
from cloudbus.services.vm_instance import store
from cloudbus.services.vm_instance.calls import Calls

log = get_logger(__name__)

# states a tracer may correct: stable ones; a VM in the middle of an operation is that
# operation's to settle
TRACEABLE = frozenset({"Running", "Paused", "Unknown", "Crashed", "NoState"})
ON_HOST = frozenset({"Running", "Paused"})


class Tracer:
    def __init__(self, db: Any, calls: Calls, bus: Any) -> None:
        self.db, self.calls, self.bus = db, calls, bus

    async def sync(self, msg: SyncHostVms) -> dict[str, Any]:
        table = VM_INSTANCE.table
        async with self.db.read() as conn:
            rows = await conn.execute(select(table.c.uuid).where(table.c.hostUuid == msg.hostUuid))
            ours = [row[0] for row in rows]
        changed: dict[str, str] = {}
        for uuid in ours:
            truth = None if msg.states is None else msg.states.get(uuid, "Stopped")
            reply = await self.bus.call_ok(TraceVmState(vmInstanceUuid=uuid, hostUuid=msg.hostUuid, state=truth))
            if reply.get("changed"):
                changed[uuid] = str(reply.get("state"))
        unknown = sorted(set(msg.states or {}) - set(ours))
        if unknown:
            log.warning("domains on the host that no vm of this host accounts for", host=msg.hostUuid, domains=unknown)
        return {"changed": changed, "unknownDomains": unknown}

    async def trace(self, msg: TraceVmState) -> dict[str, Any]:
        vm = await store.get_vm(self.db, msg.vmInstanceUuid)
        if vm["hostUuid"] != msg.hostUuid or vm["state"] not in TRACEABLE:
            return {"state": vm["state"], "changed": False}
        if msg.state is None:
            new = "Unknown" if vm["state"] in ON_HOST else vm["state"]
        else:
            new = msg.state if msg.state in ON_HOST else "Stopped"
        if new == vm["state"]:
            return {"state": new, "changed": False}
        log.info("vm state corrected from the host", vm=vm["uuid"], host=msg.hostUuid, old=vm["state"], new=new)
        if new == "Stopped":
            # a stopped VM has no domain: a shut-off one left behind is undefined (the next start defines it)
            stop = self.calls.hypervisor(msg.hostUuid, "stopVm", vm["uuid"], type="cold")
            await self.calls.quietly("undefine the domain of a vm found stopped", stop)
            await store.change(self.db, vm["uuid"], state="Stopped", hostUuid=None, lastHostUuid=msg.hostUuid)
            await self.calls.return_host(vm, msg.hostUuid)
        else:
            await store.change(self.db, vm["uuid"], state=new)
        return {"state": new, "changed": True}
