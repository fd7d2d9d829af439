"""Routing facts live in one place: the inventory declaration names the service owning a
resource type; messages (through their declared `resource`) and services (their
`resource_types`) derive from it, and every message reaches a service that handles it."""

from __future__ import annotations

import importlib
import pkgutil
import re
from functools import cache
from pathlib import Path

import pytest

import cloudbus.apis.catalog
import cloudbus.apis.internal
from cloudbus import inventory
from cloudbus.apis.routing import Concerns
from cloudbus.core.messages import Message
from cloudbus.core.service import Service
from cloudbus.node import SERVICES, load
from cloudbus.services.base import ResourceService

APIS = Path(cloudbus.apis.catalog.__file__).parent
OWNERS = {inv.service_id for inv in inventory.INVENTORIES.values()}

for _module in pkgutil.iter_modules(cloudbus.apis.internal.__path__):
    importlib.import_module(f"cloudbus.apis.internal.{_module.name}")


def _subclasses(cls: type[Message]) -> list[type[Message]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


# every message the contracts declare (API and internal), base classes of families included
CONTRACTS = sorted(
    {c for c in _subclasses(Message) if c.__module__.startswith("cloudbus.apis.")}, key=lambda c: c.__name__
)
SERVICE_CLASSES: list[type[Service]] = [load(path) for path in SERVICES]


@cache
def _services() -> list[Service]:
    # not started: `handler_for` reads only the class's handler table
    return [cls.__new__(cls) for cls in SERVICE_CLASSES]


def test_the_contracts_are_loaded() -> None:
    assert len(CONTRACTS) > 100


@pytest.mark.parametrize("msg", [c for c in CONTRACTS if issubclass(c, Concerns)], ids=lambda c: c.__name__)
def test_a_message_goes_to_the_owner_of_its_resource(msg: type[Message]) -> None:
    assert msg.service_id == inventory.get(msg.resource).service_id  # type: ignore[attr-defined]


def test_a_service_owning_resources_is_named_only_by_their_inventories() -> None:
    explicit = {c.__name__: c.service_id for c in CONTRACTS if not issubclass(c, Concerns)}
    assert {name: sid for name, sid in explicit.items() if sid in OWNERS} == {}


def test_no_service_id_literal_in_the_contracts_names_an_owner() -> None:
    literal = re.compile(r'^\s*service_id: ClassVar\[str\] = "([^"]*)"', re.M)
    found = {
        f"{path.relative_to(APIS)}: {sid}"
        for path in APIS.rglob("*.py")
        for sid in literal.findall(path.read_text())
        if sid in OWNERS
    }
    assert found == set()


def test_a_family_declares_its_resource_or_its_service_not_both() -> None:
    with pytest.raises(TypeError, match="declares service_id"):

        class _Both(Concerns):
            resource = "Zone"
            service_id = "zone"


# A family base (`_VmMessage`) is never sent; a message without a service id (like the
# cascade's CascadeStep) is addressed by its sender, to whichever service it concerns.
ADDRESSED = [c for c in CONTRACTS if c.service_id and not c.__name__.startswith("_")]


@pytest.mark.parametrize("msg", ADDRESSED, ids=lambda c: c.__name__)
def test_every_message_reaches_a_service_that_handles_it(msg: type[Message]) -> None:
    serving = [s for s in _services() if s.service_id == msg.service_id and s.handler_for(msg) is not None]
    assert serving, f"no service[{msg.service_id}] handles {msg.__name__}"


def test_every_inventory_is_owned_by_a_running_service() -> None:
    running = {cls.service_id for cls in SERVICE_CLASSES}
    assert {inv.name: inv.service_id for inv in inventory.INVENTORIES.values() if inv.service_id not in running} == {}


@pytest.mark.parametrize(
    "service", [c for c in SERVICE_CLASSES if issubclass(c, ResourceService)], ids=lambda c: c.__name__
)
def test_resource_types_are_the_inventories_declared_for_the_service(service: type[ResourceService]) -> None:
    assert service.resource_types
    for name in service.resource_types:
        assert inventory.get(name).service_id == service.service_id
