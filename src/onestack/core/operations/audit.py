"""The audit trail: every write request (POST/PUT/PATCH/DELETE) as one JSON line on the
``onestack.audit`` logger and one row in ``audit_record``, queryable by admins.

A record holds who (user id and name, project, domain), what (service, method, route
template, the resource id the route names), the result (status) and the request id; never a
body, header, token or query string. Rows are buffered in memory and written in batches
(a query writes the buffer first, so a reader sees every write answered before it), and a
periodic pass drops rows older than ``[metrics] audit_days``.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select

from onestack.context import RequestContext
from onestack.db.engine import Database
from onestack.db.models.audit import AuditRecord
from onestack.db.models.base import utcnow

audit_log = logging.getLogger("onestack.audit")
log = logging.getLogger(__name__)

WRITES = frozenset(("POST", "PUT", "PATCH", "DELETE"))
UNAUDITED = frozenset(("internal",))  # the agents' own API: machine traffic, not user writes
FLUSH_INTERVAL = 2.0  # seconds between batch writes of the buffer
PRUNE_INTERVAL = 3600.0  # seconds between passes dropping old rows
MAX_LIMIT = 1000


@dataclass
class Entry:
    created_at: dt.datetime
    request_id: str
    user_id: str | None
    user_name: str | None
    project_id: str | None
    domain_id: str | None
    service: str
    method: str
    route: str
    resource_id: str | None
    status: int

    def row(self) -> dict[str, Any]:
        return dict(vars(self))  # a flat record: no deep copy (asdict costs ~60 us here)

    def view(self) -> dict[str, Any]:
        out = self.row()
        out["created_at"] = self.created_at.isoformat() + "Z"
        return out


def resource_id(params: dict[str, str]) -> str | None:
    """The last identifier the route template names (``{server_id}`` of
    ``/servers/{server_id}/action``); None for collection routes."""
    return list(params.values())[-1][:255] if params else None


class AuditTrail:
    def __init__(self, db: Database, keep_days: int) -> None:
        self.db = db
        self.keep_days = keep_days
        self.pending: list[Entry] = []
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None

    def record(self, ctx: RequestContext, service: str, method: str, route: str,
               params: dict[str, str], status: int) -> None:
        """Called by the API middleware for every answered request; keeps writes only."""
        if method not in WRITES or service in UNAUDITED:
            return
        entry = Entry(utcnow(), ctx.request_id, ctx.user_id, ctx.user_name, ctx.project_id,
                      ctx.project_domain_id or ctx.domain_id or ctx.user_domain_id, service,
                      method, route, resource_id(params), status)
        audit_log.info(json.dumps(entry.view(), separators=(",", ":")))
        self.pending.append(entry)

    async def flush(self) -> None:
        async with self._lock:
            rows, self.pending = self.pending, []
            if not rows:
                return
            try:
                async with self.db.write() as s:
                    await s.execute(insert(AuditRecord), [r.row() for r in rows])
            except Exception:
                self.pending[:0] = rows  # kept for the next pass
                raise

    async def query(self, since: dt.datetime | None = None, user_id: str | None = None,
                    project_id: str | None = None, limit: int = 100) -> list[Entry]:
        """Newest first."""
        await self.flush()
        stmt = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(limit)
        if since is not None:
            stmt = stmt.where(AuditRecord.created_at >= since)
        if user_id is not None:
            stmt = stmt.where(AuditRecord.user_id == user_id)
        if project_id is not None:
            stmt = stmt.where(AuditRecord.project_id == project_id)
        async with self.db.read() as s:
            found = (await s.scalars(stmt)).all()
        return [Entry(r.created_at, r.request_id, r.user_id, r.user_name, r.project_id,
                      r.domain_id, r.service, r.method, r.route, r.resource_id, r.status)
                for r in found]

    async def prune(self, now: dt.datetime | None = None) -> int:
        if self.keep_days <= 0:
            return 0
        cutoff = (now or utcnow()) - dt.timedelta(days=self.keep_days)
        async with self.db.write() as s:
            result = await s.execute(delete(AuditRecord).where(AuditRecord.created_at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._main(), name="audit-flush")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):
            await self.flush()

    async def _main(self) -> None:
        since_prune = PRUNE_INTERVAL
        while True:
            try:
                await self.flush()
                if since_prune >= PRUNE_INTERVAL:
                    since_prune = 0.0
                    await self.prune()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("audit: writing or pruning records failed")
            await asyncio.sleep(FLUSH_INTERVAL)
            since_prune += FLUSH_INTERVAL
