"""QueryManagementNode: the node running this cloud, as its heartbeat row shows it."""

from __future__ import annotations

from cloudbus.testing import Cloud


async def test_the_running_node_is_listed_with_its_heartbeat(cloud: Cloud) -> None:
    [node] = await cloud.query("QueryManagementNode", ("uuid", "=", cloud.node.uuid))
    assert node["state"] == "Running" and node["version"] and node["hostName"]
    assert node["heartbeat"] and node["createDate"]
    assert "beatAt" not in node  # the liveness clock is internal


async def test_bad_query_input_is_refused_and_changes_nothing(cloud: Cloud) -> None:
    before = await cloud.snapshot()
    for params in ({"conditions": [{"name": "nosuch", "op": "=", "value": "x"}]}, {"limit": -1}, {"sortBy": "beatAt"}):
        error = await cloud.error("QueryManagementNode", **params)
        assert error.code == "SYS.1007", (params, error)
    assert await cloud.snapshot() == before
