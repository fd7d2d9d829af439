"""Messages the tag service (`tag`) handles for others.

- `RecordTags`: record the `userTags` / `systemTags` a Create* API carried for the resource
  it created (sent by the API portal after the create succeeded; any service may send it
  for resources it creates on its own).
- `SweepTags`: remove the tags of resources that no longer exist (sent by the portal after
  every successful API that may have removed rows; the tag service also sweeps on start
  and periodically, for rows removed in the background, e.g. expunge timers).
"""

from __future__ import annotations

from typing import ClassVar

from cloudbus.apis.routing import Concerns
from cloudbus.core.messages import Message


class _Tags(Concerns):
    # user and system tags have one owner, the tag service: either type names it
    resource: ClassVar[str] = "UserTag"


class RecordTags(_Tags, Message):
    """Reply: `userTags`, `systemTags` = the tag inventories recorded (duplicates skipped).

    `resourceType` (`XxxVO`) may be left out: the tag service finds the table holding
    `resourceUuid`.
    """

    resourceUuid: str
    resourceType: str | None = None
    # the tags to record travel in the fields every message has: `userTags`, `systemTags`


class SweepTags(_Tags, Message):
    """Reply: `removed` = how many tags were removed."""
