"""Messages the VM service (`vmInstance`) handles for others.

- `SyncHostVms`: what a host's hypervisor says runs there, sent by the host service after it
  (re)connects a host (`states`: domain name -> VM state) or when the host stops answering
  (`states` None). The VM service corrects each VM of that host in the VM's own chain queue
  (`TraceVmState`), so a correction never interleaves with an API call on the same VM.
"""

from __future__ import annotations

from typing import ClassVar

from cloudbus.apis.routing import Concerns
from cloudbus.core.messages import Message


class _Vm(Concerns):
    resource: ClassVar[str] = "VmInstance"


class SyncHostVms(_Vm, Message):
    """Reply: `changed` (vm uuid -> new state), `unknownDomains` (running there, not ours)."""

    hostUuid: str
    states: dict[str, str] | None = None


class TraceVmState(_Vm, Message):
    """One VM of a SyncHostVms, in the VM's chain queue. `state` None: the host is unreachable.

    Reply: `state`, the VM's state afterwards.
    """

    resource_field: ClassVar[str | None] = "vmInstanceUuid"

    vmInstanceUuid: str
    hostUuid: str
    state: str | None = None
