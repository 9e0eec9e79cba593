"""Transaction-scoped locks that make count-then-insert checks (quotas) atomic.

A quota check counts what a project has and then inserts; two requests doing that at once
both see room and both insert. ``quota_lock`` serializes them per (scope, project) for the
rest of the caller's transaction:

- PostgreSQL: ``pg_advisory_xact_lock`` on a 64-bit key derived from the scope and project,
  released at commit or rollback, shared by every ``onestack serve`` process.
- SQLite: every write transaction already runs under the database's one writer lock (one
  process owns a SQLite file), so the count and the insert cannot interleave.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session


def lock_key(scope: str, project_id: str) -> int:
    """A signed 64-bit key for (scope, project): stable across processes and versions."""
    digest = hashlib.sha256(f"{scope}\0{project_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _is_postgresql(dialect_name: str) -> bool:
    return dialect_name.startswith("postgresql")


async def quota_lock(s: AsyncSession, scope: str, project_id: str) -> None:
    """Hold the (scope, project) quota lock until ``s``'s transaction ends."""
    if _is_postgresql(s.get_bind().dialect.name):
        await s.execute(text("SELECT pg_advisory_xact_lock(:k)"),
                        {"k": lock_key(scope, project_id)})


def quota_lock_sync(s: Session, scope: str, project_id: str) -> None:
    """``quota_lock`` for a synchronous session (``Database.run_write``)."""
    if _is_postgresql(s.get_bind().dialect.name):
        s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(scope, project_id)})
