"""Host service: add (connect through the hypervisor driver), update, state, reconnect, delete, ping.

`state` is administrative intent (Enabled, Disabled, PreMaintenance, Maintenance);
`status` is connectivity (Connecting, Connected, Disconnected). A host that cannot be
connected when added is removed again and the API fails with HOST.1000.

Every `CLOUDBUS_HOST_PING_INTERVAL` seconds (default 60, ZStack's `host.ping.interval`) each
node pings the hosts the ring gives it: a Connected host that does not answer goes
Disconnected and its VMs Unknown; a Disconnected host that answers is reconnected. Each
(re)connection reads what runs on the host and has the VM service correct its VMs
(vm_instance/tracer.py); the hypervisor's versions are recorded as system tags.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from cloudbus import inventory
from cloudbus.apis.host import AddKVMHost, AddSimulatorHost, ChangeHostState, DeleteHost, ReconnectHost, UpdateHost
from cloudbus.apis.internal.host import (
    HYPERVISOR_PARALLELISM,
    AllocateHost,
    ApplyL2Network,
    ApplySecurityGroups,
    ApplyStoragePool,
    HypervisorCommand,
    HypervisorCommands,
    ReleaseL3Networks,
    ReturnHostCapacity,
    VmCommand,
)
from cloudbus.apis.internal.openstack import AddDiscoveredHost
from cloudbus.apis.internal.tag import RecordTags
from cloudbus.apis.internal.vm import SyncHostVms
from cloudbus.cascade.messages import CascadeStep
from cloudbus.core import errors
from cloudbus.core.logging import get_logger
from cloudbus.core.messages import Event, Reply
from cloudbus.core.periodic import Periodic
from cloudbus.core.service import handles
from cloudbus.core.timeouts import bounded
from cloudbus.inventory.cluster import CLUSTER
from cloudbus.inventory.declarations import Inventory
from cloudbus.inventory.host import HOST
from cloudbus.inventory.l2_network import L2_NETWORK, REALIZED_FIELDS, l2_network_cluster_ref_table
from cloudbus.inventory.l3_network import l3_network_dns_table
from cloudbus.inventory.primary_storage import POOL_FIELDS, PRIMARY_STORAGE, primary_storage_cluster_ref_table
from cloudbus.services import host_allocator
from cloudbus.services.base import ResourceService
from cloudbus.services.common import changes, load, new_row, set_fields
from cloudbus.services.hypervisors.base import HostFacts

log = get_logger(__name__)

ADD_HOST = "HOST.1000"
RECONNECT_HOST = "HOST.1002"

# (current state, stateEvent) -> states passed through, last one final. Same-state is a no-op.
STATE_MACHINE: dict[tuple[str, str], tuple[str, ...]] = {
    ("Enabled", "disable"): ("Disabled",),
    ("Disabled", "enable"): ("Enabled",),
    ("Enabled", "maintain"): ("PreMaintenance", "Maintenance"),
    ("Disabled", "maintain"): ("PreMaintenance", "Maintenance"),
    ("Maintenance", "maintain"): ("PreMaintenance", "Maintenance"),
    ("Maintenance", "enable"): ("Enabled",),
    ("Maintenance", "disable"): ("Disabled",),
    ("PreMaintenance", "enable"): ("Enabled",),
    ("PreMaintenance", "disable"): ("Disabled",),
}


class HostService(ResourceService):
    service_id = "host"

    def __init__(self, node: Any) -> None:
        super().__init__(node)
        interval = float(os.environ.get("CLOUDBUS_HOST_PING_INTERVAL") or 60)
        self.pinger = Periodic(self.ping_hosts, interval, "host ping", now=False)

    async def start(self) -> None:
        await self.pinger.start()

    async def stop(self) -> None:
        await self.pinger.stop()

    async def ping_hosts(self) -> None:
        """One round: ping the Connected and Disconnected hosts this node owns, side by side."""
        table = HOST.table
        async with self.db.read() as conn:
            rows = await conn.execute(select(table.c.uuid).where(table.c.status.in_(("Connected", "Disconnected"))))
            uuids = [row[0] for row in rows if self.bus.owner(row[0]) in (None, self.bus.node_uuid)]
        await asyncio.gather(*(self.ping(uuid) for uuid in uuids))

    async def ping(self, uuid: str) -> str:
        """Ping one host and act on the answer; returns its status afterwards."""
        async with self.db.read() as conn:
            host = await HOST.fetch_one(conn, uuid)
        if host is None:
            return "Deleted"
        if host["status"] == "Disconnected":
            try:
                return str((await self._connect(uuid))["status"])
            except errors.CloudBusError:
                return "Disconnected"
        try:
            await self.hypervisor(host, "ping")
        except errors.CloudBusError as exc:
            log.warning("host does not answer", host=uuid, error=exc.error.details)
            async with self.db.tx() as conn:
                await set_fields(conn, HOST, uuid, status="Disconnected")
            await self._status_changed(host, "Disconnected")
            await self.bus.call_ok(SyncHostVms(hostUuid=uuid, states=None))
            return "Disconnected"
        return str(host["status"])

    async def hypervisor(self, host: dict[str, Any], command: str) -> Any:
        """Run a driver command for `host`, bounded by the node's driver timeout."""
        driver = self.node.hypervisor(host["hypervisorType"])
        method = getattr(driver, command)
        what = f"hypervisor command[{command}] on host[uuid:{host['uuid']}]"
        return await bounded(method(host), self.node.driver_timeout, what)

    @handles(AddSimulatorHost)
    async def add_simulator_host(self, msg: AddSimulatorHost) -> dict[str, Any]:
        return await self._add(msg, "Simulator", cpuCapacity=msg.cpuCapacity, memoryCapacity=msg.memoryCapacity)

    @handles(AddKVMHost)
    async def add_kvm_host(self, msg: AddKVMHost) -> dict[str, Any]:
        uri = msg.libvirtUri or f"qemu+ssh://{msg.username}@{msg.managementIp}:{msg.sshPort}/system"
        return await self._add(
            msg, "KVM", username=msg.username, password=msg.password, sshPort=msg.sshPort, libvirtUri=uri
        )

    @handles(AddDiscoveredHost)
    async def add_discovered_host(self, msg: AddDiscoveredHost) -> dict[str, Any]:
        return await self._add(msg, msg.hypervisorType)

    async def _add(
        self, msg: AddSimulatorHost | AddKVMHost | AddDiscoveredHost, hypervisor: str, **fields: Any
    ) -> dict[str, Any]:
        """Insert the host Connecting, connect it; a host that cannot be connected is removed again."""
        uuid = msg.new_resource_uuid()
        async with self.db.tx() as conn:
            cluster = await load(conn, CLUSTER, msg.clusterUuid)
            if cluster["hypervisorType"] != hypervisor:
                raise errors.invalid_argument(
                    f"cluster[uuid:{msg.clusterUuid}] has hypervisorType[{cluster['hypervisorType']}], "
                    f"a {hypervisor} host can only be added to a cluster of hypervisorType[{hypervisor}]"
                )
            await self._check_ip_free(conn, msg.managementIp)
            row = new_row(
                uuid,
                name=msg.name,
                description=msg.description,
                zoneUuid=cluster["zoneUuid"],
                clusterUuid=msg.clusterUuid,
                managementIp=msg.managementIp,
                hypervisorType=hypervisor,
                state="Enabled",
                status="Connecting",
                totalCpuCapacity=0,
                availableCpuCapacity=0,
                totalMemoryCapacity=0,
                availableMemoryCapacity=0,
                **fields,
            )
            try:
                await conn.execute(insert(HOST.table).values(row))
            except IntegrityError:
                raise self._duplicate_ip(msg.managementIp) from None
        try:
            return await self._connect(uuid, first_time=True)
        except errors.CloudBusError as exc:
            await self.delete_rows(HOST, [uuid])
            raise errors.fail(ADD_HOST, exc.error.details, exc.error) from None

    async def _check_ip_free(self, conn: Any, ip: str, *, except_uuid: str | None = None) -> None:
        query = select(HOST.key).where(HOST.table.c.managementIp == ip)
        if except_uuid:
            query = query.where(HOST.key != except_uuid)
        if await conn.scalar(query) is not None:
            raise self._duplicate_ip(ip)

    @staticmethod
    def _duplicate_ip(ip: str) -> errors.CloudBusError:
        return errors.invalid_argument(f"there has been a host having managementIp[{ip}]")

    async def _connect(self, uuid: str, *, first_time: bool = False) -> dict[str, Any]:
        """Connecting -> driver.connect -> Connected with fresh capacity, or Disconnected."""
        async with self.db.tx() as conn:
            host = await load(conn, HOST, uuid)
            await set_fields(conn, HOST, uuid, status="Connecting")
        await self._status_changed(host, "Connecting")
        try:
            facts = await self.hypervisor(host, "connect")
        except errors.CloudBusError:
            if not first_time:
                async with self.db.tx() as conn:
                    await set_fields(conn, HOST, uuid, status="Disconnected")
                await self._status_changed(host, "Disconnected")
            raise
        async with self.db.tx() as conn:
            host = await load(conn, HOST, uuid)
            await set_fields(conn, HOST, uuid, status="Connected", **_capacity(host, facts))
            connected = await load(conn, HOST, uuid)
        if facts.systemTags:
            tags = RecordTags(resourceUuid=uuid, resourceType="HostVO", systemTags=list(facts.systemTags))
            await self.bus.call_ok(tags)
        await self._realize_for(connected)
        try:  # before the event: whoever hears "Connected" sees the VMs as they are
            await self._sync_vms(host)
        except errors.CloudBusError as exc:
            log.warning("vm states of a connected host not re-read", host=uuid, error=exc.error.details)
        await self._status_changed(connected, "Connected")
        return connected

    async def _sync_vms(self, host: dict[str, Any]) -> None:
        """Have the VM service correct the host's VMs from what its hypervisor runs."""
        driver = self.node.hypervisor(host["hypervisorType"])
        if not hasattr(driver, "vm_states"):
            return  # the simulator keeps no state apart from the database
        states = await bounded(driver.vm_states(host), self.node.driver_timeout, "reading a host's domains")
        reply = await self.bus.call_ok(SyncHostVms(hostUuid=host["uuid"], states=states))
        if reply.get("unknownDomains"):
            await self.bus.publish(
                Event(
                    name="host.unknown.vms",
                    data={"hostUuid": host["uuid"], "domains": reply.get("unknownDomains")},
                )
            )

    async def _status_changed(self, host: dict[str, Any], status: str) -> None:
        await self.bus.publish(
            Event(
                name="host.status.changed",
                data={"hostUuid": host["uuid"], "oldStatus": host["status"], "newStatus": status},
            )
        )

    # Internal contracts for VM placement (cloudbus/apis/internal/host.py); logic in host_allocator.

    @handles(AllocateHost, chain=False)
    async def allocate_host(self, msg: AllocateHost) -> Reply:
        return Reply(**await host_allocator.allocate(self.db, msg))

    @handles(ReturnHostCapacity, chain=False)
    async def return_capacity(self, msg: ReturnHostCapacity) -> None:
        if msg.ownerUuids:
            await host_allocator.release_owners(self.db, msg.ownerUuids)
        if msg.ownerUuid is not None:
            await host_allocator.release(
                self.db,
                msg.ownerUuid,
                host_uuid=msg.hostUuid,
                keep_host_uuid=msg.keepHostUuid,
                cpu=msg.cpuNum,
                memory=msg.memorySize,
            )
        elif msg.hostUuid and (msg.cpuNum or msg.memorySize):
            await host_allocator.give_back(self.db, msg.hostUuid, msg.cpuNum or 0, msg.memorySize or 0)

    @handles(HypervisorCommand, chain=False)
    async def hypervisor_command(self, msg: HypervisorCommand) -> Reply:
        args = dict(msg.args)
        async with self.db.read() as conn:
            host = await load(conn, HOST, msg.hostUuid)
            if args.get("destHostUuid"):  # a migration: the driver needs to reach the destination
                args["destHost"] = await load(conn, HOST, args["destHostUuid"])
            driver = self.node.hypervisor(host["hypervisorType"])
            if args.get("nics") and hasattr(driver, "realize_l2"):
                args["nics"] = await _with_l2_networks(conn, args["nics"])
            if args.get("nics") and getattr(driver, "needs_l3_details", False):
                args["nics"] = await _with_l3_networks(conn, args["nics"])
            if args.get("nics") and hasattr(driver, "apply_security_groups"):
                groups = await _security_groups(conn, [nic["uuid"] for nic in args["nics"]])
                args["nics"] = [{**nic, "securityGroups": groups[nic["uuid"]]} for nic in args["nics"]]
        return Reply(result=await self._vm_command(host, msg.command, msg.vmInstanceUuid, args))

    @handles(HypervisorCommands, chain=False)
    async def hypervisor_commands(self, msg: HypervisorCommands) -> Reply:
        async with self.db.read() as conn:
            host = await load(conn, HOST, msg.hostUuid)
        failed: dict[str, Any] = {}
        by_vm: dict[str, list[VmCommand]] = {}
        for vm in msg.vms:
            by_vm.setdefault(vm.vmInstanceUuid, []).append(vm)
        pending = iter(by_vm.values())

        async def worker() -> None:
            for commands in pending:  # one VM's commands in order, VMs side by side
                for vm in commands:
                    try:
                        await self._vm_command(host, msg.command, vm.vmInstanceUuid, vm.args)
                    except errors.CloudBusError as exc:
                        failed[vm.vmInstanceUuid] = exc.error.to_json()

        await asyncio.gather(*(worker() for _ in range(min(HYPERVISOR_PARALLELISM, len(by_vm)))))
        return Reply(failed=failed)

    async def _vm_command(self, host: dict[str, Any], command: str, vm_uuid: str | None, args: dict[str, Any]) -> Any:
        driver = self.node.hypervisor(host["hypervisorType"])
        what = f"hypervisor command[{command}] of vm[uuid:{vm_uuid}] on host[uuid:{host['uuid']}]"
        return await bounded(driver.vm_command(command, host, vm_uuid, args), self.node.driver_timeout, what)

    @handles(ApplySecurityGroups, chain=False)
    async def apply_security_groups(self, msg: ApplySecurityGroups) -> Reply:
        """Per host of the nics' VMs (where running, or last ran: a stopped OpenStack VM keeps its
        ports) whose hypervisor enforces groups itself, one driver call with those nics."""
        enforcing = self._hypervisors_with("apply_security_groups")
        if not enforcing:
            return Reply()
        vm, nic = inventory.get("VmInstance").table, inventory.get("VmNic").table
        host_uuid = func.coalesce(vm.c.hostUuid, vm.c.lastHostUuid)
        query = (
            select(host_uuid, nic.c.uuid)
            .select_from(nic.join(vm, vm.c.uuid == nic.c.vmInstanceUuid))
            .where(nic.c.uuid.in_(msg.vmNicUuids), vm.c.hypervisorType.in_(enforcing), host_uuid.is_not(None))
        )
        async with self.db.read() as conn:
            by_host: dict[str, list[str]] = {}
            for host, nic_uuid in await conn.execute(query):
                by_host.setdefault(host, []).append(nic_uuid)
            hosts = await HOST.fetch(conn, sorted(by_host))
            groups = await _security_groups(conn, [n for nics in by_host.values() for n in nics])
        for host in hosts:
            nics = [{"uuid": n, "securityGroups": groups[n]} for n in by_host[host["uuid"]]]
            driver = self.node.hypervisor(host["hypervisorType"])
            what = f"applying security groups on host[uuid:{host['uuid']}]"
            call = driver.apply_security_groups(host, nics, msg.deletedSecurityGroupUuids)
            await bounded(call, self.node.driver_timeout, what)
        return Reply()

    @handles(ReleaseL3Networks, chain=False)
    async def release_l3_networks(self, msg: ReleaseL3Networks) -> Reply:
        """Through one Connected host of each cluster the L3s' L2s are attached to, for the
        hypervisors that realise L3s themselves (nothing is read for the others)."""
        releasing = self._hypervisors_with("release_l3")
        if not releasing:
            return Reply()
        ref, cluster = l2_network_cluster_ref_table, CLUSTER.table
        for l3 in msg.l3Networks:
            query = (
                select(ref.c.clusterUuid)
                .select_from(ref.join(cluster, cluster.c.uuid == ref.c.clusterUuid))
                .where(ref.c.l2NetworkUuid == l3["l2NetworkUuid"], cluster.c.hypervisorType.in_(releasing))
            )
            async with self.db.read() as conn:
                clusters = list((await conn.execute(query)).scalars())
            done: set[str] = set()
            for host in await self._connected_in(clusters):
                if host["clusterUuid"] in done:
                    continue
                driver = self.node.hypervisor(host["hypervisorType"])
                what = f"releasing l3 network[uuid:{l3['uuid']}] on host[uuid:{host['uuid']}]"
                await bounded(driver.release_l3(host, l3), self.node.driver_timeout, what)
                done.add(host["clusterUuid"])
        return Reply()

    def _hypervisors_with(self, method: str) -> list[str]:
        """The hypervisor types whose driver has `method` (the optional parts of the interface)."""
        return [name for name, driver in self.node.hypervisors.items() if hasattr(driver, method)]

    @handles(ApplyL2Network, chain=False)
    async def apply_l2_network(self, msg: ApplyL2Network) -> Reply:
        failed: dict[str, Any] = {}
        for host in await self._connected_in(msg.clusterUuids):
            try:
                await self._apply_l2(host, msg.l2Network, realize=msg.realize)
            except errors.CloudBusError as exc:
                failed[host["uuid"]] = exc.error.to_json()
        return Reply(failed=failed)

    async def _apply_l2(self, host: dict[str, Any], l2: dict[str, Any], *, realize: bool) -> None:
        await self._apply(host, "l2", l2, realize=realize)

    @handles(ApplyStoragePool, chain=False)
    async def apply_storage_pool(self, msg: ApplyStoragePool) -> Reply:
        failed: dict[str, Any] = {}
        for host in await self._connected_in(msg.clusterUuids):
            try:
                await self._apply(host, "pool", msg.primaryStorage, realize=msg.realize)
            except errors.CloudBusError as exc:
                failed[host["uuid"]] = exc.error.to_json()
        return Reply(failed=failed)

    async def _connected_in(self, cluster_uuids: list[str]) -> list[dict[str, Any]]:
        table = HOST.table
        async with self.db.read() as conn:
            rows = await conn.execute(
                select(table.c.uuid).where(table.c.clusterUuid.in_(cluster_uuids), table.c.status == "Connected")
            )
            return await HOST.fetch(conn, [row[0] for row in rows])

    async def _apply(self, host: dict[str, Any], what: str, resource: dict[str, Any], *, realize: bool) -> None:
        """`realize_<what>` / `unrealize_<what>` of the host's driver (the simulator has neither)."""
        driver = self.node.hypervisor(host["hypervisorType"])
        method = getattr(driver, f"{'realize' if realize else 'unrealize'}_{what}", None)
        if method is not None:
            doing = (
                f"{'realizing' if realize else 'removing'} {what}[uuid:{resource['uuid']}] on host[uuid:{host['uuid']}]"
            )
            await bounded(method(host, resource), self.node.driver_timeout, doing)

    async def _realize_for(self, host: dict[str, Any], *, realize: bool = True) -> None:
        """A (re)connected host realises what its cluster has attached (L2 bridges, storage
        pools); a host leaving the cloud takes them down. A failure is logged, never raised."""
        l2, l2_ref = L2_NETWORK.table, l2_network_cluster_ref_table
        ps, ps_ref = PRIMARY_STORAGE.table, primary_storage_cluster_ref_table
        async with self.db.read() as conn:
            networks = await conn.execute(
                select(*(l2.c[k] for k in REALIZED_FIELDS))
                .select_from(l2.join(l2_ref, l2_ref.c.l2NetworkUuid == l2.c.uuid))
                .where(l2_ref.c.clusterUuid == host["clusterUuid"])
            )
            pools = await conn.execute(
                select(*(ps.c[k] for k in POOL_FIELDS))
                .select_from(ps.join(ps_ref, ps_ref.c.primaryStorageUuid == ps.c.uuid))
                .where(ps_ref.c.clusterUuid == host["clusterUuid"])
            )
            todo = [("l2", dict(r)) for r in networks.mappings()] + [("pool", dict(r)) for r in pools.mappings()]
        for what, resource in todo:
            try:
                await self._apply(host, what, resource, realize=realize)
            except errors.CloudBusError as exc:
                log.warning("host not in step with its cluster", host=host["uuid"], what=what, error=exc.error.details)

    @handles(UpdateHost)
    async def update(self, msg: UpdateHost) -> dict[str, Any]:
        async with self.db.tx() as conn:
            await load(conn, HOST, msg.uuid)
            if msg.managementIp is not None:
                await self._check_ip_free(conn, msg.managementIp, except_uuid=msg.uuid)
            try:
                await set_fields(conn, HOST, msg.uuid, **changes(msg, "name", "description", "managementIp"))
            except IntegrityError:
                raise self._duplicate_ip(msg.managementIp or "") from None
            return await load(conn, HOST, msg.uuid)

    @handles(ChangeHostState)
    async def change_state(self, msg: ChangeHostState) -> dict[str, Any]:
        async with self.db.read() as conn:
            host = await load(conn, HOST, msg.uuid)
        path = STATE_MACHINE.get((host["state"], msg.stateEvent))
        if path is None:
            return host  # already in the requested state
        for state in path:
            async with self.db.tx() as conn:
                await set_fields(conn, HOST, msg.uuid, state=state)
        async with self.db.read() as conn:
            return await load(conn, HOST, msg.uuid)

    @handles(ReconnectHost)
    async def reconnect(self, msg: ReconnectHost) -> dict[str, Any]:
        try:
            return await self._connect(msg.uuid)
        except errors.CloudBusError as exc:
            raise errors.fail(RECONNECT_HOST, exc.error.details, exc.error) from None

    @handles(DeleteHost)
    async def delete(self, msg: DeleteHost) -> None:
        await self.delete_cascade("Host", [msg.uuid], msg.deleteMode)

    async def on_check(self, inv: Inventory, step: CascadeStep) -> None:
        for host in await self.fetch(inv, step.uuids):
            await self.hypervisor(host, "prepare_delete")

    async def on_delete(self, inv: Inventory, step: CascadeStep, *, force: bool) -> None:
        for host in await self.fetch(inv, step.uuids):
            if host["status"] == "Connected":
                await self._realize_for(host, realize=False)
            try:
                await self.hypervisor(host, "delete")
            except errors.CloudBusError:
                if not force:
                    raise
        await self.delete_rows(inv, step.uuids)


def _capacity(host: dict[str, Any], facts: HostFacts) -> dict[str, Any]:
    """New totals from the driver; what is in use stays in use."""
    used_cpu = host["totalCpuCapacity"] - host["availableCpuCapacity"]
    used_memory = host["totalMemoryCapacity"] - host["availableMemoryCapacity"]
    return {
        "totalCpuCapacity": facts.cpuCapacity,
        "availableCpuCapacity": facts.cpuCapacity - used_cpu,
        "totalMemoryCapacity": facts.memoryCapacity,
        "availableMemoryCapacity": facts.memoryCapacity - used_memory,
        "cpuSockets": facts.cpuSockets,
        "cpuNum": facts.cpuNum,
        "architecture": facts.architecture,
    }


async def _with_l2_networks(conn: Any, nics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The nics a VM starts with, each with the L2 its L3 is on (what a host bridges it to)."""
    l3, l2 = inventory.get("L3Network").table, L2_NETWORK.table
    rows = await conn.execute(
        select(l3.c.uuid.label("l3"), *(l2.c[k] for k in REALIZED_FIELDS))
        .select_from(l3.join(l2, l2.c.uuid == l3.c.l2NetworkUuid))
        .where(l3.c.uuid.in_({nic["l3NetworkUuid"] for nic in nics}))
    )
    by_l3 = {row["l3"]: {k: row[k] for k in REALIZED_FIELDS} for row in rows.mappings()}
    return [{**nic, "l2Network": by_l3.get(nic["l3NetworkUuid"])} for nic in nics]


async def _with_l3_networks(conn: Any, nics: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The nics a VM starts with, each with its L3's ranges and DNS (what a cloud's driver
    realises the L3 as: OpenStack's Neutron subnet)."""
    l3, ranges = inventory.get("L3Network").table, inventory.get("IpRange").table
    dns = l3_network_dns_table
    wanted = {nic["l3NetworkUuid"] for nic in nics}
    found: dict[str, dict[str, Any]] = {}
    for row in (
        await conn.execute(select(l3.c.uuid, l3.c.name, l3.c.l2NetworkUuid).where(l3.c.uuid.in_(wanted)))
    ).mappings():
        found[row["uuid"]] = {**row, "ipRanges": [], "dns": []}
    query = select(*(ranges.c[k] for k in IP_RANGE_FIELDS)).where(ranges.c.l3NetworkUuid.in_(wanted))
    for row in (await conn.execute(query.order_by(ranges.c.startIp))).mappings():
        found[row["l3NetworkUuid"]]["ipRanges"].append(dict(row))
    query = select(dns.c.l3NetworkUuid, dns.c.dns).where(dns.c.l3NetworkUuid.in_(wanted)).order_by(dns.c.createDate)
    for row in (await conn.execute(query)).mappings():
        found[row["l3NetworkUuid"]]["dns"].append(row["dns"])
    return [{**nic, "l3Network": found.get(nic["l3NetworkUuid"])} for nic in nics]


IP_RANGE_FIELDS = ("l3NetworkUuid", "startIp", "endIp", "gateway", "networkCidr", "ipVersion")


async def _security_groups(conn: Any, nic_uuids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each nic's security groups in priority order, each with its rules: {uuid, name, rules}."""
    ref, group_t, rule_t = (
        inventory.get(n).table for n in ("VmNicSecurityGroupRef", "SecurityGroup", "SecurityGroupRule")
    )
    rows = await conn.execute(
        select(ref.c.vmNicUuid, group_t.c.uuid, group_t.c.name)
        .select_from(ref.join(group_t, group_t.c.uuid == ref.c.securityGroupUuid))
        .where(ref.c.vmNicUuid.in_(nic_uuids), group_t.c.state == "Enabled")
        .order_by(ref.c.vmNicUuid, ref.c.priority)
    )
    by_nic: dict[str, list[dict[str, Any]]] = {nic: [] for nic in nic_uuids}
    groups: dict[str, dict[str, Any]] = {}
    for nic, uuid, name in rows:
        group = groups.setdefault(uuid, {"uuid": uuid, "name": name, "rules": []})
        by_nic[nic].append(group)
    if groups:
        query = select(rule_t).where(rule_t.c.securityGroupUuid.in_(groups)).order_by(rule_t.c.type, rule_t.c.priority)
        for rule in (await conn.execute(query)).mappings():
            groups[rule["securityGroupUuid"]]["rules"].append({k: rule[k] for k in SECURITY_RULE_FIELDS})
    return by_nic


SECURITY_RULE_FIELDS = (
    "type",
    "ipVersion",
    "protocol",
    "state",
    "action",
    "srcIpRange",
    "dstIpRange",
    "dstPortRange",
    "remoteSecurityGroupUuid",
)
