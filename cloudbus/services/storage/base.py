"""The storage driver interfaces (primary and backup storage).

Every method may raise `CloudBusError`; the calling service wraps it in its API's own
error code and bounds every call by `node.driver_timeout`. Arguments are inventories
(plain dicts) so that drivers never touch the database.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from cloudbus.core import errors
from cloudbus.core.progress import Progress


@dataclass(frozen=True)
class StorageFacts:
    """What connecting to a storage tells us: its size (bytes) and where it is mounted."""

    totalCapacity: int
    totalPhysicalCapacity: int
    availablePhysicalCapacity: int
    mountPath: str | None = None


@dataclass(frozen=True)
class DownloadResult:
    """An image copied onto a backup storage."""

    installPath: str
    size: int
    actualSize: int
    md5Sum: str | None = None


@dataclass(frozen=True)
class SnapshotResult:
    installPath: str | None
    size: int = 0
    snapshotType: str | None = None
    volumeInstallPath: str | None = None  # the volume's new current file, when it changed


# what a storage driver calls to have the running domain of a volume's VM do its part:
# live(command, args) -> the hypervisor's result (HypervisorCommand on the VM's host)
Live = Callable[[str, dict[str, Any]], Awaitable[Any]]
SNAPSHOT_TYPES = ("internal", "external")


class PrimaryStorageDriver(abc.ABC):
    # whether `create_template` may read a volume its running VM holds (the storage copies a
    # point in time itself, e.g. a Cinder clone); otherwise the VM must be Stopped
    copies_in_use_volumes: bool = False

    @abc.abstractmethod
    async def connect(self, ps: dict[str, Any]) -> StorageFacts:
        """Reach the storage (mount, contact agents) and report its size.

        For local storage the size is the sum of the hosts' disks: report 0 here and
        answer `host_capacity` per host.
        """

    @abc.abstractmethod
    async def host_capacity(self, ps: dict[str, Any], host: dict[str, Any]) -> StorageFacts:
        """Local storage: the disk a host gives to `ps`."""

    @abc.abstractmethod
    async def attach(self, ps: dict[str, Any], cluster: dict[str, Any], hosts: list[dict[str, Any]]) -> None:
        """Make `ps` usable from the hosts of `cluster` (e.g. mount NFS on each)."""

    @abc.abstractmethod
    async def detach(self, ps: dict[str, Any], cluster: dict[str, Any]) -> None: ...

    @abc.abstractmethod
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
        """Create a volume's bits (from an image for root volumes); returns its installPath.

        `image_path` is the installPath of the image's copy on the backup storage it was
        selected from, for drivers that copy the image's bits themselves.
        """

    @abc.abstractmethod
    async def delete_volume(
        self, ps: dict[str, Any], volume_uuid: str, install_path: str | None, host_uuid: str | None
    ) -> None: ...

    @abc.abstractmethod
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
        """`command` in take|delete|revert; `take` answers the snapshot's path and size.

        `snapshot_type`: internal or external (None: the driver's default); `live`: the volume's
        VM runs, and this reaches its domain."""

    @abc.abstractmethod
    async def delete(self, ps: dict[str, Any]) -> None:
        """Release the storage (unmount) when it is deleted."""

    @abc.abstractmethod
    async def resize_volume(
        self, ps: dict[str, Any], install_path: str, size: int, *, shrink: bool = False, live: Live | None = None
    ) -> None:
        """Make the volume's file `size` bytes (`live`: its VM runs, and this reaches its domain)."""

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
        """Write a flat copy of the volume (its whole backing chain) to `target`, a path a
        backup storage gave; leave nothing there on failure. `progress` gets 0..100."""
        raise errors.operation_error(f"primary storage type[{ps['type']}] cannot create templates from volumes")


class BackupStorageDriver(abc.ABC):
    @abc.abstractmethod
    async def connect(self, bs: dict[str, Any]) -> StorageFacts: ...

    @abc.abstractmethod
    async def download(
        self, bs: dict[str, Any], image: dict[str, Any], size_hint: int | None, *, progress: Progress | None = None
    ) -> DownloadResult:
        """Copy `image["url"]` onto `bs`; `progress` (optional, may be ignored) gets 0..100."""

    @abc.abstractmethod
    async def delete_bits(self, bs: dict[str, Any], install_path: str) -> None: ...

    @abc.abstractmethod
    async def delete(self, bs: dict[str, Any]) -> None:
        """Release the storage when it is deleted."""

    async def template_path(self, bs: dict[str, Any], image_uuid: str, fmt: str) -> str:
        """Where a template made from a volume is to be written (by the primary storage)."""
        raise errors.operation_error(f"backup storage type[{bs['type']}] cannot keep templates made from volumes")

    async def commit_template(
        self, bs: dict[str, Any], image_uuid: str, install_path: str, fmt: str, size_hint: int | None
    ) -> DownloadResult:
        """Measure the template written at `install_path` (removing it if it is not right)."""
        raise errors.operation_error(f"backup storage type[{bs['type']}] cannot keep templates made from volumes")
