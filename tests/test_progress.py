"""Progress of long work: `api.progress` events under the API's id, and the CLI's bar.

AddImage of a 64 MiB raw file onto a LocalDir backup storage, from file:// and http://;
the events are heard on the bus the way a client hears them.
"""

from __future__ import annotations

import asyncio
import io
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloudbus.apis.image import AddImage
from cloudbus.apis.progress_bar import Bar, line
from cloudbus.apis.vm_instance import CreateVmInstance
from cloudbus.core import progress
from cloudbus.core.ids import new_uuid
from cloudbus.core.messages import Event
from cloudbus.core.units import MiB
from cloudbus.testing import Cloud
from tests.support.http_files import serving
from tests.support.network import build_network
from tests.test_cli import cloudbus

pytestmark = pytest.mark.skipif(shutil.which("qemu-img") is None, reason="needs qemu-img (qemu-utils)")

SIZE = 64 * MiB


@pytest.fixture
def raw_file(tmp_path: Path) -> Path:
    path = tmp_path / "src" / "disk.raw"
    path.parent.mkdir()
    with path.open("wb") as out:
        for i in range(SIZE // MiB):
            out.write(bytes([i % 251]) * MiB)
    return path


@pytest.fixture
def http_url(raw_file: Path) -> Iterator[str]:
    with serving(raw_file.parent) as url:
        yield url + raw_file.name


@pytest.fixture
def every_percent(monkeypatch: pytest.MonkeyPatch) -> None:
    """No throttling in time: an event for every new integer percent."""
    monkeypatch.setattr(progress, "INTERVAL", 0.0)


async def add_image_heard(cloud: Cloud, tmp_path: Path, url: str) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
    bs = await cloud.ok("AddLocalDirBackupStorage", name="dir", url=str(tmp_path / "bs"))
    heard: list[dict[str, Any]] = []

    async def on_event(event: Event) -> None:
        heard.append(event.data)

    api_id = new_uuid()
    subscription = await cloud.node.bus.subscribe("api.progress", on_event)
    try:
        msg = AddImage(name="big", url=url, format="raw", backupStorageUuids=[bs["uuid"]])
        reply = await cloud.client.request(msg, msg_id=api_id)
        await asyncio.sleep(0.05)  # events published just before the reply reach this subscriber
    finally:
        await subscription.cancel()
    assert reply.success, reply.to_json()
    return reply.inventory or {}, heard, api_id


def check_percentages(heard: list[dict[str, Any]], api_id: str, image_uuid: str) -> None:
    assert heard, "no progress event"
    assert {e["apiId"] for e in heard} == {api_id}
    assert {e["resourceUuid"] for e in heard} == {image_uuid}
    assert {e["stage"] for e in heard} == {"downloading image"}
    percents = [e["percent"] for e in heard]
    assert percents == sorted(set(percents)), percents  # strictly increasing
    assert percents[0] == 0 and percents[-1] == 100
    assert len(percents) >= 10, percents  # 64 chunks of 1 MiB: many steps in between


async def test_add_image_from_file_reports_progress(
    cloud: Cloud, tmp_path: Path, raw_file: Path, every_percent: None
) -> None:
    image, heard, api_id = await add_image_heard(cloud, tmp_path, raw_file.as_uri())
    assert image["status"] == "Ready" and image["actualSize"] == SIZE
    check_percentages(heard, api_id, image["uuid"])


async def test_add_image_over_http_reports_progress(
    cloud: Cloud, tmp_path: Path, http_url: str, every_percent: None
) -> None:
    image, heard, api_id = await add_image_heard(cloud, tmp_path, http_url)
    assert image["status"] == "Ready" and image["actualSize"] == SIZE
    check_percentages(heard, api_id, image["uuid"])


async def test_progress_is_throttled(cloud: Cloud, tmp_path: Path, raw_file: Path) -> None:
    """At most one event per interval (0 and 100 always): a fast copy sends a handful."""
    _image, heard, _api_id = await add_image_heard(cloud, tmp_path, raw_file.as_uri())
    percents = [e["percent"] for e in heard]
    assert percents[0] == 0 and percents[-1] == 100
    assert len(percents) <= 2 + 64 * 0.2 / progress.INTERVAL  # never one per chunk at this speed


async def test_reporter_takes_calls_from_threads_in_order(cloud: Cloud) -> None:
    heard: list[int] = []

    async def on_event(event: Event) -> None:
        heard.append(event.data["percent"])

    subscription = await cloud.node.bus.subscribe("api.progress", on_event)
    reporter = progress.ProgressReporter(cloud.node.bus, new_uuid(), "copying", interval=0)
    await asyncio.to_thread(lambda: [reporter(p) for p in (0, 10, 10, 50, 99)])
    reporter(100)
    await reporter.close()
    await asyncio.sleep(0.05)
    await subscription.cancel()
    assert heard == [0, 10, 50, 99, 100]


def test_bar_is_one_line_redrawn_and_finished() -> None:
    stream = io.StringIO()
    bar = Bar("a" * 32, stream)
    asyncio.run(bar.on_event(Event(name="api.progress", data={"apiId": "b" * 32, "percent": 5})))
    assert stream.getvalue() == ""  # another API's progress
    bar.draw(42, "downloading image")
    bar.draw(100, "downloading image")
    bar.finish()
    assert stream.getvalue() == f"\r{line(42, 'downloading image')}\r{line(100, 'downloading image')}\n"
    assert line(42, "x") == "[############                  ]  42% x"


def test_cli_draws_a_bar_on_stderr(tmp_path: Path, raw_file: Path) -> None:
    home = tmp_path / "home"
    env = {"CLOUDBUS_PROGRESS": "1"}
    run = cloudbus(home, "AddLocalDirBackupStorage", "name=dir", f"url={tmp_path / 'bs'}", extra_env=env)
    assert run.code == 0, run.stderr
    assert "%" not in run.stderr  # no progress for an API that reports none
    bs = run.json["inventory"]["uuid"]
    run = cloudbus(
        home, "AddImage", "name=big", f"url={raw_file.as_uri()}", "format=raw", f"backupStorageUuids={bs}",
        extra_env=env,
    )  # fmt: skip
    assert run.code == 0, run.stderr
    assert run.json["inventory"]["status"] == "Ready"  # stdout is the reply only
    # (text mode reads the bar's "\r" as a line end; test_bar_is_one_line... checks the bytes)
    assert f"{line(0, 'downloading image')}\n" in run.stderr, run.stderr
    assert run.stderr.endswith(f"{line(100, 'downloading image')}\n"), run.stderr
    quiet = cloudbus(
        home, "AddImage", "name=big2", f"url={raw_file.as_uri()}", "format=raw", f"backupStorageUuids={bs}",
        extra_env={"CLOUDBUS_PROGRESS": "0"},
    )  # fmt: skip
    assert quiet.code == 0 and "downloading" not in quiet.stderr


async def test_first_vm_from_an_image_reports_the_image_cache_copy(
    cloud: Cloud, tmp_path: Path, raw_file: Path, every_percent: None
) -> None:
    """The first root volume from an image on a SharedMountPoint storage waits for the image's
    copy into its cache: CreateVmInstance reports it; the second VM (cached) reports nothing."""
    env = await cloud.build_env()
    zone, cluster = env["zones"][0], env["clusters"][0]
    ps = await cloud.ok(
        "AddSharedMountPointPrimaryStorage", name="smp", zoneUuid=zone["uuid"], url=str(tmp_path / "ps")
    )
    await cloud.ok("AttachPrimaryStorageToCluster", primaryStorageUuid=ps["uuid"], clusterUuid=cluster["uuid"])
    bs = await cloud.ok("AddLocalDirBackupStorage", name="dir", url=str(tmp_path / "bs"))
    await cloud.ok("AttachBackupStorageToZone", backupStorageUuid=bs["uuid"], zoneUuid=zone["uuid"])
    image = await cloud.ok("AddImage", name="big", url=raw_file.as_uri(), format="raw", backupStorageUuids=[bs["uuid"]])
    net = await build_network(cloud, zone["uuid"], [cluster["uuid"]])
    offering = await cloud.ok("CreateInstanceOffering", name="o", cpuNum=1, memorySize=1 << 30)
    heard: list[dict[str, Any]] = []

    async def on_event(event: Event) -> None:
        heard.append(event.data)

    subscription = await cloud.node.bus.subscribe("api.progress", on_event)
    try:
        for name in ("first", "second"):
            params = {"instanceOfferingUuid": offering["uuid"], "imageUuid": image["uuid"]}
            api_id = new_uuid()
            msg = CreateVmInstance(name=name, l3NetworkUuids=[net["l3"]["uuid"]], **params)
            reply = await cloud.client.request(msg, msg_id=api_id)
            assert reply.success, reply.to_json()
            await asyncio.sleep(0.05)
            if name == "first":
                first_id = api_id
    finally:
        await subscription.cancel()
    assert {e["apiId"] for e in heard} == {first_id}  # the second VM found the image cached
    assert {e["stage"] for e in heard} == {"copying image to primary storage"}
    percents = [e["percent"] for e in heard]
    assert percents[0] == 0 and percents[-1] == 100 and percents == sorted(set(percents)) and len(percents) > 2
