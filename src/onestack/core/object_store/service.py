"""The object store core, assembled: one object the API layer calls."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from onestack.config import Settings
from onestack.core.object_store.bulk import Bulk
from onestack.core.object_store.containers import Containers
from onestack.core.object_store.formpost import FormPost
from onestack.core.object_store.objects import Objects
from onestack.core.object_store.s3.auth import S3Auth
from onestack.core.object_store.s3.multipart import Multipart
from onestack.core.object_store.sweep import Sweeper
from onestack.core.object_store.tempurl import TempUrls
from onestack.db.engine import Database
from onestack.drivers.blob import BlobStore, FilesystemBlobStore, S3BlobStore
from onestack.drivers.blob.base import BlobUnavailable
from onestack.errors import ConfigError

if TYPE_CHECKING:
    from onestack.core.identity.service import Identity

log = logging.getLogger("onestack.object_store")


def blob_store(settings: Settings) -> BlobStore:
    """The blob store [object_store] blob_store names."""
    conf = settings.object_store
    if conf.blob_store == "file":
        return FilesystemBlobStore(Path(settings.data_dir) / "objects")
    if conf.blob_store != "s3":
        raise ConfigError(f"[object_store] blob_store must be \"file\" or \"s3\", not "
                          f"{conf.blob_store!r}")
    missing = [f"s3_{k}" for k in ("endpoint", "bucket", "access_key", "secret_key")
               if not getattr(conf, f"s3_{k}")]
    if missing:
        raise ConfigError(f"[object_store] blob_store = \"s3\" needs {', '.join(missing)}")
    try:
        return S3BlobStore(conf.s3_endpoint, conf.s3_bucket, conf.s3_access_key,
                           conf.s3_secret_key, conf.s3_region, conf.s3_part_size)
    except ValueError as exc:
        raise ConfigError(f"[object_store] {exc}") from exc


class ObjectStore:
    def __init__(self, settings: Settings, db: Database, blobs: BlobStore | None = None,
                 reap_interval: float = 2.0, sweep_interval: float = 3600.0) -> None:
        self.db = db
        self.blobs = blobs or blob_store(settings)
        self.containers = Containers(db)
        self.objects = Objects(db, self.blobs, self.containers)
        self.tempurls = TempUrls(self.containers)
        self.formpost = FormPost(self.objects, self.tempurls)
        self.multipart = Multipart(self.objects)
        self._s3_auth: S3Auth | None = None
        self.bulk = Bulk(self.containers, self.objects, Path(settings.data_dir) / "objects-spool")
        self.reap_interval = reap_interval
        self.sweeper = Sweeper(db, self.blobs, self.objects)
        self.sweep_interval = sweep_interval
        self._reaper: asyncio.Task[None] | None = None

    def s3_auth(self, identity: Identity) -> S3Auth:
        """The S3 signature checker (built on first use: it needs the identity service)."""
        if self._s3_auth is None or self._s3_auth.identity is not identity:
            self._s3_auth = S3Auth(identity)
        return self._s3_auth

    def start(self) -> bool:
        """Start the expirer in the running loop (called on every request; True when this
        call started it)."""
        if self._reaper is None or self._reaper.done():
            self._reaper = asyncio.get_running_loop().create_task(self._reap_forever())
            return True
        return False

    async def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
            self._reaper = None

    async def _reap_forever(self) -> None:
        next_sweep = 0.0  # at once: what a crash left behind is settled on start
        while True:
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + self.sweep_interval
                try:
                    await self.sweeper.sweep()
                except asyncio.CancelledError:
                    raise
                except BlobUnavailable as exc:  # the backend's cause, already logged
                    log.warning("object store sweep skipped: %s", exc)
                except Exception:
                    log.exception("object store sweep failed")
            await asyncio.sleep(self.reap_interval)
            try:
                while await self.objects.reap() >= 500:
                    pass
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("object expirer pass failed")
