"""The consistent hash ring of live management nodes: which node owns a resource uuid.

Each node puts `VIRTUAL_NODES` points on a 64-bit circle (the hash of `<node uuid>:<i>`);
a uuid belongs to the node of the first point clockwise from the uuid's own hash
(ZStack's `ConsistentHash`, reference 5.2). The hash is BLAKE2b, so every node computes the
same ring from the same member list whatever its Python hash seed: nodes agree on
ownership as soon as they agree on membership. When a node joins or leaves, only the uuids
between its points and their predecessors move, about 1/N of them.

The ring is immutable; membership changes build a new one (`with_members`), so a lookup
never sees a half-updated ring.
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Iterable

VIRTUAL_NODES = 500


def _hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")


class HashRing:
    def __init__(self, members: Iterable[str] = (), *, virtual_nodes: int = VIRTUAL_NODES) -> None:
        self.members: frozenset[str] = frozenset(members)
        self.virtual_nodes = virtual_nodes
        points = sorted((_hash(f"{node}:{i}"), node) for node in self.members for i in range(virtual_nodes))
        self._keys = [point for point, _ in points]
        self._nodes = [node for _, node in points]

    def owner(self, uuid: str) -> str | None:
        """The node owning `uuid`, or None for an empty ring."""
        if not self._keys:
            return None
        index = bisect.bisect(self._keys, _hash(uuid)) % len(self._keys)
        return self._nodes[index]

    def partition(self, uuids: Iterable[str]) -> dict[str | None, list[str]]:
        """`uuids` grouped by owner, each group in the given order."""
        groups: dict[str | None, list[str]] = {}
        for uuid in uuids:
            groups.setdefault(self.owner(uuid), []).append(uuid)
        return groups

    def with_members(self, members: Iterable[str]) -> HashRing:
        members = frozenset(members)
        return self if members == self.members else HashRing(members, virtual_nodes=self.virtual_nodes)

    def __len__(self) -> int:
        return len(self.members)

    def __repr__(self) -> str:
        return f"HashRing({sorted(self.members)})"
