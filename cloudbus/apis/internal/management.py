"""Messages of the management-node cluster (takeover of a dead node's work)."""

from __future__ import annotations

from typing import ClassVar

from cloudbus.core.messages import Message


class RecoverOperation(Message):
    """Finish or roll back the journaled operation `journalUuid` on `resourceUuid`.

    Sent by the node that noticed a death to the service named in the journal; it is routed
    to the resource's new owner and runs in the resource's chain queue, so it never
    interleaves with new operations on that resource. Reply: the operation's outcome.
    """

    resource_field: ClassVar[str | None] = "resourceUuid"

    journalUuid: str
    resourceUuid: str
