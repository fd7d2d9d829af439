"""The resource graph: built from declarations, cycles rejected, visiting order."""

from __future__ import annotations

import pytest
from sqlalchemy import Column, MetaData, String, Table

from cloudbus import inventory
from cloudbus.cascade.graph import CascadeGraphError, build_graph, plan
from cloudbus.inventory.declarations import Inventory


def _inv(name: str, *parents: str) -> Inventory:
    table = Table(
        name.lower(),
        MetaData(),
        Column("uuid", String(32), primary_key=True),
        *(Column(f"{p.lower()}Uuid", String(32)) for p in parents),
    )
    return Inventory(name=name, table=table, service_id=name.lower(), parents={p: f"{p.lower()}Uuid" for p in parents})


def test_graph_of_the_declared_resources() -> None:
    graph = build_graph(inventory.INVENTORIES.values())
    assert {("Zone", "Cluster"), ("Cluster", "Host")} <= set(graph.edges)
    order = plan(graph, "Zone")
    assert order[-1] == (None, "Zone")
    assert order.index(("Cluster", "Host")) < order.index(("Zone", "Cluster"))
    assert plan(graph, "Host")[-1] == (None, "Host")
    for parent, child in order[:-1]:  # every child is visited before its parent is
        assert any(p == child for p, _ in order[: order.index((parent, child))]) or not list(graph.successors(child))


def test_cycle_is_rejected() -> None:
    with pytest.raises(CascadeGraphError, match="cycle"):
        build_graph([_inv("A", "C"), _inv("B", "A"), _inv("C", "B")])


def test_duplicate_declaration_is_rejected() -> None:
    with pytest.raises(CascadeGraphError, match="twice"):
        build_graph([_inv("A"), _inv("A")])


def test_unknown_parent_is_rejected() -> None:
    with pytest.raises(CascadeGraphError, match="unknown parent"):
        build_graph([_inv("A", "Nope")])


def test_plan_is_post_order_alphabetical_and_each_pair_once() -> None:
    # Zone -> {PrimaryStorage, Cluster}; Cluster -> Host; Host, PrimaryStorage -> Vm
    graph = build_graph(
        [
            _inv("Zone"),
            _inv("Cluster", "Zone"),
            _inv("Host", "Cluster"),
            _inv("PrimaryStorage", "Zone"),
            _inv("Vm", "Host", "PrimaryStorage"),
        ]
    )
    assert plan(graph, "Zone") == [
        ("Host", "Vm"),
        ("Cluster", "Host"),
        ("Zone", "Cluster"),
        ("PrimaryStorage", "Vm"),
        ("Zone", "PrimaryStorage"),
        (None, "Zone"),
    ]
