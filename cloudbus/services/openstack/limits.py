"""cloudbus's quotas in OpenStack (seed 004; blocking calls, run in worker threads): which
OpenStack limit stands for which cloudbus quota, and writing and reading them for one tenant's
identity in one cloud.

A cloudbus account is its tenant's Keystone domain; its default project is the tenant's Keystone
project, which holds all of the tenant's OpenStack resources. `MIRRORED` declares, once, each
OpenStack resource cloudbus limits: its service type, its unified-limit resource name, the
cloudbus quotas it is the sum of, the unit conversion (floored: OpenStack never allows more than
cloudbus), and the service's own per-project quotas that enforce it today. From it:
- one registered limit per resource in the cloud's region, made on first use (default: the
  quotas' defaults), left alone when one exists already;
- the account's quotas as limits on the tenant's domain;
- the default project's own quotas, where it has any, as limits on the tenant's project (a term
  it has no quota for takes the account's);
- the account's quotas as the project's Nova, Cinder and Neutron quota sets.

Keystone's strict_two_level model refuses a project limit above its domain's and a domain limit
below one of its projects', so project limits come down before the domain's change and go up
after. Keystone ignores an update to 0 (its driver tests the value's truth), so 0 is written by
deleting and making the limit anew. Deleting a domain leaves its own limits behind (Keystone
deletes a deleted project's limits by project id only), and Nova, Cinder and Neutron keep a
deleted project's quotas: `forget` removes both before an identity goes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cloudbus.core import errors
from cloudbus.core.units import GiB, MiB
from cloudbus.inventory.quota import QUOTAS

MISMATCH = errors.register("OPENSTACK.1141", "OpenStack holds other quotas than those cloudbus wrote")

INT_MAX = 0x7FFFFFFF  # Keystone's, Nova's and Cinder's bound on a limit (a signed INT column)

Key = tuple[str, str]  # (service type, resource name)


@dataclass(frozen=True)
class Mirrored:
    service: str  # the service type (service-types authority; Keystone's catalog may use an alias)
    resource: str  # the unified-limit resource name
    quotas: tuple[str, ...]  # the cloudbus quotas it is the sum of
    unit: int = 1  # cloudbus units (bytes) per OpenStack unit
    legacy: tuple[str, ...] = ()  # the service's own per-project quotas (openstacksdk attribute names)

    @property
    def key(self) -> Key:
        return (self.service, self.resource)

    def value(self, quotas: Mapping[str, int]) -> int:
        return min(sum(quotas[name] for name in self.quotas) // self.unit, INT_MAX)

    def default(self) -> int:
        return self.value({name: QUOTAS[name].default for name in self.quotas})

    def describe(self) -> str:
        unit = {1: "", MiB: " in MiB", GiB: " in GiB"}[self.unit]
        return f"cloudbus quota {' + '.join(self.quotas)}{unit}"


MIRRORED: tuple[Mirrored, ...] = (
    Mirrored("compute", "servers", ("vm.num",), legacy=("instances",)),
    Mirrored("compute", "class:VCPU", ("vm.cpuNum",), legacy=("cores",)),
    Mirrored("compute", "class:MEMORY_MB", ("vm.memorySize",), MiB, ("ram",)),
    Mirrored("image", "image_count_total", ("image.num",)),
    Mirrored("image", "image_size_total", ("image.size",), MiB),
    # a VM's root volume is a Cinder volume until the VM is expunged (a destroyed VM keeps it)
    Mirrored("block-storage", "volumes", ("volume.data.num", "vm.totalNum"), legacy=("volumes",)),
    Mirrored("block-storage", "gigabytes", ("volume.capacity",), GiB, ("gigabytes",)),
    Mirrored("block-storage", "snapshots", ("snapshot.volume.num",), legacy=("snapshots",)),
    Mirrored("network", "security_group", ("securityGroup.num",), legacy=("security_groups",)),
    # an L3 is a Neutron subnet, on a network of its own on the tenant networks
    Mirrored("network", "network", ("l3.num",), legacy=("networks", "subnets")),
)

# service type -> reading and writing a project's own quota set
QUOTA_SETS: dict[str, tuple[Callable[[Any, str], Any], Callable[..., Any]]] = {
    "compute": (lambda c, p: c.compute.get_quota_set(p), lambda c, p, **v: c.compute.update_quota_set(p, **v)),
    "block-storage": (
        lambda c, p: c.block_storage.get_quota_set(p),
        lambda c, p, **v: c.block_storage.update_quota_set(p, **v),
    ),
    "network": (lambda c, p: c.network.get_quota(p), lambda c, p, **v: c.network.update_quota(p, **v)),
}
REVERTS: dict[str, Callable[[Any, str], Any]] = {
    "compute": lambda c, p: c.compute.revert_quota_set(p),
    "block-storage": lambda c, p: c.block_storage.revert_quota_set(p),
    "network": lambda c, p: c.network.delete_quota(p),
}


@dataclass
class Limits:
    """What a tenant's identity holds (or should hold) for the resources of `MIRRORED`."""

    domain: dict[Key, int] = field(default_factory=dict)
    project: dict[Key, int] = field(default_factory=dict)
    quotas: dict[str, dict[str, int]] = field(default_factory=dict)  # service type -> its quota set
    ids: dict[tuple[str, Key], str] = field(default_factory=dict, compare=False)  # (level, key) -> limit id


@dataclass(frozen=True)
class Where:
    """A tenant's identity in one cloud, and that cloud's Keystone service ids."""

    domainId: str
    projectId: str
    region: str
    services: dict[str, str]  # service type -> Keystone service id (the services the cloud has)

    def mirrored(self) -> list[Mirrored]:
        return [m for m in MIRRORED if m.service in self.services]


def wanted(account: Mapping[str, int], project: Mapping[str, int]) -> Limits:
    """The limits an account's quotas (and its default project's own) stand for."""
    limits = Limits()
    for m in MIRRORED:
        if not all(name in account for name in m.quotas):
            continue  # no such quota on the account: OpenStack's own default applies
        limits.domain[m.key] = m.value(account)
        if any(name in project for name in m.quotas):
            limits.project[m.key] = m.value({**account, **project})
        for name in m.legacy:
            limits.quotas.setdefault(m.service, {})[name] = m.value(account)
    return limits


def locate(conn: Any, domain_id: str, project_id: str) -> Where:
    """Where to write, with the registered limits made where missing."""
    where = Where(domain_id, project_id, conn.config.region_name, _services(conn))
    _register(conn, where)
    return where


def _services(conn: Any) -> dict[str, str]:
    """Service type -> Keystone service id, of MIRRORED's services the cloud has (under any alias:
    Cinder is often `volumev3`)."""
    from os_service_types import ServiceTypes

    catalog = {s.type: s.id for s in conn.identity.services()}
    types = ServiceTypes()
    services = {}
    for service in dict.fromkeys(m.service for m in MIRRORED):
        found = [catalog[t] for t in types.get_all_types(service) if t in catalog]
        if found:
            services[service] = found[0]
    return services


def _register(conn: Any, where: Where) -> None:
    from openstack import exceptions

    held = {(r.service_id, r.resource_name) for r in conn.identity.registered_limits(region_id=where.region)}
    for m in where.mirrored():
        service = where.services[m.service]
        if (service, m.resource) in held:
            continue
        try:
            conn.identity.create_registered_limit(
                service_id=service,
                region_id=where.region,
                resource_name=m.resource,
                default_limit=m.default(),
                description=m.describe(),
            )
        except exceptions.ConflictException:
            pass  # made meanwhile by another node or another cloudbus on this cloud


def read(conn: Any, where: Where) -> Limits:
    keys = {(where.services[m.service], m.resource): m.key for m in where.mirrored()}
    limits = Limits()
    levels = {"domain": {"domain_id": where.domainId}, "project": {"project_id": where.projectId}}
    for level, owner in levels.items():  # domain_id is no server-side filter: openstacksdk filters it
        for limit in conn.identity.limits(region_id=where.region, **owner):
            if (key := keys.get((limit.service_id, limit.resource_name))) is not None:
                getattr(limits, level)[key] = limit.resource_limit
                limits.ids[(level, key)] = limit.id
    for service in dict.fromkeys(m.service for m in where.mirrored() if m.legacy):
        names = [name for m in where.mirrored() if m.service == service for name in m.legacy]
        quota_set = QUOTA_SETS[service][0](conn, where.projectId)
        limits.quotas[service] = {name: getattr(quota_set, name) for name in names}
    return limits


def write(conn: Any, where: Where, limits: Limits, held: Limits | None = None) -> None:
    """Make the identity hold `limits` (a limit absent from it is deleted), changing only what
    differs from what it `held` (read anew when not given)."""
    held = held if held is not None else read(conn, where)

    def put(level: str, key: Key, value: int | None) -> None:
        now, limit_id = getattr(held, level).get(key), held.ids.get((level, key))
        if limit_id is not None and (value is None or (value == 0 and now != 0)):
            conn.identity.delete_limit(limit_id)
            limit_id = None
        if value is None:
            return
        if limit_id is None:
            owner = {"domain_id": where.domainId} if level == "domain" else {"project_id": where.projectId}
            conn.identity.create_limit(
                service_id=where.services[key[0]],
                region_id=where.region,
                resource_name=key[1],
                resource_limit=value,
                description=f"cloudbus {level} limit",
                **owner,
            )
        elif now != value:
            conn.identity.update_limit(limit_id, resource_limit=value)

    def lower(key: Key) -> bool:
        now, wanted = held.project.get(key), limits.project.get(key)
        return now is not None and (wanted is None or wanted < now)

    keys = [m.key for m in where.mirrored()]
    for key in filter(lower, keys):
        put("project", key, limits.project.get(key))
    for key in keys:
        put("domain", key, limits.domain.get(key))
    for key in keys:
        if not lower(key):
            put("project", key, limits.project.get(key))
    for service, values in limits.quotas.items():
        changed = {name: v for name, v in values.items() if held.quotas.get(service, {}).get(name) != v}
        if changed and service in where.services:
            QUOTA_SETS[service][1](conn, where.projectId, **changed)


def write_checked(conn: Any, where: Where, limits: Limits, held: Limits) -> None:
    """`write`, then read everything back: MISMATCH when OpenStack holds anything else."""
    write(conn, where, limits, held)
    found = read(conn, where)
    present = {m.key for m in where.mirrored()}
    expected = Limits(
        domain={key: v for key, v in limits.domain.items() if key in present},
        project={key: v for key, v in limits.project.items() if key in present},
        quotas={service: v for service, v in limits.quotas.items() if service in where.services},
    )
    if found != expected:
        wrong = [
            f"{part} {key}: {getattr(found, part).get(key)} instead of {getattr(expected, part).get(key)}"
            for part in ("domain", "project", "quotas")
            for key in {**getattr(found, part), **getattr(expected, part)}
            if getattr(found, part).get(key) != getattr(expected, part).get(key)
        ]
        raise errors.fail(MISMATCH, f"domain[{where.domainId}] and project[{where.projectId}] hold {'; '.join(wrong)}")


def forget(conn: Any, domain_id: str, project_id: str) -> None:
    """Before an identity goes: its domain's limits, and the project's own quota sets."""
    for limit in conn.identity.limits(domain_id=domain_id):
        conn.identity.delete_limit(limit)
    services = _services(conn)
    for service, revert in REVERTS.items():
        if service in services:
            revert(conn, project_id)
