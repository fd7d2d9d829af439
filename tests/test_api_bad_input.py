"""Every API rejects bad input with a coded error and changes nothing (checked for the whole catalogue).

Three kinds of bad input, each sent the way a client does, against a populated cloud whose
every table is compared before and after: an unknown parameter, no parameters at all (for
APIs with a required one), and well-formed uuids that name nothing in every resource field.
"""

from __future__ import annotations

import types
from typing import Any, Literal, Union, get_args, get_origin

import pytest

from cloudbus.apis.catalog import apis
from cloudbus.core.ids import new_uuid
from cloudbus.core.messages import APIMessage, APIQueryMessage
from cloudbus.testing import Cloud

ACTIONS = {n: c for n, c in apis().items() if not issubclass(c, APIQueryMessage)}
WITH_REFS = {n: c for n, c in ACTIONS.items() if any(not r.missing_ok for r in c.refs().values())}


def test_the_catalogue_holds_only_public_api_names() -> None:
    assert all(name[0].isupper() and name.isalnum() for name in apis())
    assert len(ACTIONS) > 100 and len(WITH_REFS) > 60


def _sample(annotation: Any) -> Any:
    """A valid-looking value of a field's type (so that only the resource references are wrong)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Literal:
        return args[0]
    if origin in (Union, types.UnionType):
        return _sample(next(a for a in args if a is not type(None)))
    if origin is list:
        return [_sample(args[0])] if args else []
    if origin is dict:
        return {}
    if getattr(annotation, "__metadata__", None):  # Annotated[...]
        return _sample(get_args(annotation)[0])
    return {int: 1, bool: False, float: 1.0}.get(annotation, "x")


def _unknown_refs(cls: type[APIMessage]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    refs = cls.refs()
    for name, field in cls.model_fields.items():
        if name in refs:
            params[name] = [new_uuid()] if get_origin(field.annotation) is list else new_uuid()
        elif field.is_required():
            params[name] = _sample(field.annotation)
    return params


@pytest.fixture
async def populated(cloud: Cloud) -> Cloud:
    env = await cloud.build_vm_cloud(hosts=1, network_cidr="10.9.0.0/28")
    await cloud.ok(
        "CreateVmInstance",
        name="vm",
        instanceOfferingUuid=env["offering"]["uuid"],
        imageUuid=env["image"]["uuid"],
        l3NetworkUuids=[env["l3"]["uuid"]],
    )
    return cloud


async def test_bad_input_to_every_api_is_refused_and_changes_nothing(populated: Cloud) -> None:
    cloud = populated
    before = await cloud.snapshot()
    wrong: list[str] = []
    for name, cls in ACTIONS.items():
        cases = [("unknown parameter", {"noSuchParameter": "1"}, {"SYS.1007"})]
        if any(f.is_required() for f in cls.model_fields.values()):
            cases.append(("no parameters", {}, {"SYS.1007"}))
        if name in WITH_REFS:
            cases.append(("unknown uuids", _unknown_refs(cls), {"SYS.1003", "SYS.1007"}))
        for what, params, codes in cases:
            reply = await cloud.api(name, **params)
            if reply.success or reply.error is None or reply.error.code not in codes:
                wrong.append(f"{name} ({what}): {reply.to_json()}")
    assert wrong == []
    assert await cloud.snapshot() == before
