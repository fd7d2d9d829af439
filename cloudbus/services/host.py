"""Host service: add (connect through the hypervisor driver), update, state, reconnect, delete.

`state` is administrative intent (Enabled, Disabled, PreMaintenance, Maintenance);
`status` is connectivity (Connecting, Connected, Disconnected). A host that cannot be
connected when added is removed again and the API fails with HOST.1000.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from cloudbus.apis.host import AddSimulatorHost, ChangeHostState, DeleteHost, ReconnectHost, UpdateHost
from cloudbus.apis.internal.host import (
    HYPERVISOR_PARALLELISM,
    AllocateHost,
    HypervisorCommand,
    HypervisorCommands,
    ReturnHostCapacity,
    VmCommand,
)
from cloudbus.cascade.messages import CascadeStep
from cloudbus.core import errors
from cloudbus.core.messages import Event, Reply
from cloudbus.core.service import handles
from cloudbus.core.timeouts import bounded
from cloudbus.inventory.cluster import CLUSTER
from cloudbus.inventory.declarations import Inventory
from cloudbus.inventory.host import HOST
from cloudbus.services import host_allocator
from cloudbus.services.base import ResourceService
from cloudbus.services.common import changes, load, new_row, set_fields
from cloudbus.services.hypervisors.base import HostFacts

ADD_HOST = "HOST.1000"
RECONNECT_HOST = "HOST.1002"

# (current state, stateEvent) -> states passed through, last one final. Same-state is a no-op.
STATE_MACHINE: dict[tuple[str, str], tuple[str, ...]] = {
    ("Enabled", "disable"): ("Disabled",),
    ("Disabled", "enable"): ("Enabled",),
    ("Enabled", "maintain"): ("PreMaintenance", "Maintenance"),
    ("Disabled", "maintain"): ("PreMaintenance", "Maintenance"),
    ("Maintenance", "maintain"): ("PreMaintenance", "Maintenance"),
    ("Maintenance", "enable"): ("Enabled",),
    ("Maintenance", "disable"): ("Disabled",),
    ("PreMaintenance", "enable"): ("Enabled",),
    ("PreMaintenance", "disable"): ("Disabled",),
}


class HostService(ResourceService):
    service_id = "host"

    async def hypervisor(self, host: dict[str, Any], command: str) -> Any:
        """Run a driver command for `host`, bounded by the node's driver timeout."""
        driver = self.node.hypervisor(host["hypervisorType"])
        method = getattr(driver, command)
        what = f"hypervisor command[{command}] on host[uuid:{host['uuid']}]"
        return await bounded(method(host), self.node.driver_timeout, what)

    @handles(AddSimulatorHost)
    async def add_simulator_host(self, msg: AddSimulatorHost) -> dict[str, Any]:
        uuid = msg.new_resource_uuid()
        async with self.db.tx() as conn:
            cluster = await load(conn, CLUSTER, msg.clusterUuid)
            if cluster["hypervisorType"] != "Simulator":
                raise errors.invalid_argument(
                    f"cluster[uuid:{msg.clusterUuid}] has hypervisorType[{cluster['hypervisorType']}], "
                    "a simulator host can only be added to a cluster of hypervisorType[Simulator]"
                )
            await self._check_ip_free(conn, msg.managementIp)
            row = new_row(
                uuid,
                name=msg.name,
                description=msg.description,
                zoneUuid=cluster["zoneUuid"],
                clusterUuid=msg.clusterUuid,
                managementIp=msg.managementIp,
                hypervisorType="Simulator",
                state="Enabled",
                status="Connecting",
                totalCpuCapacity=0,
                availableCpuCapacity=0,
                totalMemoryCapacity=0,
                availableMemoryCapacity=0,
                cpuCapacity=msg.cpuCapacity,
                memoryCapacity=msg.memoryCapacity,
            )
            try:
                await conn.execute(insert(HOST.table).values(row))
            except IntegrityError:
                raise self._duplicate_ip(msg.managementIp) from None
        try:
            return await self._connect(uuid, first_time=True)
        except errors.CloudBusError as exc:
            await self.delete_rows(HOST, [uuid])
            raise errors.fail(ADD_HOST, exc.error.details, exc.error) from None

    async def _check_ip_free(self, conn: Any, ip: str, *, except_uuid: str | None = None) -> None:
        query = select(HOST.key).where(HOST.table.c.managementIp == ip)
        if except_uuid:
            query = query.where(HOST.key != except_uuid)
        if await conn.scalar(query) is not None:
            raise self._duplicate_ip(ip)

    @staticmethod
    def _duplicate_ip(ip: str) -> errors.CloudBusError:
        return errors.invalid_argument(f"there has been a host having managementIp[{ip}]")

    async def _connect(self, uuid: str, *, first_time: bool = False) -> dict[str, Any]:
        """Connecting -> driver.connect -> Connected with fresh capacity, or Disconnected."""
        async with self.db.tx() as conn:
            host = await load(conn, HOST, uuid)
            await set_fields(conn, HOST, uuid, status="Connecting")
        await self._status_changed(host, "Connecting")
        try:
            facts = await self.hypervisor(host, "connect")
        except errors.CloudBusError:
            if not first_time:
                async with self.db.tx() as conn:
                    await set_fields(conn, HOST, uuid, status="Disconnected")
                await self._status_changed(host, "Disconnected")
            raise
        async with self.db.tx() as conn:
            host = await load(conn, HOST, uuid)
            await set_fields(conn, HOST, uuid, status="Connected", **_capacity(host, facts))
            connected = await load(conn, HOST, uuid)
        await self._status_changed(connected, "Connected")
        return connected

    async def _status_changed(self, host: dict[str, Any], status: str) -> None:
        await self.bus.publish(
            Event(
                name="host.status.changed",
                data={"hostUuid": host["uuid"], "oldStatus": host["status"], "newStatus": status},
            )
        )

    # Internal contracts for VM placement (cloudbus/apis/internal/host.py); logic in host_allocator.

    @handles(AllocateHost, chain=False)
    async def allocate_host(self, msg: AllocateHost) -> Reply:
        return Reply(**await host_allocator.allocate(self.db, msg))

    @handles(ReturnHostCapacity, chain=False)
    async def return_capacity(self, msg: ReturnHostCapacity) -> None:
        if msg.ownerUuids:
            await host_allocator.release_owners(self.db, msg.ownerUuids)
        if msg.ownerUuid is not None:
            await host_allocator.release(
                self.db,
                msg.ownerUuid,
                host_uuid=msg.hostUuid,
                keep_host_uuid=msg.keepHostUuid,
                cpu=msg.cpuNum,
                memory=msg.memorySize,
            )
        elif msg.hostUuid and (msg.cpuNum or msg.memorySize):
            await host_allocator.give_back(self.db, msg.hostUuid, msg.cpuNum or 0, msg.memorySize or 0)

    @handles(HypervisorCommand, chain=False)
    async def hypervisor_command(self, msg: HypervisorCommand) -> Reply:
        async with self.db.read() as conn:
            host = await load(conn, HOST, msg.hostUuid)
        return Reply(result=await self._vm_command(host, msg.command, msg.vmInstanceUuid, msg.args))

    @handles(HypervisorCommands, chain=False)
    async def hypervisor_commands(self, msg: HypervisorCommands) -> Reply:
        async with self.db.read() as conn:
            host = await load(conn, HOST, msg.hostUuid)
        failed: dict[str, Any] = {}
        by_vm: dict[str, list[VmCommand]] = {}
        for vm in msg.vms:
            by_vm.setdefault(vm.vmInstanceUuid, []).append(vm)
        pending = iter(by_vm.values())

        async def worker() -> None:
            for commands in pending:  # one VM's commands in order, VMs side by side
                for vm in commands:
                    try:
                        await self._vm_command(host, msg.command, vm.vmInstanceUuid, vm.args)
                    except errors.CloudBusError as exc:
                        failed[vm.vmInstanceUuid] = exc.error.to_json()

        await asyncio.gather(*(worker() for _ in range(min(HYPERVISOR_PARALLELISM, len(by_vm)))))
        return Reply(failed=failed)

    async def _vm_command(self, host: dict[str, Any], command: str, vm_uuid: str | None, args: dict[str, Any]) -> Any:
        driver = self.node.hypervisor(host["hypervisorType"])
        what = f"hypervisor command[{command}] of vm[uuid:{vm_uuid}] on host[uuid:{host['uuid']}]"
        return await bounded(driver.vm_command(command, host, vm_uuid, args), self.node.driver_timeout, what)

    @handles(UpdateHost)
    async def update(self, msg: UpdateHost) -> dict[str, Any]:
        async with self.db.tx() as conn:
            await load(conn, HOST, msg.uuid)
            if msg.managementIp is not None:
                await self._check_ip_free(conn, msg.managementIp, except_uuid=msg.uuid)
            try:
                await set_fields(conn, HOST, msg.uuid, **changes(msg, "name", "description", "managementIp"))
            except IntegrityError:
                raise self._duplicate_ip(msg.managementIp or "") from None
            return await load(conn, HOST, msg.uuid)

    @handles(ChangeHostState)
    async def change_state(self, msg: ChangeHostState) -> dict[str, Any]:
        async with self.db.read() as conn:
            host = await load(conn, HOST, msg.uuid)
        path = STATE_MACHINE.get((host["state"], msg.stateEvent))
        if path is None:
            return host  # already in the requested state
        for state in path:
            async with self.db.tx() as conn:
                await set_fields(conn, HOST, msg.uuid, state=state)
        async with self.db.read() as conn:
            return await load(conn, HOST, msg.uuid)

    @handles(ReconnectHost)
    async def reconnect(self, msg: ReconnectHost) -> dict[str, Any]:
        try:
            return await self._connect(msg.uuid)
        except errors.CloudBusError as exc:
            raise errors.fail(RECONNECT_HOST, exc.error.details, exc.error) from None

    @handles(DeleteHost)
    async def delete(self, msg: DeleteHost) -> None:
        await self.delete_cascade("Host", [msg.uuid], msg.deleteMode)

    async def on_check(self, inv: Inventory, step: CascadeStep) -> None:
        for host in await self.fetch(inv, step.uuids):
            await self.hypervisor(host, "prepare_delete")

    async def on_delete(self, inv: Inventory, step: CascadeStep, *, force: bool) -> None:
        for host in await self.fetch(inv, step.uuids):
            try:
                await self.hypervisor(host, "delete")
            except errors.CloudBusError:
                if not force:
                    raise
        await self.delete_rows(inv, step.uuids)


def _capacity(host: dict[str, Any], facts: HostFacts) -> dict[str, Any]:
    """New totals from the driver; what is in use stays in use."""
    used_cpu = host["totalCpuCapacity"] - host["availableCpuCapacity"]
    used_memory = host["totalMemoryCapacity"] - host["availableMemoryCapacity"]
    return {
        "totalCpuCapacity": facts.cpuCapacity,
        "availableCpuCapacity": facts.cpuCapacity - used_cpu,
        "totalMemoryCapacity": facts.memoryCapacity,
        "availableMemoryCapacity": facts.memoryCapacity - used_memory,
        "cpuSockets": facts.cpuSockets,
        "cpuNum": facts.cpuNum,
        "architecture": facts.architecture,
    }
