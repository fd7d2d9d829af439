"""The consistent hash ring (cloudbus/core/ring.py): which management node owns a resource uuid.

Pure unit tests (no bus, no database), so they run the same on both backends. The uuids are
drawn from a seeded RNG: the figures asserted are statistical, but fixed for a given seed.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
from collections import Counter

from cloudbus.core.ring import HashRing

SEED = 20240601
UUIDS = 10_000


def uuids(n: int = UUIDS, seed: int = SEED) -> list[str]:
    rng = random.Random(seed)
    return [f"{rng.getrandbits(128):032x}" for _ in range(n)]


def nodes(n: int, seed: int = SEED + 1) -> list[str]:
    return uuids(n, seed)


def owners(ring: HashRing, keys: list[str]) -> dict[str, str | None]:
    return {key: ring.owner(key) for key in keys}


def test_ownership_is_the_same_whatever_order_the_members_come_in() -> None:
    members = nodes(3)
    keys = uuids(2_000)
    expected = owners(HashRing(members), keys)
    for other in (reversed(members), sorted(members), set(members), [*members, members[0]]):
        assert owners(HashRing(other), keys) == expected
    assert owners(HashRing(members[:2]).with_members(members), keys) == expected
    assert set(expected.values()) == set(members)


def test_ownership_does_not_depend_on_the_python_hash_seed() -> None:
    """Two nodes agree on the ring although each Python process salts str hashes differently."""
    members, keys = nodes(3), uuids(200)
    code = (
        "import json, sys; from cloudbus.core.ring import HashRing; "
        "members, keys = json.loads(sys.stdin.read()); "
        "print(json.dumps([HashRing(members).owner(k) for k in keys]))"
    )
    other = subprocess.run(
        [sys.executable, "-c", code],
        input=json.dumps([members, keys]),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env=dict(os.environ, PYTHONHASHSEED="12345"),
    )
    assert json.loads(other.stdout) == [HashRing(members).owner(k) for k in keys]


def test_three_nodes_each_own_a_third_of_the_uuids() -> None:
    members = nodes(3)
    ring = HashRing(members)
    shares = Counter(ring.owner(key) for key in uuids())
    assert set(shares) == set(members)
    for node, count in shares.items():
        assert abs(count / UUIDS - 1 / 3) <= 0.05, (node, count, shares)


def test_a_joining_node_takes_about_a_quarter_and_nothing_else_moves() -> None:
    members, newcomer = nodes(3), nodes(4)[3]
    keys = uuids()
    before = owners(HashRing(members), keys)
    after = owners(HashRing(members).with_members([*members, newcomer]), keys)
    moved = [key for key in keys if before[key] != after[key]]
    assert abs(len(moved) / UUIDS - 0.25) <= 0.06, len(moved)
    assert {after[key] for key in moved} == {newcomer}
    assert [key for key in keys if after[key] == newcomer] == moved


def test_a_leaving_node_gives_away_only_its_own_uuids() -> None:
    members = nodes(4)
    leaving = members[2]
    keys = uuids()
    before = owners(HashRing(members), keys)
    after = owners(HashRing([m for m in members if m != leaving]), keys)
    moved = [key for key in keys if before[key] != after[key]]
    assert moved == [key for key in keys if before[key] == leaving]
    assert abs(len(moved) / UUIDS - 0.25) <= 0.06, len(moved)
    assert leaving not in after.values()
    # its uuids spread over the survivors rather than all landing on one
    assert len({after[key] for key in moved}) == 3


def test_an_empty_ring_owns_nothing() -> None:
    ring = HashRing()
    keys = uuids(100)
    assert len(ring) == 0
    assert all(ring.owner(key) is None for key in keys)
    assert ring.partition(keys) == {None: keys}
    assert HashRing(nodes(2)).with_members([]).owner(keys[0]) is None


def test_partition_groups_agree_with_owner() -> None:
    ring = HashRing(nodes(3))
    keys = uuids(3_000)
    groups = ring.partition(keys)
    assert set(groups) == set(ring.members)
    for node, group in groups.items():
        assert all(ring.owner(key) == node for key in group)
        assert group == [key for key in keys if ring.owner(key) == node]  # order kept
    assert sorted(key for group in groups.values() for key in group) == sorted(keys)
