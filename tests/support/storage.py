"""Test helpers for storage, images and offerings: small topologies and driver access."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from cloudbus.core.units import TiB
from cloudbus.testing import Cloud


def ps_sim(cloud: Cloud) -> Any:
    """The simulated primary-storage driver (one instance serves every primary type)."""
    return cloud.node.storage("SimulatorPrimaryStorage")


def bs_sim(cloud: Cloud) -> Any:
    return cloud.node.storage("SimulatorBackupStorage")


async def zone_cluster(cloud: Cloud, hosts: int = 0) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    env = await cloud.build_env(hosts=hosts) if hosts else None
    if env is None:
        zone = await cloud.ok("CreateZone", name="z")
        cluster = await cloud.ok("CreateCluster", name="c", zoneUuid=zone["uuid"], hypervisorType="Simulator")
        return zone, cluster, []
    return env["zones"][0], env["clusters"][0], env["hosts"]


async def simulator_ps(cloud: Cloud, zone_uuid: str, total: int = TiB, **params: Any) -> dict[str, Any]:
    return await cloud.ok(
        "AddSimulatorPrimaryStorage",
        name=params.pop("name", "ps"),
        zoneUuid=zone_uuid,
        url=params.pop("url", "/sim/ps"),
        totalCapacity=total,
        **params,
    )


async def simulator_bs(cloud: Cloud, total: int = TiB, **params: Any) -> dict[str, Any]:
    return await cloud.ok(
        "AddSimulatorBackupStorage",
        name=params.pop("name", "bs"),
        url=params.pop("url", "/sim/bs"),
        totalCapacity=total,
        **params,
    )


async def ps_row(cloud: Cloud, uuid: str) -> dict[str, Any]:
    [ps] = await cloud.query("QueryPrimaryStorage", ("uuid", "=", uuid))
    return ps


async def bs_row(cloud: Cloud, uuid: str) -> dict[str, Any]:
    [bs] = await cloud.query("QueryBackupStorage", ("uuid", "=", uuid))
    return bs


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.02)):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not reached in time")
