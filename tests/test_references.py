"""Named results in command files: `NAME := Api ...` then `$NAME` / `${NAME.path}`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from cloudbus.apis.parser import UsageError
from cloudbus.apis.references import expand, split_label

NAMES = {
    "zone": {"uuid": "a" * 32, "name": "z1"},
    "hosts": [{"uuid": "b" * 32, "managementIp": "10.0.0.1"}],
    "vm": {"uuid": "c" * 32, "vmNics": [{"uuid": "d" * 32}], "enabled": True},
    "n": 3,
}


def test_split_label() -> None:
    assert split_label(["zone", ":=", "CreateZone", "name=z"]) == ("zone", ["CreateZone", "name=z"])
    assert split_label(["CreateZone", "name=z"]) == (None, ["CreateZone", "name=z"])
    with pytest.raises(UsageError):
        split_label(["bad name", ":=", "CreateZone"])
    with pytest.raises(UsageError):
        split_label(["zone", ":="])


def test_expand_uuid_fields_indexes() -> None:
    tokens = ["zoneUuid=$zone", "ip=${hosts.0.managementIp}", "nics=${vm.vmNics.0.uuid},$zone", "x=${n}"]
    assert expand(tokens, NAMES) == [f"zoneUuid={'a' * 32}", "ip=10.0.0.1", f"nics={'d' * 32},{'a' * 32}", "x=3"]
    assert expand(["flag=${vm.enabled}"], NAMES) == ["flag=true"]
    assert expand(["price=5$"], NAMES) == ["price=5$"]


@pytest.mark.parametrize("token", ["$nope", "${zone.missing}", "${hosts.5.uuid}", "${hosts}", "${vm.vmNics}"])
def test_bad_references_are_usage_errors(token: str) -> None:
    with pytest.raises(UsageError):
        expand([f"k={token}"], NAMES)


def test_environment_variables_are_read_through_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CB_TEST_SECRET", "s3cret")
    monkeypatch.delenv("CB_TEST_MISSING", raising=False)
    assert expand(["password=${env.CB_TEST_SECRET}"], NAMES) == ["password=s3cret"]
    with pytest.raises(UsageError, match="the environment has no CB_TEST_MISSING"):
        expand(["password=${env.CB_TEST_MISSING}"], NAMES)
    assert expand(["x=${env.uuid}"], {"env": {"uuid": "remembered"}}) == ["x=remembered"]  # a name wins


def test_command_file_uses_earlier_results(tmp_path: Path) -> None:
    script = tmp_path / "topology.cb"
    script.write_text(
        "zone := CreateZone name=zone1\n"
        "cluster := CreateCluster name=c1 hypervisorType=Simulator zoneUuid=$zone\n"
        "AddSimulatorHost name=h1 managementIp=10.0.0.1 clusterUuid=${cluster.uuid} memoryCapacity=8G\n"
        "QueryHost cluster.zone.uuid=$zone fields=managementIp\n"
    )
    env = {**os.environ, "CLOUDBUS_HOME": str(tmp_path / "home")}
    env.pop("CLOUDBUS_BUS_URL", None)
    done = subprocess.run(["cloudbus", "-f", str(script)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    last = done.stdout[done.stdout.rindex("cloudbus >>> QueryHost") :].split("\n", 1)[1]
    assert json.loads(last) == {"inventories": [{"managementIp": "10.0.0.1"}], "success": True}

    bad = tmp_path / "bad.cb"
    bad.write_text("CreateCluster name=c hypervisorType=KVM zoneUuid=$zone\n")
    done = subprocess.run(["cloudbus", "-f", str(bad)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 2 and "unknown reference [$zone]" in done.stderr
