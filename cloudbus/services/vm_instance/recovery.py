"""Takeover of VM operations a dead management node left half-done (journal kind `vm.op`).

Every lifecycle operation journals, before its first change, the VM row as it was and what
it is doing. The node that now owns the VM decides from the row itself which side of the
operation's commit point it is on: a VM still in the operation's intermediate state is
rolled back (create, start, migrate) or driven forward (stop, reboot, pause, resume, where
finishing is what the user asked for and cannot leak anything). Whatever happened, the
host capacity the VM holds is then made to match its row: host allocations are recorded
per VM (services.host_allocator), so giving back "everything but the current host" is exact
however far the dead node got.
"""

from __future__ import annotations

from typing import Any

from cloudbus.core import errors
from cloudbus.core.messages import Reply
from cloudbus.services.vm_instance import store

RESTORED = ("state", "hostUuid", "lastHostUuid", "clusterUuid", "zoneUuid")


class Recovery:
    def __init__(self, db: Any, calls: Any) -> None:
        self.db, self.calls = db, calls

    async def recover(self, state: dict[str, Any]) -> Reply:
        uuid, op, before = state["uuid"], state["op"], state.get("vm") or {}
        try:
            vm = await store.get_vm(self.db, uuid)
        except errors.CloudBusError:
            vm = None
        done = vm is not None and await self._settle(op, vm, before, state)
        vm = await self._reload(uuid)
        await self.calls.release_hosts(uuid, vm["hostUuid"] if vm else None)
        if done and vm is not None:
            return Reply(inventory=await store.inventory(self.db, uuid))
        return Reply.failure(
            errors.err(
                errors.NODE_UNAVAILABLE,
                f"the management node running {op} of vm[uuid:{uuid}] died; the operation was rolled back",
            )
        )

    async def _settle(self, op: str, vm: dict[str, Any], before: dict[str, Any], state: dict[str, Any]) -> bool:
        """Roll back or finish; True when the operation counts as done."""
        now = vm["state"]
        if op in ("create", "start"):
            if now != "Starting":
                return True
            await self._undo_instantiation(vm, state, create=op == "create")
            if op == "create":
                await store.delete_vm(self.db, vm["uuid"])
            else:
                await store.change(self.db, vm["uuid"], check=False, **_restorable(before))
            return False
        if op == "stop":
            if now == "Stopping":
                if vm["hostUuid"]:
                    await self.calls.quietly(
                        "stop", self.calls.hypervisor(vm["hostUuid"], "stopVm", vm["uuid"], type="cold")
                    )
                await store.change(
                    self.db, vm["uuid"], check=False, state="Stopped", hostUuid=None, lastHostUuid=vm["hostUuid"]
                )
                return True
            return now == "Stopped"
        if op == "transit":
            if now == state["via"]:
                await store.change(self.db, vm["uuid"], check=False, state=state["to"])
                return True
            return now == state["to"]
        if op == "migrate":
            if now == "Migrating":
                await store.change(self.db, vm["uuid"], check=False, **_restorable(before))
                return False
            return vm["hostUuid"] != before.get("hostUuid")
        return False

    async def _undo_instantiation(self, vm: dict[str, Any], state: dict[str, Any], *, create: bool) -> None:
        nics = await store.nics(self.db, vm["uuid"])
        fresh = [n["uuid"] for n in nics if create or n["uuid"] in state.get("nicsWithoutIp", [])]
        await self.calls.return_nic_ips(fresh)
        for nic in nics:
            if nic["uuid"] in fresh:
                await store.set_nic(self.db, nic["uuid"], **store.NO_IP)
        volumes = state.get("volumeUuids") or []
        if volumes:
            # settled first: a late volume of the dead node is refused from here on, and the
            # answer says whether the reservation still covered the volumes (creation.py)
            covered = await self.calls.settle_primary_storage(vm["uuid"], give_back=True)
            await self.calls.expunge_volumes(volumes, return_capacity=not covered)

    async def _reload(self, uuid: str) -> dict[str, Any] | None:
        try:
            return await store.get_vm(self.db, uuid)
        except errors.CloudBusError:
            return None


def _restorable(before: dict[str, Any]) -> dict[str, Any]:
    """The placement columns of the row as it was before the operation."""
    return {k: before.get(k) for k in RESTORED}
