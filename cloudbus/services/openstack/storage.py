"""OpenStack storage drivers: a Cinder volume type as primary storage, Glance as backup storage.

A volume is a Cinder volume of the storage's type, named by the volume's uuid, its installPath
`cinder://<id>`; a root volume is made from the image's Glance copy. An image on the Glance
storage is a Glance image named by the image's uuid, its installPath `glance://<id>`. Every
size an inventory gets is read back from OpenStack once the object is available.
"""

from __future__ import annotations

import math
import os
import tempfile
from typing import Any

from cloudbus.core import errors
from cloudbus.core.progress import Progress
from cloudbus.services.openstack.compute import volume_id, wait_volume
from cloudbus.services.openstack.connection import TAG, clouds_of, run, tag, wait
from cloudbus.services.storage.base import (
    BackupStorageDriver,
    DownloadResult,
    Live,
    PrimaryStorageDriver,
    SnapshotResult,
    StorageFacts,
)
from cloudbus.services.storage.localdir import fetch, measure

GiB = 1 << 30
# Glance reports no capacity and Cinder backends may say "infinite": what such a storage shows
UNBOUNDED = 1 << 50


def image_id(install_path: str | None) -> str:
    if not install_path or not install_path.startswith("glance://"):
        raise errors.operation_error(f"image installPath[{install_path}] is not a Glance image")
    return install_path.removeprefix("glance://")


def _gib(size: int) -> int:
    return max(1, math.ceil(size / GiB))


class CinderPrimaryStorageDriver(PrimaryStorageDriver):
    """Serves OpenStackCinder primary storages (one per volume type, made by discovery)."""

    def bind(self, node: Any) -> None:
        self.clouds = clouds_of(node)

    async def connect(self, ps: dict[str, Any]) -> StorageFacts:
        conn, mapping = await self.clouds.of(ps["uuid"])
        return await run(f"read the pools of volume type[{mapping['openstackName']}]", _pool_facts, conn, mapping)

    async def host_capacity(self, ps: dict[str, Any], host: dict[str, Any]) -> StorageFacts:
        return await self.connect(ps)

    async def attach(self, ps: dict[str, Any], cluster: dict[str, Any], hosts: list[dict[str, Any]]) -> None:
        return None  # every compute of the cloud reaches every volume type

    async def detach(self, ps: dict[str, Any], cluster: dict[str, Any]) -> None:
        return None

    async def delete(self, ps: dict[str, Any]) -> None:
        return None  # the volume type is OpenStack's

    async def instantiate_volume(
        self,
        ps: dict[str, Any],
        volume_uuid: str,
        size: int,
        host_uuid: str | None,
        image_uuid: str | None,
        fmt: str,
        *,
        image_path: str | None = None,
        full_copy: bool = False,
    ) -> str:
        conn, mapping = await self.clouds.of(ps["uuid"])

        def make() -> str:
            existing = _find_volume(conn, volume_uuid)  # an earlier try that lost its reply
            volume = existing or conn.block_storage.create_volume(
                name=volume_uuid,
                size=_gib(size),
                volume_type=mapping["openstackName"],
                image_id=image_id(image_path) if image_uuid else None,
                metadata={TAG: tag(mapping["cloudUuid"])},
            )
            try:
                wait_volume(conn, volume.id, "available", f"create volume[uuid:{volume_uuid}]")
            except BaseException:
                remove_volume(conn, volume.id, f"remove the failed volume[uuid:{volume_uuid}]")
                raise
            return f"cinder://{volume.id}"

        return await run(f"create volume[uuid:{volume_uuid}] in cinder", make)

    async def delete_volume(
        self, ps: dict[str, Any], volume_uuid: str, install_path: str | None, host_uuid: str | None
    ) -> None:
        conn, _ = await self.clouds.of(ps["uuid"])
        found = volume_id(install_path) if install_path else getattr(_find_volume(conn, volume_uuid), "id", None)
        if found:
            await run(
                f"delete volume[uuid:{volume_uuid}] from cinder", remove_volume, conn, found, f"volume[{volume_uuid}]"
            )

    async def snapshot(
        self,
        ps: dict[str, Any],
        command: str,
        volume_uuid: str,
        volume_path: str | None,
        snapshot_uuid: str,
        snapshot_path: str | None,
        *,
        snapshot_type: str | None = None,
        live: Live | None = None,
    ) -> SnapshotResult | None:
        conn, mapping = await self.clouds.of(ps["uuid"])
        volume = volume_id(volume_path)
        snap = (snapshot_path or "").removeprefix("cinder-snapshot://")

        def take() -> SnapshotResult:
            made = conn.block_storage.create_snapshot(
                volume_id=volume, name=snapshot_uuid, force=True, metadata={TAG: tag(mapping["cloudUuid"])}
            )
            done = wait(
                f"snapshot volume[uuid:{volume_uuid}]",
                lambda: conn.block_storage.find_snapshot(made.id, ignore_missing=True, all_projects=True),
                lambda s: s is not None and s.status == "available",
                failed=lambda s: f"snapshot went {s.status}" if s.status.startswith("error") else None,
            )
            return SnapshotResult(f"cinder-snapshot://{done.id}", size=int(done.size) * GiB, snapshotType="cinder")

        def delete() -> None:
            conn.block_storage.delete_snapshot(snap, ignore_missing=True)
            wait(
                f"delete snapshot[uuid:{snapshot_uuid}]",
                lambda: conn.block_storage.find_snapshot(snap, ignore_missing=True, all_projects=True),
                lambda s: s is None,
                failed=lambda s: f"snapshot went {s.status}" if s.status == "error_deleting" else None,
            )

        def revert() -> None:
            conn.block_storage.revert_volume_to_snapshot(volume, snap)
            wait_volume(conn, volume, "available", f"revert volume[uuid:{volume_uuid}]")

        steps = {"take": take, "delete": delete, "revert": revert}
        if command not in steps:
            raise errors.operation_error(f"unknown snapshot command[{command}]")
        return await run(f"{command} snapshot of volume[uuid:{volume_uuid}] in cinder", steps[command])

    async def resize_volume(
        self, ps: dict[str, Any], install_path: str, size: int, *, shrink: bool = False, live: Live | None = None
    ) -> None:
        if shrink:
            raise errors.operation_error("a Cinder volume can only grow")
        conn, _ = await self.clouds.of(ps["uuid"])
        volume = volume_id(install_path)

        def extend() -> None:
            before = conn.block_storage.get_volume(volume)
            conn.block_storage.extend_volume(volume, _gib(size))
            wait(
                f"extend volume[{volume}]",
                lambda: conn.block_storage.get_volume(volume),
                lambda v: v.status == before.status and int(v.size) >= _gib(size),
                failed=lambda v: f"volume went {v.status}" if v.status.startswith("error") else None,
            )

        await run(f"extend volume[{volume}] in cinder", extend)


class GlanceBackupStorageDriver(BackupStorageDriver):
    """Serves the OpenStackGlance backup storage of a cloud (made by discovery)."""

    def bind(self, node: Any) -> None:
        self.clouds = clouds_of(node)

    async def connect(self, bs: dict[str, Any]) -> StorageFacts:
        conn, _ = await self.clouds.of(bs["uuid"])
        await run("reach glance", lambda: next(iter(conn.image.images(limit=1)), None))
        return StorageFacts(UNBOUNDED, UNBOUNDED, UNBOUNDED)

    async def download(
        self, bs: dict[str, Any], image: dict[str, Any], size_hint: int | None, *, progress: Progress | None = None
    ) -> DownloadResult:
        """Fetch the image's url here (file:// or http(s)://), check it, and upload it to Glance."""
        conn, mapping = await self.clouds.of(bs["uuid"])
        fmt = str(image["format"])
        with tempfile.TemporaryDirectory(prefix="cloudbus-glance-") as scratch:
            path = os.path.join(scratch, f"{image['uuid']}.{fmt}")
            md5 = await fetch(str(image["url"]), path, progress)
            virtual, _actual = await measure(path, fmt)

            def upload() -> Any:
                made = conn.image.create_image(
                    name=image["uuid"],
                    filename=path,
                    disk_format=fmt if fmt in ("qcow2", "raw", "iso", "vmdk", "vhd") else "raw",
                    container_format="bare",
                    visibility="public",
                    tags=[tag(mapping["cloudUuid"])],
                    wait=True,
                    validate_checksum=True,
                )
                return conn.image.get_image(made.id)

            uploaded = await run(f"upload image[uuid:{image['uuid']}] to glance", upload)
        return DownloadResult(
            f"glance://{uploaded.id}",
            int(uploaded.virtual_size or virtual),
            int(uploaded.size or 0),
            md5,
        )

    async def delete_bits(self, bs: dict[str, Any], install_path: str) -> None:
        conn, _ = await self.clouds.of(bs["uuid"])
        await run("delete image from glance", conn.image.delete_image, image_id(install_path), ignore_missing=True)

    async def delete(self, bs: dict[str, Any]) -> None:
        return None  # Glance is OpenStack's


# --- blocking helpers -----------------------------------------------------------------------


def _pool_facts(conn: Any, mapping: dict[str, Any]) -> StorageFacts:
    """Capacity of the pools serving the volume type (its volume_backend_name, or every pool)."""
    vtype = conn.block_storage.get_type(mapping["openstackId"])
    backend = (vtype.extra_specs or {}).get("volume_backend_name")
    total = free = 0
    for pool in conn.block_storage.backend_pools(details=True):
        caps = pool.capabilities or {}
        if backend and caps.get("volume_backend_name") != backend:
            continue
        total += _capacity(caps.get("total_capacity_gb"))
        free += _capacity(caps.get("free_capacity_gb"))
    return StorageFacts(total, total, min(free, total))


def _capacity(gb: Any) -> int:
    try:
        return int(float(gb) * GiB)
    except (TypeError, ValueError):  # "infinite" / "unknown"
        return UNBOUNDED


def _find_volume(conn: Any, volume_uuid: str) -> Any:
    return next(iter(conn.block_storage.volumes(name=volume_uuid, all_projects=True)), None)


def remove_volume(conn: Any, volume: str, what: str) -> None:
    """Delete a Cinder volume once no server holds it, and wait until it is gone."""
    wait(
        f"{what}: wait for its server to let go",
        lambda: conn.block_storage.find_volume(volume, ignore_missing=True, all_projects=True),
        lambda v: v is None or v.status not in ("in-use", "detaching", "attaching", "creating", "downloading"),
    )
    conn.block_storage.delete_volume(volume, ignore_missing=True, cascade=True)  # its snapshots go with it
    wait(
        f"{what}: deleting",
        lambda: conn.block_storage.find_volume(volume, ignore_missing=True, all_projects=True),
        lambda v: v is None,
        failed=lambda v: f"volume went {v.status}" if v.status == "error_deleting" else None,
    )
