"""SharedMountPoint primary storage: real qcow2 files in a directory every host mounts at `url`.

Layout under `url` (nothing else there is ever touched):

    imagecache/<imageUuid>.qcow2    an image, copied once per storage; volumes are overlays on it
    volumes/<volumeUuid>.qcow2      a volume: an overlay on its image (root) or a thin qcow2 (data)

Snapshots are internal qcow2 snapshots named by the snapshot uuid; a snapshot's installPath
is `<volume path>@<snapshotUuid>`. Capacity is the file system's (os.statvfs of `url`).

Every file this driver makes is checked against `qemu-img info` once made, and a failed
step removes what it had made before raising (STORAGE.1000, see `qemu_img`). An image is
copied to the cache under a temporary name and renamed, so two nodes copying it at once
leave one whole file; within a node a lock per image makes two VMs created at once copy it once.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections import defaultdict
from typing import Any

from cloudbus.core import errors
from cloudbus.core.ids import new_uuid
from cloudbus.services.storage import qemu_img
from cloudbus.services.storage.base import PrimaryStorageDriver, SnapshotResult, StorageFacts
from cloudbus.services.storage.qemu_img import io_error

CACHE_DIR = "imagecache"
VOLUME_DIR = "volumes"
# the only names delete() removes: what this driver made (a uuid, or a uuid's temporary copy)
OWN_FILE = re.compile(r"^[0-9a-f]{32}\.qcow2(\.[0-9a-f]{32}\.part)?$")


def statvfs_facts(path: str, mount_path: str | None = None) -> StorageFacts:
    """The size of the file system holding `path`, as storage facts."""
    try:
        st = os.statvfs(path)
    except OSError as exc:
        raise io_error(f"statvfs of {path}", exc) from None
    total, available = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
    return StorageFacts(total, total, available, mount_path)


def remove_quietly(path: str) -> None:
    """Best-effort cleanup on a failure path: the original error is what the caller reports."""
    try:
        os.remove(path)
    except OSError:
        pass


def check_dir(path: str) -> None:
    if not os.path.isdir(path):
        raise errors.fail(qemu_img.STORAGE_IO, f"directory[{path}] does not exist (is the shared storage mounted?)")


class Qcow2PrimaryStorageDriver(PrimaryStorageDriver):
    """Serves SharedMountPoint: `url` is a directory mounted at the same path on every host."""

    def __init__(self) -> None:
        self._cache_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    # -- paths -------------------------------------------------------------------------

    @staticmethod
    def root(ps: dict[str, Any]) -> str:
        return str(ps["url"]).rstrip("/") or "/"

    def volume_path(self, ps: dict[str, Any], volume_uuid: str) -> str:
        return os.path.join(self.root(ps), VOLUME_DIR, f"{volume_uuid}.qcow2")

    def cache_path(self, ps: dict[str, Any], image_uuid: str) -> str:
        return os.path.join(self.root(ps), CACHE_DIR, f"{image_uuid}.qcow2")

    def _own_volume(self, ps: dict[str, Any], volume_uuid: str, install_path: str | None) -> str:
        """The volume's file; an installPath outside `volumes/` is refused, never touched."""
        path = os.path.normpath(install_path) if install_path else self.volume_path(ps, volume_uuid)
        if os.path.dirname(path) != os.path.join(self.root(ps), VOLUME_DIR):
            raise errors.invalid_argument(f"volume path[{path}] is not in the volumes directory of {self.root(ps)}")
        return path

    # -- storage -----------------------------------------------------------------------

    async def connect(self, ps: dict[str, Any]) -> StorageFacts:
        root = self.root(ps)
        try:
            await asyncio.to_thread(os.makedirs, root, exist_ok=True)
        except OSError as exc:
            raise io_error(f"creating directory[{root}]", exc) from None
        return statvfs_facts(root, root)

    async def host_capacity(self, ps: dict[str, Any], host: dict[str, Any]) -> StorageFacts:
        check_dir(self.root(ps))
        return statvfs_facts(self.root(ps), self.root(ps))

    async def attach(self, ps: dict[str, Any], cluster: dict[str, Any], hosts: list[dict[str, Any]]) -> None:
        check_dir(self.root(ps))  # the hosts mount it themselves: only its presence is ours to check

    async def detach(self, ps: dict[str, Any], cluster: dict[str, Any]) -> None:
        check_dir(self.root(ps))

    async def delete(self, ps: dict[str, Any]) -> None:
        """Remove the files this driver made and its two directories; `url` itself stays."""
        for sub in (CACHE_DIR, VOLUME_DIR):
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
    ) -> str:
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
            backing = await self.cached_image(ps, image_uuid, image_path)
        try:
            await self._create_volume(path, size, backing)
        except BaseException:
            remove_quietly(path)
            raise
        return path

    async def _create_volume(self, path: str, size: int, backing: str | None) -> None:
        if backing is None:
            await qemu_img.create(path, size)
        else:
            image_size = int((await qemu_img.info(backing))["virtual-size"])
            await qemu_img.create(path, size if size > image_size else None, backing=backing)
        made = await qemu_img.info(path)
        if made.get("format") != "qcow2" or made.get("backing-filename") != backing or made["virtual-size"] < size:
            raise errors.fail(qemu_img.STORAGE_IO, f"qemu-img made an unexpected volume[{path}]: {made}")

    async def delete_volume(
        self, ps: dict[str, Any], volume_uuid: str, install_path: str | None, host_uuid: str | None
    ) -> None:
        path = self._own_volume(ps, volume_uuid, install_path)
        try:
            await asyncio.to_thread(os.remove, path)
        except FileNotFoundError:
            return  # already gone: deleting is idempotent
        except OSError as exc:
            raise io_error(f"removing volume[{path}]", exc) from None

    # -- image cache -------------------------------------------------------------------

    async def cached_image(self, ps: dict[str, Any], image_uuid: str, source: str) -> str:
        """The image's copy on this storage, made on first use (one copy, whoever asks at once)."""
        cache = self.cache_path(ps, image_uuid)
        async with self._cache_locks[cache]:
            if not await asyncio.to_thread(os.path.exists, cache):
                await self._mkdir(os.path.dirname(cache))
                await self._copy_into_cache(source, cache)
        found = await qemu_img.info(cache)
        if found.get("format") != "qcow2" or found.get("backing-filename"):
            raise errors.fail(qemu_img.STORAGE_IO, f"image cache[{cache}] is not a flat qcow2 file: {found}")
        return cache

    async def _copy_into_cache(self, source: str, cache: str) -> None:
        # a flat qcow2 is copied byte for byte; anything else (raw, a backing chain) is
        # converted so that every overlay has a flat qcow2 under it
        src = await qemu_img.info(source)
        temp = f"{cache}.{new_uuid()}.part"
        try:
            if src.get("format") == "qcow2" and not src.get("backing-filename"):
                await asyncio.to_thread(shutil.copyfile, source, temp)
            else:
                await qemu_img.convert(source, temp)
            await asyncio.to_thread(os.replace, temp, cache)
        except OSError as exc:
            remove_quietly(temp)
            raise io_error(f"copying image[{source}] to the image cache[{cache}]", exc) from None
        except BaseException:
            remove_quietly(temp)
            raise

    @staticmethod
    async def _mkdir(path: str) -> None:
        """A directory right below the (checked) storage directory."""
        try:
            await asyncio.to_thread(os.mkdir, path)
        except FileExistsError:
            return  # made meanwhile by another call
        except OSError as exc:
            raise io_error(f"creating directory[{path}]", exc) from None

    # -- snapshots ---------------------------------------------------------------------

    async def snapshot(
        self,
        ps: dict[str, Any],
        command: str,
        volume_uuid: str,
        volume_path: str | None,
        snapshot_uuid: str,
        snapshot_path: str | None,
    ) -> SnapshotResult | None:
        path = self._own_volume(ps, volume_uuid, volume_path)
        if command == "take":
            return await self._take(path, snapshot_uuid)
        if command == "revert":
            await qemu_img.snapshot_apply(path, snapshot_uuid)
        elif command == "delete":
            # idempotent: the volume or the snapshot may be gone already
            if await asyncio.to_thread(os.path.exists, path) and snapshot_uuid in await qemu_img.snapshot_list(path):
                await qemu_img.snapshot_delete(path, snapshot_uuid)
        return None

    async def _take(self, path: str, snapshot_uuid: str) -> SnapshotResult:
        before = int((await qemu_img.info(path)).get("actual-size", 0))
        await qemu_img.snapshot_create(path, snapshot_uuid)
        after = await qemu_img.info(path)
        if snapshot_uuid not in [s["name"] for s in after.get("snapshots", [])]:
            raise errors.fail(
                qemu_img.STORAGE_IO, f"snapshot[{snapshot_uuid}] is not in volume[{path}] after taking it"
            )
        return SnapshotResult(f"{path}@{snapshot_uuid}", max(int(after.get("actual-size", 0)) - before, 0))


def remove_own_files(directory: str, own: re.Pattern[str]) -> None:
    """Remove the files named like `own` from `directory`, then the directory if that emptied it."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise io_error(f"listing directory[{directory}]", exc) from None
    try:
        for name in names:
            if own.match(name):
                os.remove(os.path.join(directory, name))
        if not os.listdir(directory):
            os.rmdir(directory)
    except OSError as exc:
        raise io_error(f"removing the files of directory[{directory}]", exc) from None
