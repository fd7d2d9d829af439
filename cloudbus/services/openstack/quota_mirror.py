"""The openstack service's side of quotas (mixed into OpenStackService): an account's quotas
written into every cloud its tenant has an identity in, as limits.py maps them, then read back.

MirrorQuotas comes from the identity service after a change to an account's quotas or its
default project's; provision_tenant mirrors a new tenant's defaults the same way. The quota rows
are the identity service's, read here only. A failure in any cloud writes back what each cloud
held before and fails OPENSTACK.1140 with the cause (OpenStack's own message, or
OPENSTACK.1141 when what was read back differs).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, select

from cloudbus.apis.internal.openstack import MirrorQuotas
from cloudbus.core import errors
from cloudbus.core.logging import get_logger
from cloudbus.core.messages import Reply
from cloudbus.core.service import handles
from cloudbus.inventory.identity import tenant_table
from cloudbus.inventory.openstack import openstack_tenant_table
from cloudbus.inventory.quota import quota_table
from cloudbus.services.openstack import limits
from cloudbus.services.openstack.connection import Clouds, run

log = get_logger(__name__)

MIRROR = errors.register("OPENSTACK.1140", "Unable to mirror the quotas into the OpenStack cloud")


class QuotaMirrorHandlers:
    """Mixed into OpenStackService."""

    db: Any
    clouds: Clouds

    @handles(MirrorQuotas)
    async def mirror_quotas(self, msg: MirrorQuotas) -> Reply:
        return Reply(clouds=await self._mirror(tenant_table.c.accountUuid == msg.accountUuid))

    async def mirror_tenant_quotas(self, tenant_uuid: str) -> list[str]:
        """Write the quotas of a tenant's account into each cloud it has an identity in; returns the clouds."""
        return await self._mirror(tenant_table.c.uuid == tenant_uuid)

    async def _mirror(self, tenant: ColumnElement[bool]) -> list[str]:
        identities, wanted = await self._quotas_of(tenant)
        before: list[tuple[Any, limits.Where, limits.Limits]] = []
        try:
            for row in identities:
                what = f"mirror the quotas of tenant[{row['tenantId']}] into openstack cloud[uuid:{row['cloudUuid']}]"
                conn = await self.clouds.connection(row["cloudUuid"])
                where = await run(what, limits.locate, conn, row["domainId"], row["projectId"])
                held = await run(what, limits.read, conn, where)
                before.append((conn, where, held))
                await run(what, limits.write_checked, conn, where, wanted, held)
        except errors.CloudBusError as exc:
            for conn, where, held in reversed(before):
                try:
                    await run("write back a tenant's quotas", limits.write, conn, where, held)
                except errors.CloudBusError as undo:  # the mirror's failure is the one reported
                    log.warning("quotas not written back", domain=where.domainId, error=undo.error.details)
            raise errors.fail(MIRROR, exc.error.details, exc.error) from None
        return [row["cloudUuid"] for row in identities]

    async def _quotas_of(self, tenant: ColumnElement[bool]) -> tuple[list[dict[str, Any]], limits.Limits]:
        """The tenant's identities, and the limits its account's and default project's quotas stand for."""
        ot, tenants, q = openstack_tenant_table.c, tenant_table.c, quota_table.c
        query = (
            select(openstack_tenant_table, tenants.accountUuid, tenants.projectUuid)
            .join(tenant_table, tenants.uuid == ot.tenantUuid)
            .where(tenant)
        )
        async with self.db.read() as db:
            identities = [dict(r) for r in (await db.execute(query)).mappings()]
            if not identities:  # the common case (no cloud, or not a tenant): one indexed read
                return [], limits.Limits()
            account, project = identities[0]["accountUuid"], identities[0]["projectUuid"]
            rows = (await db.execute(select(q.identityUuid, q.name, q.value).where(q.accountUuid == account))).all()
        values = {who: {name: value for i, name, value in rows if i == who} for who in (account, project)}
        return identities, limits.wanted(values[account], values[project])
