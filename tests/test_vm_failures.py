"""A VM operation that fails at any step leaves the whole database as it was; state checks."""

from __future__ import annotations

from typing import Any

import pytest

from cloudbus.testing import Cloud
from tests.support.network import build_network
from tests.support.vm_env import create_vm, vm_env


async def _fails_cleanly(cloud: Cloud, api: str, code: str, /, **params: Any) -> Any:
    before = await cloud.snapshot()
    error = await cloud.error(api, **params)
    assert error.has_code(code), error.to_json()
    assert await cloud.snapshot() == before
    return error


@pytest.mark.parametrize("strategy", ["InstantStart", "CreateStopped"])
async def test_hypervisor_failure_on_start_rolls_the_creation_back(cloud: Cloud, strategy: str) -> None:
    env = await vm_env(cloud)
    cloud.sim.fail("startVm")
    await _fails_cleanly(
        cloud,
        "CreateVmInstance",
        "SYS.1006",
        name="vm",
        instanceOfferingUuid=env["offering"]["uuid"],
        imageUuid=env["image"]["uuid"],
        l3NetworkUuids=[env["l3"]["uuid"]],
        dataDiskOfferingUuids=[env["disk"]["uuid"]],
        strategy=strategy,
    )
    assert cloud.sim.vms == {}


async def test_stop_failure_of_create_stopped_rolls_back_and_destroys(cloud: Cloud) -> None:
    env = await vm_env(cloud)
    cloud.sim.fail("stopVm")
    await _fails_cleanly(cloud, "CreateVmInstance", "SYS.1006", **_params(env, strategy="CreateStopped"))
    assert cloud.sim.vms == {} and len(cloud.sim.issued("destroyVm")) == 1


def _params(env: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "name": "vm",
        "instanceOfferingUuid": env["offering"]["uuid"],
        "imageUuid": env["image"]["uuid"],
        "l3NetworkUuids": [env["l3"]["uuid"]],
        **extra,
    }


async def test_no_host_big_enough(cloud: Cloud) -> None:
    env = await vm_env(cloud)
    params = _params(env, cpuNum=64, memorySize=1 << 30)
    del params["instanceOfferingUuid"]
    await _fails_cleanly(cloud, "CreateVmInstance", "HOST_ALLOCATION.1000", **params)


async def test_backup_storage_failure(cloud: Cloud) -> None:
    env = await vm_env(cloud)
    await cloud.ok("ChangeBackupStorageState", uuid=env["bs"]["uuid"], stateEvent="disable")
    await _fails_cleanly(cloud, "CreateVmInstance", "BS.1003", **_params(env))


@pytest.mark.parametrize("which", [0, 1, 2])
async def test_volume_failure_returns_host_and_storage_capacity(cloud: Cloud, which: int) -> None:
    """The root (0) or a data volume (1, 2) fails: the volumes made before it are expunged."""
    env = await vm_env(cloud)
    driver = cloud.node.storage("SimulatorPrimaryStorage")
    original = driver.instantiate_volume
    calls: list[str] = []

    async def instantiate(*args: Any, **kwargs: Any) -> Any:
        calls.append("call")
        if len(calls) == which + 1:
            driver.fail("instantiateVolume")
        return await original(*args, **kwargs)

    driver.instantiate_volume = instantiate
    params = _params(env, dataDiskOfferingUuids=[env["disk"]["uuid"]] * 2)
    await _fails_cleanly(cloud, "CreateVmInstance", "SYS.1006", **params)
    assert len(driver.issued("deleteVolume")) == which


async def test_ip_exhaustion_after_volumes_rolls_everything_back(cloud: Cloud) -> None:
    env = await vm_env(cloud, start_ip="192.168.100.10", end_ip="192.168.100.10")
    await create_vm(cloud, env)
    await _fails_cleanly(
        cloud, "CreateVmInstance", "L3.1000", **_params(env, dataDiskOfferingUuids=[env["disk"]["uuid"]])
    )


async def test_second_nic_failure_returns_the_first_ip(cloud: Cloud) -> None:
    env = await vm_env(cloud)
    full = await build_network(
        cloud,
        env["zones"][0]["uuid"],
        [env["clusters"][0]["uuid"]],
        name="full",
        vlan=20,
        start_ip="10.1.0.5",
        end_ip="10.1.0.5",
        gateway="10.1.0.1",
        services=(),
    )
    await create_vm(cloud, env, l3NetworkUuids=[full["l3"]["uuid"]])
    await _fails_cleanly(
        cloud, "CreateVmInstance", "L3.1000", **_params(env, l3NetworkUuids=[env["l3"]["uuid"], full["l3"]["uuid"]])
    )


@pytest.mark.parametrize(
    ("command", "api", "state_before"),
    [
        ("startVm", "StartVmInstance", "Stopped"),
        ("stopVm", "StopVmInstance", "Running"),
        ("rebootVm", "RebootVmInstance", "Running"),
        ("pauseVm", "PauseVmInstance", "Running"),
        ("resumeVm", "ResumeVmInstance", "Paused"),
        ("destroyVm", "DestroyVmInstance", "Running"),
    ],
)
async def test_hypervisor_failure_of_an_operation_changes_nothing(
    cloud: Cloud, command: str, api: str, state_before: str
) -> None:
    env = await vm_env(cloud)
    inv = await create_vm(cloud, env)
    if state_before == "Stopped":
        await cloud.ok("StopVmInstance", uuid=inv["uuid"])
    elif state_before == "Paused":
        await cloud.ok("PauseVmInstance", uuid=inv["uuid"])
    cloud.sim.fail(command, uuid=inv["uuid"])
    error = await _fails_cleanly(cloud, api, "SYS.1006", uuid=inv["uuid"])
    assert command in str(error.to_json())


async def test_migration_failure_returns_the_target_capacity(cloud: Cloud) -> None:
    env = await vm_env(cloud)
    inv = await create_vm(cloud, env)
    cloud.sim.fail("migrateVm")
    await _fails_cleanly(cloud, "MigrateVm", "SYS.1006", vmInstanceUuid=inv["uuid"])


async def test_expunge_failure_keeps_the_vm_destroyed(cloud: Cloud) -> None:
    env = await vm_env(cloud)
    inv = await create_vm(cloud, env)
    await cloud.ok("DestroyVmInstance", uuid=inv["uuid"])
    cloud.node.storage("SimulatorPrimaryStorage").fail("deleteVolume")
    before = await cloud.snapshot()
    await cloud.error("ExpungeVmInstance", uuid=inv["uuid"])
    assert await cloud.snapshot() == before


@pytest.mark.parametrize(
    ("state", "api", "params"),
    [
        ("Stopped", "PauseVmInstance", {}),
        ("Stopped", "RebootVmInstance", {}),
        ("Stopped", "MigrateVm", None),
        ("Running", "ResumeVmInstance", {}),
        ("Running", "RecoverVmInstance", {}),
        ("Running", "ExpungeVmInstance", {}),
        ("Destroyed", "StartVmInstance", {}),
        ("Destroyed", "StopVmInstance", {}),
        ("Destroyed", "AttachL3NetworkToVm", None),
    ],
)
async def test_state_forbids_operation(cloud: Cloud, state: str, api: str, params: dict[str, Any] | None) -> None:
    env = await vm_env(cloud, hosts=1)
    inv = await create_vm(cloud, env)
    if state == "Stopped":
        await cloud.ok("StopVmInstance", uuid=inv["uuid"])
    elif state == "Destroyed":
        await cloud.ok("DestroyVmInstance", uuid=inv["uuid"])
    if params is None:
        params = {"vmInstanceUuid": inv["uuid"]}
        if api == "AttachL3NetworkToVm":
            params["l3NetworkUuid"] = env["l3"]["uuid"]
    else:
        params = {"uuid": inv["uuid"]}
    error = await _fails_cleanly(cloud, api, "VM.1010", **params)
    assert error.code == "SYS.1006" and error.cause.code == "VM.1010"
    assert f"current vm instance state[{state}] doesn't allow to proceed message[{api}]" in error.details


async def test_bad_input_changes_nothing(cloud: Cloud) -> None:
    env = await vm_env(cloud)
    params = _params(env)
    no_size = {k: v for k, v in params.items() if k != "instanceOfferingUuid"}
    await _fails_cleanly(cloud, "CreateVmInstance", "SYS.1007", **no_size)
    await _fails_cleanly(cloud, "CreateVmInstance", "SYS.1007", **params, defaultL3NetworkUuid=env["image"]["uuid"])
    await _fails_cleanly(cloud, "CreateVmInstance", "SYS.1007", **{**params, "l3NetworkUuids": []})
    await _fails_cleanly(cloud, "CreateVmInstance", "SYS.1007", **params, strategy="Later")
    await _fails_cleanly(cloud, "CreateVmInstance", "SYS.1003", **{**params, "imageUuid": "0" * 32})
    await _fails_cleanly(cloud, "CreateVmInstance", "SYS.1003", **params, hostUuid="f" * 32)
    await _fails_cleanly(cloud, "CreateVmInstance", "SYS.1007", **{**params, "l3NetworkUuids": [env["l3"]["uuid"]] * 2})
    await _fails_cleanly(cloud, "StartVmInstance", "SYS.1003", uuid="1" * 32)
    await _fails_cleanly(cloud, "StopVmInstance", "SYS.1007", uuid="1" * 32, type="hard")
    await _fails_cleanly(cloud, "DetachL3NetworkFromVm", "SYS.1003", vmNicUuid="2" * 32)
    assert await cloud.ok("DestroyVmInstance", uuid="3" * 32) is None
