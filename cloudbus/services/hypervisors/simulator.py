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

from typing import Any

from cloudbus.services.hypervisors.base import HostFacts, HypervisorDriver
from cloudbus.services.simulation import Recorder


class SimulatorDriver(Recorder, HypervisorDriver):
    hypervisor_type = "Simulator"
    kind = "host"

    def __init__(self) -> None:
        super().__init__()
        self.vms: dict[str, str] = {}  # running (or paused) VM uuid -> host uuid

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
        if vm_uuid is None:
            await self._run(command, host["uuid"], hostUuid=host["uuid"], **args)
        else:
            await self._run(command, vm_uuid, also=host["uuid"], kind="vm", hostUuid=host["uuid"], **args)

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
