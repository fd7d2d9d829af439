"""VM instance service: the API handlers (thin) and the cascade hooks of VmInstance.

The work lives in the modules next to this one: `lifecycle` (create, start, stop ...),
`teardown` (destroy, recover, expunge), `nics` (attach/detach L3), `cascade` (effects
of deleting/detaching parents), `states` (the state table), `creation` (the FlowChain), `tracer` (states
re-read from a host).
Messages about one VM run in its chain queue (`vmInstance-<uuid>`); creations each get
their own queue, so parallel creations never wait on one another.
"""

from __future__ import annotations

from typing import Any

from cloudbus.apis.internal.vm import SyncHostVms, TraceVmState
from cloudbus.apis.vm_instance import (
    AttachL3NetworkToVm,
    ChangeInstanceOffering,
    CreateVmInstance,
    DestroyVmInstance,
    DetachL3NetworkFromVm,
    ExpungeVmInstance,
    GetVmConsoleAddress,
    GetVmMigrationCandidateHosts,
    MigrateVm,
    PauseVmInstance,
    RebootVmInstance,
    RecoverVmInstance,
    ResumeVmInstance,
    StartVmInstance,
    StopVmInstance,
    UpdateVmInstance,
)
from cloudbus.cascade.messages import CascadeStep
from cloudbus.core.messages import Reply
from cloudbus.core.service import handles
from cloudbus.inventory.declarations import Inventory
from cloudbus.services.base import ResourceService
from cloudbus.services.vm_instance.calls import Calls
from cloudbus.services.vm_instance.cascade import CascadeEffects
from cloudbus.services.vm_instance.lifecycle import Lifecycle
from cloudbus.services.vm_instance.nics import Nics
from cloudbus.services.vm_instance.recovery import Recovery
from cloudbus.services.vm_instance.teardown import Teardown
from cloudbus.services.vm_instance.tracer import Tracer
from cloudbus.services.vm_instance.updates import Updates


class VmInstanceService(ResourceService):
    service_id = "vmInstance"

    def __init__(self, node: Any) -> None:
        super().__init__(node)
        self.calls = Calls(node.bus)
        self.lifecycle = Lifecycle(node.db, self.calls, self.open_journal)
        self.nics = Nics(node.db, self.calls)
        self.teardown = Teardown(node.db, self.calls, self.nics)
        self.updates = Updates(node.db, self.calls, self.lifecycle)
        self.effects = CascadeEffects(self)
        self.recovery = Recovery(node.db, self.calls)
        self.tracer = Tracer(node.db, self.calls, node.bus)

    recoverers = {"vm.op": "recover_vm"}

    async def recover_vm(self, state: dict[str, Any]) -> Reply:
        return await self.recovery.recover(state)

    @handles(CreateVmInstance, record_late=True)
    async def create(self, msg: CreateVmInstance) -> dict[str, Any]:
        return await self.lifecycle.create(msg, self.chains)

    @handles(SyncHostVms, chain=False)
    async def sync_host_vms(self, msg: SyncHostVms) -> Reply:
        return Reply(**await self.tracer.sync(msg))

    @handles(TraceVmState)
    async def trace_vm_state(self, msg: TraceVmState) -> Reply:
        return Reply(**await self.tracer.trace(msg))

    @handles(StartVmInstance)
    async def start_vm(self, msg: StartVmInstance) -> dict[str, Any]:
        return await self.lifecycle.start(msg)

    @handles(StopVmInstance)
    async def stop_vm(self, msg: StopVmInstance) -> dict[str, Any]:
        return await self.lifecycle.stop(msg)

    @handles(RebootVmInstance)
    async def reboot(self, msg: RebootVmInstance) -> dict[str, Any]:
        return await self.lifecycle.transit(msg.uuid, "RebootVmInstance", "Rebooting", "Running", "rebootVm")

    @handles(PauseVmInstance)
    async def pause(self, msg: PauseVmInstance) -> dict[str, Any]:
        return await self.lifecycle.transit(msg.uuid, "PauseVmInstance", "Pausing", "Paused", "pauseVm")

    @handles(ResumeVmInstance)
    async def resume(self, msg: ResumeVmInstance) -> dict[str, Any]:
        return await self.lifecycle.transit(msg.uuid, "ResumeVmInstance", "Resuming", "Running", "resumeVm")

    # the cascade runs each VM's destroy in that VM's queue, so this handler stays outside it
    @handles(DestroyVmInstance, chain=False)
    async def destroy(self, msg: DestroyVmInstance) -> None:
        await self.delete_cascade("VmInstance", [msg.uuid], msg.deleteMode)

    @handles(RecoverVmInstance)
    async def recover(self, msg: RecoverVmInstance) -> dict[str, Any]:
        return await self.teardown.recover(msg.uuid)

    @handles(ExpungeVmInstance)
    async def expunge(self, msg: ExpungeVmInstance) -> None:
        await self.teardown.expunge(msg.uuid)

    @handles(MigrateVm)
    async def migrate(self, msg: MigrateVm) -> dict[str, Any]:
        return await self.lifecycle.migrate(msg)

    @handles(GetVmMigrationCandidateHosts, chain=False)
    async def migration_candidates(self, msg: GetVmMigrationCandidateHosts) -> list[dict[str, Any]]:
        return await self.lifecycle.candidates(msg.vmInstanceUuid)

    @handles(GetVmConsoleAddress, chain=False)
    async def console_address(self, msg: GetVmConsoleAddress) -> Reply:
        return Reply(**await self.lifecycle.console_address(msg.uuid))

    @handles(ChangeInstanceOffering)
    async def change_offering(self, msg: ChangeInstanceOffering) -> dict[str, Any]:
        return await self.updates.change_offering(msg)

    @handles(UpdateVmInstance)
    async def update(self, msg: UpdateVmInstance) -> dict[str, Any]:
        return await self.updates.update(msg)

    @handles(AttachL3NetworkToVm)
    async def attach_l3(self, msg: AttachL3NetworkToVm) -> dict[str, Any]:
        return await self.nics.attach(msg)

    # the nic names its VM only in the database: look it up, then queue on the VM
    @handles(DetachL3NetworkFromVm, chain=False)
    async def detach_l3(self, msg: DetachL3NetworkFromVm) -> dict[str, Any]:
        vm_uuid = await self.nics.vm_of(msg.vmNicUuid)
        async with self.chains.run_in(f"vmInstance-{vm_uuid}"):
            return await self.nics.detach(msg.vmNicUuid)

    # --- cascade -------------------------------------------------------------------------

    async def on_resolve(self, inv: Inventory, step: CascadeStep) -> list[str]:
        return await self.effects.resolve(step)

    async def on_check(self, inv: Inventory, step: CascadeStep) -> None:
        await self.effects.check(step)

    async def on_delete(self, inv: Inventory, step: CascadeStep, *, force: bool) -> None:
        await self.effects.delete(step, force=force)

    async def on_detach(self, inv: Inventory, step: CascadeStep) -> None:
        await self.effects.detach(step)
