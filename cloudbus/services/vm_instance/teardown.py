"""Ending a VM: destroy (Delay policy), recover, expunge, and the cascade's KeepVolume delete.

- destroy: state Destroyed, off its host, host capacity and nic IPs given back, nic rows
  and volumes kept (RecoverVmInstance -> Stopped; a later start allocates IPs again);
- expunge: data volumes detached, root volume expunged, nics and the VM row removed;
- delete (a deleted primary storage or zone): like expunge, but the volumes are left to
  the volume service's own cascade (ZStack's KeepVolume policy); a cascade step's VMs at
  once, so a zone of 10,000 VMs costs a few hundred statements, not 10,000 transactions.
"""

from __future__ import annotations

from typing import Any

from cloudbus.apis.internal.host import VmCommand
from cloudbus.core import errors
from cloudbus.services.vm_instance import store
from cloudbus.services.vm_instance.calls import Calls
from cloudbus.services.vm_instance.nics import Nics
from cloudbus.services.vm_instance.states import check_allowed


class Teardown:
    def __init__(self, db: Any, calls: Calls, nics: Nics) -> None:
        self.db = db
        self.calls = calls
        self.nics = nics

    async def destroy(self, uuid: str, *, force: bool = False) -> None:
        try:
            vm = await store.get_vm(self.db, uuid)
        except errors.CloudBusError:
            return  # already gone: deleting is idempotent
        if vm["state"] == "Destroyed":
            # a destroy cut short after its state change (its node died) ends here: both idempotent
            await self.release(uuid)
            return
        host = vm["hostUuid"]
        saved = await store.change(self.db, uuid, state="Destroying", check=False)
        if host:
            try:
                await self.calls.hypervisor(host, "destroyVm", uuid)
            except errors.CloudBusError:
                if not force:
                    await saved.restore(self.db)
                    raise
        await store.change(self.db, uuid, state="Destroyed", hostUuid=None, lastHostUuid=host or vm["lastHostUuid"])
        await self.release(uuid)

    async def release(self, uuid: str) -> None:
        """Give back everything a destroyed VM holds: host capacity and its nics' IPs."""
        await self.calls.quietly("return host capacity", self.calls.release_hosts(uuid, None))
        await self.calls.quietly("release nic ips", self.nics.release_ips(uuid))

    async def recover(self, uuid: str) -> dict[str, Any]:
        vm = await store.get_vm(self.db, uuid)
        check_allowed(vm, "RecoverVmInstance")
        await store.change(self.db, uuid, state="Stopped")
        return await store.inventory(self.db, uuid)

    async def expunge(self, uuid: str) -> None:
        vm = await store.get_vm(self.db, uuid)
        check_allowed(vm, "ExpungeVmInstance")
        saved = await store.change(self.db, uuid, state="Expunging")
        try:
            if vm["rootVolumeUuid"]:
                # the root volume first: if its storage fails, nothing has changed yet
                await self.calls.expunge_volumes([vm["rootVolumeUuid"]])
                await self.calls.detach_volumes(uuid)
        except BaseException:
            await saved.restore(self.db)
            raise
        await self.calls.quietly("release nic ips", self.nics.release_ips(uuid))
        await store.delete_vm(self.db, uuid)

    async def delete(self, vms: list[dict[str, Any]]) -> None:
        """Remove VMs whose primary storage or zone goes away (rows read with their chain
        queues held by the caller); never fails on a dead backend.

        Each effect is one statement or one message for the whole batch, in an order where a
        re-run after a crash at any point finishes the job (every step is idempotent; a VM
        destroyed again on its hypervisor is a logged failure at worst): hypervisors told (one
        message per host), host capacity and nic IPs given back, data volumes detached, nic and
        VM rows removed. The rows are not first marked Destroyed as `destroy` does: nothing
        else may touch these VMs meanwhile (the caller holds their queues), and that UPDATE
        of every row just before its DELETE cost as much as the DELETE.
        """
        if not vms:
            return
        gone = [vm["uuid"] for vm in vms]
        on_host: dict[str, list[VmCommand]] = {}
        for vm in vms:
            if vm["hostUuid"]:
                on_host.setdefault(vm["hostUuid"], []).append(VmCommand(vmInstanceUuid=vm["uuid"]))
        for host, commands in sorted(on_host.items()):
            await self.calls.hypervisor_quietly("destroy vms", host, "destroyVm", commands)
        await self.calls.quietly("return host capacity", self.calls.release_hosts_of(gone))
        nics = await store.nics_of(self.db, gone)
        await self.calls.quietly("release nic ips", self.calls.return_ips_of(nics))
        await self.calls.quietly("detach data volumes", self.calls.detach_volumes_of(gone))
        await store.delete_vms(self.db, gone)
