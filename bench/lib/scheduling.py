"""Scheduling time per server, measured inside Onestack's compute core.

The bench opens the deployment's database with the same core objects the server builds
(``Compute`` with its ``Placement``) and creates servers one at a time through
``compute.builder.create`` -- the code path of ``POST /servers`` below the HTTP layer. The
scheduler's steps are timed from outside by wrapping, on these objects only:

- ``Builder._claim``: the whole decision and claim for one server (enabled hosts, filters,
  ``select_hosts``, then the atomic claim on the best host);
- ``Placement.select_hosts``: allocation candidates, filters and weighing over every host;
- ``Candidates.find``: the candidates alone (the snapshot, the usage query, the fit);
- ``Hosts.enabled_hosts``: the hosts that are up and enabled (ComputeFilter's input);
- ``Allocations.claim``: the claim (one write transaction).

Needs the repo's venv (it imports onestack); run while the server is idle.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lib.load import percentile

STEPS = ("schedule (select + claim)", "select_hosts", "candidates", "enabled hosts", "claim")


def _timed(obj: Any, name: str, sink: list[float]) -> None:
    original: Callable[..., Awaitable[Any]] = getattr(obj, name)

    async def wrapper(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await original(*args, **kwargs)
        finally:
            sink.append(time.perf_counter() - started)

    setattr(obj, name, wrapper)


def stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50_ms": round(percentile(ordered, 0.5) * 1000, 2),
        "p90_ms": round(percentile(ordered, 0.9) * 1000, 2),
        "p99_ms": round(percentile(ordered, 0.99) * 1000, 2),
        "mean_ms": round(sum(ordered) * 1000 / len(ordered), 2) if ordered else 0.0,
    }


async def measure(
    config: Path,
    data_dir: Path,
    project_id: str,
    user_id: str,
    image_id: str,
    flavor: str,
    count: int,
    prefix: str = "sched",
) -> dict[str, Any]:
    """Create `count` servers one after another; the timings of each step, per server."""
    from sqlalchemy import select

    from onestack.config import load_settings
    from onestack.core.compute.base import Caller
    from onestack.core.compute.build import BuildRequest
    from onestack.core.compute.service import Compute
    from onestack.core.image.service import ImageService
    from onestack.core.network.service import NetworkService
    from onestack.db.engine import Database
    from onestack.db.models.compute import Instance
    from onestack.scheduler.service import Placement

    settings = load_settings(config, data_dir=data_dir)
    db = Database(settings.database_url, pool_size=settings.database.pool_size)
    try:
        placement = Placement(db)
        image = ImageService(settings, db)
        compute = Compute(settings, db, placement, image, NetworkService(db))
        enabled_before = len(await compute.hosts.enabled_hosts())
        times: dict[str, list[float]] = {step: [] for step in (*STEPS, "create")}
        _timed(compute.builder, "_claim", times["schedule (select + claim)"])
        _timed(placement, "select_hosts", times["select_hosts"])
        _timed(placement.candidates, "find", times["candidates"])
        _timed(compute.hosts, "enabled_hosts", times["enabled hosts"])
        _timed(placement.allocations, "claim", times["claim"])
        caller = Caller(project_id, user_id, is_admin=True)
        # as `onestack up` and `onestack serve` do before serving: what start-up made, out
        # of the garbage collector's sight (else its full collections land in the steps)
        gc.collect()
        gc.freeze()
        made: list[str] = []
        for i in range(count + 1):  # the first one loads the placement snapshot: not counted
            started = time.perf_counter()
            servers = await compute.builder.create(
                caller,
                BuildRequest(
                    name=f"{prefix}-{i:04d}", flavor_ref=flavor, image_ref=image_id,
                    networks="none",
                ),
            )  # fmt: skip
            times["create"].append(time.perf_counter() - started)
            made += [s.uuid for s in servers]
            if i == 0:
                first = {step: round(v[0] * 1000, 2) for step, v in times.items() if v}
                for v in times.values():
                    v.clear()
        async with db.read() as s:
            rows = (
                await s.execute(select(Instance.host, Instance.vm_state).where(
                    Instance.uuid.in_(made)))
            ).all()  # fmt: skip
        enabled_after = len(await compute.hosts.enabled_hosts())
    finally:
        await db.close()
    return {
        "servers": len(made),
        "hosts_enabled": [enabled_before, enabled_after],
        "distinct_hosts_chosen": len({h for h, _s in rows if h}),
        "unscheduled": sum(1 for h, _s in rows if not h),
        "first_ms": first,
        "steps": {step: stats(v) for step, v in times.items()},
    }
