"""Simple tenant usage: hours, and vCPU/RAM/disk hours, of each project's servers in a
period (deleted ones included while they overlap it)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select

from onestack.core.compute import states
from onestack.core.compute.base import Store
from onestack.db.models.compute import Instance


@dataclass
class ServerUsage:
    instance: Instance
    hours: float
    started_at: dt.datetime
    ended_at: dt.datetime | None

    @property
    def local_gb(self) -> int:
        return int(self.instance.flavor.get("root_gb", 0)) + int(
            self.instance.flavor.get("ephemeral_gb", 0))

    @property
    def state(self) -> str:
        return "terminated" if self.instance.deleted else self.instance.vm_state


@dataclass
class TenantUsage:
    project_id: str
    start: dt.datetime
    stop: dt.datetime
    servers: list[ServerUsage] = field(default_factory=list)

    def totals(self) -> dict[str, float]:
        out = {"total_hours": 0.0, "total_vcpus_usage": 0.0, "total_memory_mb_usage": 0.0,
               "total_local_gb_usage": 0.0}
        for u in self.servers:
            out["total_hours"] += u.hours
            out["total_vcpus_usage"] += u.hours * u.instance.vcpus
            out["total_memory_mb_usage"] += u.hours * u.instance.memory_mb
            out["total_local_gb_usage"] += u.hours * u.local_gb
        return out


class Usage(Store):
    async def report(self, start: dt.datetime, stop: dt.datetime,
                     project_id: str | None = None) -> list[TenantUsage]:
        q = select(Instance).where(
            Instance.created_at < stop,
            or_(Instance.terminated_at.is_(None), Instance.terminated_at > start))
        if project_id is not None:
            q = q.where(Instance.project_id == project_id)
        async with self.db.read() as s:
            rows = list((await s.execute(q.order_by(Instance.created_at))).scalars())
        by_project: dict[str, TenantUsage] = {}
        grouped: dict[str, list[Any]] = defaultdict(list)
        for inst in rows:
            grouped[inst.project_id].append(inst)
        for project, instances in grouped.items():
            usage = TenantUsage(project, start, stop)
            for inst in instances:
                began = inst.launched_at or inst.created_at
                ended = inst.terminated_at if inst.vm_state == states.DELETED else None
                lo, hi = max(began, start), min(ended or stop, stop)
                hours = max((hi - lo).total_seconds(), 0) / 3600
                usage.servers.append(ServerUsage(inst, hours, began, ended))
            by_project[project] = usage
        return list(by_project.values())
