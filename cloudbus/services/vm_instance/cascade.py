"""What happens to VMs when something they hang on goes away (reference 4.4).

- Host, root Host or Cluster: VMs on those hosts are stopped (a dead host is ignored);
- Host or Zone, root Zone: VMs on those hosts / in that zone are deleted (volumes left to
  the volume service's cascade);
- PrimaryStorage: VMs whose root volume is on it are deleted (KeepVolume);
- L3Network, IpRange: nics on that L3 / with an IP of that range are detached;
- L2Network: nothing on delete (its L3s do it);
- InstanceOffering: `instanceOfferingUuid` set to null;
- VmInstance itself (DestroyVmInstance): destroyed (Delay policy);
- detach PrimaryStorage from a cluster: VMs there with their root volume on it are stopped;
- detach L2Network from a cluster: nics of VMs there on that L2's L3s are detached.

The delete pass names the affected VMs but not the parents' uuids; which L3s / ranges /
L2s a nic must leave is remembered from the resolve step (`_parents`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from cloudbus import inventory
from cloudbus.cascade.messages import CascadeStep
from cloudbus.core import errors
from cloudbus.services.vm_instance import store
from cloudbus.services.vm_instance.nics import Nics
from cloudbus.services.vm_instance.states import STOPPABLE, check_allowed

VM, NIC = store.VM, store.NIC


def _table(name: str) -> Any:
    return inventory.get(name).table


class CascadeEffects:
    def __init__(self, service: Any) -> None:
        self.svc = service
        self.db = service.db
        self._parents: dict[tuple[str, str | None, tuple[str, ...]], list[str]] = {}

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
            found = sorted(set((await conn.execute(query)).scalars()))
        self._parents[(step.rootType, parent, tuple(found))] = list(ids)
        while len(self._parents) > 1024:  # a cascade stopped after resolving leaves its entry
            self._parents.pop(next(iter(self._parents)))
        return found

    @staticmethod
    def _ips_of_ranges(range_uuids: list[str]) -> Any:
        used_ip = _table("UsedIp")
        return select(used_ip.c.uuid).where(used_ip.c.ipRangeUuid.in_(range_uuids))

    @staticmethod
    def _l3s_of_l2s(l2_uuids: list[str]) -> Any:
        l3 = _table("L3Network")
        return select(l3.c.uuid).where(l3.c.l2NetworkUuid.in_(l2_uuids))

    def parents_of(self, step: CascadeStep) -> list[str]:
        if step.parentUuids:
            return step.parentUuids
        return self._parents.pop((step.rootType, step.parentType, tuple(sorted(step.uuids))), [])

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
        elif parent in ("Host", "Zone", "PrimaryStorage"):
            await self.each(step.uuids, self.svc.teardown.delete)
        elif parent == "InstanceOffering":
            async with self.db.tx() as conn:
                await conn.execute(update(VM).where(VM.c.uuid.in_(step.uuids)).values(instanceOfferingUuid=None))
        elif parent in ("L3Network", "IpRange"):
            await self.detach_nics(step, self.parents_of(step), by_range=parent == "IpRange")

    async def detach(self, step: CascadeStep) -> None:
        if step.parentType == "PrimaryStorage":
            await self.stop(step.uuids)
        elif step.parentType == "L2Network":
            l2s = self.parents_of(step)
            async with self.db.read() as conn:
                l3s = list((await conn.execute(self._l3s_of_l2s(l2s))).scalars())
            await self.detach_nics(step, l3s, by_range=False)

    # --- effects ---------------------------------------------------------------------------------

    async def each(self, uuids: list[str], action: Any) -> None:
        for uuid in uuids:
            async with self.svc.chains.run_in(f"vmInstance-{uuid}"):
                await action(uuid)

    async def stop(self, uuids: list[str]) -> None:
        async def stop_one(uuid: str) -> None:
            vm = await store.get_vm(self.db, uuid)
            if vm["state"] in STOPPABLE:
                await self.svc.lifecycle.stop_vm(vm, type="cold", ignore_failure=True)

        await self.each(uuids, _tolerant(stop_one))

    async def detach_nics(self, step: CascadeStep, parent_uuids: list[str], *, by_range: bool) -> None:
        nics: Nics = self.svc.nics
        used: set[str] = set()
        if by_range:
            async with self.db.read() as conn:
                used = set((await conn.execute(self._ips_of_ranges(parent_uuids))).scalars())
        targets = set(parent_uuids)

        async def detach_one(uuid: str) -> None:
            vm = await store.get_vm(self.db, uuid)
            mine = [
                n
                for n in await store.nics(self.db, uuid)
                if (n["usedIpUuid"] in used if by_range else n["l3NetworkUuid"] in targets)
            ]
            await nics.detach_nics(vm, mine, force=True)

        await self.each(step.uuids, _tolerant(detach_one))


def _tolerant(action: Any) -> Any:
    """A VM that vanished meanwhile is not an error for a cascade."""

    async def run(uuid: str) -> None:
        try:
            await action(uuid)
        except errors.CloudBusError as exc:
            if exc.error.code != errors.NOT_FOUND:
                raise

    return run
