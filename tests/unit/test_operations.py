"""Unit: the exposition writer, histogram buckets, and the audit trail's buffer and pruning."""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

from sqlalchemy import create_engine

from onestack.context import RequestContext
from onestack.core.operations.audit import AuditTrail
from onestack.core.operations.metrics import Family, Histogram, exposition
from onestack.db.engine import Database
from onestack.db.models.audit import AuditRecord
from tests.support.prom import parse


def test_exposition_escapes_and_parses() -> None:
    fam = Family("x_total", "counter", "Help.")
    fam.add(3, route='/a/{b}', tag='q"u\\o\nte')
    hist = Histogram("lat_seconds", "Latency.", ("route",), bounds=(0.1, 1.0))
    for value in (0.05, 0.1, 0.5, 7.0):
        hist.observe(("/r",), value)
    exp = parse(exposition([fam, hist.family()]))
    assert exp.value("x_total", tag='q"u\\o\nte') == 3
    assert exp.value("lat_seconds_bucket", le="0.1") == 2  # le is inclusive
    assert exp.value("lat_seconds_bucket", le="1") == 3
    assert exp.value("lat_seconds_bucket", le="+Inf") == exp.value("lat_seconds_count") == 4
    assert exp.value("lat_seconds_sum") == 7.65


def test_audit_buffer_query_and_prune(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    AuditRecord.__table__.create(create_engine(url))  # the one table (all migrations: ~20 s)

    async def run() -> None:
        db = Database(url)
        trail = AuditTrail(db, keep_days=7)
        ctx = RequestContext(user_id="u1", user_name="alice", project_id="p1")
        trail.record(ctx, "compute", "GET", "/v2.1/servers", {}, 200)  # a read: not kept
        trail.record(ctx, "internal", "POST", "/agent/v1/hosts/{host}/x", {}, 200)
        trail.record(ctx, "compute", "DELETE", "/v2.1/servers/{server_id}",
                     {"server_id": "s1"}, 204)
        assert len(trail.pending) == 1
        [rec] = await trail.query(user_id="u1")
        assert (rec.resource_id, rec.status, trail.pending) == ("s1", 204, [])
        assert await trail.query(project_id="other") == []
        assert await trail.prune(now=rec.created_at + dt.timedelta(days=6)) == 0
        assert await trail.prune(now=rec.created_at + dt.timedelta(days=8)) == 1
        assert await trail.query() == []
        await db.close()

    asyncio.run(run())
