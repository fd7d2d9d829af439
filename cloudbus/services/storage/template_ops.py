"""The primary-storage service's part in making a template from a volume: reading the volume.

CreateTemplateFromVolume asks the storage's driver to write a flat copy of the volume
(its whole backing chain) to the path the backup storage answered; the image service
drives the whole operation (services/image_template.py). Progress goes out under `apiId`.
"""

from __future__ import annotations

from typing import Any

from cloudbus.apis.internal.storage import CreateTemplateFromVolume, InstantiateVolume
from cloudbus.core.messages import Reply
from cloudbus.core.progress import reporter
from cloudbus.core.service import handles
from cloudbus.inventory.primary_storage import PRIMARY_STORAGE
from cloudbus.services.common import load_row

STAGE = "creating template"
CACHE_STAGE = "copying image to primary storage"


class TemplateOps:
    """Mixed into PrimaryStorageService (which provides db, bus and `driver`)."""

    db: Any
    bus: Any
    node: Any
    driver: Any

    @handles(CreateTemplateFromVolume, chain=False)
    async def create_template(self, msg: CreateTemplateFromVolume) -> Reply:
        async with self.db.read() as conn:
            ps = await load_row(conn, PRIMARY_STORAGE, msg.primaryStorageUuid)
        progress = reporter(self.bus, msg.apiId, STAGE, msg.imageUuid)
        if progress is not None:
            progress(0)
        try:
            await self.driver(
                ps,
                "create_template",
                msg.volumeUuid,
                msg.volumeInstallPath,
                msg.hostUuid,
                msg.templatePath,
                progress=progress,
            )
            if progress is not None:
                progress(100)
        finally:
            if progress is not None:
                await progress.close()
        return Reply()

    async def cache_image(self, ps: dict[str, Any], msg: InstantiateVolume) -> None:
        """Before a volume is made from an image for an API that follows progress: copy the
        image into the storage's cache (drivers that keep one: `cache_image`), reporting."""
        if not (msg.apiId and msg.imageUuid and msg.imageInstallPath):
            return
        if not hasattr(self.node.storage(ps["type"]), "cache_image"):
            return
        progress = reporter(self.bus, msg.apiId, CACHE_STAGE, msg.imageUuid)
        try:
            await self.driver(ps, "cache_image", msg.imageUuid, msg.imageInstallPath, progress=progress)
        finally:
            if progress is not None:
                await progress.close()
