"""The simulator hypervisor: hosts that exist only in memory, for tests and scale runs.

It records every command it is given (`driver.commands`), and can be told to fail or to
delay a named command, for one host or all, once or always:

    sim.fail("connect", uuid=host_uuid)             # next connect of that host fails
    sim.delay("prepareDelete", 2.0, times=None)     # every prepareDelete takes 2 s
    sim.fail("startVm", uuid=vm_uuid)               # VM commands match the VM's or the host's uuid

VM commands (startVm, stopVm, migrateVm ...) are recorded with the VM's uuid and the
host's uuid in `args["hostUuid"]`; `sim.vms` maps each VM the simulator runs to its host.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from cloudbus.core import errors
from cloudbus.services.hypervisors.base import HostFacts, HypervisorDriver


@dataclass
class Fault:
    command: str
    uuid: str | None
    times: int | None  # None = forever
    details: str | None = None
    delay: float = 0.0


@dataclass
class Command:
    command: str
    uuid: str
    args: dict[str, Any] = field(default_factory=dict)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None


class SimulatorDriver(HypervisorDriver):
    hypervisor_type = "Simulator"

    def __init__(self) -> None:
        self.commands: list[Command] = []
        self.faults: list[Fault] = []
        self.vms: dict[str, str] = {}  # running (or paused) VM uuid -> host uuid

    def fail(self, command: str, *, uuid: str | None = None, times: int | None = 1, details: str | None = None) -> None:
        self.faults.append(Fault(command, uuid, times, details or f"simulated failure of command[{command}]"))

    def delay(self, command: str, seconds: float, *, uuid: str | None = None, times: int | None = 1) -> None:
        self.faults.append(Fault(command, uuid, times, None, seconds))

    def clear(self) -> None:
        self.faults.clear()
        self.commands.clear()

    def issued(self, command: str, uuid: str | None = None) -> list[Command]:
        return [c for c in self.commands if c.command == command and (uuid is None or c.uuid == uuid)]

    async def _run(self, command: str, uuid: str, **args: Any) -> None:
        record = Command(command, uuid, args)
        self.commands.append(record)
        try:
            await self._apply_faults(command, uuid)
        finally:
            record.finished = time.monotonic()

    async def _apply_faults(self, command: str, uuid: str, also: str | None = None) -> None:
        for fault in list(self.faults):
            if fault.command != command or fault.uuid not in (None, uuid, also):
                continue
            if fault.times is not None:
                fault.times -= 1
                if fault.times <= 0:
                    self.faults.remove(fault)
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.details is not None:
                raise errors.operation_error(f"{fault.details} on host[uuid:{uuid}]")

    async def connect(self, host: dict[str, Any]) -> HostFacts:
        await self._run("connect", host["uuid"], managementIp=host["managementIp"])
        return HostFacts(
            cpuCapacity=int(host.get("cpuCapacity") or 0), memoryCapacity=int(host.get("memoryCapacity") or 0)
        )

    async def ping(self, host: dict[str, Any]) -> None:
        await self._run("ping", host["uuid"])

    async def prepare_delete(self, host: dict[str, Any]) -> None:
        await self._run("prepareDelete", host["uuid"])

    async def delete(self, host: dict[str, Any]) -> None:
        await self._run("delete", host["uuid"])

    # VM commands: recorded under the VM's uuid, failable by VM or host uuid.

    async def _vm(self, command: str, host: dict[str, Any], vm_uuid: str | None, args: dict[str, Any]) -> None:
        uuid = vm_uuid or host["uuid"]
        record = Command(command, uuid, {"hostUuid": host["uuid"], **args})
        self.commands.append(record)
        try:
            await self._apply_faults(command, uuid, host["uuid"])
        finally:
            record.finished = time.monotonic()

    async def startVm(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        await self._vm("startVm", host, vm_uuid, args)
        self.vms[vm_uuid] = host["uuid"]
        return {}

    async def stopVm(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        await self._vm("stopVm", host, vm_uuid, args)
        self.vms.pop(vm_uuid, None)
        return {}

    async def rebootVm(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        await self._vm("rebootVm", host, vm_uuid, args)
        return {}

    async def pauseVm(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        await self._vm("pauseVm", host, vm_uuid, args)
        return {}

    async def resumeVm(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        await self._vm("resumeVm", host, vm_uuid, args)
        return {}

    async def destroyVm(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        await self._vm("destroyVm", host, vm_uuid, args)
        self.vms.pop(vm_uuid, None)
        return {}

    async def migrateVm(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        await self._vm("migrateVm", host, vm_uuid, args)
        self.vms[vm_uuid] = args.get("destHostUuid", host["uuid"])
        return {}

    async def attachVolume(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        await self._vm("attachVolume", host, vm_uuid, args)
        return {}

    async def detachVolume(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        await self._vm("detachVolume", host, vm_uuid, args)
        return {}

    async def attachNic(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        await self._vm("attachNic", host, vm_uuid, args)
        return {}

    async def detachNic(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        await self._vm("detachNic", host, vm_uuid, args)
        return {}
