"""Snapshots: create (of an available volume, or an in-use one with force), show, list,
update, delete, admin resets, and their metadata."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, select

from onestack.core.volume import states
from onestack.core.volume.base import (
    Caller,
    SnapshotRecord,
    Store,
    check_metadata,
    find_snapshot,
    find_volume,
    snapshot_records,
)
from onestack.core.volume.listing import ListQuery, page_ids
from onestack.core.volume.quotas import Quotas
from onestack.core.volume.worker import Worker
from onestack.db.models.base import utcnow
from onestack.db.models.volume import Snapshot, SnapshotMetadata, VolumeType
from onestack.errors import BadRequest, NotFound

SORT_COLUMNS: dict[str, Any] = {
    "id": Snapshot.id, "name": Snapshot.name, "display_name": Snapshot.name,
    "status": Snapshot.status, "size": Snapshot.size, "created_at": Snapshot.created_at,
    "updated_at": Snapshot.updated_at, "volume_id": Snapshot.volume_id,
    "project_id": Snapshot.project_id, "description": Snapshot.description,
}


class Snapshots:
    def __init__(self, store: Store, quotas: Quotas, worker: Worker) -> None:
        self.store = store
        self.quotas = quotas
        self.worker = worker

    async def create(self, caller: Caller, body: dict[str, Any], *,
                     in_use_ok: bool = False) -> SnapshotRecord:
        force = body.get("force", False)
        if not isinstance(force, bool):
            text = str(force).strip().lower()
            if text not in ("true", "false", "1", "0", "yes", "no"):
                raise BadRequest(f"Invalid value '{force}' for force.")
            force = text in ("true", "1", "yes")
        metadata = check_metadata(body.get("metadata") or {})
        snap_id = str(uuid.uuid4())
        async with self.store.write() as s:
            # The volume's row before the quota lock, as extend takes them: the snapshot's
            # foreign key waits on a row an extend holds, so the other order can deadlock.
            vol = await find_volume(s, caller, body.get("volume_id"), lock=True)
            states.check("snapshot_force" if force or in_use_ok else "snapshot", vol.id,
                         vol.status)
            if vol.encryption_key_id and vol.status != states.AVAILABLE:
                raise BadRequest(f"Invalid volume: volume {vol.id} is encrypted and "
                                 f"{vol.status}: its snapshot copies the ciphertext outside "
                                 "the guest, so detach it first.")
            vt = await s.get(VolumeType, vol.type_id) if vol.type_id else None
            await self.quotas.check(s, vol.project_id, vt, snapshots=1, gigabytes=vol.size)
            now = utcnow()
            snap = Snapshot(id=snap_id, project_id=vol.project_id, user_id=caller.user_id,
                            volume_id=vol.id,
                            name=body.get("name", body.get("display_name")),
                            description=body.get("description",
                                                 body.get("display_description")),
                            size=vol.size, status=states.SNAPSHOT_CREATING, progress="0%",
                            type_id=vol.type_id, host=vol.host, created_at=now,
                            updated_at=now)
            s.add(snap)
            await s.flush()
            s.add_all(SnapshotMetadata(snapshot_id=snap_id, key=k, value=v)
                      for k, v in metadata.items())
        self.worker.submit(self.worker.create_snapshot(snap_id, vol.id))
        return SnapshotRecord(snap, metadata)

    async def get(self, caller: Caller, snapshot_id: str) -> SnapshotRecord:
        async with self.store.db.read() as s:
            snap = await find_snapshot(s, caller, snapshot_id)
            return (await snapshot_records(s, [snap]))[0]

    async def page(self, caller: Caller, q: ListQuery) -> list[SnapshotRecord]:
        async with self.store.db.read() as s:
            base = select(Snapshot)
            if not (caller.is_admin and q.all_projects):
                base = base.where(Snapshot.project_id == caller.project_id)
            elif q.project_id:
                base = base.where(Snapshot.project_id == q.project_id)
            for key, value in q.filters.items():
                if key == "name":
                    base = base.where(Snapshot.name == value)
                elif key == "status":
                    base = base.where(Snapshot.status == str(value).lower())
                elif key == "volume_id":
                    base = base.where(Snapshot.volume_id == value)
                elif key == "metadata":
                    for mk, mv in value.items():
                        base = base.where(Snapshot.id.in_(select(
                            SnapshotMetadata.snapshot_id).where(
                            SnapshotMetadata.key == mk, SnapshotMetadata.value == mv)))
            ids = await page_ids(s, base, Snapshot.id, SORT_COLUMNS, q)
            if not ids:
                return []
            rows = {x.id: x for x in (await s.execute(select(Snapshot).where(
                Snapshot.id.in_(ids)))).scalars()}
            return await snapshot_records(s, [rows[i] for i in ids if i in rows])

    async def update(self, caller: Caller, snapshot_id: str, body: dict[str, Any]
                     ) -> SnapshotRecord:
        async with self.store.write() as s:
            snap = await find_snapshot(s, caller, snapshot_id)
            for key, attr in (("name", "name"), ("display_name", "name"),
                              ("description", "description"),
                              ("display_description", "description")):
                if key in body:
                    setattr(snap, attr, body[key])
            snap.updated_at = utcnow()
            return (await snapshot_records(s, [snap]))[0]

    async def delete(self, caller: Caller, snapshot_id: str, force: bool = False) -> None:
        async with self.store.write() as s:
            snap = await find_snapshot(s, caller, snapshot_id, lock=True)
            if not force:
                states.check_snapshot_delete(snap.id, snap.status)
            snap.status = states.SNAPSHOT_DELETING
            snap.updated_at = utcnow()
        self.worker.submit(self.worker.delete_snapshot(snapshot_id))

    async def reset_status(self, caller: Caller, snapshot_id: str, status: Any,
                           progress: Any = None) -> None:
        if status not in states.SNAPSHOT_STATUSES:
            raise BadRequest(f"Invalid input received: snapshot status {status!r} is not one "
                             f"of {', '.join(states.SNAPSHOT_STATUSES)}.")
        if progress is not None and (not isinstance(progress, str) or len(progress) > 255):
            raise BadRequest("Invalid input received: progress must be a string like '80%'.")
        async with self.store.write() as s:
            snap = await find_snapshot(s, caller, snapshot_id, lock=True)
            snap.status = status
            if progress is not None:
                snap.progress = progress
            snap.updated_at = utcnow()

    # --- metadata ------------------------------------------------------------------------
    async def metadata(self, caller: Caller, snapshot_id: str) -> dict[str, str]:
        return (await self.get(caller, snapshot_id)).metadata

    async def set_metadata(self, caller: Caller, snapshot_id: str, meta: Any, *,
                           replace: bool) -> dict[str, str]:
        meta = check_metadata(meta)
        return await self._write(caller, snapshot_id,
                                 lambda cur: meta if replace else {**cur, **meta})

    async def delete_metadata_item(self, caller: Caller, snapshot_id: str, key: str) -> None:
        def drop(cur: dict[str, str]) -> dict[str, str]:
            if key not in cur:
                raise NotFound(f"Snapshot {snapshot_id} has no metadata with key {key}.")
            return {k: v for k, v in cur.items() if k != key}

        await self._write(caller, snapshot_id, drop)

    async def _write(self, caller: Caller, snapshot_id: str,
                     change: Callable[[dict[str, str]], dict[str, str]]) -> dict[str, str]:
        async with self.store.write() as s:
            snap = await find_snapshot(s, caller, snapshot_id)
            current = {m.key: m.value for m in (await s.execute(select(SnapshotMetadata).where(
                SnapshotMetadata.snapshot_id == snap.id))).scalars()}
            new = change(current)
            await s.execute(delete(SnapshotMetadata).where(
                SnapshotMetadata.snapshot_id == snap.id))
            s.add_all(SnapshotMetadata(snapshot_id=snap.id, key=k, value=v)
                      for k, v in new.items())
            snap.updated_at = utcnow()
        return new
