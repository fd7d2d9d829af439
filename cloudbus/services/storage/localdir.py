"""LocalDirBackupStorage: images kept as real files in a local directory `url`
(the role of ZStack's ImageStore / sftp backup storage, without the agent).

Layout: `<url>/images/<imageUuid>.<format>`. A download streams `file://` or `http(s)://`
to `<final>.part` while computing its md5, renames it, then asks `qemu-img info`: a
qcow2 or raw image must really be in that format (otherwise STORAGE.1001 and the file is
removed). The image's `size` is its virtual size, `actualSize` the file's size; an ISO's
size is its file size. Capacity is the file system's (os.statvfs of `url`).

The copy runs in a thread; a caller that times out sets a flag the thread checks between
chunks, so the thread stops and removes its partial file.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import threading
import urllib.parse
import urllib.request
from typing import IO, Any

from cloudbus.core import errors
from cloudbus.core.progress import Progress, from_thread, percent_of
from cloudbus.services.storage import qemu_img
from cloudbus.services.storage.base import BackupStorageDriver, DownloadResult, StorageFacts
from cloudbus.services.storage.files import make_dirs, open_directory, remove_own_files, remove_quietly, storage_root
from cloudbus.services.storage.qemu_img import io_error

IMAGE_DIR = "images"
CHUNK = 1 << 20
HTTP_TIMEOUT = 60.0  # seconds without a byte from the server before the download fails
CHECKED_FORMATS = ("qcow2", "raw")
OWN_FILE = re.compile(r"^[0-9a-f]{32}\.[A-Za-z0-9]+(\.part)?$")


class Cancelled(Exception):
    """The download's caller gave up (timeout): the thread stops copying."""


class LocalDirBackupStorageDriver(BackupStorageDriver):
    """Serves LocalDirBackupStorage: `url` is a directory on the management node."""

    root = staticmethod(storage_root)

    def image_dir(self, bs: dict[str, Any]) -> str:
        return os.path.join(self.root(bs), IMAGE_DIR)

    async def connect(self, bs: dict[str, Any]) -> StorageFacts:
        return await open_directory(self.root(bs))

    async def download(
        self, bs: dict[str, Any], image: dict[str, Any], size_hint: int | None, *, progress: Progress | None = None
    ) -> DownloadResult:
        path = os.path.join(self.image_dir(bs), f"{image['uuid']}.{image['format']}")
        await make_dirs(os.path.dirname(path))
        md5 = await fetch(str(image["url"]), path, progress)
        try:
            size, actual = await measure(path, str(image["format"]))
        except BaseException:
            remove_quietly(path)
            raise
        return DownloadResult(path, size, actual, md5)

    async def template_path(self, bs: dict[str, Any], image_uuid: str, fmt: str) -> str:
        """`images/<imageUuid>.<fmt>`, its directory made and checked writable; nothing there yet."""
        path = os.path.join(self.image_dir(bs), f"{image_uuid}.{fmt}")
        directory = os.path.dirname(path)
        await make_dirs(directory)
        if not await asyncio.to_thread(os.access, directory, os.W_OK | os.X_OK):
            raise errors.fail(qemu_img.STORAGE_IO, f"directory[{directory}] is not writable")
        if await asyncio.to_thread(os.path.lexists, path):
            raise errors.invalid_argument(f"image file[{path}] already exists")
        return path

    async def commit_template(
        self, bs: dict[str, Any], image_uuid: str, install_path: str, fmt: str, size_hint: int | None
    ) -> DownloadResult:
        """size, actualSize and md5 of the template written at `install_path`; a file that is
        not a flat image of `fmt` is removed (STORAGE.1001)."""
        path = self._own_image(bs, install_path)
        try:
            size, actual = await measure(path, fmt)
            if (await qemu_img.info(path)).get("backing-filename"):
                raise errors.fail(qemu_img.FORMAT_MISMATCH, f"template[{path}] has a backing file: it is not flat")
            md5 = await asyncio.to_thread(_md5_of, path)
        except OSError as exc:
            remove_quietly(path)
            raise io_error(f"reading template[{path}]", exc) from None
        except BaseException:
            remove_quietly(path)
            raise
        return DownloadResult(path, size, actual, md5)

    def _own_image(self, bs: dict[str, Any], install_path: str) -> str:
        """The image's file; a path outside `images/` is refused, never touched."""
        path = os.path.normpath(install_path)
        if os.path.dirname(path) != self.image_dir(bs):
            raise errors.invalid_argument(f"image path[{path}] is not in the images directory of {self.root(bs)}")
        return path

    async def delete_bits(self, bs: dict[str, Any], install_path: str) -> None:
        path = self._own_image(bs, install_path)
        try:
            await asyncio.to_thread(os.remove, path)
        except FileNotFoundError:
            return  # already gone: deleting is idempotent
        except OSError as exc:
            raise io_error(f"removing image[{path}]", exc) from None

    async def delete(self, bs: dict[str, Any]) -> None:
        """Remove the image files this driver made and their directory; `url` itself stays."""
        await asyncio.to_thread(remove_own_files, self.image_dir(bs), OWN_FILE)


async def fetch(url: str, path: str, progress: Progress | None = None) -> str:
    """Copy `url` to `path` (through `path.part`); returns its md5."""
    part = f"{path}.part"
    stop = threading.Event()
    try:
        md5 = await asyncio.to_thread(_copy, url, part, stop, from_thread(progress))
        await asyncio.to_thread(os.replace, part, path)
    except asyncio.CancelledError:
        stop.set()  # the thread removes its part file itself when it notices
        raise
    except (OSError, ValueError) as exc:  # urllib's errors are OSErrors; a malformed url a ValueError
        remove_quietly(part)
        raise io_error(f"downloading image[{url}]", exc) from None
    except BaseException:
        remove_quietly(part)
        raise
    return md5


def _open(url: str) -> IO[bytes]:
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        return open(urllib.request.url2pathname(parsed.path), "rb")
    if parsed.scheme in ("http", "https"):
        return urllib.request.urlopen(url, timeout=HTTP_TIMEOUT)  # type: ignore[no-any-return]
    raise errors.invalid_argument(f"image url[{url}]: a LocalDir backup storage downloads file:// or http(s):// urls")


def _copy(url: str, part: str, stop: threading.Event, progress: Any = None) -> str:
    """Copy in a thread; `progress` (thread-safe) gets the percent of the source's length."""
    digest = hashlib.md5()
    try:
        with _open(url) as src, open(part, "wb") as dst:
            total, done = _length(src), 0
            if progress is not None:
                progress(0)
            while chunk := src.read(CHUNK):
                if stop.is_set():
                    raise Cancelled(url)
                digest.update(chunk)
                dst.write(chunk)
                done += len(chunk)
                if progress is not None and total:
                    progress(percent_of(done, total))
        if stop.is_set():  # given up on just as the copy ended: nobody will rename it
            raise Cancelled(url)
    except Cancelled:
        remove_quietly(part)
        raise
    return digest.hexdigest()


def _md5_of(path: str) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as src:
        while chunk := src.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _length(src: Any) -> int:
    """Bytes the source will give: Content-Length of a response, size of a file (0: unknown)."""
    headers = getattr(src, "headers", None)
    if headers is not None:
        value = headers.get("Content-Length")
        return int(value) if value and value.isdigit() else 0
    try:
        return os.fstat(src.fileno()).st_size
    except (OSError, AttributeError, ValueError):
        return 0


async def measure(path: str, fmt: str) -> tuple[int, int]:
    """(size, actualSize) of a downloaded image, checking its declared format."""
    found = await qemu_img.info(path)
    actual = await asyncio.to_thread(os.path.getsize, path)
    if fmt in CHECKED_FORMATS and found.get("format") != fmt:
        raise errors.fail(
            qemu_img.FORMAT_MISMATCH, f"image[{path}] is declared {fmt} but qemu-img reads it as {found.get('format')}"
        )
    if fmt not in CHECKED_FORMATS:
        return actual, actual
    return int(found["virtual-size"]), actual
