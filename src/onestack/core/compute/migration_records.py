"""Migration records (Nova's ``migrations``): one row per move of an instance, written in
the transactions that start and end the move, listed by ``GET /os-migrations`` and, for a
live migration under way, ``GET /servers/{id}/migrations``.

Types and statuses, as Nova's:
- ``migration`` (cold): ``migrating`` -> ``post-migrating`` (the disk is on the target)
  -> ``finished`` (VERIFY_RESIZE) -> ``confirmed``, or ``reverting`` -> ``reverted``
  (migrate_verify.py); ``error`` on failure.
- ``live-migration``: ``preparing`` -> ``running`` (copying) -> ``completed``; ``error``
  on failure, ``cancelled`` when aborted.
- ``evacuation``: ``accepted`` -> ``done``; ``failed``.
- ``resize`` (on the same host here): ``migrating`` -> ``finished`` (VERIFY_RESIZE) ->
  ``confirmed`` or ``reverted``; ``error``.
"""

from __future__ import annotations

import datetime as dt
import uuid as uuidlib
from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.compute import states
from onestack.core.compute.base import Caller, Store
from onestack.db.models.base import utcnow
from onestack.db.models.compute import Instance, Migration
from onestack.errors import BadRequest, NotFound

ENDED = frozenset({"confirmed", "completed", "done", "reverted", "error", "failed",
                   "cancelled"})
# A live migration under way, as GET /servers/{id}/migrations lists them.
IN_PROGRESS = ("queued", "preparing", "running", "post-migrating")

# task done -> (migration type, status); task failed -> (type, status)
ON_DONE: dict[str, tuple[str, str]] = {
    # RESIZE_FINISH done: finished or reverted, migrate_verify.arrived
    states.MIGRATING: ("live-migration", "completed"),
    states.REBUILDING: ("evacuation", "done"),
    states.RESIZE_PREP: ("resize", "finished"),
    states.RESIZE_CONFIRMING: ("resize", "confirmed"),
    states.RESIZE_REVERTING: ("resize", "reverted"),
}
ON_FAIL: dict[str, tuple[str, str]] = {
    states.RESIZE_MIGRATING: ("migration", "error"),
    states.RESIZE_FINISH: ("migration", "error"),
    states.MIGRATING: ("live-migration", "error"),
    states.REBUILDING: ("evacuation", "failed"),
    states.RESIZE_PREP: ("resize", "error"),
}


async def record(s: AsyncSession, inst: Instance, caller: Caller, kind: str, status: str,
                 source: str | None, dest: str | None, dest_node: str | None = None,
                 new_flavor: str | None = None) -> Migration:
    row = Migration(uuid=str(uuidlib.uuid4()), instance_uuid=inst.uuid,
                    project_id=inst.project_id, user_id=caller.user_id or inst.user_id,
                    migration_type=kind, status=status, source_compute=source,
                    source_node=inst.node, dest_compute=dest, dest_node=dest_node or dest,
                    dest_host=None, old_flavor_id=inst.flavor_id,
                    new_flavor_id=new_flavor or inst.flavor_id, created_at=utcnow())
    s.add(row)
    return row


async def update(s: AsyncSession, instance_uuid: str, kind: str, status: str,
                 **fields: str | None) -> None:
    """The instance's newest unended migration of ``kind`` gets ``status``."""
    row = await s.scalar(select(Migration).where(
        Migration.instance_uuid == instance_uuid, Migration.migration_type == kind,
        Migration.status.not_in(ENDED)).order_by(Migration.id.desc()).limit(1))
    if row is not None:
        row.status = status
        row.updated_at = utcnow()
        for key, value in fields.items():
            setattr(row, key, value)


async def task_done(s: AsyncSession, instance_uuid: str, task: str, ok: bool) -> None:
    found = (ON_DONE if ok else ON_FAIL).get(task)
    if found is not None:
        await update(s, instance_uuid, *found)


@dataclass
class Filters:
    host: str | None = None
    status: str | None = None
    instance_uuid: str | None = None
    source_compute: str | None = None
    migration_type: str | None = None
    changes_since: dt.datetime | None = None
    changes_before: dt.datetime | None = None


class MigrationRecords(Store):
    async def listing(self, f: Filters, limit: int | None = None,
                      marker: str | None = None) -> list[Migration]:
        q = select(Migration)
        if f.host:
            q = q.where(or_(Migration.source_compute == f.host,
                            Migration.dest_compute == f.host))
        for column, value in ((Migration.status, f.status),
                              (Migration.instance_uuid, f.instance_uuid),
                              (Migration.source_compute, f.source_compute),
                              (Migration.migration_type, f.migration_type)):
            if value:
                q = q.where(column == value)
        changed = func.coalesce(Migration.updated_at, Migration.created_at)
        if f.changes_since:
            q = q.where(changed >= f.changes_since)
        if f.changes_before:
            q = q.where(changed <= f.changes_before)
        q = q.order_by(Migration.created_at.desc(), Migration.id.desc())
        async with self.db.read() as s:
            if marker:
                mark = await s.scalar(select(Migration).where(Migration.uuid == marker))
                if mark is None:
                    raise BadRequest(f"Marker {marker} could not be found.")
                q = q.where(or_(Migration.created_at < mark.created_at,
                                (Migration.created_at == mark.created_at)
                                & (Migration.id < mark.id)))
            if limit is not None:
                q = q.limit(limit)
            return list((await s.execute(q)).scalars())

    async def in_progress(self, server_uuid: str) -> list[Migration]:
        """The server's live migrations under way."""
        async with self.db.read() as s:
            q = select(Migration).where(
                Migration.instance_uuid == server_uuid,
                Migration.migration_type == "live-migration",
                Migration.status.in_(IN_PROGRESS)).order_by(Migration.id)
            return list((await s.execute(q)).scalars())

    async def live(self, server_uuid: str, migration_id: int) -> Migration:
        for row in await self.in_progress(server_uuid):
            if row.id == migration_id:
                return row
        raise NotFound(f"Migration {migration_id} for server {server_uuid} not found.")
