"""Simulated primary and backup storage: nothing leaves memory.

Like the simulator hypervisor, each driver records every command it is given
(`driver.commands`) and can be told to fail or delay a named command, for one storage
(or host, for per-host commands) or all, once or always:

    ps = cloud.node.storage("NFS")                 # one instance serves every primary type
    ps.fail("attach", uuid=ps_uuid)                # next attach of that storage fails
    bs = cloud.node.storage("SimulatorBackupStorage")
    bs.fail("download", times=None)                # every download fails

Simulated sizes (documented defaults, adjustable on the driver):
- `DEFAULT_CAPACITY` (1 TiB): an NFS share, an sftp backup storage, and each host's disk
  under local storage (`host_disk[hostUuid]` overrides one host);
- a simulator primary/backup storage reports what it was added with;
- an image is `DEFAULT_IMAGE_SIZE` (1 GiB) unless AddImage carries `size::<bytes>`.
"""

from __future__ import annotations

import hashlib
from typing import Any

from cloudbus.core.progress import Progress
from cloudbus.core.units import GiB, TiB
from cloudbus.services import simulation
from cloudbus.services.storage.base import (
    BackupStorageDriver,
    DownloadResult,
    PrimaryStorageDriver,
    SnapshotResult,
    StorageFacts,
)

DEFAULT_CAPACITY = TiB
DEFAULT_IMAGE_SIZE = GiB


class Recorder(simulation.Recorder):
    kind = "storage"


class SimulatorPrimaryStorageDriver(Recorder, PrimaryStorageDriver):
    """Serves SimulatorPrimaryStorage, LocalStorage and NFS with their path conventions."""

    kind = "primary storage"

    def __init__(self) -> None:
        super().__init__()
        self.default_capacity = DEFAULT_CAPACITY
        self.host_disk: dict[str, int] = {}
        self.snapshot_size = 0

    async def connect(self, ps: dict[str, Any]) -> StorageFacts:
        await self._run("connect", ps["uuid"], type=ps["type"], url=ps["url"])
        if ps["type"] == "SimulatorPrimaryStorage":
            return StorageFacts(
                ps["totalCapacity"], ps["totalPhysicalCapacity"], ps["availablePhysicalCapacity"], ps["url"]
            )
        if ps["type"] == "LocalStorage":
            return StorageFacts(0, 0, 0, ps["url"])
        size = self.default_capacity
        return StorageFacts(size, size, size, f"/opt/zstack/nfsprimarystorage/prim-{ps['uuid']}")

    async def host_capacity(self, ps: dict[str, Any], host: dict[str, Any]) -> StorageFacts:
        await self._run("hostCapacity", ps["uuid"], also=host["uuid"], hostUuid=host["uuid"])
        size = self.host_disk.get(host["uuid"], self.default_capacity)
        return StorageFacts(size, size, size)

    async def attach(self, ps: dict[str, Any], cluster: dict[str, Any], hosts: list[dict[str, Any]]) -> None:
        await self._run(
            "attach",
            ps["uuid"],
            also=cluster["uuid"],
            clusterUuid=cluster["uuid"],
            hostUuids=[h["uuid"] for h in hosts],
        )

    async def detach(self, ps: dict[str, Any], cluster: dict[str, Any]) -> None:
        await self._run("detach", ps["uuid"], also=cluster["uuid"], clusterUuid=cluster["uuid"])

    @staticmethod
    def _base(ps: dict[str, Any]) -> str:
        return (ps.get("mountPath") or ps["url"]).rstrip("/")

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
        full_copy: bool = False,  # nothing is copied in a simulation
    ) -> str:
        await self._run(
            "instantiateVolume",
            ps["uuid"],
            also=volume_uuid,
            volumeUuid=volume_uuid,
            size=size,
            hostUuid=host_uuid,
            imageUuid=image_uuid,
            format=fmt,
        )
        return f"{self._base(ps)}/volumes/{volume_uuid}.{fmt}"

    async def delete_volume(
        self, ps: dict[str, Any], volume_uuid: str, install_path: str | None, host_uuid: str | None
    ) -> None:
        await self._run(
            "deleteVolume",
            ps["uuid"],
            also=volume_uuid,
            volumeUuid=volume_uuid,
            installPath=install_path,
            hostUuid=host_uuid,
        )

    async def resize_volume(
        self, ps: dict[str, Any], install_path: str, size: int, *, shrink: bool = False, live: Any = None
    ) -> None:
        await self._run("resizeVolume", ps["uuid"], installPath=install_path, size=size, shrink=shrink)

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
        live: Any = None,
    ) -> SnapshotResult | None:
        await self._run(
            f"{command}Snapshot",
            ps["uuid"],
            also=volume_uuid,
            volumeUuid=volume_uuid,
            volumeInstallPath=volume_path,
            snapshotUuid=snapshot_uuid,
            snapshotInstallPath=snapshot_path,
        )
        if command != "take":
            return None
        return SnapshotResult(f"{self._base(ps)}/snapshots/{volume_uuid}/{snapshot_uuid}.qcow2", self.snapshot_size)

    async def delete(self, ps: dict[str, Any]) -> None:
        await self._run("delete", ps["uuid"])

    async def create_template(
        self,
        ps: dict[str, Any],
        volume_uuid: str,
        volume_path: str | None,
        host_uuid: str | None,
        target: str,
        *,
        progress: Progress | None = None,  # nothing is copied in a simulation
    ) -> None:
        await self._run(
            "createTemplate",
            ps["uuid"],
            also=volume_uuid,
            volumeUuid=volume_uuid,
            volumeInstallPath=volume_path,
            hostUuid=host_uuid,
            templatePath=target,
        )


class SimulatorBackupStorageDriver(Recorder, BackupStorageDriver):
    """Serves SimulatorBackupStorage and SftpBackupStorage (sftp transport simulated)."""

    kind = "backup storage"

    def __init__(self) -> None:
        super().__init__()
        self.default_capacity = DEFAULT_CAPACITY
        self.default_image_size = DEFAULT_IMAGE_SIZE

    async def connect(self, bs: dict[str, Any]) -> StorageFacts:
        if bs["type"] == "SftpBackupStorage":
            await self._run(
                "connect", bs["uuid"], hostname=bs["hostname"], username=bs["username"], sshPort=bs["sshPort"]
            )
            size = self.default_capacity
        else:
            await self._run("connect", bs["uuid"])
            size = bs["totalCapacity"]
        return StorageFacts(size, size, size)

    async def download(
        self, bs: dict[str, Any], image: dict[str, Any], size_hint: int | None, *, progress: Progress | None = None
    ) -> DownloadResult:
        await self._run("download", bs["uuid"], also=image["uuid"], imageUuid=image["uuid"], url=image["url"])
        size = self.default_image_size if size_hint is None else size_hint
        path = f"{bs['url'].rstrip('/')}/images/{image['uuid']}.{image['format']}"
        return DownloadResult(path, size, size, hashlib.md5(image["url"].encode()).hexdigest())

    def _image_path(self, bs: dict[str, Any], image_uuid: str, fmt: str) -> str:
        return f"{bs['url'].rstrip('/')}/images/{image_uuid}.{fmt}"

    async def template_path(self, bs: dict[str, Any], image_uuid: str, fmt: str) -> str:
        await self._run("templatePath", bs["uuid"], also=image_uuid, imageUuid=image_uuid)
        return self._image_path(bs, image_uuid, fmt)

    async def commit_template(
        self, bs: dict[str, Any], image_uuid: str, install_path: str, fmt: str, size_hint: int | None
    ) -> DownloadResult:
        """A simulated template is as big as the volume it was made from."""
        await self._run("commitTemplate", bs["uuid"], also=image_uuid, imageUuid=image_uuid, installPath=install_path)
        size = self.default_image_size if size_hint is None else size_hint
        return DownloadResult(install_path, size, size, hashlib.md5(install_path.encode()).hexdigest())

    async def delete_bits(self, bs: dict[str, Any], install_path: str) -> None:
        await self._run("deleteBits", bs["uuid"], installPath=install_path)

    async def delete(self, bs: dict[str, Any]) -> None:
        await self._run("delete", bs["uuid"])
