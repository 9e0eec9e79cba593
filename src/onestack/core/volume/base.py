"""Shared pieces of the volume core: who is asking, transactions, records, lookups."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.exc import StaleDataError

from onestack.db.engine import Database
from onestack.db.models.volume import (
    Snapshot,
    SnapshotMetadata,
    Volume,
    VolumeAttachment,
    VolumeMetadata,
    VolumeType,
)
from onestack.errors import BadRequest, Conflict, NotFound

DEFAULT_AZ = "nova"
MAX_META = 255


@dataclass(frozen=True)
class Caller:
    project_id: str
    user_id: str
    is_admin: bool = False
    request_id: str = ""


@dataclass
class VolumeRecord:
    """A volume as the API renders it."""

    volume: Volume
    metadata: dict[str, str] = field(default_factory=dict)
    attachments: list[VolumeAttachment] = field(default_factory=list)
    type_name: str | None = None


@dataclass
class SnapshotRecord:
    snapshot: Snapshot
    metadata: dict[str, str] = field(default_factory=dict)


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db

    @asynccontextmanager
    async def write(self, conflict: str = "") -> AsyncIterator[AsyncSession]:
        try:
            async with self.db.write() as s:
                yield s
                await s.flush()
        except (IntegrityError, StaleDataError) as exc:  # a row changed or went meanwhile
            raise Conflict(conflict or "Another request changed the same data at the same "
                           "time; please retry.") from exc


def volume_not_found(volume_id: str) -> NotFound:
    return NotFound(f"Volume {volume_id} could not be found.")


def snapshot_not_found(snapshot_id: str) -> NotFound:
    return NotFound(f"Snapshot {snapshot_id} could not be found.")


async def find_volume(s: AsyncSession, caller: Caller, volume_id: str | None, *,
                      lock: bool = False) -> Volume:
    """The volume if the caller may see it (its project's, or any for admins), else 404."""
    if not volume_id or not isinstance(volume_id, str) or len(volume_id) > 36:
        raise volume_not_found(str(volume_id))
    q = select(Volume).where(Volume.id == volume_id)
    if lock:
        q = q.with_for_update()
    vol = (await s.execute(q)).scalar()
    if vol is None or (not caller.is_admin and vol.project_id != caller.project_id):
        raise volume_not_found(volume_id)
    return vol


async def find_snapshot(s: AsyncSession, caller: Caller, snapshot_id: str | None, *,
                        lock: bool = False) -> Snapshot:
    if not snapshot_id or not isinstance(snapshot_id, str) or len(snapshot_id) > 36:
        raise snapshot_not_found(str(snapshot_id))
    q = select(Snapshot).where(Snapshot.id == snapshot_id)
    if lock:
        q = q.with_for_update()
    snap = (await s.execute(q)).scalar()
    if snap is None or (not caller.is_admin and snap.project_id != caller.project_id):
        raise snapshot_not_found(snapshot_id)
    return snap


async def volume_records(s: AsyncSession, vols: list[Volume]) -> list[VolumeRecord]:
    """Records for rows: metadata, attachments and type names in three queries."""
    if not vols:
        return []
    ids = [v.id for v in vols]
    meta: dict[str, dict[str, str]] = {i: {} for i in ids}
    for m in (await s.execute(select(VolumeMetadata).where(
            VolumeMetadata.volume_id.in_(ids)))).scalars():
        meta[m.volume_id][m.key] = m.value
    atts: dict[str, list[VolumeAttachment]] = {i: [] for i in ids}
    for a in (await s.execute(select(VolumeAttachment).where(
            VolumeAttachment.volume_id.in_(ids)).order_by(VolumeAttachment.created_at))
            ).scalars():
        atts[a.volume_id].append(a)
    type_ids = {v.type_id for v in vols if v.type_id}
    names: dict[str, str] = {}
    if type_ids:
        for t in (await s.execute(select(VolumeType).where(VolumeType.id.in_(type_ids)))
                  ).scalars():
            names[t.id] = t.name
    return [VolumeRecord(v, meta[v.id], atts[v.id], names.get(v.type_id or ""))
            for v in vols]


async def snapshot_records(s: AsyncSession, snaps: list[Snapshot]) -> list[SnapshotRecord]:
    if not snaps:
        return []
    ids = [x.id for x in snaps]
    meta: dict[str, dict[str, str]] = {i: {} for i in ids}
    for m in (await s.execute(select(SnapshotMetadata).where(
            SnapshotMetadata.snapshot_id.in_(ids)))).scalars():
        meta[m.snapshot_id][m.key] = m.value
    return [SnapshotRecord(x, meta[x.id]) for x in snaps]


async def upsert_specs(s: AsyncSession, model: Any, type_id: str,
                       specs: dict[str, str]) -> None:
    """Set a type's specs (a volume type's extra specs, a group type's group specs): rows of
    ``model`` keyed by (type_id, key), made or given the new value."""
    for key, value in specs.items():
        row = await s.get(model, (type_id, key))
        if row is None:
            s.add(model(type_id=type_id, key=key, value=value))
        else:
            row.value = value


def check_metadata(meta: Any, what: str = "metadata") -> dict[str, str]:
    """Cinder's metadata rules: a mapping of 1-255 character keys to <=255 character
    string values."""
    if not isinstance(meta, dict):
        raise BadRequest(f"Invalid {what}: it must be an object of key/value pairs.")
    for key, value in meta.items():
        if not isinstance(key, str) or not key.strip() or len(key) > MAX_META:
            raise BadRequest(f"Invalid {what} key {key!r}: keys are 1 to {MAX_META} "
                             "characters.")
        if not isinstance(value, str):
            raise BadRequest(f"Invalid {what} value for {key!r}: values are strings.")
        if len(value) > MAX_META:
            raise BadRequest(f"Invalid {what} value for {key!r}: longer than {MAX_META} "
                             "characters.")
    return dict(meta)


def to_int(value: Any, what: str, minimum: int = 1) -> int:
    """Cinder accepts integers and integer strings ("1")."""
    if isinstance(value, bool) or value is None:
        raise BadRequest(f"Invalid input received: {what} must be an integer, not {value!r}.")
    if isinstance(value, float):
        if not value.is_integer():
            raise BadRequest(f"Invalid input received: {what} must be an integer, not "
                             f"{value!r}.")
        value = int(value)
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError as exc:
            raise BadRequest(f"Invalid input received: {what} must be an integer, not "
                             f"{value!r}.") from exc
    if not isinstance(value, int):
        raise BadRequest(f"Invalid input received: {what} must be an integer.")
    if value < minimum:
        raise BadRequest(f"Invalid input received: {what} must be an integer and greater "
                         f"than or equal to {minimum} (got {value}).")
    if value > 2**31 - 1:
        raise BadRequest(f"Invalid input received: {what} must be at most {2**31 - 1}.")
    return value
