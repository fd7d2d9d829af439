"""The API catalogue: every public API message class, by name.

Importing this module imports every API contract module, so `apis()` is complete.
"""

from __future__ import annotations

from cloudbus.apis import cluster, host, zone  # noqa: F401  (registration)
from cloudbus.core.messages import APIMessage, api_classes


def apis() -> dict[str, type[APIMessage]]:
    return api_classes()


def api(name: str) -> type[APIMessage] | None:
    return apis().get(name)
