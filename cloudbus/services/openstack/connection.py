"""Reaching an OpenStack cloud: one openstacksdk connection per registered cloud (cached, rebuilt
when the cloud's row changes), every call in a worker thread with OpenStack's errors turned
into coded ones, and waits that poll fresh reads until a terminal state or a timeout.

openstacksdk's own `wait_for_status` returns at once when the object in hand already shows
the target status (a reboot or resize has not left ACTIVE yet), so `wait` always GETs anew,
and for servers also waits for `task_state` to clear.

`CLOUDBUS_OPENSTACK_TIMEOUT` (default 300 s) bounds each wait; `CLOUDBUS_OPENSTACK_POLL`
(default 0.5 s) spaces the reads.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select

from cloudbus.core import errors, secrets
from cloudbus.core.db import Database
from cloudbus.core.logging import get_logger
from cloudbus.inventory.identity import tenant_table
from cloudbus.inventory.openstack import openstack_cloud_table, openstack_resource_table, openstack_tenant_table
from cloudbus.inventory.tenancy import account_resource_ref_table

log = get_logger(__name__)

UNREACHABLE = errors.register("OPENSTACK.1001", "Unable to reach or log in to the OpenStack cloud")
API_ERROR = errors.register("OPENSTACK.1002", "The OpenStack cloud refused or failed an operation")
WAIT_TIMEOUT = errors.register("OPENSTACK.1003", "An OpenStack resource did not reach the expected state in time")
NO_SDK = errors.register("OPENSTACK.1004", "openstacksdk is not installed")

# the metadata key (Nova, Cinder) on everything cloudbus creates; its value, and the tag
# (Nova, Neutron, Glance), is `tag(cloud uuid)`: what deleting the cloud sweeps away
TAG = "cloudbus"


def tag(cloud_uuid: str) -> str:
    return f"cloudbus-{cloud_uuid}"


def timeout() -> float:
    return float(os.environ.get("CLOUDBUS_OPENSTACK_TIMEOUT") or 300)


def _poll() -> float:
    return float(os.environ.get("CLOUDBUS_OPENSTACK_POLL") or 0.5)


@dataclass(frozen=True)
class Login:
    """How to log in to a cloud (the admin's project-scoped password login)."""

    authUrl: str
    regionName: str
    username: str
    password: str
    projectName: str
    userDomainName: str
    projectDomainName: str


# the cloud row's columns and AddOpenStackCloud's parameters of the same names
LOGIN_FIELDS = tuple(Login.__dataclass_fields__)


def connect(login: Login) -> Any:
    """An openstacksdk connection (blocking: call it through `run`); nothing is read from
    clouds.yaml or OS_* variables, so the registered login is the only one used."""
    try:
        import openstack.config
        from openstack import connection
    except ImportError:
        raise errors.fail(NO_SDK, "pip install 'cloudbus[openstack]' to drive OpenStack clouds") from None
    region = openstack.config.get_cloud_region(
        load_yaml_config=False,
        load_envvars=False,
        auth_type="password",
        auth={
            "auth_url": login.authUrl,
            "username": login.username,
            "password": login.password,
            "project_name": login.projectName,
            "user_domain_name": login.userDomainName,
            "project_domain_name": login.projectDomainName,
        },
        region_name=login.regionName,
        api_timeout=60,
    )
    return connection.Connection(config=region, app_name="cloudbus")


def check(conn: Any) -> None:
    """Log in and find the compute service in the region (blocking): raises on a wrong login,
    an unreachable Keystone or an unknown region."""
    conn.authorize()
    try:
        conn.compute.get_endpoint()
    except Exception as exc:  # openstacksdk's "not present in the service catalog", whatever its type
        raise errors.fail(UNREACHABLE, f"no compute service in region[{conn.config.region_name}]: {exc}") from None


async def run(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """`fn(*args, **kwargs)` in a worker thread; OpenStack's exceptions become coded errors
    naming `what` with OpenStack's own message as the cause."""
    try:
        return await asyncio.to_thread(fn, *args, **kwargs)
    except errors.CloudBusError as exc:
        if exc.error.cause is None:  # say what was being done, the driver's words as the cause
            raise errors.fail(exc.error.code, f"{what}: {exc.error.details}", exc.error) from None
        raise
    except Exception as exc:  # openstacksdk and keystoneauth raise many types; all are failures here
        raise translate(what, exc) from None


def every_project(conn: Any) -> dict[str, Any]:
    """The listing arguments that reach what `conn` may act on: every project for the admin's
    connection, its own project for a tenant's (Nova refuses `all_tenants` to a member)."""
    return {} if getattr(conn, "cloudbus_tenant", None) else {"all_projects": True}


def tenant_project(conn: Any) -> str | None:
    """The project a tenant's connection is scoped to; None for the admin's."""
    return conn.current_project_id if getattr(conn, "cloudbus_tenant", None) else None


def translate(what: str, exc: BaseException) -> errors.CloudBusError:
    from keystoneauth1 import exceptions as ks

    message = _message(exc)
    unreachable = (ks.ConnectFailure, ks.Unauthorized, ks.EndpointNotFound, ks.DiscoveryFailure, ks.ConnectTimeout)
    chain, seen = [], exc  # openstacksdk wraps keystoneauth's errors in its own
    while seen is not None and len(chain) < 5:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    login_failed = any(isinstance(e, unreachable) or _status(e) == 401 for e in chain)
    code = UNREACHABLE if login_failed else API_ERROR
    return errors.fail(code, f"{what}: {message}", errors.err(code, message))


def _status(exc: BaseException) -> int | None:
    return getattr(exc, "status_code", None) or getattr(exc, "http_status", None)


def _message(exc: BaseException) -> str:
    details = getattr(exc, "details", None)
    text = str(exc) or type(exc).__name__
    return f"{text} ({details})" if details and str(details) not in text else text


def wait(
    what: str,
    read: Callable[[], Any],
    done: Callable[[Any], bool],
    *,
    failed: Callable[[Any], str | None] = lambda _: None,
) -> Any:
    """Blocking (call through `run`): read anew until `done(obj)`; `failed(obj)` names a
    terminal failure; `read` returning None means gone (done when waiting for a delete)."""
    deadline = time.monotonic() + timeout()
    while True:
        obj = read()
        if done(obj):
            return obj
        if obj is not None and (reason := failed(obj)):
            raise errors.fail(API_ERROR, f"{what}: {reason}")
        if time.monotonic() >= deadline:
            state = getattr(obj, "status", None) if obj is not None else "gone"
            raise errors.fail(WAIT_TIMEOUT, f"{what}: still {state} after {timeout():.0f} s")
        time.sleep(_poll())


class Clouds:
    """The connections of the registered clouds -- the admin's, and each tenant's own
    project-scoped one -- and what discovery mapped (read-only here: the openstack service
    writes these tables)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        # (cloud uuid, tenant identity uuid or "") -> (the cloud row's lastOpDate, connection)
        self._connections: dict[tuple[str, str], tuple[Any, Any]] = {}
        self._mapped: dict[str, dict[str, Any]] = {}

    async def connection(self, cloud_uuid: str) -> Any:
        """The admin's connection to a cloud."""
        return await self._connect(await self._cloud(cloud_uuid), None)

    async def for_account(self, cloud_uuid: str, account_uuid: str | None) -> Any:
        """The connection to act for an account with: its tenant's own project-scoped one
        when the tenant has an identity in this cloud (OpenStack then keeps tenants apart
        itself), the admin's otherwise (the admin account's resources, a tenant registered
        before the cloud)."""
        if account_uuid is None:
            return await self.connection(cloud_uuid)
        return await self._as_tenant(cloud_uuid, tenant_table.c.accountUuid == account_uuid)

    async def for_resource(self, cloud_uuid: str, resource_uuid: str) -> Any:
        """`for_account` of the account owning a resource (a VM, a volume, a snapshot): one read
        finds the owner's identity in the cloud."""
        refs = account_resource_ref_table.c
        owned = tenant_table.c.accountUuid.in_(select(refs.accountUuid).where(refs.resourceUuid == resource_uuid))
        return await self._as_tenant(cloud_uuid, owned)

    async def _as_tenant(self, cloud_uuid: str, tenant: Any) -> Any:
        """The connection of the tenant `tenant` selects (a condition on tenant_info) in the
        cloud, or the admin's when it has no identity there."""
        cloud = await self._cloud(cloud_uuid)
        ot = openstack_tenant_table.c
        query = (
            select(openstack_tenant_table)
            .join(tenant_table, tenant_table.c.uuid == ot.tenantUuid)
            .where(tenant, ot.cloudUuid == cloud_uuid)
        )
        async with self.db.read() as conn:
            identity = (await conn.execute(query)).mappings().first()
        return await self._connect(cloud, dict(identity) if identity else None)

    async def _cloud(self, cloud_uuid: str) -> dict[str, Any]:
        async with self.db.read() as conn:
            row = (
                (await conn.execute(select(openstack_cloud_table).where(openstack_cloud_table.c.uuid == cloud_uuid)))
                .mappings()
                .first()
            )
        if row is None:
            raise errors.fail(UNREACHABLE, f"openstack cloud[uuid:{cloud_uuid}] is not registered")
        return dict(row)

    async def _connect(self, cloud: dict[str, Any], identity: dict[str, Any] | None) -> Any:
        key = (cloud["uuid"], identity["uuid"] if identity else "")
        cached = self._connections.get(key)
        if cached and cached[0] == cloud["lastOpDate"]:
            return cached[1]
        login = Login(**{k: cloud[k] for k in LOGIN_FIELDS} | {"password": secrets.decrypt(cloud["password"])})
        if identity is not None:  # the tenant's domain, project and user are all named by its id
            name = identity["tenantId"]
            login = replace(
                login,
                username=name,
                password=secrets.decrypt(identity["password"]),
                projectName=name,
                userDomainName=name,
                projectDomainName=name,
            )
        who = f" as tenant[{identity['tenantId']}]" if identity else ""
        # keystoneauth logs in on first use and again when the token expires
        made = await run(f"connect to openstack cloud[uuid:{cloud['uuid']}]{who}", connect, login)
        made.cloudbus_tenant = identity["tenantId"] if identity else None
        self._connections[key] = (cloud["lastOpDate"], made)
        return made

    def forget(self, cloud_uuid: str) -> None:
        self._connections = {k: v for k, v in self._connections.items() if k[0] != cloud_uuid}
        self._mapped = {k: v for k, v in self._mapped.items() if v["cloudUuid"] != cloud_uuid}

    async def mapped(self, resource_uuid: str) -> dict[str, Any]:
        """What discovery mapped cloudbus resource `resource_uuid` to (cloudUuid, openstackId ...)."""
        found = self._mapped.get(resource_uuid)
        if found is None:
            table = openstack_resource_table
            async with self.db.read() as conn:
                row = (
                    (await conn.execute(select(table).where(table.c.resourceUuid == resource_uuid))).mappings().first()
                )
            if row is None:
                raise errors.fail(API_ERROR, f"resource[uuid:{resource_uuid}] is not part of an openstack cloud")
            found = self._mapped[resource_uuid] = dict(row)
        return found

    async def of(self, resource_uuid: str) -> tuple[Any, dict[str, Any]]:
        """(connection, mapping) of a discovered resource."""
        mapping = await self.mapped(resource_uuid)
        return await self.connection(mapping["cloudUuid"]), mapping

    async def of_owner(self, where: str, owned: str) -> tuple[Any, dict[str, Any]]:
        """(connection, mapping) acting on resource `owned` (a VM, a volume) in the cloud of
        discovered resource `where` (its host, its storage): `for_resource`'s connection."""
        mapping = await self.mapped(where)
        return await self.for_resource(mapping["cloudUuid"], owned), mapping


def clouds_of(node: Any) -> Clouds:
    """The node's one `Clouds` (its drivers share the connections)."""
    clouds = getattr(node, "openstack_clouds", None)
    if clouds is None:
        clouds = node.openstack_clouds = Clouds(node.db)
    return clouds
