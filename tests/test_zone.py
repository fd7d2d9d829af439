"""Zone APIs as a user sees them: inventories, state changes, errors."""

from __future__ import annotations

from cloudbus.core.ids import is_uuid, new_uuid
from cloudbus.testing import Cloud


async def test_create_zone_returns_zstack_inventory(cloud: Cloud) -> None:
    zone = await cloud.ok("CreateZone", name="zone1", description="first zone")
    assert set(zone) == {"uuid", "name", "description", "state", "type", "isDefault", "createDate", "lastOpDate"}
    assert is_uuid(zone["uuid"])
    assert (zone["name"], zone["description"], zone["state"], zone["type"]) == (
        "zone1",
        "first zone",
        "Enabled",
        "zstack",
    )
    assert zone["isDefault"] is False
    assert zone["createDate"].endswith("Z") and "T" in zone["createDate"]


async def test_create_zone_with_resource_uuid(cloud: Cloud) -> None:
    chosen = new_uuid()
    zone = await cloud.ok("CreateZone", name="z", resourceUuid=chosen)
    assert zone["uuid"] == chosen
    error = await cloud.error("CreateZone", name="z", resourceUuid="not-a-uuid")
    assert error.code == "SYS.1007"


async def test_update_zone_changes_only_given_fields(cloud: Cloud) -> None:
    zone = await cloud.ok("CreateZone", name="z", description="d")
    updated = await cloud.ok("UpdateZone", uuid=zone["uuid"], name="renamed")
    assert (updated["name"], updated["description"]) == ("renamed", "d")
    assert updated["lastOpDate"] >= zone["lastOpDate"]
    [queried] = await cloud.query("QueryZone", ("uuid", "=", zone["uuid"]))
    assert queried["name"] == "renamed"


async def test_only_one_default_zone(cloud: Cloud) -> None:
    first = await cloud.ok("CreateZone", name="a", isDefault=True)
    second = await cloud.ok("CreateZone", name="b", isDefault=True)
    zones = {z["uuid"]: z for z in await cloud.ok("QueryZone")}
    assert zones[second["uuid"]]["isDefault"] is True
    assert zones[first["uuid"]]["isDefault"] is False


async def test_change_zone_state(cloud: Cloud) -> None:
    zone = await cloud.ok("CreateZone", name="z")
    assert (await cloud.ok("ChangeZoneState", uuid=zone["uuid"], stateEvent="disable"))["state"] == "Disabled"
    assert (await cloud.ok("ChangeZoneState", uuid=zone["uuid"], stateEvent="enable"))["state"] == "Enabled"
    error = await cloud.error("ChangeZoneState", uuid=zone["uuid"], stateEvent="maintain")
    assert error.code == "SYS.1007" and "stateEvent" in error.details


async def test_delete_zone_is_idempotent(cloud: Cloud) -> None:
    zone = await cloud.ok("CreateZone", name="z")
    await cloud.ok("DeleteZone", uuid=zone["uuid"])
    assert await cloud.ok("QueryZone") == []
    await cloud.ok("DeleteZone", uuid=zone["uuid"])  # already gone: success
    await cloud.ok("DeleteZone", uuid=new_uuid())  # never existed: success


async def test_update_unknown_zone_is_not_found(cloud: Cloud) -> None:
    error = await cloud.error("UpdateZone", uuid=new_uuid(), name="x")
    assert error.code == "SYS.1003"
    assert "ZoneVO" in error.details
