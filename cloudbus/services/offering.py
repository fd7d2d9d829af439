"""Offering service (`configuration`): instance and disk offerings.

Both are cascade roots. Deleting one removes only its own row: VMs and volumes that use
it declare it as a parent and null their reference in their own cascade step (which the
engine runs before this one).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert

from cloudbus.apis.offering import (
    ChangeDiskOfferingState,
    ChangeInstanceOfferingState,
    CreateDiskOffering,
    CreateInstanceOffering,
    DeleteDiskOffering,
    DeleteInstanceOffering,
    UpdateDiskOffering,
    UpdateInstanceOffering,
)
from cloudbus.core.service import handles
from cloudbus.inventory.offering import DISK_OFFERING, INSTANCE_OFFERING
from cloudbus.services.base import ResourceService
from cloudbus.services.common import STATE_EVENTS, changes, load, new_row, set_fields
from cloudbus.services.ownership import claim


class OfferingService(ResourceService):
    service_id = "configuration"

    @handles(CreateInstanceOffering)
    async def create_instance_offering(self, msg: CreateInstanceOffering) -> dict[str, Any]:
        uuid = msg.new_resource_uuid()
        row = new_row(
            uuid,
            name=msg.name,
            description=msg.description,
            cpuNum=msg.cpuNum,
            cpuSpeed=msg.cpuSpeed,
            memorySize=msg.memorySize,
            reservedMemorySize=msg.reservedMemorySize,
            type=msg.type,
            allocatorStrategy=msg.allocatorStrategy,
            sortKey=msg.sortKey,
            state="Enabled",
        )
        async with self.db.tx() as conn:
            await claim(conn, INSTANCE_OFFERING, row)
            await conn.execute(insert(INSTANCE_OFFERING.table).values(row))
            return await load(conn, INSTANCE_OFFERING, uuid)

    @handles(UpdateInstanceOffering)
    async def update_instance_offering(self, msg: UpdateInstanceOffering) -> dict[str, Any]:
        async with self.db.tx() as conn:
            await load(conn, INSTANCE_OFFERING, msg.uuid)
            fields = changes(msg, "name", "description", "allocatorStrategy", "sortKey")
            await set_fields(conn, INSTANCE_OFFERING, msg.uuid, **fields)
            return await load(conn, INSTANCE_OFFERING, msg.uuid)

    @handles(ChangeInstanceOfferingState)
    async def change_instance_offering_state(self, msg: ChangeInstanceOfferingState) -> dict[str, Any]:
        async with self.db.tx() as conn:
            await load(conn, INSTANCE_OFFERING, msg.uuid)
            await set_fields(conn, INSTANCE_OFFERING, msg.uuid, state=STATE_EVENTS[msg.stateEvent])
            return await load(conn, INSTANCE_OFFERING, msg.uuid)

    @handles(DeleteInstanceOffering)
    async def delete_instance_offering(self, msg: DeleteInstanceOffering) -> None:
        await self.delete_cascade("InstanceOffering", [msg.uuid], msg.deleteMode)

    @handles(CreateDiskOffering)
    async def create_disk_offering(self, msg: CreateDiskOffering) -> dict[str, Any]:
        uuid = msg.new_resource_uuid()
        row = new_row(
            uuid,
            name=msg.name,
            description=msg.description,
            diskSize=msg.diskSize,
            sortKey=msg.sortKey,
            state="Enabled",
            type=msg.type,
            allocatorStrategy=msg.allocationStrategy,
        )
        async with self.db.tx() as conn:
            await claim(conn, DISK_OFFERING, row)
            await conn.execute(insert(DISK_OFFERING.table).values(row))
            return await load(conn, DISK_OFFERING, uuid)

    @handles(UpdateDiskOffering)
    async def update_disk_offering(self, msg: UpdateDiskOffering) -> dict[str, Any]:
        async with self.db.tx() as conn:
            await load(conn, DISK_OFFERING, msg.uuid)
            await set_fields(conn, DISK_OFFERING, msg.uuid, **changes(msg, "name", "description", "sortKey"))
            return await load(conn, DISK_OFFERING, msg.uuid)

    @handles(ChangeDiskOfferingState)
    async def change_disk_offering_state(self, msg: ChangeDiskOfferingState) -> dict[str, Any]:
        async with self.db.tx() as conn:
            await load(conn, DISK_OFFERING, msg.uuid)
            await set_fields(conn, DISK_OFFERING, msg.uuid, state=STATE_EVENTS[msg.stateEvent])
            return await load(conn, DISK_OFFERING, msg.uuid)

    @handles(DeleteDiskOffering)
    async def delete_disk_offering(self, msg: DeleteDiskOffering) -> None:
        await self.delete_cascade("DiskOffering", [msg.uuid], msg.deleteMode)
