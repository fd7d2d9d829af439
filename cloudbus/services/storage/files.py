"""Files of the storage drivers that keep real files (qcow2.py, localdir.py): a storage's directory
and its size, directories made, files written whole or not at all, and removed again.

Failures are STORAGE.1000 naming what was attempted (`qemu_img.io_error`).
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable
from typing import Any

from cloudbus.core import errors
from cloudbus.core.ids import new_uuid
from cloudbus.services.storage import qemu_img
from cloudbus.services.storage.base import StorageFacts
from cloudbus.services.storage.qemu_img import io_error


def storage_root(storage: dict[str, Any]) -> str:
    """A storage's directory, its `url` without a trailing slash."""
    return str(storage["url"]).rstrip("/") or "/"


async def make_dirs(path: str) -> None:
    """`mkdir -p`, as STORAGE.1000 when it fails."""
    try:
        await asyncio.to_thread(os.makedirs, path, exist_ok=True)
    except OSError as exc:
        raise io_error(f"creating directory[{path}]", exc) from None


async def open_directory(root: str) -> StorageFacts:
    """Connecting a directory storage: the directory made if missing, and its file system's size."""
    await make_dirs(root)
    return statvfs_facts(root, root)


def statvfs_facts(path: str, mount_path: str | None = None) -> StorageFacts:
    """The size of the file system holding `path`, as storage facts."""
    try:
        st = os.statvfs(path)
    except OSError as exc:
        raise io_error(f"statvfs of {path}", exc) from None
    total, available = st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize
    return StorageFacts(total, total, available, mount_path)


async def write_atomically(target: str, write: Callable[[str], Awaitable[Any]], what: str) -> None:
    """`write(temp)`, then rename the temporary file to `target`: whoever reads `target` sees a
    whole file or none, and a failure (OSError as STORAGE.1000 saying `what`) leaves neither."""
    temp = f"{target}.{new_uuid()}.part"
    try:
        await write(temp)
        await asyncio.to_thread(os.replace, temp, target)
    except OSError as exc:
        remove_quietly(temp)
        raise io_error(what, exc) from None
    except BaseException:
        remove_quietly(temp)
        raise


def remove_quietly(path: str) -> None:
    """Best-effort cleanup on a failure path: the original error is what the caller reports."""
    try:
        os.remove(path)
    except OSError:
        pass


def check_dir(path: str) -> None:
    if not os.path.isdir(path):
        raise errors.fail(qemu_img.STORAGE_IO, f"directory[{path}] does not exist (is the shared storage mounted?)")


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
