"""IP range and IP address handlers of the L3 network service (a mixin of L3NetworkService).

Owns AddIpRange / AddIpRangeByNetworkCidr / UpdateIpRange / DeleteIpRange, GetFreeIp,
CheckIpAvailability and the internal AllocateIp / ReturnIp. Ranges of one L3 never
overlap and share one gateway and netmask (an L3 is one IPv4 subnet, as in ZStack);
the checks and the insert run in one transaction in the L3's chain queue.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import insert, select

from cloudbus.apis.internal.network import AllocateIp, ReturnIp
from cloudbus.apis.l3_network import (
    AddIpRange,
    AddIpRangeByNetworkCidr,
    CheckIpAvailability,
    DeleteIpRange,
    GetFreeIp,
    UpdateIpRange,
)
from cloudbus.core import errors
from cloudbus.core.messages import Reply
from cloudbus.core.service import handles
from cloudbus.inventory.ip_range import IP_RANGE, USED_IP
from cloudbus.inventory.l3_network import L3_NETWORK
from cloudbus.services.base import ResourceService
from cloudbus.services.common import changes, load, new_row, set_fields
from cloudbus.services.network import allocation
from cloudbus.services.network.ipam import RangeSpec, ipv4, iter_free, overlaps, range_from_cidr, to_int, to_ip
from cloudbus.services.network.ipam import validate_range as check_range


class IpRangeHandlers(ResourceService):
    @handles(AddIpRange)
    async def add_ip_range(self, msg: AddIpRange) -> dict[str, Any]:
        spec = check_range(msg.startIp, msg.endIp, msg.netmask, msg.gateway)
        return await self._add_range(msg, spec)

    @handles(AddIpRangeByNetworkCidr)
    async def add_ip_range_by_cidr(self, msg: AddIpRangeByNetworkCidr) -> dict[str, Any]:
        return await self._add_range(msg, range_from_cidr(msg.networkCidr, msg.gateway))

    async def _add_range(self, msg: AddIpRange | AddIpRangeByNetworkCidr, spec: RangeSpec) -> dict[str, Any]:
        uuid = msg.new_resource_uuid()
        async with self.db.tx() as conn:
            l3 = await load(conn, L3_NETWORK, msg.l3NetworkUuid)
            existing = (
                await conn.execute(select(IP_RANGE.table).where(IP_RANGE.table.c.l3NetworkUuid == msg.l3NetworkUuid))
            ).all()
            start, end = to_int(spec.startIp), to_int(spec.endIp)
            for other in existing:
                if overlaps(start, end, to_int(other.startIp), to_int(other.endIp)):
                    raise errors.invalid_argument(
                        f"new ip range[{spec.startIp} ~ {spec.endIp}] overlaps ip range[uuid:{other.uuid}, "
                        f"{other.startIp} ~ {other.endIp}] of l3Network[uuid:{l3['uuid']}]"
                    )
                if (other.gateway, other.netmask) != (spec.gateway, spec.netmask):
                    raise errors.invalid_argument(
                        f"new ip range's gateway[{spec.gateway}] and netmask[{spec.netmask}] differ from "
                        f"gateway[{other.gateway}] and netmask[{other.netmask}] of the existing ip range"
                        f"[uuid:{other.uuid}] of l3Network[uuid:{l3['uuid']}]: an L3 network is one subnet"
                    )
            row = new_row(uuid, name=msg.name, description=msg.description, l3NetworkUuid=msg.l3NetworkUuid)
            row.update(spec.row(), ipRangeType=msg.ipRangeType)
            await conn.execute(insert(IP_RANGE.table).values(row))
            return await load(conn, IP_RANGE, uuid)

    @handles(UpdateIpRange)
    async def update_ip_range(self, msg: UpdateIpRange) -> dict[str, Any]:
        async with self.db.tx() as conn:
            await load(conn, IP_RANGE, msg.uuid)
            await set_fields(conn, IP_RANGE, msg.uuid, **changes(msg, "name", "description"))
            return await load(conn, IP_RANGE, msg.uuid)

    @handles(DeleteIpRange)
    async def delete_ip_range(self, msg: DeleteIpRange) -> None:
        await self.delete_cascade("IpRange", [msg.uuid], msg.deleteMode)

    @handles(GetFreeIp, chain=False)
    async def get_free_ip(self, msg: GetFreeIp) -> list[dict[str, Any]]:
        if msg.l3NetworkUuid is None and msg.ipRangeUuid is None:
            raise errors.invalid_argument("either l3NetworkUuid or ipRangeUuid must be set")
        begin = to_int(str(ipv4(msg.start, "start"))) if msg.start else 0
        async with self.db.read() as conn:
            l3_uuid = msg.l3NetworkUuid
            if msg.ipRangeUuid is not None:
                ip_range = await load(conn, IP_RANGE, msg.ipRangeUuid)
                if l3_uuid is not None and ip_range["l3NetworkUuid"] != l3_uuid:
                    raise errors.invalid_argument(
                        f"ipRange[uuid:{msg.ipRangeUuid}] is not a range of l3Network[uuid:{l3_uuid}]"
                    )
                l3_uuid = ip_range["l3NetworkUuid"]
            assert l3_uuid is not None
            spans = await allocation.spans_of(conn, l3_uuid, msg.ipRangeUuid)
            used = set(await allocation.used_of(conn, l3_uuid))
        found: list[dict[str, Any]] = []
        for span, value in iter_free(spans, used, begin):
            if len(found) >= msg.limit:
                break
            found.append(
                {"ip": to_ip(value), "ipRangeUuid": span.uuid, "netmask": span.netmask, "gateway": span.gateway}
            )
        return found

    @handles(CheckIpAvailability, chain=False)
    async def check_ip_availability(self, msg: CheckIpAvailability) -> Reply:
        value = int(ipv4(msg.ip, "ip"))
        async with self.db.read() as conn:
            spans = await allocation.spans_of(conn, msg.l3NetworkUuid)
            used = await conn.scalar(
                select(USED_IP.table.c.uuid).where(
                    USED_IP.table.c.l3NetworkUuid == msg.l3NetworkUuid, USED_IP.table.c.ipInLong == value
                )
            )
        reason: str | None = None
        if any(to_int(s.gateway) == value for s in spans):
            reason = f"ip[{msg.ip}] is the gateway of l3Network[uuid:{msg.l3NetworkUuid}]"
        elif not any(s.start <= value <= s.end for s in spans):
            reason = f"ip[{msg.ip}] is not in any ip range of l3Network[uuid:{msg.l3NetworkUuid}]"
        elif used is not None:
            reason = f"ip[{msg.ip}] is in use"
        return Reply(available=reason is None, reason=reason)

    @handles(AllocateIp, chain=False)
    async def allocate_ip(self, msg: AllocateIp) -> Reply:
        used = await allocation.allocate(
            self.db,
            msg.l3NetworkUuid,
            required_ip=msg.requiredIp,
            range_uuid=msg.ipRangeUuid,
            used_for=msg.usedFor,
            vm_nic_uuid=msg.vmNicUuid,
        )
        return Reply(
            usedIpUuid=used["uuid"],
            ip=used["ip"],
            netmask=used["netmask"],
            gateway=used["gateway"],
            ipRangeUuid=used["ipRangeUuid"],
            ipVersion=used["ipVersion"],
            l3NetworkUuid=used["l3NetworkUuid"],
            usedIp=used,
        )

    @handles(ReturnIp, chain=False)
    async def return_ip(self, msg: ReturnIp) -> Reply:
        return Reply(returned=await allocation.release(self.db, msg.usedIpUuids, msg.vmNicUuids))
