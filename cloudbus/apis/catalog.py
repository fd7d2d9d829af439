"""The API catalogue: every public API message class, by name.

Every module of this package that is not a front door or the internal contracts declares
API classes; importing this module imports them all, so `apis()` is complete.
"""

from __future__ import annotations

import importlib
import pkgutil

import cloudbus.apis as _package
from cloudbus.core.messages import APIMessage, api_classes

_NOT_CONTRACTS = {
    "catalog",
    "cli",
    "client",
    "parser",
    "progress_bar",
    "references",
    "render",
    "routing",
    "server",
    "shell",
    "status",
    "internal",
}

for _module in sorted(m.name for m in pkgutil.iter_modules(_package.__path__)):
    if _module not in _NOT_CONTRACTS:
        importlib.import_module(f"cloudbus.apis.{_module}")


def apis() -> dict[str, type[APIMessage]]:
    return api_classes()


def api(name: str) -> type[APIMessage] | None:
    return apis().get(name)
