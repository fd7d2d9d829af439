"""An async wrapper over the `qemu-img` binary, for the drivers that keep real disk files.

Every call runs `qemu-img` directly (asyncio subprocess, never a shell) and either returns
what it reports or raises `CloudBusError` with code STORAGE.1000 whose details name the
command and carry qemu-img's stderr. A machine without the binary gets the same code,
saying to install qemu-utils. A call cancelled by its caller's timeout kills the process.

`info` reads with `-U` (force-share), so it also works on a disk a running VM holds open.
The file operations the drivers do around qemu-img (copies, renames, removals) report
failures with the same code through `io_error`.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import re
import shutil
from collections.abc import Awaitable, Callable
from typing import Any

from cloudbus.core import errors
from cloudbus.core.progress import from_thread, percent_of

STORAGE_IO = errors.register("STORAGE.1000", "A storage file operation failed")
FORMAT_MISMATCH = errors.register("STORAGE.1001", "The image file is not in the declared format")

BINARY = "qemu-img"


def io_error(what: str, exc: BaseException) -> errors.CloudBusError:
    """A failed file operation as a coded error naming what was attempted."""
    return errors.fail(STORAGE_IO, f"{what} failed: {exc}")


async def run(*args: str, follow: Callable[[asyncio.StreamReader], Awaitable[None]] | None = None) -> str:
    """Run `qemu-img <args>`; its stdout, or STORAGE.1000 with its stderr. `follow` reads the
    stdout as it comes instead (progress lines), and the answer is then empty."""
    binary = shutil.which(BINARY)
    if binary is None:
        raise errors.fail(STORAGE_IO, f"{BINARY} is not installed on this machine: install qemu-utils")
    command = " ".join([BINARY, *args])
    proc = await asyncio.create_subprocess_exec(
        binary, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    try:
        if follow is None:
            out, err = await proc.communicate()
        else:
            assert proc.stdout is not None  # piped above
            out = b""
            err, _ = await asyncio.gather(_read_all(proc.stderr), follow(proc.stdout))
            await proc.wait()
    except BaseException:
        if proc.returncode is None:  # a timed-out caller must not leave qemu-img writing behind its back
            proc.kill()
            await proc.wait()
        raise
    if proc.returncode != 0:
        stderr = err.decode(errors="replace").strip()
        raise errors.fail(STORAGE_IO, f"[{command}] exited with {proc.returncode}: {stderr}")
    return out.decode(errors="replace")


async def info(path: str) -> dict[str, Any]:
    """`qemu-img info --output=json -U`: keys virtual-size, actual-size, format, backing-filename ..."""
    result: dict[str, Any] = json.loads(await run("info", "--output=json", "-U", path))
    return result


async def create(
    path: str, size: int | None, fmt: str = "qcow2", backing: str | None = None, backing_fmt: str = "qcow2"
) -> None:
    """A new image; with `backing`, an overlay on it (`size` None: the backing file's size)."""
    args = ["create", "-q", "-f", fmt]
    if backing is not None:
        args += ["-b", backing, "-F", backing_fmt]
    args.append(path)
    if size is not None:
        args.append(str(size))
    await run(*args)


async def convert(src: str, dst: str, out_fmt: str = "qcow2") -> None:
    """Copy `src` (any format, any backing chain) into one flat `dst` image."""
    await run("convert", "-O", out_fmt, src, dst)


async def resize(path: str, size: int, shrink: bool = False) -> None:
    await run("resize", "-q", *(["--shrink"] if shrink else []), path, str(size))


async def snapshot_create(path: str, name: str) -> None:
    await run("snapshot", "-c", name, path)


async def snapshot_apply(path: str, name: str) -> None:
    await run("snapshot", "-a", name, path)


async def snapshot_delete(path: str, name: str) -> None:
    await run("snapshot", "-d", name, path)


async def snapshot_list(path: str) -> list[str]:
    """The names of the internal snapshots of `path`."""
    found = await info(path)
    return [s["name"] for s in found.get("snapshots", [])]


async def rebase(path: str, backing: str, unsafe: bool = False, backing_fmt: str = "qcow2") -> None:
    """Put `path` on `backing` (`""`: flatten); `unsafe` only rewrites the header."""
    args = ["rebase", "-q", *(["-u"] if unsafe else []), "-f", "qcow2", "-b", backing]
    if backing:
        args += ["-F", backing_fmt]
    await run(*args, path)


async def commit(path: str) -> None:
    """Merge `path` into its backing file."""
    await run("commit", "-q", path)


_PERCENT = re.compile(rb"\((\d+(?:\.\d+)?)/100%\)")


async def convert_reporting(src: str, dst: str, progress: Any = None, out_fmt: str = "qcow2") -> None:
    """`convert`, with `-p`: `progress` (sync or async, optional) gets qemu-img's percentages."""
    await run("convert", "-p", "-O", out_fmt, src, dst, follow=lambda stdout: _follow(stdout, progress))


async def _read_all(stream: asyncio.StreamReader | None) -> bytes:
    return b"" if stream is None else await stream.read()


async def _follow(stream: asyncio.StreamReader | None, progress: Any) -> None:
    """Read qemu-img's `(12.50/100%)\\r` updates, calling `progress` with each new integer."""
    if stream is None:
        return
    buffered, last = b"", -1
    while chunk := await stream.read(256):
        buffered += chunk
        *done, buffered = buffered.split(b"\r")
        for found in (_PERCENT.search(part) for part in done):
            percent = int(float(found.group(1))) if found else last
            if progress is not None and percent != last:
                last = percent
                result = progress(percent)
                if inspect.isawaitable(result):
                    await result


COPY_CHUNK = 4 << 20


async def copy_reporting(src: str, dst: str, progress: Any = None) -> None:
    """Copy a file byte for byte (in a thread); `progress` gets the percent of bytes copied."""
    await asyncio.to_thread(_copy_file, src, dst, from_thread(progress))


def _copy_file(src: str, dst: str, progress: Any) -> None:
    with open(src, "rb") as source, open(dst, "wb") as target:
        total, done = os.fstat(source.fileno()).st_size, 0
        while chunk := source.read(COPY_CHUNK):
            target.write(chunk)
            done += len(chunk)
            if progress is not None:
                progress(percent_of(done, total))
