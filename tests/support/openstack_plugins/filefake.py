"""Cinder fake volume driver whose volumes are sparse files, so image<->volume copies work.

Why it exists: ``cinder.tests.fake_driver.FakeLoggingVolumeDriver`` handles create, extend,
snapshot, attach and detach, but has no device behind a volume, so "create volume from image"
(and boot-from-image-volume) fails when ``qemu-img convert`` has nothing to write into. Here each
volume is a sparse file ``$state_path/vols/volume-<id>``. tests/support/openstack.py copies this
module into the OpenStack venv and configures ``volume_driver = filefake.FileFakeDriver``.
"""

from __future__ import annotations

import os
from typing import Any

from cinder.tests import fake_driver
from oslo_config import cfg


class FileFakeDriver(fake_driver.FakeLoggingVolumeDriver):
    """FakeLoggingVolumeDriver plus one sparse file per volume."""

    def _vol_dir(self) -> str:
        path = os.path.join(cfg.CONF.state_path, "vols")
        os.makedirs(path, exist_ok=True)
        return path

    def local_path(self, volume: Any) -> str:
        return os.path.join(self._vol_dir(), f"volume-{volume['id']}")

    def _size_file(self, volume: Any, size_gb: int) -> None:
        with open(self.local_path(volume), "ab") as f:
            f.truncate(int(size_gb) * 1024**3)

    def create_volume(self, volume: Any) -> Any:
        ret = super().create_volume(volume)
        self._size_file(volume, volume["size"])
        return ret

    def create_volume_from_snapshot(self, volume: Any, snapshot: Any) -> Any:
        ret = super().create_volume_from_snapshot(volume, snapshot)
        self._size_file(volume, volume["size"])
        return ret

    def create_cloned_volume(self, volume: Any, src_vref: Any) -> Any:
        ret = super().create_cloned_volume(volume, src_vref)
        self._size_file(volume, volume["size"])
        return ret

    def extend_volume(self, volume: Any, new_size: int) -> Any:
        ret = super().extend_volume(volume, new_size)
        self._size_file(volume, new_size)
        return ret

    def delete_volume(self, volume: Any) -> Any:
        ret = super().delete_volume(volume)
        try:
            os.unlink(self.local_path(volume))
        except FileNotFoundError:
            pass
        return ret
