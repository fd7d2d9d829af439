"""OpenStack storage drivers: a Cinder volume type as primary storage, Glance as backup storage.

A volume is a Cinder volume of the storage's type, named by the volume's uuid, its installPath
`cinder://<id>`; a root volume is made from the image's Glance copy. An image on the Glance
storage is a Glance image named by the image's uuid, its installPath `glance://<id>`. Every
size an inventory gets is read back from OpenStack once the object is available.

A template made from a volume (CreateRootVolumeTemplateFromRootVolume) is a Glance image too:
the Glance storage answers `glance-upload://<cloud uuid>/<image uuid>` as where it goes, the
Cinder storage clones the volume (so its VM may run: Cinder refuses to upload an in-use volume
unless `force`, which it disables by default), uploads the clone to Glance as a public image
named by the image's uuid and tagged, waits until it is active and deletes the clone; the Glance
storage then finds the image and reports its id, size and checksum. Glance images cloudbus did
not make (discovered ones, untagged) are the operator's: deleting their bits leaves them.
"""

from __future__ import annotations

import math
import os
import tempfile
from typing import Any

from cloudbus.core import errors
from cloudbus.core.logging import get_logger
from cloudbus.core.progress import Progress
from cloudbus.core.units import GiB
from cloudbus.services.openstack.compute import volume_id, wait_volume
from cloudbus.services.openstack.connection import TAG, clouds_of, every_project, run, tag, wait
from cloudbus.services.storage.base import (
    BackupStorageDriver,
    DownloadResult,
    Live,
    PrimaryStorageDriver,
    SnapshotResult,
    StorageFacts,
)
from cloudbus.services.storage.localdir import fetch, measure

log = get_logger(__name__)

UPLOAD = "glance-upload://"  # <cloud uuid>/<image uuid>: a template on its way to Glance
# Glance reports no capacity and Cinder backends may say "infinite": what such a storage shows
UNBOUNDED = 1 << 50


def image_id(install_path: str | None) -> str:
    if not install_path or not install_path.startswith("glance://"):
        raise errors.operation_error(f"image installPath[{install_path}] is not a Glance image")
    return install_path.removeprefix("glance://")


TEMPLATE = errors.register("OPENSTACK.1120", "Unable to make a Glance image from a Cinder volume")


def _upload_target(path: str) -> tuple[str, str]:
    """(cloud uuid, image uuid) of a template path the Glance storage answered."""
    cloud, _, image = path.removeprefix(UPLOAD).partition("/")
    if not path.startswith(UPLOAD) or not cloud or not image:
        raise errors.fail(TEMPLATE, f"template path[{path}] is not on an OpenStackGlance backup storage")
    return cloud, image


def _gib(size: int) -> int:
    return max(1, math.ceil(size / GiB))


class CinderPrimaryStorageDriver(PrimaryStorageDriver):
    """Serves OpenStackCinder primary storages (one per volume type, made by discovery)."""

    copies_in_use_volumes = True  # a template is uploaded from a clone: the VM may run

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
        conn, mapping = await self.clouds.of_owner(ps["uuid"], volume_uuid)  # made in its owner's project

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
        conn, _ = await self.clouds.of_owner(ps["uuid"], volume_uuid)
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
        conn, mapping = await self.clouds.of_owner(ps["uuid"], volume_uuid)
        volume = volume_id(volume_path)
        snap = (snapshot_path or "").removeprefix("cinder-snapshot://")

        def take() -> SnapshotResult:
            made = conn.block_storage.create_snapshot(
                volume_id=volume, name=snapshot_uuid, force=True, metadata={TAG: tag(mapping["cloudUuid"])}
            )
            done = wait(
                f"snapshot volume[uuid:{volume_uuid}]",
                lambda: conn.block_storage.find_snapshot(made.id, ignore_missing=True, **every_project(conn)),
                lambda s: s is not None and s.status == "available",
                failed=lambda s: f"snapshot went {s.status}" if s.status.startswith("error") else None,
            )
            return SnapshotResult(f"cinder-snapshot://{done.id}", size=int(done.size) * GiB, snapshotType="cinder")

        def delete() -> None:
            conn.block_storage.delete_snapshot(snap, ignore_missing=True)
            wait(
                f"delete snapshot[uuid:{snapshot_uuid}]",
                lambda: conn.block_storage.find_snapshot(snap, ignore_missing=True, **every_project(conn)),
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

    async def create_template(
        self,
        ps: dict[str, Any],
        volume_uuid: str,
        volume_path: str | None,
        host_uuid: str | None,
        target: str,
        *,
        progress: Progress | None = None,
    ) -> None:
        """Upload a clone of the volume to Glance as the image `target` names (`glance-upload://`).

        As the admin, whoever owns the volume: Glance's `publicize_image` and Cinder's
        `upload_public` policies let only an admin make an image public."""
        conn, mapping = await self.clouds.of(ps["uuid"])
        cloud, image_uuid = _upload_target(target)
        if cloud != mapping["cloudUuid"]:
            raise errors.fail(
                TEMPLATE,
                f"volume[uuid:{volume_uuid}] is in openstack cloud[uuid:{mapping['cloudUuid']}], "
                f"the backup storage in openstack cloud[uuid:{cloud}]",
            )
        what = f"upload volume[uuid:{volume_uuid}] to glance as image[uuid:{image_uuid}]"
        await run(what, upload_volume, conn, volume_id(volume_path), image_uuid, tag(cloud))


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
        conn, mapping = await self.clouds.of(bs["uuid"])
        await run(
            f"delete image[{install_path}] from glance", _delete_image, conn, install_path, tag(mapping["cloudUuid"])
        )

    async def template_path(self, bs: dict[str, Any], image_uuid: str, fmt: str) -> str:
        mapping = await self.clouds.mapped(bs["uuid"])
        return f"{UPLOAD}{mapping['cloudUuid']}/{image_uuid}"

    async def commit_template(
        self, bs: dict[str, Any], image_uuid: str, install_path: str, fmt: str, size_hint: int | None
    ) -> DownloadResult:
        """The Glance image the Cinder storage uploaded, as Glance reports it."""
        conn, mapping = await self.clouds.of(bs["uuid"])
        image = await run(
            f"find image[uuid:{image_uuid}] in glance", _uploaded, conn, image_uuid, tag(mapping["cloudUuid"])
        )
        size = int(image.size or 0)
        return DownloadResult(
            f"glance://{image.id}", int(image.virtual_size or size_hint or size), size, image.checksum
        )

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
    return next(iter(conn.block_storage.volumes(name=volume_uuid, **every_project(conn))), None)


def remove_volume(conn: Any, volume: str, what: str) -> None:
    """Delete a Cinder volume once no server holds it, and wait until it is gone."""
    wait(
        f"{what}: wait for its server to let go",
        lambda: conn.block_storage.find_volume(volume, ignore_missing=True, **every_project(conn)),
        lambda v: (
            v is None or v.status not in ("in-use", "detaching", "attaching", "creating", "downloading", "uploading")
        ),
    )
    conn.block_storage.delete_volume(volume, ignore_missing=True, cascade=True)  # its snapshots go with it
    wait(
        f"{what}: deleting",
        lambda: conn.block_storage.find_volume(volume, ignore_missing=True, **every_project(conn)),
        lambda v: v is None,
        failed=lambda v: f"volume went {v.status}" if v.status == "error_deleting" else None,
    )


def upload_volume(conn: Any, volume: str, name: str, label: str) -> None:
    """Glance image `name` (qcow2, public, tagged `label`, active) made from a clone of Cinder
    volume `volume`; the clone is deleted, and on a failure the image too."""
    clone = conn.block_storage.create_volume(name=name, source_volume_id=volume, metadata={TAG: label})
    image: str | None = None
    try:
        wait_volume(conn, clone.id, "available", f"clone volume[{volume}]")
        made = conn.block_storage.upload_volume_to_image(
            clone, name, disk_format="qcow2", container_format="bare", visibility="public"
        )
        image = str(made["image_id"])
        conn.image.add_tag(image, label)  # Cinder's upload takes no tags
        done = wait(
            f"upload the clone of volume[{volume}] to glance",
            lambda: conn.image.find_image(image, ignore_missing=True),
            lambda i: i is None or i.status == "active",
            failed=lambda i: f"image went {i.status}" if i.status in ("killed", "deleted", "pending_delete") else None,
        )
        if done is None:
            raise errors.fail(TEMPLATE, f"image[{image}] vanished from glance while volume[{volume}] was uploaded")
        remove_volume(conn, clone.id, f"the clone of volume[{volume}]")
    except BaseException:
        _undo_upload(conn, clone.id, image)
        raise


def _undo_upload(conn: Any, clone: str, image: str | None) -> None:
    """Best effort: the failure that brought us here is what the caller hears about."""
    steps = [(f"image[{image}]", lambda: conn.image.delete_image(image, ignore_missing=True))] if image else []
    steps.append((f"clone volume[{clone}]", lambda: remove_volume(conn, clone, f"clone volume[{clone}]")))
    for what, step in steps:
        try:
            step()
        except Exception as exc:  # whatever openstacksdk raises; the sweep takes what is left
            log.warning("failed template upload not cleaned up", what=what, error=str(exc))


def _uploaded(conn: Any, name: str, label: str) -> Any:
    found = [i for i in conn.image.images(name=name, tag=label) if i.status == "active"]
    if not found:
        raise errors.fail(TEMPLATE, f"no active image named {name} and tagged {label} in glance")
    return found[0]


def _delete_image(conn: Any, install_path: str, label: str) -> None:
    """Delete the Glance image at `install_path` (or the template on its way there) if cloudbus
    made it, i.e. it carries `label`: an image discovered in the cloud is its operator's."""
    if install_path.startswith(UPLOAD):
        found = list(conn.image.images(name=_upload_target(install_path)[1], tag=label))
    else:
        found = [conn.image.find_image(image_id(install_path), ignore_missing=True)]
    for image in found:
        if image is not None and label in (image.tags or []):
            conn.image.delete_image(image, ignore_missing=True)
