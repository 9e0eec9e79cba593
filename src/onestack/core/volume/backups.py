"""Volume backups (Cinder's backups API): create (full or incremental, of an available
volume, of an in-use one with ``force`` through a temporary snapshot, or of a snapshot),
list, show, update, delete, restore (to a new volume or an existing available one),
export/import of a backup's record, and the ``backups``/``backup_gigabytes`` quotas.

The bytes go to the object store (``backup_chunks``); the row is the declared state:
``creating``, ``available``, ``restoring``, ``deleting``, ``error``. The volume shows
``backing-up`` or ``restoring-backup`` while a job works on it, then returns to where it was
(``error_restoring`` when a restore fails). A restart settles what no job finishes.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import delete, func, select, update

from onestack.core.object_store.service import ObjectStore
from onestack.core.volume import backup_records as records
from onestack.core.volume.backup_chunks import CHUNK, ChunkStore
from onestack.core.volume.backup_input import flag as _flag
from onestack.core.volume.backup_input import text as _text
from onestack.core.volume.base import DEFAULT_AZ, Caller, find_snapshot, find_volume
from onestack.core.volume.listing import ListQuery, page_ids
from onestack.core.volume.service import VolumeService
from onestack.db.locks import quota_lock
from onestack.db.models.base import utcnow
from onestack.db.models.volume import Snapshot, Volume, VolumeMetadata
from onestack.db.models.volume_backup import Backup
from onestack.drivers.storage.base import StorageError, VolumeDriver
from onestack.errors import BadRequest, NotFound, PayloadTooLarge

log = logging.getLogger(__name__)
CONTAINER = "volumebackups"
CREATING, AVAILABLE, RESTORING, DELETING, ERROR = (
    "creating", "available", "restoring", "deleting", "error")
STATUSES = (CREATING, AVAILABLE, RESTORING, DELETING, ERROR, "error_deleting")
BACKING_UP, RESTORING_BACKUP, ERROR_RESTORING = (
    "backing-up", "restoring-backup", "error_restoring")
SORT_COLUMNS: dict[str, Any] = {
    "id": Backup.id, "name": Backup.name, "status": Backup.status, "size": Backup.size,
    "created_at": Backup.created_at, "updated_at": Backup.updated_at,
    "volume_id": Backup.volume_id, "project_id": Backup.project_id,
}
WAIT_VOLUME = 120.0  # seconds a restore waits for its new volume to be made


def account(row: Backup) -> str:
    """The project whose object store account holds a backup's objects."""
    return row.objects_project_id or row.project_id


def backup_not_found(backup_id: str) -> NotFound:
    return NotFound(f"Backup {backup_id} could not be found.")


async def _drop_temps(d: VolumeDriver, temps: list[str]) -> None:
    for temp in reversed(temps):
        kind, ident = temp.split(":", 1)
        await (d.delete(ident) if kind == "v" else d.delete_snapshot(ident))


class Backups:
    def __init__(self, volume: VolumeService, objects: ObjectStore) -> None:
        self.volume = volume
        self.store = volume.store
        self.worker = volume.worker
        self.chunks = ChunkStore(objects)

    # --- lookups -------------------------------------------------------------------------
    async def _find(self, s: Any, caller: Caller, backup_id: str, lock: bool = False
                    ) -> Backup:
        if not isinstance(backup_id, str) or len(backup_id) > 36:
            raise backup_not_found(str(backup_id))
        q = select(Backup).where(Backup.id == backup_id)
        if lock:
            q = q.with_for_update()
        row = (await s.execute(q)).scalar()
        if row is None or (not caller.is_admin and row.project_id != caller.project_id):
            raise backup_not_found(backup_id)
        return row

    async def get(self, caller: Caller, backup_id: str) -> tuple[Backup, bool]:
        """The backup and whether incremental backups depend on it."""
        async with self.store.db.read() as s:
            row = await self._find(s, caller, backup_id)
            return row, bool(await s.scalar(select(func.count()).where(
                Backup.parent_id == row.id)))

    async def page(self, caller: Caller, q: ListQuery) -> list[tuple[Backup, bool]]:
        async with self.store.db.read() as s:
            base = select(Backup)
            if not (caller.is_admin and q.all_projects):
                base = base.where(Backup.project_id == caller.project_id)
            elif q.project_id:
                base = base.where(Backup.project_id == q.project_id)
            for key in ("name", "status", "volume_id"):
                if key in q.filters:
                    base = base.where(getattr(Backup, key) == q.filters[key])
            ids = await page_ids(s, base, Backup.id, SORT_COLUMNS, q)
            if not ids:
                return []
            rows = {b.id: b for b in (await s.execute(select(Backup).where(
                Backup.id.in_(ids)))).scalars()}
            parents = set((await s.execute(select(Backup.parent_id).where(
                Backup.parent_id.in_(ids)))).scalars())
            return [(rows[i], i in parents) for i in ids if i in rows]

    # --- quotas --------------------------------------------------------------------------
    async def _check_quota(self, s: Any, project_id: str, size: int) -> None:
        await quota_lock(s, "volume", project_id)
        limits = await self.volume.quotas.show(project_id)
        count, gigabytes = (await s.execute(select(
            func.count(), func.coalesce(func.sum(Backup.size), 0)).where(
            Backup.project_id == project_id))).one()
        if 0 <= limits["backups"] < int(count) + 1:
            raise PayloadTooLarge(f"BackupLimitExceeded: Maximum number of backups allowed "
                                  f"({limits['backups']}) exceeded")
        quota = limits["backup_gigabytes"]
        if 0 <= quota < int(gigabytes) + size:
            raise PayloadTooLarge(
                f"VolumeBackupSizeExceedsAvailableQuota: Requested backup exceeds allowed "
                f"Backup gigabytes quota. Requested {size}G, quota is {quota}G and "
                f"{int(gigabytes)}G has been consumed.")

    async def usage(self, project_id: str) -> tuple[int, int]:
        async with self.store.db.read() as s:
            count, gigabytes = (await s.execute(select(
                func.count(), func.coalesce(func.sum(Backup.size), 0)).where(
                Backup.project_id == project_id))).one()
        return int(count), int(gigabytes)

    # --- create --------------------------------------------------------------------------
    async def create(self, caller: Caller, body: dict[str, Any]) -> Backup:
        volume_id = body.get("volume_id")
        if not volume_id:
            raise BadRequest("Invalid input for field/attribute backup. 'volume_id' is a "
                             "required property")
        name, description = _text(body, "name"), _text(body, "description")
        container = _text(body, "container") or CONTAINER
        if "/" in container or not container.strip():
            raise BadRequest(f"Invalid input for field/attribute container. Value: "
                             f"{container}. A container name has no '/'")
        # openstacksdk sends its attribute's name, is_incremental
        incremental = _flag(body, "incremental") or _flag(body, "is_incremental")
        force = _flag(body, "force")
        snapshot_id = body.get("snapshot_id")
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise BadRequest("Invalid input for field/attribute metadata: it must be an "
                             "object of string values")
        backup_id = str(uuid.uuid4())
        async with self.store.write() as s:
            vol = await find_volume(s, caller, str(volume_id), lock=True)
            if snapshot_id:
                snap = await find_snapshot(s, caller, str(snapshot_id))
                if snap.volume_id != vol.id:
                    raise BadRequest(f"Invalid snapshot: Snapshot {snap.id} is not a "
                                     f"snapshot of volume {vol.id}.")
                if snap.status != "available":
                    raise BadRequest(f"Invalid snapshot: Snapshot to be backed up must be "
                                     f"available, but the current status is "
                                     f"\"{snap.status}\".")
            elif vol.status not in ("available", "in-use"):
                raise BadRequest(f"Invalid volume: Volume to be backed up must be available "
                                 f"or in-use, but the current status is \"{vol.status}\".")
            elif vol.status == "in-use" and not force:
                raise BadRequest("Invalid volume: Backing up an in-use volume must use the "
                                 "force flag.")
            parent = None
            if incremental:
                parent = (await s.execute(select(Backup).where(
                    Backup.volume_id == vol.id, Backup.status == AVAILABLE,
                    Backup.container == container).order_by(
                    Backup.data_timestamp.desc(), Backup.created_at.desc()).limit(1))
                ).scalar()
                if parent is None:
                    raise BadRequest("Invalid backup: No backups available to do an "
                                     "incremental backup.")
            await self._check_quota(s, vol.project_id, vol.size)
            now = utcnow()
            snap_ts = None
            if snapshot_id:
                snap_ts = await s.scalar(select(Snapshot.created_at).where(
                    Snapshot.id == str(snapshot_id)))
            row = Backup(id=backup_id, project_id=vol.project_id, user_id=caller.user_id,
                         volume_id=vol.id, snapshot_id=snapshot_id or None,
                         parent_id=parent.id if parent else None, name=name,
                         description=description, size=vol.size, status=CREATING,
                         is_incremental=parent is not None, container=container,
                         object_prefix=f"volume_{vol.id}/{now:%Y%m%d%H%M%S}/"
                                       f"az_{vol.availability_zone or DEFAULT_AZ}_backup_"
                                       f"{backup_id}",
                         availability_zone=vol.availability_zone or DEFAULT_AZ,
                         meta=metadata, data_timestamp=snap_ts or now, created_at=now,
                         updated_at=now)
            s.add(row)
            source = "snapshot" if snapshot_id else (
                "temporary" if vol.status == "in-use" else "volume")
            back_to = vol.status
            if source == "volume":
                vol.previous_status, vol.status = vol.status, BACKING_UP
            host = vol.host
        self.worker.submit(self._create_job(backup_id, volume_id, host, source,
                                            str(snapshot_id or ""), back_to))
        return row

    async def _source(self, d: VolumeDriver, volume_id: str, source: str, snapshot_id: str,
                      size: int, temps: list[str]) -> AsyncIterator[bytes]:
        """The bytes to back up: the volume itself, or a temporary volume made from a
        snapshot (the given one, or a temporary one of an in-use volume)."""
        if source == "volume":
            async for part in d.copy_volume_to_image(volume_id, "raw"):
                yield part
            return
        if source == "temporary":
            snapshot_id = f"backup-tmp-{uuid.uuid4()}"
            await d.create_snapshot(volume_id, snapshot_id)
            temps.append("s:" + snapshot_id)
        temp = f"backup-tmp-{uuid.uuid4()}"
        temps.append("v:" + temp)
        await d.create_from_snapshot(snapshot_id, temp, size)
        async for part in d.copy_volume_to_image(temp, "raw"):
            yield part

    async def _create_job(self, backup_id: str, volume_id: str, host: str | None,
                          source: str, snapshot_id: str, back_to: str) -> None:
        temps: list[str] = []
        written = None
        async with self.store.db.read() as s:
            row = await s.get(Backup, backup_id)
            parent_row = await s.get(Backup, row.parent_id) if row and row.parent_id else None
            volume_meta = dict((await s.execute(select(
                VolumeMetadata.key, VolumeMetadata.value).where(
                VolumeMetadata.volume_id == volume_id))).tuples().all())
        if row is None:
            return

        async def work() -> None:
            nonlocal written
            d = self.worker.driver_of(host)
            parent = None
            if parent_row is not None:
                parent = await self.chunks.manifest(account(parent_row), parent_row.container,
                                                    parent_row.object_prefix or "")
            written = await self.chunks.write(
                account(row), row.container, row.object_prefix or "",
                self._source(d, volume_id, source, snapshot_id, row.size, temps), parent,
                {"backup_id": backup_id, "volume_id": volume_id, "parent_id": row.parent_id,
                 "size": row.size, "volume_meta": volume_meta})

        error = await self.worker._attempt(f"backing up volume {volume_id}", work)
        if temps:
            await self.worker._attempt("removing temporary copies",
                                       lambda: _drop_temps(self.worker.driver_of(host), temps))
        if source == "volume":
            await self.worker.finish(volume_id, BACKING_UP, back_to)
        if error is None and written is not None:
            await self._finish(backup_id, CREATING, AVAILABLE, object_count=written.objects,
                               stored_bytes=written.stored)
        else:
            await self.chunks.remove(account(row), row.container, row.object_prefix or "",
                                     written.manifest if written else None)
            await self._finish(backup_id, CREATING, ERROR, fail_reason=error)

    async def _finish(self, backup_id: str, expected: str, status: str, **values: Any
                      ) -> bool:
        async with self.store.write() as s:
            result = await s.execute(update(Backup).where(
                Backup.id == backup_id, Backup.status == expected).values(
                status=status, updated_at=utcnow(), **values))
            return bool(getattr(result, "rowcount", 0))

    # --- update, delete, admin actions ---------------------------------------------------
    async def update(self, caller: Caller, backup_id: str, body: dict[str, Any]) -> Backup:
        name, description = _text(body, "name"), _text(body, "description")
        metadata = body.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise BadRequest("Invalid input for field/attribute metadata: it must be an "
                             "object of string values")
        async with self.store.write() as s:
            row = await self._find(s, caller, backup_id, lock=True)
            if "name" in body:
                row.name = name
            if "description" in body:
                row.description = description
            if metadata is not None:
                row.meta = {str(k): str(v) for k, v in metadata.items()}
            row.updated_at = utcnow()
        return row

    async def delete(self, caller: Caller, backup_id: str, force: bool = False) -> None:
        async with self.store.write() as s:
            row = await self._find(s, caller, backup_id, lock=True)
            if not force and row.status not in (AVAILABLE, ERROR):
                raise BadRequest("Invalid backup: Backup status must be available or error")
            if force and row.status not in (AVAILABLE, ERROR, CREATING, "error_deleting"):
                raise BadRequest(f"Invalid backup: Backup status must be available, error "
                                 f"or creating to force delete, but the current status is "
                                 f"{row.status}.")
            if await s.scalar(select(func.count()).where(Backup.parent_id == row.id)):
                raise BadRequest("Invalid backup: Incremental backups exist for this backup.")
            row.status, row.updated_at = DELETING, utcnow()
        self.worker.submit(self._delete_job(backup_id))

    async def _delete_job(self, backup_id: str) -> None:
        async with self.store.db.read() as s:
            row = await s.get(Backup, backup_id)
        if row is None:
            return
        prefix = row.object_prefix or ""

        async def work() -> None:
            try:
                manifest = await self.chunks.manifest(account(row), row.container, prefix)
            except NotFound:
                manifest = None
            await self.chunks.remove(account(row), row.container, prefix, manifest)

        error = await self.worker._attempt(f"deleting backup {backup_id}", work)
        if error is not None:
            await self._finish(backup_id, DELETING, "error_deleting", fail_reason=error)
            return
        async with self.store.write() as s:
            gone = await s.get(Backup, backup_id)
            if gone is not None and gone.status == DELETING:
                await s.delete(gone)

    async def reset_status(self, caller: Caller, backup_id: str, status: Any) -> None:
        if status not in (AVAILABLE, ERROR):
            raise BadRequest(f"Invalid input for field/attribute status. Value: {status}. "
                             f"{status!r} is not one of ['available', 'error']")
        async with self.store.write() as s:
            row = await self._find(s, caller, backup_id, lock=True)
            row.status, row.updated_at = status, utcnow()

    # --- restore -------------------------------------------------------------------------
    async def restore(self, caller: Caller, backup_id: str, body: dict[str, Any]
                      ) -> dict[str, Any]:
        volume_id, name = body.get("volume_id"), _text(body, "name")
        if volume_id is not None and not isinstance(volume_id, str):
            raise BadRequest(f"Invalid input for field/attribute volume_id. Value: "
                             f"{volume_id}. {volume_id!r} is not of type 'string'")
        async with self.store.db.read() as s:
            row = await self._find(s, caller, backup_id)
            if row.status != AVAILABLE:
                raise BadRequest("Invalid backup: Backup status must be available")
            size = row.size
        if not volume_id:
            rec = await self.volume.volumes.create(caller, {
                "size": size, "name": name or f"restore_backup_{backup_id}",
                "description": f"auto-created_from_restore_from_backup {backup_id}"})
            volume_id, new = rec.volume.id, True
        else:
            new = False
        async with self.store.write() as s:
            row = await self._find(s, caller, backup_id, lock=True)
            vol = await find_volume(s, caller, volume_id, lock=True)
            if not new and vol.status != "available":
                raise BadRequest(f"Invalid volume: Volume to be restored to must be "
                                 f"available, but the current status is \"{vol.status}\".")
            if vol.size < row.size:
                raise BadRequest(f"Invalid volume: volume size {vol.size} is too small to "
                                 f"restore backup of size {row.size}.")
            if row.status != AVAILABLE:
                raise BadRequest("Invalid backup: Backup status must be available")
            row.status, row.restore_volume_id, row.updated_at = RESTORING, vol.id, utcnow()
            # a new volume too: the blank disk its create job makes is written over, and
            # the job's own "available" (conditional on creating) does not apply
            vol.status = RESTORING_BACKUP
            vol_name = vol.name
        self.worker.submit(self._restore_job(backup_id, vol.id, new))
        return {"backup_id": backup_id, "volume_id": vol.id, "volume_name": vol_name}

    async def _restore_job(self, backup_id: str, volume_id: str, new: bool) -> None:
        async with self.store.db.read() as s:
            row = await s.get(Backup, backup_id)
            host, size = (await s.execute(select(Volume.host, Volume.size).where(
                Volume.id == volume_id))).one()
        if row is None:
            return

        async def work() -> None:
            d = self.worker.driver_of(host)
            if new:
                await self._wait_made(d, volume_id)
            manifest = await self.chunks.manifest(account(row), row.container,
                                                  row.object_prefix or "")
            await d.copy_image_to_volume(volume_id, size, "raw", None, lambda: self.chunks.read(
                account(row), row.container, manifest))
            await self._restore_metadata(volume_id, manifest.get("volume_meta") or {})

        error = await self.worker._attempt(f"restoring backup {backup_id}", work)
        await self.worker.finish(volume_id, RESTORING_BACKUP,
                                 "available" if error is None else ERROR_RESTORING, error=error)
        await self._finish(backup_id, RESTORING, AVAILABLE)

    async def _restore_metadata(self, volume_id: str, meta: dict[str, str]) -> None:
        """The backed-up volume's metadata onto the restored volume, as Cinder restores
        it (its keys win over the target's)."""
        if not meta:
            return
        async with self.store.write() as s:
            await s.execute(delete(VolumeMetadata).where(
                VolumeMetadata.volume_id == volume_id, VolumeMetadata.key.in_(list(meta))))
            s.add_all(VolumeMetadata(volume_id=volume_id, key=str(k), value=str(v))
                      for k, v in meta.items())

    @staticmethod
    async def _wait_made(d: VolumeDriver, volume_id: str) -> None:
        """Until the new volume's create job has made its blank disk."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_VOLUME
        while not await d.exists(volume_id):
            if loop.time() > deadline:
                raise StorageError(f"volume {volume_id} was not made in {WAIT_VOLUME:.0f} s")
            await asyncio.sleep(0.05)

    # --- export / import (admin) ---------------------------------------------------------
    async def export_record(self, caller: Caller, backup_id: str) -> dict[str, str]:
        row, _ = await self.get(caller, backup_id)
        if row.status != AVAILABLE:
            raise BadRequest(f"Invalid backup: Backup status must be available and not "
                             f"{row.status}.")
        return records.encode(row)

    async def import_record(self, caller: Caller, record: Any) -> Backup:
        fields = records.decode(record)
        backup_id = str(fields["id"])
        values = {k: fields[k] for k in records.REQUIRED}
        # Cinder puts the imported backup in the importer's project; its objects stay in
        # the account that holds them
        owner = str(values.pop("project_id"))
        values.update(project_id=caller.project_id or owner, user_id=caller.user_id or
                      values["user_id"])
        values["objects_project_id"] = owner if owner != values["project_id"] else None
        async with self.store.write() as s:
            existing = await s.get(Backup, backup_id)
            if existing is not None and existing.status != "deleted":
                raise BadRequest(f"Invalid backup: Backup {backup_id} already exists.")
            now = utcnow()
            row = Backup(id=backup_id, **values, snapshot_id=fields.get("snapshot_id"),
                         parent_id=fields.get("parent_id"), name=fields.get("name"),
                         description=fields.get("description"), status=AVAILABLE,
                         is_incremental=bool(fields.get("is_incremental")),
                         object_count=int(fields.get("object_count") or 0),
                         stored_bytes=int(fields.get("stored_bytes") or 0),
                         availability_zone=fields.get("availability_zone"),
                         meta=dict(fields.get("meta") or {}), created_at=now,
                         updated_at=now)
            s.add(row)
        try:
            await self.chunks.manifest(account(row), row.container, row.object_prefix or "")
        except NotFound as exc:
            async with self.store.write() as s:
                await s.delete(await s.get(Backup, backup_id))
            raise BadRequest("Invalid backup: the backup's objects are not in the object "
                             "store") from exc
        return row

    # --- restart -------------------------------------------------------------------------
    async def settle(self) -> None:
        """After a restart, for the volumes of this service's backends: creating and
        restoring backups no job will finish become error and available, deleting ones are
        deleted again, and the volumes they held are freed (restores end in
        error_restoring)."""
        hosts = [self.worker.host_of(b) for b in self.worker.drivers]
        mine = Volume.host.in_(hosts)
        async with self.store.db.read() as s:
            rows = list((await s.execute(select(Backup.id, Backup.status).where(
                Backup.status.in_((CREATING, RESTORING, DELETING)),
                Backup.volume_id.in_(select(Volume.id).where(mine))))).all())
        for bid, status in rows:
            if status == DELETING:
                self.worker.submit(self._delete_job(bid))
            else:
                await self._finish(bid, status, ERROR if status == CREATING else AVAILABLE,
                                   fail_reason=f"interrupted while {status}")
        async with self.store.write() as s:
            await s.execute(update(Volume).where(mine, Volume.status == BACKING_UP).values(
                status=func.coalesce(Volume.previous_status, "available")))
            await s.execute(update(Volume).where(
                mine, Volume.status == RESTORING_BACKUP).values(status=ERROR_RESTORING))


__all__ = ["CHUNK", "Backups"]
