"""What happens to VMs when something they hang on goes away (reference 4.4).

- Host, root Host or Cluster: VMs on those hosts are stopped (a dead host is ignored);
- Host or Zone, root Zone: VMs on those hosts / in that zone are deleted (volumes left to
  the volume service's cascade);
- PrimaryStorage: VMs whose root volume is on it are deleted (KeepVolume);
- Project (DeleteProject, DeleteAccount): the VMs it owns are deleted (their volumes are the
  project's too: the volume service's cascade expunges them);
- L3Network, IpRange: nics on that L3 / with an IP of that range are detached;
- L2Network: nothing on delete (its L3s do it);
- InstanceOffering: `instanceOfferingUuid` set to null;
- VmInstance itself (DestroyVmInstance): destroyed (Delay policy);
- detach PrimaryStorage from a cluster: VMs there with their root volume on it are stopped;
- detach L2Network from a cluster: nics of VMs there on that L2's L3s are detached.

A step carries up to a chunk of VMs (cascade.engine.STEP_CHUNK). Deleting VMs and
detaching nics work on the whole chunk at once, holding every VM's chain queue so no other
operation on one of them interleaves: one statement or one message per kind of effect.
Stops and DestroyVmInstance go VM by VM through the lifecycle, each in its chain queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

from sqlalchemy import select, update

from cloudbus import inventory
from cloudbus.cascade.messages import CascadeStep
from cloudbus.core import errors
from cloudbus.services.vm_instance import store
from cloudbus.services.vm_instance.states import STOPPABLE, check_allowed

VM, NIC = store.VM, store.NIC

# what the batched effects read of each VM (whole rows would cost more than the effects)
BATCH_COLUMNS = (VM.c.uuid, VM.c.hostUuid, VM.c.defaultL3NetworkUuid)

# VMs a cascade stops at once, each in its own chain queue (ZStack sends stops 20 at a time):
# a stop waits on its hypervisor, so a host of many VMs is not stopped one VM after another
STOP_PARALLELISM = 20


def _table(name: str) -> Any:
    return inventory.get(name).table


class CascadeEffects:
    def __init__(self, service: Any) -> None:
        self.svc = service
        self.db = service.db

    # --- resolve -------------------------------------------------------------------------

    async def resolve(self, step: CascadeStep) -> list[str]:
        parent, ids = step.parentType, step.parentUuids
        cluster = step.context.get("clusterUuid")
        query = None
        if parent in ("Host", "Zone", "InstanceOffering"):
            column = {"Host": VM.c.hostUuid, "Zone": VM.c.zoneUuid, "InstanceOffering": VM.c.instanceOfferingUuid}
            query = select(VM.c.uuid).where(column[parent].in_(ids))
        elif parent == "PrimaryStorage":
            volume = _table("Volume")
            roots = select(volume.c.uuid).where(volume.c.primaryStorageUuid.in_(ids), volume.c.type == "Root")
            query = select(VM.c.uuid).where(VM.c.rootVolumeUuid.in_(roots))
        elif cluster and parent != step.rootType:
            return []  # a detach only concerns the VMs below the detached resource itself
        elif parent == "L3Network":
            query = select(NIC.c.vmInstanceUuid).where(NIC.c.l3NetworkUuid.in_(ids))
        elif parent == "IpRange":
            query = select(NIC.c.vmInstanceUuid).where(NIC.c.usedIpUuid.in_(self._ips_of_ranges(ids)))
        elif parent == "L2Network" and cluster:
            query = select(NIC.c.vmInstanceUuid).where(NIC.c.l3NetworkUuid.in_(self._l3s_of_l2s(ids)))
        if query is None:
            return []
        if cluster:
            # filter on the selected column itself (VM uuid or nic's VM uuid), no cross join
            selected = query.selected_columns[0]
            query = query.where(selected.in_(select(VM.c.uuid).where(VM.c.clusterUuid == cluster)))
        async with self.db.read() as conn:
            return sorted(set((await conn.execute(query)).scalars()))

    @staticmethod
    def _ips_of_ranges(range_uuids: list[str]) -> Any:
        used_ip = _table("UsedIp")
        return select(used_ip.c.uuid).where(used_ip.c.ipRangeUuid.in_(range_uuids))

    @staticmethod
    def _l3s_of_l2s(l2_uuids: list[str]) -> Any:
        l3 = _table("L3Network")
        return select(l3.c.uuid).where(l3.c.l2NetworkUuid.in_(l2_uuids))

    # --- check / delete / detach -----------------------------------------------------------------

    async def check(self, step: CascadeStep) -> None:
        if step.parentType is None:  # DestroyVmInstance: the state must allow it
            for uuid in step.uuids:
                vm = await store.get_vm(self.db, uuid)
                if vm["state"] != "Destroyed":
                    check_allowed(vm, "DestroyVmInstance")

    async def delete(self, step: CascadeStep, *, force: bool) -> None:
        parent = step.parentType
        if parent is None:
            await self.each(step.uuids, lambda u: self.svc.teardown.destroy(u, force=force))
        elif parent == "Host" and step.rootType != "Zone":
            await self.stop(step.uuids)
        elif parent in ("Host", "Zone", "PrimaryStorage", "Project"):
            async with self.held(step.uuids) as vms:
                await self.svc.teardown.delete(vms)
        elif parent == "InstanceOffering":
            async with self.db.tx() as conn:
                await conn.execute(update(VM).where(VM.c.uuid.in_(step.uuids)).values(instanceOfferingUuid=None))
        elif parent in ("L3Network", "IpRange"):
            await self.detach_nics(step.uuids, step.parentUuids, by_range=parent == "IpRange")

    async def detach(self, step: CascadeStep) -> None:
        if step.parentType == "PrimaryStorage":
            await self.stop(step.uuids)
        elif step.parentType == "L2Network":
            async with self.db.read() as conn:
                l3s = list((await conn.execute(self._l3s_of_l2s(step.parentUuids))).scalars())
            await self.detach_nics(step.uuids, l3s, by_range=False)

    # --- effects ---------------------------------------------------------------------------------

    async def each(self, uuids: list[str], action: Any, *, parallel: int = 1) -> None:
        """`action(uuid)` in each VM's chain queue, `parallel` VMs at a time. After a failure
        no further VM is begun; the first failure is raised once the VMs under way are done."""
        pending = iter(uuids)
        failures: list[Exception] = []

        async def worker() -> None:
            for uuid in pending:
                if failures:
                    return
                try:
                    async with self.svc.chain(uuid):
                        await action(uuid)
                except Exception as exc:
                    failures.append(exc)

        await asyncio.gather(*(worker() for _ in range(min(parallel, len(uuids)))))
        if failures:
            raise failures[0]

    async def stop(self, uuids: list[str]) -> None:
        async def stop_one(uuid: str) -> None:
            vm = await store.get_vm(self.db, uuid)
            if vm["state"] in STOPPABLE:
                await self.svc.lifecycle.stop_vm(vm, type="cold", ignore_failure=True)

        await self.each(uuids, _tolerant(stop_one), parallel=STOP_PARALLELISM)

    async def detach_nics(self, uuids: list[str], parent_uuids: list[str], *, by_range: bool) -> None:
        """Detach the nics of these VMs that are on the L3s `parent_uuids` (or, `by_range`, hold
        an IP of those ranges), all at once."""
        on = (
            NIC.c.usedIpUuid.in_(self._ips_of_ranges(parent_uuids))
            if by_range
            else NIC.c.l3NetworkUuid.in_(parent_uuids)
        )
        async with self.held(uuids) as vms:
            if vms:
                nics = await store.nics_of(self.db, [vm["uuid"] for vm in vms], on)
                await self.svc.nics.detach_from_many(vms, nics)

    @asynccontextmanager
    async def held(self, uuids: list[str]) -> AsyncIterator[list[dict[str, Any]]]:
        """Those of these VMs still there (`BATCH_COLUMNS`), read once all their chain queues are held.

        The queues are taken in uuid order: two batches sharing VMs never wait on each other
        in a cycle, and an operation on one VM holds only that VM's queue. VMs an earlier
        step already removed (a zone's VMs go with its hosts) cost one SELECT, no queue.
        """
        async with self.db.read() as conn:
            present = sorted((await conn.execute(select(VM.c.uuid).where(VM.c.uuid.in_(uuids)))).scalars())
        async with AsyncExitStack() as stack:
            for uuid in present:
                await stack.enter_async_context(self.svc.chain(uuid))
            if not present:
                yield []
                return
            async with self.db.read() as conn:
                rows = await conn.execute(select(*BATCH_COLUMNS).where(VM.c.uuid.in_(present)))
                yield [dict(row) for row in rows.mappings()]


def _tolerant(action: Any) -> Any:
    """A VM that vanished meanwhile is not an error for a cascade."""

    async def run(uuid: str) -> None:
        try:
            await action(uuid)
        except errors.CloudBusError as exc:
            if exc.error.code != errors.NOT_FOUND:
                raise

    return run
