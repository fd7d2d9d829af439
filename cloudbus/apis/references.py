"""Names for results in command files and shell sessions, so later lines can use earlier uuids.

    zone := CreateZone name=zone1
    CreateCluster name=c1 hypervisorType=Simulator zoneUuid=$zone
    vm := CreateVmInstance name=vm1 ...
    AttachDataVolumeToVm volumeUuid=$vol vmInstanceUuid=${vm.uuid}
    AddVmNicToSecurityGroup securityGroupUuid=$sg vmNicUuids=${vm.vmNics.0.uuid}

`NAME := Api ...` remembers the reply's payload (its `inventory`, `inventories` or `total`)
under NAME. In later tokens `$NAME` is the remembered inventory's uuid and `${NAME.path}`
walks fields and list indexes (`${hosts.0.managementIp}`). `${env.VARIABLE}` is an environment
variable (a command file reads a cloud's login from OS_* that way, not from the file). An unknown
name, path or variable is a usage error: nothing is sent.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any

from cloudbus.apis.parser import UsageError

ENV = "env"  # ${env.NAME}: an environment variable
LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_-]*)((?:\.[A-Za-z0-9_]+)*)\}|\$([A-Za-z_][A-Za-z0-9_-]*)")


def split_label(tokens: Sequence[str]) -> tuple[str | None, list[str]]:
    """`["zone", ":=", "CreateZone", ...]` -> ("zone", ["CreateZone", ...])."""
    if len(tokens) >= 2 and tokens[1] == ":=":
        if not LABEL.match(tokens[0]):
            raise UsageError(f"invalid name [{tokens[0]}] before ':=' (letters, digits, '_' and '-')")
        if len(tokens) == 2:
            raise UsageError(f"no API after '{tokens[0]} :='")
        return tokens[0], list(tokens[2:])
    return None, list(tokens)


def expand(tokens: Sequence[str], names: dict[str, Any]) -> list[str]:
    return [_REFERENCE.sub(lambda m: _lookup(m, names), token) for token in tokens]


def _lookup(match: re.Match[str], names: dict[str, Any]) -> str:
    name = match.group(1) or match.group(3)
    path = [p for p in (match.group(2) or "").split(".") if p]
    if name == ENV and name not in names and len(path) == 1:
        if path[0] not in os.environ:
            raise UsageError(f"reference [{match.group(0)}]: the environment has no {path[0]}")
        return os.environ[path[0]]
    if name not in names:
        raise UsageError(f"unknown reference [{match.group(0)}]: no earlier line was named '{name} := ...'")
    value = names[name]
    for step in path or (["uuid"] if isinstance(value, dict) else []):
        value = _step(value, step, match.group(0))
    if isinstance(value, dict | list):
        raise UsageError(f"reference [{match.group(0)}] is not a single value; add a field, e.g. ${{{name}.uuid}}")
    return "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def _step(value: Any, step: str, ref: str) -> Any:
    if isinstance(value, list) and step.isdigit() and int(step) < len(value):
        return value[int(step)]
    if isinstance(value, dict) and step in value:
        return value[step]
    raise UsageError(f"reference [{ref}]: no [{step}] in the remembered result")
