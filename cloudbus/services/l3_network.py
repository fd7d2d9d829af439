"""L3 network service (`network.l3`): L3 networks, their DNS, IP ranges, used IPs and
network services. Owns the L3Network and IpRange cascade types; used IPs, DNS entries
and service refs are its own rows and go with their range / L3.

The handlers are grouped in mixins (`services/network/ip_ranges.py`,
`services/network/services.py`); this module holds the L3 itself and the cascade.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from cloudbus.apis.internal.host import ReleaseL3Networks
from cloudbus.apis.l3_network import (
    AddDnsToL3Network,
    ChangeL3NetworkState,
    CreateL3Network,
    DeleteL3Network,
    RemoveDnsFromL3Network,
    UpdateL3Network,
)
from cloudbus.cascade.messages import CascadeStep
from cloudbus.core import errors
from cloudbus.core.ids import utcnow
from cloudbus.core.logging import get_logger
from cloudbus.core.service import handles
from cloudbus.inventory.declarations import Inventory
from cloudbus.inventory.ip_range import IP_RANGE, USED_IP
from cloudbus.inventory.l2_network import L2_NETWORK
from cloudbus.inventory.l3_network import L3_NETWORK, l3_network_dns_table
from cloudbus.inventory.network_service import network_service_l3_network_ref_table
from cloudbus.services.common import STATE_EVENTS, changes, load, new_row, set_fields
from cloudbus.services.network.ip_ranges import IpRangeHandlers
from cloudbus.services.network.ipam import check_dns
from cloudbus.services.network.services import NetworkServiceHandlers
from cloudbus.services.ownership import claim

log = get_logger(__name__)


class L3NetworkService(IpRangeHandlers, NetworkServiceHandlers):
    service_id = "network.l3"

    async def start(self) -> None:
        await self.ensure_providers()

    @handles(CreateL3Network)
    async def create(self, msg: CreateL3Network) -> dict[str, Any]:
        uuid = msg.new_resource_uuid()
        async with self.db.tx() as conn:
            l2 = await load(conn, L2_NETWORK, msg.l2NetworkUuid)
            row = new_row(
                uuid,
                name=msg.name,
                description=msg.description,
                type=msg.type,
                zoneUuid=l2["zoneUuid"],
                l2NetworkUuid=msg.l2NetworkUuid,
                state="Enabled",
                dnsDomain=msg.dnsDomain,
                system=msg.system,
                category=msg.category,
                ipVersion=msg.ipVersion,
                enableIPAM=msg.enableIPAM,
            )
            await claim(conn, L3_NETWORK, row)
            await conn.execute(insert(L3_NETWORK.table).values(row))
            return await load(conn, L3_NETWORK, uuid)

    @handles(UpdateL3Network)
    async def update(self, msg: UpdateL3Network) -> dict[str, Any]:
        async with self.db.tx() as conn:
            await load(conn, L3_NETWORK, msg.uuid)
            fields = changes(msg, "name", "description", "dnsDomain", "category", "system")
            await set_fields(conn, L3_NETWORK, msg.uuid, **fields)
            return await load(conn, L3_NETWORK, msg.uuid)

    @handles(ChangeL3NetworkState)
    async def change_state(self, msg: ChangeL3NetworkState) -> dict[str, Any]:
        async with self.db.tx() as conn:
            await load(conn, L3_NETWORK, msg.uuid)
            await set_fields(conn, L3_NETWORK, msg.uuid, state=STATE_EVENTS[msg.stateEvent])
            return await load(conn, L3_NETWORK, msg.uuid)

    @handles(DeleteL3Network)
    async def delete(self, msg: DeleteL3Network) -> None:
        await self.delete_cascade("L3Network", [msg.uuid], msg.deleteMode)

    @handles(AddDnsToL3Network)
    async def add_dns(self, msg: AddDnsToL3Network) -> dict[str, Any]:
        dns = check_dns(msg.dns)
        table = l3_network_dns_table
        duplicate = errors.invalid_argument(f"there has been a DNS[{dns}] on L3 network[uuid:{msg.l3NetworkUuid}]")
        try:
            async with self.db.tx() as conn:
                await load(conn, L3_NETWORK, msg.l3NetworkUuid)
                query = select(table.c.dns).where(table.c.l3NetworkUuid == msg.l3NetworkUuid, table.c.dns == dns)
                if await conn.scalar(query) is not None:
                    raise duplicate
                await conn.execute(insert(table).values(l3NetworkUuid=msg.l3NetworkUuid, dns=dns, createDate=utcnow()))
                await set_fields(conn, L3_NETWORK, msg.l3NetworkUuid)
                return await load(conn, L3_NETWORK, msg.l3NetworkUuid)
        except IntegrityError:
            raise duplicate from None

    @handles(RemoveDnsFromL3Network)
    async def remove_dns(self, msg: RemoveDnsFromL3Network) -> dict[str, Any]:
        table = l3_network_dns_table
        async with self.db.tx() as conn:
            await load(conn, L3_NETWORK, msg.l3NetworkUuid)
            await conn.execute(
                delete(table).where(table.c.l3NetworkUuid == msg.l3NetworkUuid, table.c.dns == msg.dns.strip())
            )
            await set_fields(conn, L3_NETWORK, msg.l3NetworkUuid)
            return await load(conn, L3_NETWORK, msg.l3NetworkUuid)

    # -- cascade: the VM service detaches the nics first (its steps run before ours)

    async def on_delete(self, inv: Inventory, step: CascadeStep, *, force: bool) -> None:
        async with self.db.tx() as conn:
            if inv.name == "IpRange":
                await conn.execute(delete(USED_IP.table).where(USED_IP.table.c.ipRangeUuid.in_(step.uuids)))
                await conn.execute(delete(IP_RANGE.table).where(IP_RANGE.key.in_(step.uuids)))
                return
            ref = network_service_l3_network_ref_table
            table = L3_NETWORK.table
            query = select(table.c.uuid, table.c.l2NetworkUuid).where(table.c.uuid.in_(step.uuids))
            gone = [{"uuid": uuid, "l2NetworkUuid": l2} for uuid, l2 in await conn.execute(query)]
            await conn.execute(delete(USED_IP.table).where(USED_IP.table.c.l3NetworkUuid.in_(step.uuids)))
            await conn.execute(delete(IP_RANGE.table).where(IP_RANGE.table.c.l3NetworkUuid.in_(step.uuids)))
            await conn.execute(delete(l3_network_dns_table).where(l3_network_dns_table.c.l3NetworkUuid.in_(step.uuids)))
            await conn.execute(delete(ref).where(ref.c.l3NetworkUuid.in_(step.uuids)))
            await conn.execute(delete(L3_NETWORK.table).where(L3_NETWORK.key.in_(step.uuids)))
        if gone:  # what a hypervisor made of them (OpenStack's Neutron network and subnet) goes too
            try:
                await self.bus.call_ok(ReleaseL3Networks(l3Networks=gone))
            except errors.CloudBusError as exc:
                log.warning("l3 networks not released on the hypervisors", error=exc.error.details)
