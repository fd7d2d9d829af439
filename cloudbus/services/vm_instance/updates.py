"""Changing a VM in place: UpdateVmInstance and ChangeInstanceOffering.

A VM on a host holds its cpu/memory there, so changing its size takes or gives back
the difference on that host first (HOST_ALLOCATION.1000 if the host has no room; the
VM is then unchanged). `UpdateVmInstance state=...` is the admins' override for VMs
stuck in Unknown (reference 1.4): no hypervisor call, only the bookkeeping.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from cloudbus import inventory
from cloudbus.apis.vm_instance import ChangeInstanceOffering, UpdateVmInstance
from cloudbus.core import errors
from cloudbus.services.common import changes
from cloudbus.services.vm_instance import store
from cloudbus.services.vm_instance.calls import Calls
from cloudbus.services.vm_instance.lifecycle import Lifecycle
from cloudbus.services.vm_instance.states import check_allowed


class Updates:
    def __init__(self, db: Any, calls: Calls, lifecycle: Lifecycle) -> None:
        self.db = db
        self.calls = calls
        self.lifecycle = lifecycle

    async def change_offering(self, msg: ChangeInstanceOffering) -> dict[str, Any]:
        vm = await store.get_vm(self.db, msg.vmInstanceUuid)
        check_allowed(vm, "ChangeInstanceOffering")
        table = inventory.get("InstanceOffering").table
        async with self.db.read() as conn:
            offering = (await conn.execute(select(table).where(table.c.uuid == msg.instanceOfferingUuid))).mappings()
            row = offering.first()
        if row is None:
            raise errors.not_found(f"unable to find instance offering[uuid:{msg.instanceOfferingUuid}]")
        if row.get("state", "Enabled") != "Enabled":
            raise errors.operation_error(f"instance offering[uuid:{msg.instanceOfferingUuid}] is Disabled")
        await self.lifecycle.resize(vm, row["cpuNum"], row["memorySize"])
        await store.change(
            self.db,
            vm["uuid"],
            instanceOfferingUuid=msg.instanceOfferingUuid,
            cpuNum=row["cpuNum"],
            memorySize=row["memorySize"],
            cpuSpeed=row.get("cpuSpeed") or 0,
        )
        return await store.inventory(self.db, vm["uuid"])

    async def update(self, msg: UpdateVmInstance) -> dict[str, Any]:
        vm = await store.get_vm(self.db, msg.uuid)
        values = changes(msg, "name", "description", "platform", "guestOsType", "cpuNum", "memorySize")
        if msg.defaultL3NetworkUuid is not None:
            l3s = {n["l3NetworkUuid"] for n in await store.nics(self.db, vm["uuid"])}
            if msg.defaultL3NetworkUuid not in l3s:
                raise errors.invalid_argument(
                    f"l3Network[uuid:{msg.defaultL3NetworkUuid}] is not attached to vm[uuid:{vm['uuid']}]"
                )
            values["defaultL3NetworkUuid"] = msg.defaultL3NetworkUuid
        if msg.state == "Running" and not vm["hostUuid"]:
            raise errors.invalid_argument(f"vm[uuid:{vm['uuid']}] has no host, it cannot be set Running")
        if "cpuNum" in values or "memorySize" in values:
            await self.lifecycle.resize(
                vm, values.get("cpuNum", vm["cpuNum"]), values.get("memorySize", vm["memorySize"])
            )
        release_host = msg.state == "Stopped" and vm["hostUuid"]
        if msg.state is not None:
            values["state"] = msg.state
        if release_host:
            values.update(hostUuid=None, lastHostUuid=vm["hostUuid"])
        if values:
            await store.change(self.db, vm["uuid"], check=False, **values)
        if release_host:
            # what it holds after a possible resize above
            sized = {
                "cpuNum": values.get("cpuNum", vm["cpuNum"]),
                "memorySize": values.get("memorySize", vm["memorySize"]),
            }
            await self.calls.return_host({"uuid": vm["uuid"], **sized}, vm["hostUuid"])
        return await store.inventory(self.db, vm["uuid"])
