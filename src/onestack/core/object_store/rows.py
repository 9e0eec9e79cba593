"""Object rows inside one write transaction: find, count, archive (versioning), drop.

Synchronous functions of a SQLAlchemy ``Session``: the object store runs a whole write
transaction through ``Database.run_write`` (on SQLite one worker-thread hand-off for the
transaction instead of several per statement), and async code reaches the same functions
through ``AsyncSession.run_sync``. Blobs that rows stop naming are appended to ``dropped``
for the caller to delete after the commit.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from onestack.core.object_store.base import now, x_timestamp
from onestack.db.models import SwiftAccount, SwiftContainer, SwiftObject
from onestack.errors import NotFound

# Built once: constructing a statement costs more than running it on the hot paths.
_ROW = select(SwiftObject).where(SwiftObject.container_id == bindparam("cid"),
                                 SwiftObject.name == bindparam("name"))


def version_prefix(name: str) -> str:
    return f"{len(name):03x}{name}/"


def expired(row: SwiftObject) -> bool:
    return row.delete_at is not None and row.delete_at <= now()


def find(s: Session, container_id: int, name: str) -> SwiftObject | None:
    return s.execute(_ROW, {"cid": container_id, "name": name}).scalar_one_or_none()


def count(s: Session, account: str, container_id: int, objects: int, size: int) -> None:
    if not objects and not size:
        return
    s.execute(update(SwiftContainer).where(SwiftContainer.id == container_id).values(
        object_count=SwiftContainer.object_count + objects,
        bytes_used=SwiftContainer.bytes_used + size))
    s.execute(update(SwiftAccount).where(SwiftAccount.name == account).values(
        object_count=SwiftAccount.object_count + objects,
        bytes_used=SwiftAccount.bytes_used + size))


def archive_target(s: Session, c: SwiftContainer) -> SwiftContainer | None:
    target = c.sysmeta.get("versions-location") or c.sysmeta.get("history-location")
    if not target:
        return None
    return s.execute(select(SwiftContainer).where(
        SwiftContainer.account == c.account, SwiftContainer.name == target)
    ).scalar_one_or_none()


def move(s: Session, row: SwiftObject, src: SwiftContainer, dst: SwiftContainer,
         new_name: str, dropped: list[str]) -> None:
    """Move a row between containers (versioning), replacing what is there."""
    there = find(s, dst.id, new_name)
    if there is not None and there.id != row.id:
        dropped.append(there.blob)
        s.delete(there)
        s.flush()
        count(s, dst.account, dst.id, -1, -there.size)
    count(s, src.account, src.id, -1, -row.size)
    row.container_id, row.name = dst.id, new_name
    count(s, dst.account, dst.id, 1, row.size)


def drop(s: Session, c: SwiftContainer, row: SwiftObject, dropped: list[str]) -> None:
    s.delete(row)
    s.flush()
    count(s, c.account, c.id, -1, -row.size)
    dropped.append(row.blob)


def restore(s: Session, c: SwiftContainer, archive: SwiftContainer, name: str,
            dropped: list[str]) -> None:
    """The newest archived version of ``name`` comes back (X-Versions-Location delete)."""
    prefix = version_prefix(name)
    newest = s.execute(select(SwiftObject).where(
        SwiftObject.container_id == archive.id, SwiftObject.name >= prefix,
        SwiftObject.name < prefix[:-1] + "0").order_by(SwiftObject.name.desc()).limit(1)
    ).scalar_one_or_none()
    if newest is not None:
        move(s, newest, archive, c, name, dropped)


def put(s: Session, c: SwiftContainer, name: str, fields: dict[str, Any],
        dropped: list[str]) -> SwiftObject:
    """Create or replace the row of ``name`` (the account row exists: the container's
    creation made it); a replaced version is archived where the container says so."""
    existing = find(s, c.id, name)
    if existing is not None and not expired(existing):
        archive = archive_target(s, c)
        if archive is not None and not existing.headers.get("x-object-manifest"):
            move(s, existing, c, archive,
                 version_prefix(name) + x_timestamp(existing.timestamp), dropped)
            s.flush()
            existing = None
    if existing is not None:
        dropped.append(existing.blob)
        count(s, c.account, c.id, 0, fields["size"] - existing.size)
        for key, value in fields.items():
            setattr(existing, key, value)
        return existing
    row = SwiftObject(container_id=c.id, name=name, **fields)
    s.add(row)
    count(s, c.account, c.id, 1, fields["size"])
    return row


def delete(s: Session, c: SwiftContainer, name: str, dropped: list[str]) -> bool:
    """Delete the object ``name`` (archiving or restoring versions as the container says);
    False when it had expired (removed all the same, but the client is told 404)."""
    row = find(s, c.id, name)
    if row is None:
        raise NotFound("The resource could not be found.")
    if expired(row):
        drop(s, c, row, dropped)
        return False
    archive = archive_target(s, c)
    if archive is not None and c.sysmeta.get("history-location"):
        move(s, row, c, archive, version_prefix(name) + x_timestamp(row.timestamp), dropped)
    else:
        drop(s, c, row, dropped)
        if archive is not None:
            restore(s, c, archive, name, dropped)
    return True
