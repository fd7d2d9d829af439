"""The OpenStack hypervisor driver: a cloudbus host is a nova-compute, a VM a Nova server.

A VM's server is named by the VM's uuid and tagged `cloudbus`; it boots from its root volume
(a Cinder volume the primary storage made from the image) through block_device_mapping_v2,
with one Neutron port per nic carrying the IP and MAC cloudbus allocated, on the network and
subnet that realise the nic's L3 (made on first use, named by the L3's uuid). Data volumes are
attached once the server is ACTIVE. A start that fails part-way deletes the server and the
ports it made before failing. Volumes outlive servers (`delete_on_termination` false): they
are the primary storage's, expunged through it.

A stopped VM keeps its server (SHUTOFF); a VM whose server vanished is started by making a
new one from the same root volume. A start gives a server whose flavor no longer matches the
VM's CPUs and memory (ChangeInstanceOffering while stopped) the right one first: Nova's resize,
confirmed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from cloudbus.core import errors
from cloudbus.core.units import MiB
from cloudbus.services.hypervisors.base import HostFacts, HypervisorDriver
from cloudbus.services.openstack import connection as osc
from cloudbus.services.openstack import security
from cloudbus.services.openstack.connection import TAG, clouds_of, every_project, run, tag, tenant_project, wait

PLACED_ELSEWHERE = errors.register(
    "OPENSTACK.1006", "Nova placed a tenant's server on another compute than the one cloudbus chose"
)

DEFAULT_PORTS = {"http": 80, "https": 443}

# Nova server status -> cloudbus VM state (what the tracer corrects a VM to)
SERVER_STATES = {
    "ACTIVE": "Running",
    "SHUTOFF": "Stopped",
    "PAUSED": "Paused",
    "SUSPENDED": "Paused",
    "BUILD": "Starting",
    "REBOOT": "Rebooting",
    "HARD_REBOOT": "Rebooting",
    "RESIZE": "Running",
    "VERIFY_RESIZE": "Running",
    "ERROR": "Unknown",
}


def volume_id(install_path: str | None) -> str:
    """The Cinder volume id in a volume's installPath (`cinder://<id>`)."""
    if not install_path or not install_path.startswith("cinder://"):
        raise errors.operation_error(f"volume installPath[{install_path}] is not a Cinder volume")
    return install_path.removeprefix("cinder://")


class OpenStackDriver(HypervisorDriver):
    hypervisor_type = "OpenStack"
    # a start is given each nic's L3 (ranges, gateway, DNS): the driver realises it in Neutron
    needs_l3_details = True

    def __init__(self) -> None:
        self._l3_locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def bind(self, node: Any) -> None:
        self.clouds = clouds_of(node)

    # --- hosts ----------------------------------------------------------------------

    async def connect(self, host: dict[str, Any]) -> HostFacts:
        conn, mapping = await self.clouds.of(host["uuid"])
        return await run(f"read nova-compute[{mapping['openstackName']}]", _facts, conn, mapping)

    async def ping(self, host: dict[str, Any]) -> None:
        conn, mapping = await self.clouds.of(host["uuid"])
        await run(f"ping nova-compute[{mapping['openstackName']}]", _compute_up, conn, mapping["openstackName"])

    async def prepare_delete(self, host: dict[str, Any]) -> None:
        return None  # OpenStack's computes are not cloudbus's to remove

    async def delete(self, host: dict[str, Any]) -> None:
        return None

    async def vm_states(self, host: dict[str, Any]) -> dict[str, str]:
        """Every server on this compute (cloudbus's, named by VM uuid, and others): name -> state."""
        conn, mapping = await self.clouds.of(host["uuid"])

        def states() -> dict[str, str]:
            servers = conn.compute.servers(all_projects=True, compute_host=mapping["openstackName"])
            return {s.name: SERVER_STATES.get(s.status, "Unknown") for s in servers}

        return await run(f"list the servers of nova-compute[{mapping['openstackName']}]", states)

    # --- VM commands ------------------------------------------------------------------

    async def startVm(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        admin, mapping = await self.clouds.of(host["uuid"])
        conn = await self.clouds.for_resource(mapping["cloudUuid"], vm_uuid)
        zone = (await self.clouds.mapped(host["clusterUuid"]))["openstackName"]
        l2s = {}
        for nic in args.get("nics") or []:
            l2 = nic["l3Network"]["l2NetworkUuid"]
            l2s[l2] = await self.clouds.mapped(l2)
        where = (zone, mapping["openstackName"])
        label = tag(mapping["cloudUuid"])
        return await run(
            f"start vm[uuid:{vm_uuid}] on openstack", self._start, conn, admin, vm_uuid, args, where, l2s, label
        )

    def _start(
        self,
        conn: Any,
        admin: Any,
        vm_uuid: str,
        args: dict[str, Any],
        where: tuple[str, str],
        l2s: dict[str, Any],
        label: str,
    ) -> dict[str, Any]:
        """Boot (or power on) the VM's server as its owner (`conn`); the admin (`admin`) makes
        what a tenant may not: flavors, the L3's network and subnet, and the ports on them,
        given to the owner's project."""
        server = find_server(conn, vm_uuid)
        if server is not None:
            if resize(conn, admin, server, int(args["cpuNum"]), int(args["memorySize"])):
                server = conn.compute.get_server(server.id)
            if server.status == "SHUTOFF":
                conn.compute.start_server(server)
            elif server.status == "PAUSED":
                conn.compute.unpause_server(server)
            return _summary(wait_server(conn, server.id, "ACTIVE", f"start server of vm[uuid:{vm_uuid}]"))
        volumes = sorted(args.get("volumes") or [], key=lambda v: v.get("deviceId") or 0)
        root = next((v for v in volumes if v.get("type") == "Root"), None)
        if root is None:
            raise errors.operation_error(f"vm[uuid:{vm_uuid}] has no root volume to boot from")
        flavor = ensure_flavor(admin, int(args["cpuNum"]), int(args["memorySize"]))
        project = tenant_project(conn)
        made_ports: list[Any] = []
        try:
            for nic in sorted(args.get("nics") or [], key=lambda n: n.get("deviceId") or 0):
                l2 = l2s[nic["l3Network"]["l2NetworkUuid"]]
                made_ports.append(self._port(admin, nic, l2, label, project))
            server = _boot(
                conn,
                admin,
                where,
                name=vm_uuid,
                flavor_id=flavor.id,
                networks=[{"port": p.id} for p in made_ports] or "none",
                block_device_mapping=[
                    {
                        "boot_index": 0,
                        "uuid": volume_id(root.get("installPath")),
                        "source_type": "volume",
                        "destination_type": "volume",
                        "delete_on_termination": False,
                    }
                ],
                tags=[label],
                metadata={TAG: label},
            )
            server = wait_server(conn, server.id, "ACTIVE", f"boot server of vm[uuid:{vm_uuid}]")
            placed = admin.compute.get_server(server.id).compute_host if conn is not admin else where[1]
            if placed != where[1]:
                raise errors.fail(
                    PLACED_ELSEWHERE,
                    f"nova placed the server of vm[uuid:{vm_uuid}] on compute[{placed}], not on [{where[1]}]",
                )
            for volume in volumes:
                if volume is not root:
                    attach(conn, server.id, volume_id(volume.get("installPath")))
        except BaseException:
            delete_server(conn, vm_uuid, label)
            for port in made_ports:
                admin.network.delete_port(port, ignore_missing=True)
            raise
        return _summary(server)

    def _port(self, conn: Any, nic: dict[str, Any], l2: dict[str, Any], label: str, project: str | None) -> Any:
        """The nic's port (made, or found from an earlier try) on its L3's network and subnet,
        in `project` (the VM owner's; the admin's own when None)."""
        network, subnet = self._l3(conn, nic["l3Network"], l2, label)
        if project and project != network.project_id and not network.is_shared:
            _share_network(conn, network, project)
        existing = next(iter(conn.network.ports(name=nic["uuid"], network_id=network.id)), None)
        if existing is not None:
            return existing
        groups = [security.sync_group(conn, group, label) for group in nic.get("securityGroups") or []]
        port = conn.network.create_port(
            name=nic["uuid"],
            network_id=network.id,
            mac_address=nic["mac"],
            fixed_ips=[{"subnet_id": subnet.id, "ip_address": nic["ip"]}] if nic.get("ip") else [],
            **({"project_id": project} if project else {}),
            **security.port_fields(groups),
        )
        try:  # openstacksdk sends no tags with a create: tagged right after
            _tag(conn, port, label)
        except BaseException:
            conn.network.delete_port(port, ignore_missing=True)
            raise
        return port

    def _l3(self, conn: Any, l3: dict[str, Any], l2: dict[str, Any], label: str) -> tuple[Any, Any]:
        """The Neutron network and subnet of an L3, made on first use. A provider-network L2's
        L3s are subnets of that network; a tenant L2's each get a network of their own."""
        with self._locks_lock:
            lock = self._l3_locks.setdefault(l3["uuid"], threading.Lock())
        with lock:
            if l2.get("openstackId"):
                network = conn.network.get_network(l2["openstackId"])
            else:
                network = next(iter(conn.network.networks(name=l3["uuid"])), None) or conn.network.create_network(
                    name=l3["uuid"], description=f"cloudbus L3 {l3['name']}"
                )
                _tag(conn, network, label)
            subnet = next(iter(conn.network.subnets(name=l3["uuid"], network_id=network.id)), None)
            if subnet is None:
                ranges = l3.get("ipRanges") or []
                if not ranges:
                    raise errors.operation_error(f"l3 network[uuid:{l3['uuid']}] has no IP range to make a subnet of")
                subnet = conn.network.create_subnet(
                    name=l3["uuid"],
                    network_id=network.id,
                    ip_version=int(ranges[0]["ipVersion"]),
                    cidr=ranges[0]["networkCidr"],
                    gateway_ip=ranges[0]["gateway"],
                    allocation_pools=[{"start": r["startIp"], "end": r["endIp"]} for r in ranges],
                    dns_nameservers=l3.get("dns") or [],
                    enable_dhcp=False,  # cloudbus allocates the addresses
                )
                _tag(conn, subnet, label)
            return network, subnet

    async def apply_security_groups(self, host: dict[str, Any], nics: list[dict[str, Any]], deleted: list[str]) -> None:
        """The nics' ports get their groups ({uuid, securityGroups: [{uuid, name, rules}]}), each
        group its rules; the Neutron groups of `deleted` cloudbus groups go."""
        conn, mapping = await self.clouds.of(host["uuid"])
        label = tag(mapping["cloudUuid"])
        await run("apply security groups in neutron", security.apply, conn, nics, label, deleted)

    async def release_l3(self, host: dict[str, Any], l3: dict[str, Any]) -> None:
        """An L3 was deleted: its subnet, and the network made for it (never a provider network), go."""
        conn, mapping = await self.clouds.of(host["uuid"])
        label = tag(mapping["cloudUuid"])

        def release() -> None:
            for subnet in list(conn.network.subnets(name=l3["uuid"], tags=label)):
                conn.network.delete_subnet(subnet, ignore_missing=True)
            for network in list(conn.network.networks(name=l3["uuid"], tags=label)):
                conn.network.delete_network(network, ignore_missing=True)

        await run(f"remove the neutron network of l3[uuid:{l3['uuid']}]", release)

    async def stopVm(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        def stop(compute: Any, server: Any) -> None:
            if server.status != "SHUTOFF":
                compute.stop_server(server)

        return await self._act(host, vm_uuid, "stop", stop, "SHUTOFF")

    async def rebootVm(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        kind = "HARD" if args.get("type") == "hard" else "SOFT"
        return await self._act(host, vm_uuid, "reboot", lambda compute, s: compute.reboot_server(s, kind), "ACTIVE")

    async def pauseVm(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        return await self._act(host, vm_uuid, "pause", lambda compute, s: compute.pause_server(s), "PAUSED")

    async def resumeVm(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        return await self._act(host, vm_uuid, "resume", lambda compute, s: compute.unpause_server(s), "ACTIVE")

    async def _act(
        self, host: dict[str, Any], vm_uuid: str, what: str, act: Callable[[Any, Any], Any], status: str
    ) -> dict[str, Any]:
        """`act(conn.compute, server)` on the VM's server, then wait for the server to reach `status`."""
        conn, _ = await self.clouds.of_owner(host["uuid"], vm_uuid)

        def run_it() -> dict[str, Any]:
            server = _server(conn, vm_uuid)
            act(conn.compute, server)
            return _summary(wait_server(conn, server.id, status, f"{what} server of vm[uuid:{vm_uuid}]"))

        return await run(f"{what} vm[uuid:{vm_uuid}] on openstack", run_it)

    async def destroyVm(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        conn, mapping = await self.clouds.of_owner(host["uuid"], vm_uuid)
        await run(f"destroy vm[uuid:{vm_uuid}] on openstack", delete_server, conn, vm_uuid, tag(mapping["cloudUuid"]))
        return {}

    async def attachVolume(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        conn, _ = await self.clouds.of_owner(host["uuid"], vm_uuid)
        volume = volume_id((args.get("volume") or {}).get("installPath"))
        await run(f"attach volume to vm[uuid:{vm_uuid}]", lambda: attach(conn, _server(conn, vm_uuid).id, volume))
        return {}

    async def detachVolume(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        conn, _ = await self.clouds.of_owner(host["uuid"], vm_uuid)
        volume = volume_id((args.get("volume") or {}).get("installPath"))

        def detach() -> None:
            server = find_server(conn, vm_uuid)
            if server is not None:
                conn.compute.delete_volume_attachment(server, volume, ignore_missing=True)
            wait_volume(conn, volume, "available", f"detach volume[{volume}]")

        await run(f"detach volume from vm[uuid:{vm_uuid}]", detach)
        return {}

    async def attachNic(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        """A new nic of a VM: its port (as a start makes them), attached to the server by Nova."""
        conn, mapping = await self.clouds.of_owner(host["uuid"], vm_uuid)
        admin = await self.clouds.connection(mapping["cloudUuid"])
        label = tag(mapping["cloudUuid"])
        (nic,) = args["nics"]
        l2 = await self.clouds.mapped(nic["l3Network"]["l2NetworkUuid"])

        def attach_port() -> None:
            server = _server(conn, vm_uuid)
            port = self._port(admin, nic, l2, label, tenant_project(conn))
            try:
                if port.device_id != server.id:
                    conn.compute.create_server_interface(server, port_id=port.id)
                wait(
                    f"attach port[{port.id}] to server[{server.id}]",
                    lambda: admin.network.find_port(port.id, ignore_missing=True),
                    lambda p: p is not None and p.device_id == server.id,
                )
            except BaseException:
                admin.network.delete_port(port, ignore_missing=True)
                raise

        await run(f"attach nic[uuid:{nic['uuid']}] to vm[uuid:{vm_uuid}]", attach_port)
        return {}

    async def detachNic(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        """The nic's port leaves the server (Nova's interface detach) and is deleted."""
        conn, mapping = await self.clouds.of_owner(host["uuid"], vm_uuid)
        admin = await self.clouds.connection(mapping["cloudUuid"])
        label = tag(mapping["cloudUuid"])

        def detach() -> None:
            server = find_server(conn, vm_uuid)
            for port in list(admin.network.ports(name=args["nicUuid"], tags=label)):
                if server is not None and port.device_id == server.id:
                    conn.compute.delete_server_interface(port.id, server=server)
                    wait(
                        f"detach port[{port.id}] from server[{server.id}]",
                        lambda port=port: admin.network.find_port(port.id, ignore_missing=True),
                        lambda p: p is None or p.device_id != server.id,
                    )
                admin.network.delete_port(port, ignore_missing=True)

        await run(f"detach nic[uuid:{args['nicUuid']}] from vm[uuid:{vm_uuid}]", detach)
        return {}

    async def consoleAddress(self, host: dict[str, Any], vm_uuid: str, args: dict[str, Any]) -> dict[str, Any]:
        conn, _ = await self.clouds.of_owner(host["uuid"], vm_uuid)

        def console() -> dict[str, Any]:
            url = conn.compute.create_console(_server(conn, vm_uuid), console_type="novnc")["url"]
            where = urlsplit(url)
            return {
                "hostIp": where.hostname,
                "port": where.port or DEFAULT_PORTS.get(where.scheme),
                "protocol": "vnc",
                "url": url,
            }

        return await run(f"console of vm[uuid:{vm_uuid}]", console)


# --- blocking helpers (run in worker threads) ---------------------------------------------


def _boot(conn: Any, admin: Any, where: tuple[str, str], **fields: Any) -> Any:
    """Create a server on cloudbus's compute (`zone:compute`, Nova's forced host). Nova lets the
    admin force a host and, by default policy, no project member: a tenant's server is then
    placed by Nova's scheduler within the zone, and the caller checks it landed on the compute
    cloudbus chose (always so in a zone of one compute, or where the operator's policy lets
    members force hosts)."""
    from openstack.exceptions import ForbiddenException

    zone, compute = where
    try:
        return conn.compute.create_server(availability_zone=f"{zone}:{compute}", **fields)
    except ForbiddenException:
        if conn is admin:
            raise
    return conn.compute.create_server(availability_zone=zone, **fields)


def _facts(conn: Any, mapping: dict[str, Any]) -> HostFacts:
    _compute_up(conn, mapping["openstackName"])
    hypervisor = conn.compute.get_hypervisor(mapping["openstackId"])
    inventories = {i.resource_class: i for i in conn.placement.resource_provider_inventories(hypervisor.id)}

    def usable(resource: str) -> int:
        item = inventories.get(resource)
        if item is None:
            return 0
        return int((item.total - (item.reserved or 0)) * (item.allocation_ratio or 1.0))

    cpus = usable("VCPU")
    return HostFacts(
        cpuCapacity=cpus,
        memoryCapacity=usable("MEMORY_MB") * MiB,
        cpuNum=cpus,
        systemTags=(f"openstack::hypervisor::{hypervisor.name}",),
    )


def _compute_up(conn: Any, compute_host: str) -> None:
    services = list(conn.compute.services(binary="nova-compute", host=compute_host))
    if not services:
        raise errors.fail(osc.API_ERROR, f"nova-compute[{compute_host}] is not in the cloud any more")
    service = services[0]
    if service.state != "up" or service.status != "enabled":
        raise errors.fail(osc.API_ERROR, f"nova-compute[{compute_host}] is {service.state}/{service.status}")


def find_server(conn: Any, vm_uuid: str) -> Any:
    """The server of a VM (named by its uuid), or None."""
    return next(iter(conn.compute.servers(name=f"^{vm_uuid}$", **every_project(conn))), None)


def _server(conn: Any, vm_uuid: str) -> Any:
    server = find_server(conn, vm_uuid)
    if server is None:
        raise errors.fail(osc.API_ERROR, f"vm[uuid:{vm_uuid}] has no server in openstack")
    return server


def _summary(server: Any) -> dict[str, Any]:
    return {"serverId": server.id, "status": server.status}


def wait_server(conn: Any, server_id: str, status: str, what: str) -> Any:
    def failed(server: Any) -> str | None:
        if server.status == "ERROR":
            fault = server.fault or {}
            return f"server went ERROR: {fault.get('message') or 'no fault recorded'}"
        return None

    return wait(
        what,
        lambda: conn.compute.find_server(server_id, ignore_missing=True, **every_project(conn)),
        lambda s: s is not None and s.status == status and not s.task_state,
        failed=failed,
    )


def wait_volume(conn: Any, volume: str, status: str, what: str) -> Any:
    return wait(
        what,
        lambda: conn.block_storage.find_volume(volume, ignore_missing=True, **every_project(conn)),
        lambda v: v is not None and v.status == status,
        failed=lambda v: f"volume went {v.status}" if v.status.startswith("error") else None,
    )


def attach(conn: Any, server_id: str, volume: str) -> None:
    conn.compute.create_volume_attachment(server_id, volume)
    wait_volume(conn, volume, "in-use", f"attach volume[{volume}]")


def delete_server(conn: Any, vm_uuid: str, label: str) -> None:
    """Delete the VM's server and the ports cloudbus made for it; done if there is none."""
    server = find_server(conn, vm_uuid)
    if server is None:
        return
    ports = [p for p in conn.network.ports(device_id=server.id) if label in (p.tags or [])]
    conn.compute.delete_server(server, force=server.status == "ERROR")
    wait(
        f"delete server of vm[uuid:{vm_uuid}]",
        lambda: conn.compute.find_server(server.id, ignore_missing=True, **every_project(conn)),
        lambda s: s is None or s.status == "DELETED",
        failed=lambda s: "server went ERROR while deleted" if s.status == "ERROR" else None,
    )
    for port in ports:
        conn.network.delete_port(port, ignore_missing=True)


def resize(conn: Any, admin: Any, server: Any, cpus: int, memory: int) -> bool:
    """Give the server the flavor of `cpus` and `memory` if it has another one (a VM's offering
    changed while it was stopped): Nova's resize, confirmed; the server keeps its power state.
    The admin finds or makes the flavor; the owner resizes."""
    flavor = server.flavor or {}
    if (flavor.get("vcpus"), flavor.get("ram")) == (cpus, max(1, memory // MiB)):
        return False
    before = server.status
    conn.compute.resize_server(server, ensure_flavor(admin, cpus, memory).id)
    wait_server(conn, server.id, "VERIFY_RESIZE", f"resize server[{server.id}]")
    conn.compute.confirm_server_resize(server)
    wait_server(conn, server.id, before, f"confirm the resize of server[{server.id}]")
    return True


def ensure_flavor(conn: Any, cpus: int, memory: int) -> Any:
    """A flavor of `cpus` vCPUs and `memory` bytes: cloudbus's own, else an existing one (any root
    disk: a server boots from its volume, so Nova ignores it; no ephemeral or swap disk), else
    a new one with a 0 GB root disk."""
    ram = max(1, memory // MiB)
    name = f"cloudbus-{cpus}c-{ram}m"
    found = conn.compute.find_flavor(name, ignore_missing=True)
    if found is not None:
        return found
    for flavor in conn.compute.flavors(details=True):
        if flavor.vcpus == cpus and flavor.ram == ram and not flavor.ephemeral and not flavor.swap:
            return flavor
    return conn.compute.create_flavor(name=name, vcpus=cpus, ram=ram, disk=0, is_public=True)


def _share_network(conn: Any, network: Any, project: str) -> None:
    """Let a tenant's project use the admin's network (Neutron RBAC `access_as_shared`): Nova
    binds a tenant's port only on a network its project can see. The grant goes with the network."""
    grant = {"object_type": "network", "object_id": network.id, "action": "access_as_shared"}
    if next(iter(conn.network.rbac_policies(target_project_id=project, **grant)), None) is None:
        conn.network.create_rbac_policy(target_project_id=project, **grant)


def _tag(conn: Any, resource: Any, label: str) -> None:
    if label not in (resource.tags or []):
        conn.network.set_tags(resource, [*(resource.tags or []), label])
