"""The cascade protocol: one message per (resource type, action), carrying uuids as a batch.

The engine sends `CascadeStep` to the service that owns `resourceType`:
- `resolve`: which of your resources hang below these `parentUuids` of `parentType`?
  Reply carries `uuids`.
- `check` (Permissive only): veto the deletion of `uuids` by failing.
- `delete` / `forceDelete`: act on `uuids` as the parent's deletion requires
  (delete, stop, detach ...); `forceDelete` must not fail on unreachable backends.
- `cleanup`: after success, remove leftovers (soft-deleted rows, caches).
- `detach`: a friend relation of the root was cut (DetachPrimaryStorageFromCluster,
  DetachL2NetworkFromCluster); `context` says what (e.g. `{"clusterUuid": ...}`).
`rootType` is where the operation started; the effect on a child may depend on it.

With several management nodes, the engine splits a step's `uuids` by owner on the ring and
sends each part to its owner (`routeUuid` is one of the part's uuids, the message's routing
key), so the per-resource work of a cascade runs in the resource's chain queue on the node
that serialises every other operation on it. Either way a step carries at most
`engine.STEP_CHUNK` uuids (a resolve, at most that many `parentUuids`): a handler may put
them all in one `IN (...)`; `parentUuids` of the other actions is the parent type's whole list.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from cloudbus.core.messages import DeleteMode, Message

CascadeAction = Literal["resolve", "check", "delete", "forceDelete", "cleanup", "detach"]


class CascadeStep(Message):
    resource_field: ClassVar[str | None] = "routeUuid"

    action: CascadeAction
    resourceType: str
    rootType: str
    parentType: str | None = None
    parentUuids: list[str] = Field(default_factory=list)
    uuids: list[str] = Field(default_factory=list)
    deleteMode: DeleteMode = "Permissive"
    context: dict[str, Any] = Field(default_factory=dict)
    routeUuid: str | None = None
