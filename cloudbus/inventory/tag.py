"""Tags (reference 1.3 Tags, 3.4): user tags and system tags on any resource.

Owns the tables `user_tag` and `system_tag` and the inventories `UserTag` / `SystemTag`.
A tag names its resource by uuid and by ZStack VO name (`resourceType`, e.g. `HostVO`);
there is no foreign key (a tag may hang on any table), so the tag service removes the tags
of resources that are gone (see cloudbus/services/tag.py). The query engine reads these
tables for the `__userTag__` / `__systemTag__` pseudo-fields of every inventory.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Boolean, Column, String, Table, UniqueConstraint

from cloudbus.inventory.declarations import INVENTORIES, Inventory, part_of, register
from cloudbus.inventory.schema import UtcDateTime, metadata, uuid_column

TAG_MAX_LENGTH = 1024

# The query pseudo-field of each kind of tag.
USER_TAG_FIELD = "__userTag__"
SYSTEM_TAG_FIELD = "__systemTag__"


def _tag_table(name: str, *extra: Column[Any]) -> Table:
    return Table(
        name,
        metadata,
        uuid_column(primary_key=True),
        uuid_column("resourceUuid", nullable=False),
        Column("resourceType", String(255), nullable=False),
        Column("tag", String(TAG_MAX_LENGTH), nullable=False),
        Column("type", String(32), nullable=False),
        *extra,
        Column("createDate", UtcDateTime(), nullable=False),
        Column("lastOpDate", UtcDateTime(), nullable=False),
        # one resource carries a given tag once (TAG.1000), also under concurrent creates;
        # its index also serves the lookups by resourceUuid
        UniqueConstraint("resourceUuid", "tag"),
    )


user_tag_table = _tag_table("user_tag", uuid_column("tagPatternUuid"))
system_tag_table = _tag_table("system_tag", Column("inherent", Boolean, nullable=False, default=False))

USER_TAG = register(Inventory(name="UserTag", table=user_tag_table, service_id="tag", tenancy=part_of("resourceUuid")))
SYSTEM_TAG = register(
    Inventory(name="SystemTag", table=system_tag_table, service_id="tag", tenancy=part_of("resourceUuid"))
)

# pseudo-field -> the table it searches
TAG_TABLES: dict[str, Table] = {USER_TAG_FIELD: user_tag_table, SYSTEM_TAG_FIELD: system_tag_table}


def check_tags(tags: list[str] | None, field: str) -> str | None:
    """Why `tags` (a message's userTags / systemTags) cannot be recorded, or None."""
    for tag in tags or []:
        if not tag.strip():
            return f"invalid {field}: a tag cannot be empty"
        if len(tag) > TAG_MAX_LENGTH:
            return f"invalid {field}: tag[{tag[:40]}...] is longer than {TAG_MAX_LENGTH} characters"
    return None


def taggable(inv: Inventory) -> bool:
    """A resource with a uuid (not a mapping row), and not a tag itself."""
    return "uuid" in inv.table.c and all(inv.table is not t for t in TAG_TABLES.values())


def taggable_by_resource_type() -> dict[str, Inventory]:
    """`XxxVO` -> inventory, for every taggable inventory (subtypes included)."""
    return {inv.resource_type: inv for inv in INVENTORIES.values() if taggable(inv)}


def primary_inventories() -> list[Inventory]:
    """One taggable inventory per table: a table may back a type and its subtypes
    (`Inventory.where`); the base type (no `where`, then the shortest name) names it."""
    by_table: dict[str, Inventory] = {}
    for inv in sorted(INVENTORIES.values(), key=lambda i: (bool(i.where), len(i.name), i.name)):
        if taggable(inv):
            by_table.setdefault(inv.table.name, inv)
    return list(by_table.values())
