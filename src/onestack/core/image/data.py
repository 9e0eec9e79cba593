"""Image data: upload (queued -> saving -> active), download, stage and import.

Bytes stream through the blob store in chunks and are never held whole in memory. Once
stored, the data is inspected (``formats.inspect_blob``): an image qemu-img may not safely
open, or (with ``require_format_match``) one that is not its declared disk format, is
refused (400), its data dropped, and the image stays ``queued`` for a correct upload, as
Glance does. A failed upload leaves the image ``killed``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from sqlalchemy import update

from onestack.core.image import access, formats, records
from onestack.core.image.access import Caller
from onestack.core.image.images import data_key, staging_key
from onestack.core.image.records import ImageRecord
from onestack.db.engine import Database
from onestack.db.models import Image
from onestack.db.models.base import utcnow
from onestack.drivers.blob import BlobInfo, BlobStore
from onestack.drivers.blob.base import BlobTooLarge
from onestack.errors import BadRequest, Conflict, Forbidden, Gone, PayloadTooLarge

log = logging.getLogger(__name__)

MAX_IMAGE_SIZE = 1024**4  # 1 TiB, Glance's image_size_cap
IMPORT_METHODS = ("glance-direct",)
KNOWN_METHODS = ("glance-direct", "web-download", "copy-image", "glance-download")
STORES = ("file",)


@dataclass
class Download:
    record: ImageRecord
    key: str
    size: int


class ImageData:
    def __init__(self, db: Database, blobs: BlobStore, require_format_match: bool = True
                 ) -> None:
        self.require_format_match = require_format_match
        self.db = db
        self.blobs = blobs
        self._tasks: set[asyncio.Task[None]] = set()

    async def _set_status(self, image_id: str, expected: str, status: str) -> bool:
        async with self.db.write() as s:
            result = await s.execute(update(Image).where(
                Image.id == image_id, Image.status == expected).values(
                status=status, updated_at=utcnow()))
            return bool(getattr(result, "rowcount", 0))

    async def _begin(self, caller: Caller, image_id: str, action: str, status: str) -> Image:
        async with self.db.write() as s:
            img = await access.owned_image(s, caller, image_id, action)
            if img.status != "queued":
                raise Conflict(f"Image status transition from {img.status} to {status} is not "
                               "allowed")
            if not img.disk_format or not img.container_format:
                raise BadRequest("Properties disk_format, container_format must be set prior "
                                 "to saving data.")
            img.status = status
            img.updated_at = utcnow()
            return img

    # --- upload ------------------------------------------------------------------------------
    async def upload(self, caller: Caller, image_id: str, chunks: AsyncIterator[bytes]) -> None:
        img = await self._begin(caller, image_id, "upload data to", "saving")
        key = data_key(image_id)
        try:
            info = await self.blobs.put(key, chunks, max_size=MAX_IMAGE_SIZE)
        except BaseException as exc:
            with contextlib.suppress(Exception):  # a store that failed may fail this too
                await self.blobs.delete(key)
            await self._set_status(image_id, "saving", "killed")
            if isinstance(exc, BlobTooLarge):
                raise PayloadTooLarge(f"Image exceeds the storage limit of {MAX_IMAGE_SIZE} "
                                      "bytes.") from exc
            raise
        await self._finish(img, key, info, "saving")

    async def _finish(self, img: Image, key: str, info: BlobInfo, expected: str) -> None:
        """Inspect the stored data, then make the image active (or undo and raise)."""
        try:
            virtual_size = await formats.inspect_blob(
                self.blobs, key, info.size, img.disk_format, self.require_format_match)
        except Exception as exc:
            # Refused: queued for a correct upload (Glance); broken: killed (an import
            # goes back to queued either way).
            await self.blobs.delete(key)
            refused = isinstance(exc, BadRequest) or expected == "importing"
            await self._set_status(img.id, expected, "queued" if refused else "killed")
            raise
        async with self.db.write() as s:
            result = await s.execute(update(Image).where(
                Image.id == img.id, Image.status == expected).values(
                status="active", size=info.size, checksum=info.md5, os_hash_algo="sha512",
                os_hash_value=info.sha512, virtual_size=virtual_size, location=key,
                updated_at=utcnow()))
            done = bool(getattr(result, "rowcount", 0))
        if not done:
            await self.blobs.delete(key)
            raise Gone(f"Image {img.id} was deleted while its data was being saved.")

    # --- download ----------------------------------------------------------------------------
    async def download(self, caller: Caller, image_id: str) -> Download | None:
        """What to stream, or None when the image has no data (204)."""
        async with self.db.read() as s:
            img = await access.visible_image(s, caller, image_id)
            if img.status == "deactivated" and not caller.is_admin:
                raise Forbidden("The requested image has been deactivated. Image data "
                                "download is forbidden.")
            rec = await records.load_one(s, img)
        if img.status not in ("active", "deactivated") or not img.location:
            return None
        size = img.size if img.size is not None else await self.blobs.size(img.location)
        return Download(rec, img.location, size)

    def stream(self, key: str, offset: int = 0, length: int | None = None
               ) -> AsyncIterator[bytes]:
        return self.blobs.get(key, offset, length)

    # --- interoperable import ------------------------------------------------------------------
    async def stage(self, caller: Caller, image_id: str, chunks: AsyncIterator[bytes]) -> None:
        await self._begin(caller, image_id, "stage data for", "uploading")
        key = staging_key(image_id)
        try:
            await self.blobs.put(key, chunks, max_size=MAX_IMAGE_SIZE)
        except BaseException as exc:
            await self.blobs.delete(key)
            await self._set_status(image_id, "uploading", "queued")
            if isinstance(exc, BlobTooLarge):
                raise PayloadTooLarge(f"Image exceeds the storage limit of {MAX_IMAGE_SIZE} "
                                      "bytes.") from exc
            raise

    async def start_import(self, caller: Caller, image_id: str, method: str,
                           stores: list[str] | None) -> None:
        if method not in KNOWN_METHODS:
            raise BadRequest(f"Unknown import method name '{method}'. Available: "
                             f"{', '.join(IMPORT_METHODS)}.")
        if method not in IMPORT_METHODS:
            raise BadRequest(f"Import method '{method}' is not enabled on this cloud; "
                             f"enabled methods: {', '.join(IMPORT_METHODS)}.")
        for store in stores or []:
            if store not in STORES:
                raise BadRequest(f"Unknown store '{store}'. Available: {', '.join(STORES)}.")
        async with self.db.write() as s:
            img = await access.owned_image(s, caller, image_id, "import")
            if img.status != "uploading":
                raise Conflict("Image needs to be staged before 'glance-direct' method can be "
                               f"used (it is {img.status}).")
            img.status = "importing"
            img.updated_at = utcnow()
        task = asyncio.create_task(self._import(img))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _import(self, img: Image) -> None:
        staged, key = staging_key(img.id), data_key(img.id)
        try:
            info = await self.blobs.put(key, self.blobs.get(staged), max_size=MAX_IMAGE_SIZE)
            await self._finish(img, key, info, "importing")
        except Exception as exc:
            log.warning("import of image %s failed: %s", img.id, exc)
            await self.blobs.delete(key)
            await self._set_status(img.id, "importing", "queued")
        finally:
            await self.blobs.delete(staged)

    async def wait_imports(self) -> None:
        """Until every import running in this process is done (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
