"""Test support shipped with the package, so users can test against cloudbus too.

`Cloud` runs a management node and drives it the way users do:
- backend "local": LocalBus + the given database, API calls in-process;
- backend "amqp": AmqpBus + the given database, API calls from a separate client
  connection through RabbitMQ (so every API crosses the broker as JSON).

    async with Cloud.start(db_url, bus_url=None) as cloud:
        zone = await cloud.ok("CreateZone", name="z1")        # inventory or AssertionError
        reply = await cloud.api("DeleteZone", uuid=zone["uuid"])   # whole Reply
        cloud.sim.fail("connect")                             # the simulator driver
        async with cloud.logged_in("alice", "pw") as alice:   # the cloud as account alice sees it
            await alice.error("CreateZone", name="z2")            # ID.1002

Over the broker the cloud's own client logs in as `admin` first (CLOUDBUS_ADMIN_PASSWORD or
ZStack's `password`); embedded, a client without a session acts as admin.

`build_env()` brings up a topology in one call (ZStack's EnvSpec).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from cloudbus.apis.catalog import api as api_class
from cloudbus.apis.client import Client
from cloudbus.core.auth import Credentials, admin_password
from cloudbus.core.db import Database
from cloudbus.core.errors import CloudBusError
from cloudbus.core.messages import Reply, build
from cloudbus.node import ManagementNode, make_bus


class Cloud:
    def __init__(self, node: ManagementNode, client: Client, bus_url: str | None = None, **bus_options: Any) -> None:
        self.node = node
        self.client = client
        self.bus_url = bus_url
        self.bus_options = bus_options

    @classmethod
    @asynccontextmanager
    async def start(
        cls, db_url: str, bus_url: str | None = None, *, namespace: str = "cloudbus"
    ) -> AsyncIterator[Cloud]:
        bus_options = {"namespace": namespace} if bus_url else {}
        node = ManagementNode(Database(db_url), make_bus(bus_url, **bus_options))
        await node.start()
        try:
            client = Client(bus_url, **bus_options) if bus_url else Client(bus=node.bus)
            async with client:
                if bus_url:  # over the broker every API needs a session (embedded callers are admin)
                    await client.log_in("admin", admin_password())
                yield cls(node, client, bus_url, **bus_options)
        finally:
            await node.stop()

    @asynccontextmanager
    async def logged_in(self, account: str, password: str, *, user: str | None = None) -> AsyncIterator[Cloud]:
        """The same cloud as account `account` (or its user `user`) sees it: a client of its own,
        logged in with the password as typed."""
        async with self.connect() as client:
            await client.log_in(account, password, user=user)
            yield Cloud(self.node, client, self.bus_url, **self.bus_options)

    def connect(self, credentials: Credentials | None = None) -> Client:
        """A new client of this cloud (over the broker when it has one) sending `credentials`."""
        if self.bus_url:
            return Client(self.bus_url, credentials=credentials, **self.bus_options)
        return Client(bus=self.node.bus, credentials=credentials)

    @property
    def sim(self) -> Any:
        return self.node.hypervisor("Simulator")

    @property
    def db(self) -> Database:
        return self.node.db

    async def snapshot(self) -> dict[str, list[tuple[Any, ...]]]:
        return await snapshot(self.db)

    async def api(self, name: str, /, **params: Any) -> Reply:
        """Run API `name` the way a client does; bad parameters give a failed Reply too."""
        cls = api_class(name)
        if cls is None:
            raise AssertionError(f"no API named {name}")
        try:
            msg = build(cls, _drop_none(params))
        except CloudBusError as exc:
            return Reply.failure(exc.error)
        return await self.client.request(msg)

    async def ok(self, name: str, /, **params: Any) -> Any:
        reply = await self.api(name, **params)
        if not reply.success:
            raise AssertionError(f"{name} failed: {reply.error.to_json() if reply.error else reply}")
        if reply.inventory is not None:
            return reply.inventory
        if reply.inventories is not None:
            return reply.inventories
        return reply.total

    async def error(self, name: str, /, **params: Any) -> Any:
        """Run an API that must fail; returns its ErrorCode."""
        reply = await self.api(name, **params)
        if reply.success:
            raise AssertionError(f"{name} unexpectedly succeeded: {reply.to_json()}")
        return reply.error

    async def query(self, name: str, /, *conditions: tuple[str, str, Any], **params: Any) -> list[dict[str, Any]]:
        conds = [{"name": n, "op": op, "value": None if v is None else str(v)} for n, op, v in conditions]
        return await self.ok(name, conditions=conds, **params)

    async def build_env(
        self, *, zones: int = 1, clusters: int = 1, hosts: int = 1, cpu: int = 32, memory: int = 64 << 30
    ) -> dict[str, list[dict[str, Any]]]:
        """zones x clusters x hosts of simulator hosts; returns the inventories by kind."""
        env: dict[str, list[dict[str, Any]]] = {"zones": [], "clusters": [], "hosts": []}
        ip = 0
        for z in range(zones):
            zone = await self.ok("CreateZone", name=f"zone{z}")
            env["zones"].append(zone)
            for c in range(clusters):
                cluster = await self.ok(
                    "CreateCluster", name=f"cluster{z}-{c}", zoneUuid=zone["uuid"], hypervisorType="Simulator"
                )
                env["clusters"].append(cluster)
                for h in range(hosts):
                    ip += 1
                    env["hosts"].append(
                        await self.ok(
                            "AddSimulatorHost",
                            name=f"host{z}-{c}-{h}",
                            clusterUuid=cluster["uuid"],
                            managementIp=f"10.{ip >> 16 & 255}.{ip >> 8 & 255}.{ip & 255}",
                            cpuCapacity=cpu,
                            memoryCapacity=memory,
                        )
                    )
        return env

    async def build_vm_cloud(
        self,
        *,
        hosts: int = 1,
        cpu: int = 32,
        memory: int = 64 << 30,
        network_cidr: str = "10.128.0.0/16",
        storage: int = 1 << 50,
        cpu_num: int = 1,
        memory_size: int = 1 << 30,
    ) -> dict[str, Any]:
        """Everything CreateVmInstance needs, in one zone and cluster of simulator hosts: a primary
        storage, a backup storage with an image, an L2 + L3 over `network_cidr`, an instance offering.
        Returns the inventories by kind (`zone`, `cluster`, `hosts`, `ps`, `bs`, `image`, `l2`, `l3`,
        `ipRange`, `offering`)."""
        env = await self.build_env(hosts=hosts, cpu=cpu, memory=memory)
        zone, cluster = env["zones"][0]["uuid"], env["clusters"][0]["uuid"]
        ps = await self.ok(
            "AddSimulatorPrimaryStorage",
            name="ps",
            url="/ps",
            zoneUuid=zone,
            totalCapacity=storage,
            availableCapacity=storage,
        )
        await self.ok("AttachPrimaryStorageToCluster", primaryStorageUuid=ps["uuid"], clusterUuid=cluster)
        bs = await self.ok(
            "AddSimulatorBackupStorage", name="bs", url="/bs", totalCapacity=storage, availableCapacity=storage
        )
        await self.ok("AttachBackupStorageToZone", backupStorageUuid=bs["uuid"], zoneUuid=zone)
        image = await self.ok(
            "AddImage",
            name="img",
            url="http://images.example/img.qcow2",
            backupStorageUuids=[bs["uuid"]],
            mediaType="RootVolumeTemplate",
            format="qcow2",
        )
        l2 = await self.ok("CreateL2NoVlanNetwork", name="l2", zoneUuid=zone, physicalInterface="eth0")
        await self.ok("AttachL2NetworkToCluster", l2NetworkUuid=l2["uuid"], clusterUuid=cluster)
        l3 = await self.ok("CreateL3Network", name="l3", l2NetworkUuid=l2["uuid"])
        ip_range = await self.ok(
            "AddIpRangeByNetworkCidr", name="r", l3NetworkUuid=l3["uuid"], networkCidr=network_cidr
        )
        offering = await self.ok("CreateInstanceOffering", name="o", cpuNum=cpu_num, memorySize=memory_size)
        return {
            "zone": env["zones"][0],
            "cluster": env["clusters"][0],
            "hosts": env["hosts"],
            "ps": ps,
            "bs": bs,
            "image": image,
            "l2": l2,
            "l3": l3,
            "ipRange": ip_range,
            "offering": offering,
        }


# The cluster's own bookkeeping changes with every call and every heartbeat (a failed API is
# recorded too, so a retry gets the same answer): not part of the cloud's state.
BOOKKEEPING = frozenset({"api_record", "operation_journal", "management_node"})

# Tables whose rows belong to no zone, so DeleteZone leaves them (reference 4.4: a backup
# storage is only detached from the zone; images, offerings, security groups, network
# service providers and identities are global) — with the schema's version row.
ZONE_INDEPENDENT = frozenset(
    {
        "account",
        "account_resource_ref",
        "bus_secret",
        "identity_user",
        "quota",
        "shared_resource",
        "project",
        "session",
        "tenant_info",
        "tenant_serial",
        "alembic_version",
        "backup_storage",
        "image",
        "image_backup_storage_ref",
        "instance_offering",
        "disk_offering",
        "network_service_provider",
        "network_service_type",
        "security_group",
        "security_group_rule",
    }
)


async def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every cloud table, sorted: compare before/after to prove nothing changed."""
    from sqlalchemy import select

    from cloudbus.inventory.schema import metadata

    out: dict[str, list[tuple[Any, ...]]] = {}
    async with db.read() as conn:
        for table in metadata.sorted_tables:
            if table.name in BOOKKEEPING:
                continue
            rows = (await conn.execute(select(table))).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
    return out


def _drop_none(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}
