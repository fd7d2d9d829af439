"""Network services of L3 networks (a mixin of L3NetworkService): the built-in providers
and AttachNetworkServiceToL3Network / DetachNetworkServiceFromL3Network.

Built-in providers get fixed uuids derived from their type, and `type` is unique, so
every node may run `ensure_providers()` at start: the first insert wins, the others find
the row (or lose the insert race harmlessly) and only add missing service types.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError

from cloudbus.apis.l3_network import AttachNetworkServiceToL3Network, DetachNetworkServiceFromL3Network
from cloudbus.core import errors
from cloudbus.core.service import handles
from cloudbus.inventory.l3_network import L3_NETWORK
from cloudbus.inventory.network_service import (
    network_service_l3_network_ref_table,
    network_service_provider_table,
    network_service_type_table,
)
from cloudbus.services.base import ResourceService
from cloudbus.services.common import load, new_row

# type -> (name, description, service types). The issue asks for a Flat provider offering
# DHCP/DNS/SNAT/SecurityGroup; ZStack also ships a separate SecurityGroup provider.
BUILTIN_PROVIDERS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "Flat": (
        "Flat Network Service Provider",
        "Flat network services: DHCP, DNS, SNAT, user data, host routes, security groups",
        ("DHCP", "DNS", "HostRoute", "SNAT", "SecurityGroup", "Userdata"),
    ),
    "SecurityGroup": (
        "SecurityGroup",
        "Security group service provider",
        ("SecurityGroup",),
    ),
}


def provider_uuid(provider_type: str) -> str:
    """The same uuid on every node for a built-in provider."""
    return hashlib.md5(f"cloudbus:NetworkServiceProvider:{provider_type}".encode()).hexdigest()


class NetworkServiceHandlers(ResourceService):
    async def ensure_providers(self) -> None:
        for provider_type, (name, description, types) in BUILTIN_PROVIDERS.items():
            uuid = provider_uuid(provider_type)
            try:
                async with self.db.tx() as conn:
                    table = network_service_provider_table
                    if await conn.scalar(select(table.c.uuid).where(table.c.type == provider_type)) is None:
                        row = new_row(uuid, name=name, description=description, type=provider_type)
                        await conn.execute(insert(table).values(row))
                    uuid = await conn.scalar(select(table.c.uuid).where(table.c.type == provider_type))
                    have = set(
                        (
                            await conn.execute(
                                select(network_service_type_table.c.type).where(
                                    network_service_type_table.c.providerUuid == uuid
                                )
                            )
                        ).scalars()
                    )
                    missing = [{"providerUuid": uuid, "type": t} for t in types if t not in have]
                    if missing:
                        await conn.execute(insert(network_service_type_table), missing)
            except IntegrityError:
                continue  # another node created it at the same moment

    async def _validated_services(self, conn: Any, services: dict[str, list[str]]) -> list[tuple[str, str]]:
        if not services:
            raise errors.invalid_argument("networkServices must name at least one provider and service type")
        pairs: list[tuple[str, str]] = []
        for provider, types in services.items():
            offered = set(
                (
                    await conn.execute(
                        select(network_service_type_table.c.type).where(
                            network_service_type_table.c.providerUuid == provider
                        )
                    )
                ).scalars()
            )
            if not offered:
                raise errors.invalid_argument(f"network service provider[uuid:{provider}] not found")
            if not types:
                raise errors.invalid_argument(f"no network service type given for provider[uuid:{provider}]")
            for service_type in types:
                if service_type not in offered:
                    raise errors.invalid_argument(
                        f"network service provider[uuid:{provider}] does not provide network service"
                        f"[{service_type}]; it provides {sorted(offered)}"
                    )
                pairs.append((provider, service_type))
        return list(dict.fromkeys(pairs))

    @handles(AttachNetworkServiceToL3Network)
    async def attach_network_service(self, msg: AttachNetworkServiceToL3Network) -> dict[str, Any]:
        ref = network_service_l3_network_ref_table
        async with self.db.tx() as conn:
            await load(conn, L3_NETWORK, msg.l3NetworkUuid)
            pairs = await self._validated_services(conn, msg.networkServices)
            attached = set(
                (
                    await conn.execute(select(ref.c.networkServiceType).where(ref.c.l3NetworkUuid == msg.l3NetworkUuid))
                ).scalars()
            )
            types = [t for _p, t in pairs]
            for service_type in types:
                if service_type in attached or types.count(service_type) > 1:
                    raise errors.invalid_argument(
                        f"there has been a network service[{service_type}] attached to "
                        f"L3 network[uuid:{msg.l3NetworkUuid}]"
                    )
            rows = [
                {"l3NetworkUuid": msg.l3NetworkUuid, "networkServiceProviderUuid": p, "networkServiceType": t}
                for p, t in pairs
            ]
            await conn.execute(insert(ref), rows)
            return await load(conn, L3_NETWORK, msg.l3NetworkUuid)

    @handles(DetachNetworkServiceFromL3Network)
    async def detach_network_service(self, msg: DetachNetworkServiceFromL3Network) -> dict[str, Any]:
        ref = network_service_l3_network_ref_table
        async with self.db.tx() as conn:
            await load(conn, L3_NETWORK, msg.l3NetworkUuid)
            for provider, service_type in await self._validated_services(conn, msg.networkServices):
                await conn.execute(
                    delete(ref).where(
                        ref.c.l3NetworkUuid == msg.l3NetworkUuid,
                        ref.c.networkServiceProviderUuid == provider,
                        ref.c.networkServiceType == service_type,
                    )
                )
            return await load(conn, L3_NETWORK, msg.l3NetworkUuid)
