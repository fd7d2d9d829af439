"""SharedMountPoint primary storage: real qcow2 files in a directory every host mounts at `url`.

Layout under `url` (nothing else there is ever touched):

    imagecache/<imageUuid>.qcow2    an image, copied once per storage; volumes are overlays on it
    volumes/<volumeUuid>.qcow2      a volume: an overlay on its image (root) or a thin qcow2 (data)
    snapshots/<volumeUuid>/<uuid>.qcow2
                                    a volume's later files: the overlays external snapshots and
                                    reverts put on top (the volume's installPath is its current one)

Snapshots are internal or external (see the snapshot section below). Capacity is the file
system's (os.statvfs of `url`).

Every file this driver makes is checked against `qemu-img info` once made, and a failed
step removes what it had made before raising (STORAGE.1000, see `qemu_img`). An image is
copied to the cache under a temporary name and renamed, so two nodes copying it at once
leave one whole file; within a node a lock per image makes two VMs created at once copy it once.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections import defaultdict
from typing import Any

from cloudbus.core import errors
from cloudbus.core.ids import new_uuid
from cloudbus.services.storage import qemu_img
from cloudbus.services.storage.base import SNAPSHOT_TYPES, Live, PrimaryStorageDriver, SnapshotResult, StorageFacts
from cloudbus.services.storage.files import (
    check_dir,
    open_directory,
    remove_own_files,
    remove_quietly,
    statvfs_facts,
    storage_root,
    write_atomically,
)
from cloudbus.services.storage.qemu_img import io_error

CACHE_DIR = "imagecache"
VOLUME_DIR = "volumes"
SNAPSHOT_DIR = "snapshots"
# external unless the storage's `snapshotType::internal` tag says otherwise (ZStack's KVM way)
DEFAULT_SNAPSHOT_TYPE = "external"
# the only names delete() removes: what this driver made (a uuid, or a uuid's temporary copy)
OWN_FILE = re.compile(r"^[0-9a-f]{32}\.qcow2(\.[0-9a-f]{32}\.part)?$")
OWN_DIR = re.compile(r"^[0-9a-f]{32}$")  # snapshots/<volumeUuid>


class Qcow2PrimaryStorageDriver(PrimaryStorageDriver):
    """Serves SharedMountPoint: `url` is a directory mounted at the same path on every host."""

    def __init__(self) -> None:
        self._cache_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._verified: dict[str, int] = {}  # cache file -> virtual size, once checked

    # -- paths -------------------------------------------------------------------------

    root = staticmethod(storage_root)

    def volume_path(self, ps: dict[str, Any], volume_uuid: str) -> str:
        return os.path.join(self.root(ps), VOLUME_DIR, f"{volume_uuid}.qcow2")

    def cache_path(self, ps: dict[str, Any], image_uuid: str) -> str:
        return os.path.join(self.root(ps), CACHE_DIR, f"{image_uuid}.qcow2")

    def _own_volume(self, ps: dict[str, Any], volume_uuid: str, install_path: str | None) -> str:
        """The volume's file; an installPath outside `volumes/` is refused, never touched."""
        path = os.path.normpath(install_path) if install_path else self.volume_path(ps, volume_uuid)
        if os.path.dirname(path) not in (os.path.join(self.root(ps), VOLUME_DIR), self.snapshot_dir(ps, volume_uuid)):
            raise errors.invalid_argument(f"volume path[{path}] is not in the volumes directory of {self.root(ps)}")
        return path

    # -- storage -----------------------------------------------------------------------

    async def connect(self, ps: dict[str, Any]) -> StorageFacts:
        return await open_directory(self.root(ps))

    async def host_capacity(self, ps: dict[str, Any], host: dict[str, Any]) -> StorageFacts:
        check_dir(self.root(ps))
        return statvfs_facts(self.root(ps), self.root(ps))

    async def attach(self, ps: dict[str, Any], cluster: dict[str, Any], hosts: list[dict[str, Any]]) -> None:
        check_dir(self.root(ps))  # the hosts mount it themselves: only its presence is ours to check

    async def detach(self, ps: dict[str, Any], cluster: dict[str, Any]) -> None:
        check_dir(self.root(ps))

    async def delete(self, ps: dict[str, Any]) -> None:
        """Remove the files this driver made and its two directories; `url` itself stays."""
        snapshots = os.path.join(self.root(ps), SNAPSHOT_DIR)
        names = await asyncio.to_thread(lambda: os.listdir(snapshots) if os.path.isdir(snapshots) else [])
        for name in names:
            if OWN_DIR.match(name):
                await asyncio.to_thread(remove_own_files, os.path.join(snapshots, name), OWN_FILE)
        for sub in (CACHE_DIR, VOLUME_DIR, SNAPSHOT_DIR):
            await asyncio.to_thread(remove_own_files, os.path.join(self.root(ps), sub), OWN_FILE)

    # -- volumes -----------------------------------------------------------------------

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
        """A data volume is a thin qcow2; a root volume an overlay on the cached image, or with
        `full_copy` a flat qcow2 copy of it (grown to `size` when that is larger)."""
        if fmt != "qcow2":
            raise errors.invalid_argument(f"a SharedMountPoint primary storage keeps qcow2 volumes, not {fmt}")
        # a vanished mount point is an error: recreating it would put volumes on a local disk
        check_dir(self.root(ps))
        path = self.volume_path(ps, volume_uuid)
        await self._mkdir(os.path.dirname(path))
        if await asyncio.to_thread(os.path.exists, path):
            raise errors.invalid_argument(f"volume file[{path}] already exists")
        backing = None
        if image_uuid is not None:
            if not image_path:
                raise errors.invalid_argument(f"root volume[uuid:{volume_uuid}] needs the image's installPath")
            backing, image_size = await self.cached_image(ps, image_uuid, image_path)
            size = max(size, image_size)
        try:
            if full_copy and backing is not None:
                await write_atomically(path, lambda temp: qemu_img.convert(backing, temp), f"copying image to {path}")
                if size > image_size:
                    await qemu_img.resize(path, size)
                backing = None  # what _check_volume expects: a flat file
            else:
                await qemu_img.create(path, size, backing=backing)
            await self._check_volume(path, size, backing)
        except BaseException:
            remove_quietly(path)
            raise
        return path

    @staticmethod
    async def _check_volume(path: str, size: int, backing: str | None) -> None:
        made = await qemu_img.info(path)
        if made.get("format") != "qcow2" or made.get("backing-filename") != backing or made["virtual-size"] < size:
            raise errors.fail(qemu_img.STORAGE_IO, f"qemu-img made an unexpected volume[{path}]: {made}")

    async def delete_volume(
        self, ps: dict[str, Any], volume_uuid: str, install_path: str | None, host_uuid: str | None
    ) -> None:
        path = self._own_volume(ps, volume_uuid, install_path)
        for file in dict.fromkeys((path, self.volume_path(ps, volume_uuid))):  # current and first file
            try:
                await asyncio.to_thread(os.remove, file)
            except FileNotFoundError:
                pass  # already gone: deleting is idempotent
            except OSError as exc:
                raise io_error(f"removing volume[{file}]", exc) from None
        await asyncio.to_thread(remove_own_files, self.snapshot_dir(ps, volume_uuid), OWN_FILE)

    async def resize_volume(
        self, ps: dict[str, Any], install_path: str, size: int, *, shrink: bool = False, live: Live | None = None
    ) -> None:
        if live is not None:  # QEMU holds the file: the running domain grows it
            await live("resizeVolume", {"volume": {"installPath": install_path}, "size": size})
        else:
            await qemu_img.resize(install_path, size, shrink=shrink)
        found = int((await qemu_img.info(install_path))["virtual-size"])
        if found != size:
            raise errors.fail(qemu_img.STORAGE_IO, f"volume[{install_path}] is {found} bytes after resizing to {size}")

    # -- image cache -------------------------------------------------------------------

    async def cached_image(
        self, ps: dict[str, Any], image_uuid: str, source: str, *, progress: Any = None
    ) -> tuple[str, int]:
        """The image's copy on this storage and its virtual size, made on first use (one copy,
        whoever asks at once; `progress` gets the percent copied, an image cached already
        reports nothing). A cache file never changes: it is checked once per node."""
        cache = self.cache_path(ps, image_uuid)
        async with self._cache_locks[cache]:
            if not await asyncio.to_thread(os.path.exists, cache):
                self._verified.pop(cache, None)
                await self._mkdir(os.path.dirname(cache))
                if progress is not None:
                    progress(0)
                await self._copy_into_cache(source, cache, progress)
                if progress is not None:
                    progress(100)
            if cache not in self._verified:
                found = await qemu_img.info(cache)
                if found.get("format") != "qcow2" or found.get("backing-filename"):
                    raise errors.fail(qemu_img.STORAGE_IO, f"image cache[{cache}] is not a flat qcow2 file: {found}")
                self._verified[cache] = int(found["virtual-size"])
        return cache, self._verified[cache]

    async def _copy_into_cache(self, source: str, cache: str, progress: Any = None) -> None:
        # a flat qcow2 is copied byte for byte; anything else (raw, a backing chain) is
        # converted so that every overlay has a flat qcow2 under it
        src = await qemu_img.info(source)
        flat = src.get("format") == "qcow2" and not src.get("backing-filename")
        copy = qemu_img.copy_reporting if flat else qemu_img.convert_reporting
        await write_atomically(
            cache, lambda temp: copy(source, temp, progress), f"copying image[{source}] to the image cache[{cache}]"
        )

    @staticmethod
    async def _mkdir(path: str) -> None:
        """A directory right below the (checked) storage directory."""
        try:
            await asyncio.to_thread(os.mkdir, path)
        except FileExistsError:
            return  # made meanwhile by another call
        except OSError as exc:
            raise io_error(f"creating directory[{path}]", exc) from None

    async def cache_image(self, ps: dict[str, Any], image_uuid: str, source: str, *, progress: Any = None) -> str:
        """Copy the image into the cache ahead of `instantiate_volume` (the service calls this
        for an API that follows progress)."""
        check_dir(self.root(ps))
        return (await self.cached_image(ps, image_uuid, source, progress=progress))[0]

    # -- templates ---------------------------------------------------------------------

    async def create_template(
        self,
        ps: dict[str, Any],
        volume_uuid: str,
        volume_path: str | None,
        host_uuid: str | None,
        target: str,
        *,
        progress: Any = None,
    ) -> None:
        """`qemu-img convert` of the volume (following its backing chain) into one flat
        qcow2 at `target`, through `target.<uuid>.part` so a failure leaves nothing there."""
        path = self._own_volume(ps, volume_uuid, volume_path)
        await write_atomically(
            target,
            lambda temp: qemu_img.convert_reporting(path, temp, progress),
            f"writing template[{target}] from volume[{path}]",
        )

    # -- snapshots ---------------------------------------------------------------------
    #
    # internal: a snapshot named by its uuid inside the volume's qcow2 (installPath
    #   `<file>@<snapshotUuid>`); taken by qemu-img, or by the running domain (libvirt).
    # external: the volume's current file is frozen as the snapshot (its installPath) and a new
    #   overlay on it, `snapshots/<volumeUuid>/<uuid>.qcow2`, becomes the volume's current file;
    #   reverting puts a new overlay on the snapshot's file; deleting one rebases the files on it
    #   onto its own backing file first (qemu-img, or the running domain's block pull), so no
    #   data is lost.

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
        path = self._own_volume(ps, volume_uuid, volume_path)
        kind = snapshot_type or DEFAULT_SNAPSHOT_TYPE
        if kind not in SNAPSHOT_TYPES:
            raise errors.invalid_argument(f"snapshot type[{kind}] is not one of {list(SNAPSHOT_TYPES)}")
        if kind == "external":
            if command == "take":
                return await self._take_external(ps, volume_uuid, path, snapshot_uuid, live)
            if command == "revert":
                return await self._revert_external(ps, volume_uuid, path, self._snapshot_file(snapshot_path))
            await self._delete_external(ps, volume_uuid, path, self._snapshot_file(snapshot_path), live)
            return None
        if command == "take":
            return await self._take_internal(path, snapshot_uuid, live)
        file = self._snapshot_file(snapshot_path) or path
        if command == "revert":
            if file != path:
                raise errors.operation_error(
                    f"snapshot[uuid:{snapshot_uuid}] is in file[{file}], no longer the volume's current file[{path}]"
                )
            await qemu_img.snapshot_apply(path, snapshot_uuid)
        elif command == "delete" and await asyncio.to_thread(os.path.exists, file):
            if snapshot_uuid not in await qemu_img.snapshot_list(file):
                return None  # idempotent: already gone
            if live is not None and file == path:
                await live("deleteVolumeSnapshot", {"volume": {"installPath": path}, "snapshotUuid": snapshot_uuid})
            else:
                await qemu_img.snapshot_delete(file, snapshot_uuid)
        return None

    @staticmethod
    def _snapshot_file(snapshot_path: str | None) -> str | None:
        return snapshot_path.split("@", 1)[0] if snapshot_path else None

    def snapshot_dir(self, ps: dict[str, Any], volume_uuid: str) -> str:
        return os.path.join(self.root(ps), SNAPSHOT_DIR, volume_uuid)

    async def _take_internal(self, path: str, snapshot_uuid: str, live: Live | None) -> SnapshotResult:
        before = int((await qemu_img.info(path)).get("actual-size", 0))
        if live is not None:  # a running QEMU holds the file: its domain takes the snapshot
            args = {"volume": {"installPath": path}, "snapshotType": "internal", "snapshotUuid": snapshot_uuid}
            await live("snapshotVolume", args)
        else:
            await qemu_img.snapshot_create(path, snapshot_uuid)
        after = await qemu_img.info(path)
        if snapshot_uuid not in [s["name"] for s in after.get("snapshots", [])]:
            raise errors.fail(
                qemu_img.STORAGE_IO, f"snapshot[{snapshot_uuid}] is not in volume[{path}] after taking it"
            )
        size = max(int(after.get("actual-size", 0)) - before, 0)
        return SnapshotResult(f"{path}@{snapshot_uuid}", size, "internal")

    async def _new_overlay_path(self, ps: dict[str, Any], volume_uuid: str) -> str:
        directory = self.snapshot_dir(ps, volume_uuid)
        await self._mkdir(os.path.dirname(directory))
        await self._mkdir(directory)
        return os.path.join(directory, f"{new_uuid()}.qcow2")

    async def _take_external(
        self, ps: dict[str, Any], volume_uuid: str, path: str, snapshot_uuid: str, live: Live | None
    ) -> SnapshotResult:
        overlay = await self._new_overlay_path(ps, volume_uuid)
        try:
            if live is not None:  # the running domain switches to the new overlay itself
                args = {"volume": {"installPath": path}, "snapshotType": "external", "newPath": overlay}
                await live("snapshotVolume", {**args, "snapshotUuid": snapshot_uuid})
            else:
                await qemu_img.create(overlay, None, backing=path)
            made = await qemu_img.info(overlay)
            if made.get("format") != "qcow2" or made.get("backing-filename") != path:
                raise errors.fail(qemu_img.STORAGE_IO, f"the new overlay[{overlay}] is not on [{path}]: {made}")
        except BaseException:
            if live is None:
                remove_quietly(overlay)
            raise
        frozen = int((await qemu_img.info(path)).get("actual-size", 0))
        return SnapshotResult(path, frozen, "external", volumeInstallPath=overlay)

    async def _revert_external(
        self, ps: dict[str, Any], volume_uuid: str, path: str, snapshot_file: str | None
    ) -> SnapshotResult:
        if not snapshot_file or not await asyncio.to_thread(os.path.exists, snapshot_file):
            raise errors.fail(qemu_img.STORAGE_IO, f"the snapshot's file[{snapshot_file}] does not exist")
        overlay = await self._new_overlay_path(ps, volume_uuid)
        try:
            await qemu_img.create(overlay, None, backing=snapshot_file)
        except BaseException:
            remove_quietly(overlay)
            raise
        if path != snapshot_file:  # what was written since the snapshot is what a revert discards
            await asyncio.to_thread(remove_quietly, path)
        return SnapshotResult(None, volumeInstallPath=overlay)

    async def _delete_external(
        self, ps: dict[str, Any], volume_uuid: str, path: str, snapshot_file: str | None, live: Live | None
    ) -> None:
        if not snapshot_file or not await asyncio.to_thread(os.path.exists, snapshot_file):
            return  # idempotent: already gone
        if snapshot_file == path:
            raise errors.operation_error(f"file[{path}] is the volume's current file, not a snapshot's")
        base = (await qemu_img.info(snapshot_file)).get("backing-filename") or ""
        for child in await self._files_on(ps, volume_uuid, snapshot_file):
            if child == path and live is not None:  # the domain pulls the data into its active file
                await live("pullVolume", {"volume": {"installPath": path}, "base": base or None})
            else:
                await qemu_img.rebase(child, base)  # safe mode: copies what the child reads from it
        await asyncio.to_thread(remove_quietly, snapshot_file)

    async def _files_on(self, ps: dict[str, Any], volume_uuid: str, backing: str) -> list[str]:
        """The volume's files (current, frozen, overlays) whose backing file is `backing`."""
        directory = self.snapshot_dir(ps, volume_uuid)
        names = await asyncio.to_thread(lambda: os.listdir(directory) if os.path.isdir(directory) else [])
        candidates = [self.volume_path(ps, volume_uuid), *(os.path.join(directory, n) for n in sorted(names))]
        found = []
        for file in candidates:
            if file != backing and await asyncio.to_thread(os.path.exists, file):
                if (await qemu_img.info(file)).get("backing-filename") == backing:
                    found.append(file)
        return found
