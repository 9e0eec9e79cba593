"""The image core, assembled: one object the API layer calls."""

from __future__ import annotations

import asyncio
import logging

from onestack.config import Settings
from onestack.core.image.data import ImageData
from onestack.core.image.images import Images
from onestack.core.image.members import Members
from onestack.core.image.metadef_items import NamespaceItems
from onestack.core.image.metadefs import Namespaces
from onestack.core.image.tasks import Tasks
from onestack.db.engine import Database
from onestack.drivers.blob import BlobStore, FilesystemBlobStore
from onestack.drivers.blob.rbd import RbdBlobStore
from onestack.errors import ConfigError

log = logging.getLogger(__name__)


def image_store(settings: Settings) -> BlobStore:
    """The store ``[image] store`` names: "file" (data_dir/images) or "rbd"."""
    store = settings.image.store
    if store == "rbd":
        return RbdBlobStore.from_config(settings.image)
    if store != "file":
        raise ConfigError(f'[image] store must be "file" or "rbd", not {store!r}')
    return FilesystemBlobStore(settings.data_dir / "images")


class ImageService:
    def __init__(self, settings: Settings, db: Database, blobs: BlobStore | None = None
                 ) -> None:
        self.blobs = blobs if blobs is not None else image_store(settings)
        self.images = Images(db, self.blobs)
        self.data = ImageData(db, self.blobs,
                              require_format_match=settings.image.require_format_match)
        self.members = Members(db)
        self.metadefs = Namespaces(db)
        self.metadef_items = NamespaceItems(db)
        self.tasks = Tasks(db)
        self.sweeping: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Remove, in the background, what uploads interrupted by a crash left in the store
        (rbd: ``.part`` images older than an hour); an unreachable store is logged."""
        if isinstance(self.blobs, RbdBlobStore):
            self.sweeping = asyncio.create_task(self._sweep(self.blobs))

    @staticmethod
    async def _sweep(store: RbdBlobStore) -> None:
        try:
            removed = await store.sweep_partial()
        except Exception as exc:
            log.warning("image store: cannot sweep partial uploads: %s", exc)
            return
        if removed:
            log.info("image store: removed partial uploads %s", ", ".join(removed))
