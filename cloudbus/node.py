"""A management node: the composition root that puts database, bus, drivers and services together.

Front doors (CLI, AMQP endpoint) start a node and then talk to it only through the bus.
Services are listed by import path, so nothing here (or in a front door) imports a
service's code directly into its own namespace.

A node started for one command (the embedded CLI: `cloudbus QueryZone` with CLOUDBUS_BUS_URL
unset) is a full member of the cloud like a server, on purpose. It cannot know that no
`cloudbus server` uses its database file (a server's default file is the same one under
CLOUDBUS_HOME) without reading the membership table, which is most of what membership costs
(its row written and deleted, one read, an idle takeover check: a few per cent of the
command, docs/performance/cli.md), and each part keeps a guarantee: its row stops a server
on the same file from taking the command's running work for a dead node's; its takeover at
start recovers the work of an earlier command killed half-way when no server runs; its
heartbeat keeps a long command (a DeleteZone of thousands of VMs) alive in the others'
eyes. What only a long-lived node needs (the beat loop's later rounds, record purges,
periodic tag sweeps) never comes due within a one-shot's life: nothing to switch off.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cloudbus.core.bus import Bus
from cloudbus.core.logging import get_logger
from cloudbus.core.sync import ChainQueues

if TYPE_CHECKING:  # a remote client imports this module for `make_bus` alone: no database code
    from cloudbus.core.db import Database
    from cloudbus.core.service import Service

log = get_logger(__name__)

SERVICES = [
    "cloudbus.services.management_node:ManagementNodeService",
    "cloudbus.services.portal:ApiPortal",
    "cloudbus.services.query:QueryService",
    "cloudbus.services.zone:ZoneService",
    "cloudbus.services.cluster:ClusterService",
    "cloudbus.services.host:HostService",
    "cloudbus.services.l2_network:L2NetworkService",
    "cloudbus.services.l3_network:L3NetworkService",
    "cloudbus.services.primary_storage:PrimaryStorageService",
    "cloudbus.services.backup_storage:BackupStorageService",
    "cloudbus.services.image:ImageService",
    "cloudbus.services.offering:OfferingService",
    "cloudbus.services.vm_instance:VmInstanceService",
    "cloudbus.services.volume:VolumeService",
    "cloudbus.services.tag:TagService",
    "cloudbus.services.security_group:SecurityGroupService",
    "cloudbus.services.identity:IdentityService",
    "cloudbus.services.openstack.service:OpenStackService",
]

HYPERVISORS = {
    "Simulator": "cloudbus.services.hypervisors.simulator:SimulatorDriver",
    "KVM": "cloudbus.services.hypervisors.kvm:KvmDriver",  # imports libvirt on first use
    "OpenStack": "cloudbus.services.openstack.compute:OpenStackDriver",  # openstacksdk on first use
}

# Storage type -> driver; types naming the same driver share one instance.
STORAGE_DRIVERS = {
    "SimulatorPrimaryStorage": "cloudbus.services.storage.simulator:SimulatorPrimaryStorageDriver",
    "LocalStorage": "cloudbus.services.storage.simulator:SimulatorPrimaryStorageDriver",
    "NFS": "cloudbus.services.storage.simulator:SimulatorPrimaryStorageDriver",
    "SimulatorBackupStorage": "cloudbus.services.storage.simulator:SimulatorBackupStorageDriver",
    "SftpBackupStorage": "cloudbus.services.storage.simulator:SimulatorBackupStorageDriver",
    "SharedMountPoint": "cloudbus.services.storage.qcow2:Qcow2PrimaryStorageDriver",
    "LocalDirBackupStorage": "cloudbus.services.storage.localdir:LocalDirBackupStorageDriver",
    "OpenStackCinder": "cloudbus.services.openstack.storage:CinderPrimaryStorageDriver",
    "OpenStackGlance": "cloudbus.services.openstack.storage:GlanceBackupStorageDriver",
}


# Seconds a hypervisor/storage driver command may take (ZStack's agent commands time out too).
DRIVER_TIMEOUT = 300.0


def load(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def make_bus(url: str | None, **kwargs: Any) -> Bus:
    """In-process bus when `url` is empty, RabbitMQ for `amqp://` URLs."""
    if not url:
        from cloudbus.core.bus.local import LocalBus

        return LocalBus(**kwargs)
    from cloudbus.core.bus.amqp import AmqpBus

    return AmqpBus(url, **kwargs)


class ManagementNode:
    def __init__(
        self,
        db: Database,
        bus: Bus,
        *,
        services: list[str] | None = None,
        heartbeat_interval: float = 5.0,
        heartbeat_misses: int = 3,
        on_fenced: Callable[[], None] | None = None,
    ) -> None:
        from cloudbus.services.records import Records

        self.db = db
        self.bus = bus
        self.chains = ChainQueues()
        self.records = Records(db, bus.node_uuid)
        self.heartbeat_interval = heartbeat_interval
        self.heartbeat_misses = heartbeat_misses
        self.on_fenced = on_fenced or (lambda: None)
        self.driver_timeout = DRIVER_TIMEOUT
        self.hypervisors: dict[str, Any] = {name: load(path)() for name, path in HYPERVISORS.items()}
        drivers: dict[str, Any] = {path: load(path)() for path in set(STORAGE_DRIVERS.values())}
        self.storage_drivers: dict[str, Any] = {name: drivers[path] for name, path in STORAGE_DRIVERS.items()}
        for driver in [*self.hypervisors.values(), *drivers.values()]:
            if hasattr(driver, "bind"):  # drivers that read their own service's tables (OpenStack's logins)
                driver.bind(self)
        self.services: list[Service] = [load(path)(self) for path in services or SERVICES]

    @property
    def uuid(self) -> str:
        return self.bus.node_uuid

    def hypervisor(self, hypervisor_type: str) -> Any:
        return self.hypervisors[hypervisor_type]

    def storage(self, storage_type: str) -> Any:
        """The driver of a primary or backup storage type (`NFS`, `SftpBackupStorage` ...)."""
        return self.storage_drivers[storage_type]

    async def start(self) -> None:
        from cloudbus.inventory.migrate import upgrade

        await self.db.start(migrate=upgrade)
        self.bus.secret = await bus_secret(self.db)
        for service in self.services:
            await self.bus.register(service)
        await self.bus.start()
        for service in self.services:
            await service.start()
        log.info("management node started", node=self.uuid, db=self.db.dialect)

    async def stop(self) -> None:
        for service in reversed(self.services):
            await service.stop()
        await self.bus.close()
        for service in reversed(self.services):
            await service.closed()
        await self.db.close()


async def bus_secret(db: Database) -> bytes:
    """The key this cloud's nodes sign requests to each other with (migration 0013 made it)."""
    from sqlalchemy import select

    from cloudbus.inventory.management_node import bus_secret_table

    async with db.read() as conn:
        secret = await conn.scalar(select(bus_secret_table.c.secret).where(bus_secret_table.c.id == "bus"))
    if secret is None:
        raise RuntimeError("the database has no bus secret (migration 0013 makes it)")
    return bytes.fromhex(secret)
