"""The resource-relationship graph: a networkx DiGraph of resource types, parent -> child.

Built from the inventory declarations (each resource declares its parents). Cycles are
rejected at start-up. `plan(root)` gives the order a cascade visits (parent, child) pairs:
post-order (children before parents), siblings alphabetically (those declared
`cascade_last` after the others), each pair once, the root last.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from cloudbus.inventory.declarations import Inventory

if TYPE_CHECKING:
    import networkx as nx

Pair = tuple[str | None, str]


class CascadeGraphError(ValueError):
    pass


def build_graph(inventories: Iterable[Inventory]) -> nx.DiGraph:
    import networkx as nx  # on first use: a one-shot CLI command that deletes nothing never pays for it

    graph: nx.DiGraph = nx.DiGraph()
    declared = list(inventories)
    names = [inv.name for inv in declared]
    duplicates = {n for n in names if names.count(n) > 1}
    if duplicates:
        raise CascadeGraphError(f"resource types declared twice: {sorted(duplicates)}")
    for inv in declared:
        graph.add_node(inv.name, service=inv.service_id, last=inv.cascade_last)
    for inv in declared:
        for parent in inv.parent_types:
            if parent not in graph:
                raise CascadeGraphError(f"{inv.name} declares unknown parent {parent}")
            if parent == inv.name:
                raise CascadeGraphError(f"{inv.name} declares itself as its parent")
            graph.add_edge(parent, inv.name)
    if not nx.is_directed_acyclic_graph(graph):
        cycle = nx.find_cycle(graph)
        raise CascadeGraphError(f"the resource graph has a cycle: {cycle}")
    return graph


def plan(graph: nx.DiGraph, root: str) -> list[Pair]:
    """(parent, child) pairs in execution order; the last one is (None, root)."""
    order: list[Pair] = []
    seen: set[Pair] = set()

    def visit(node: str, parent: str | None) -> None:
        for child in sorted(graph.successors(node), key=lambda n: (graph.nodes[n].get("last", False), n)):
            visit(child, node)
        pair = (parent, node)
        if pair not in seen:
            seen.add(pair)
            order.append(pair)

    visit(root, None)
    return order


def resolution_order(graph: nx.DiGraph, root: str) -> list[str]:
    """Descendants of `root` in an order where every parent comes before its children."""
    import networkx as nx

    reachable = nx.descendants(graph, root) | {root}
    return [n for n in nx.topological_sort(graph.subgraph(reachable)) if n != root]
