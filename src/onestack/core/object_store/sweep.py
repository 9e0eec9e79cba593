"""The orphan sweep: what a crash can leave behind, found and settled.

A write puts the bytes under a new blob key (the filesystem store: a temporary file renamed
into place; the s3 store: one PUT or a multipart upload completed), then commits the
object's row; a delete removes the row, then the blob. So a crash can leave:

- unfinished writes (temporary files, multipart uploads never completed; never visible):
  removed once older than the grace period (an upload in progress keeps touching its file;
  a multipart upload is dated by its start, so the grace must outlast the longest upload);
- blobs no row names (written, but the row never committed; or the row went and the blob
  stayed): removed once older than the grace period and still unnamed on a re-check;
- rows whose blob is missing (a store restored from an older copy, a file removed by hand):
  the object is lost; its row is removed (counters corrected) so listings tell the truth,
  unless most of the store seems gone at once (an unmounted disk), which is only logged.

It runs once when the object store starts and then every ``interval`` seconds.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from sqlalchemy import select

from onestack.core.object_store import rows
from onestack.core.object_store.objects import Objects
from onestack.db.engine import Database
from onestack.db.models import SwiftContainer, SwiftObject
from onestack.drivers.blob import BlobStore

log = logging.getLogger("onestack.object_store.sweep")
BATCH = 500


@dataclass
class SweepReport:
    temporary: int = 0  # unfinished uploads removed
    orphans: int = 0  # blobs without a row removed
    lost: int = 0  # rows whose blob was missing, removed
    held_back: bool = False  # lost rows found but kept: too many at once

    def __bool__(self) -> bool:
        return bool(self.temporary or self.orphans or self.lost or self.held_back)


class Sweeper:
    def __init__(self, db: Database, blobs: BlobStore, objects: Objects,
                 grace: float = 3600.0) -> None:
        self.db = db
        self.blobs = blobs
        self.objects = objects
        self.grace = grace

    async def sweep(self) -> SweepReport:
        report = SweepReport()
        started = time.time()
        scan = await self.blobs.scan()
        if scan is None:
            return report  # a store that cannot be listed
        cutoff = started - self.grace
        on_disk = scan.blobs
        for item in scan.unfinished:
            if item.mtime < cutoff:
                await self.blobs.discard(item)
                report.temporary += 1
        await self._orphans(on_disk, cutoff, report)
        await self._lost(on_disk, started, report)
        if report:
            log.warning("object store sweep: %d unfinished uploads and %d orphan blobs "
                        "removed, %d objects with missing data %s", report.temporary,
                        report.orphans, report.lost,
                        "kept (too many: is the store mounted?)" if report.held_back
                        else "removed")
        return report

    async def _named(self, keys: list[str]) -> set[str]:
        async with self.db.read() as s:
            return set((await s.execute(select(SwiftObject.blob).where(
                SwiftObject.blob.in_(keys)))).scalars())

    async def _orphans(self, on_disk: dict[str, float], cutoff: float,
                       report: SweepReport) -> None:
        old = [key for key, mtime in on_disk.items() if mtime < cutoff]
        for i in range(0, len(old), BATCH):
            batch = old[i:i + BATCH]
            named = await self._named(batch)
            for key in batch:
                if key in named:
                    continue
                if await self._named([key]):  # named since: a commit raced the scan
                    continue
                try:
                    await self.blobs.delete(key)
                except ValueError:  # not a name the store writes: not one of ours
                    continue
                report.orphans += 1

    async def _lost(self, on_disk: dict[str, float], started: float,
                    report: SweepReport) -> None:
        lost: list[int] = []
        total = 0
        last_id = 0
        while True:
            async with self.db.read() as s:
                rows = list(await s.execute(
                    select(SwiftObject.id, SwiftObject.blob, SwiftObject.timestamp).where(
                        SwiftObject.id > last_id).order_by(SwiftObject.id).limit(BATCH)))
            if not rows:
                break
            last_id = rows[-1][0]
            total += len(rows)
            for row_id, blob, ts in rows:
                # Rows newer than the scan may name blobs written after it.
                if blob not in on_disk and ts < started and not await self.blobs.exists(blob):
                    lost.append(row_id)
        if not lost:
            return
        if len(lost) > 10 and len(lost) * 2 > total:
            report.held_back = True
            log.error("object store sweep: %d of %d objects have no data on disk; not "
                      "removing them (is the object store's disk mounted?)", len(lost), total)
            return
        for row_id in lost:
            if await self._drop(row_id):
                report.lost += 1

    async def _drop(self, row_id: int) -> bool:
        async with self.db.write() as s:
            row = await s.get(SwiftObject, row_id)
            if row is None or await self.blobs.exists(row.blob):
                return False
            c = await s.get(SwiftContainer, row.container_id)
            if c is None:
                return False
            log.warning("object %s/%s/%s lost its data (%s); removing it", c.account, c.name,
                        row.name, row.blob)
            await s.run_sync(rows.drop, c, row, [])
        return True
