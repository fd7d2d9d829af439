"""The full ZStack bring-up of examples/bringup.cb, run on this backend, then torn down with DeleteZone."""

from __future__ import annotations

from pathlib import Path

from cloudbus.apis.cli import Session, run_lines
from cloudbus.core.config import Settings
from cloudbus.testing import Cloud

EXAMPLE = Path(__file__).parent.parent / "examples" / "bringup.cb"
GONE_WITH_THE_ZONE = [
    "QueryZone",
    "QueryCluster",
    "QueryHost",
    "QueryPrimaryStorage",
    "QueryL2Network",
    "QueryL3Network",
    "QueryIpRange",
    "QueryIpAddress",
    "QueryVmInstance",
    "QueryVmNic",
    "QueryVolume",
    "QueryVolumeSnapshot",
]


async def test_example_bringup_then_delete_zone(cloud: Cloud) -> None:
    session = Session(Settings.from_env())
    session.client = cloud.client  # run the script against this test's cloud (either backend)
    status = await run_lines(EXAMPLE.read_text().splitlines(), session, echo=False)
    assert status == 0
    found = session.names
    assert found["bigData"] == [{"name": "vm1", "state": "Running"}, {"name": "vm2", "state": "Running"}]
    assert found["tagged"] == [{"name": "vm1"}]
    assert found["googleDns"] == [{"name": "l3"}]
    assert sorted(h["name"] for h in found["busyHosts"]) in (["host1"], ["host2"], ["host1", "host2"])
    vm2 = found["vm2"]
    assert vm2["vmNics"][0]["mac"].startswith("fa:") and vm2["vmNics"][0]["deviceId"] == 0

    for query in GONE_WITH_THE_ZONE:
        assert await cloud.ok(query) == [], query
    assert found["leftBs"] == [{"name": "bs1", "attachedZoneUuids": []}]
    assert found["leftImages"] == [{"name": "ubuntu", "status": "Ready"}]
