"""Per-project quotas of network resources (Neutron's defaults, -1 for unlimited)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.network import errors
from onestack.core.network.base import DEFAULT_QUOTAS, Store, quota_limits, usage
from onestack.db.models.network import NetQuota


class Quotas(Store):
    async def get(self, project_id: str) -> dict[str, int]:
        async with self.read() as s:
            return await quota_limits(s, project_id)

    async def details(self, project_id: str) -> dict[str, dict[str, int]]:
        async with self.read() as s:
            limits = await quota_limits(s, project_id)
            return {name: {"limit": limit, "used": await usage(s, project_id, name),
                           "reserved": 0} for name, limit in limits.items()}

    async def all(self) -> dict[str, dict[str, int]]:
        async with self.read() as s:
            rows = list((await s.execute(select(NetQuota))).scalars())
        out: dict[str, dict[str, int]] = {}
        for row in rows:
            out.setdefault(row.project_id, dict(DEFAULT_QUOTAS))[row.resource] = row.limit
        return out

    async def update(self, project_id: str, values: dict[str, Any]) -> dict[str, int]:
        for name, value in values.items():
            if name not in DEFAULT_QUOTAS:
                raise errors.InvalidInput(f"Unrecognized attribute(s) '{name}'")
            if isinstance(value, bool) or not isinstance(value, int) or value < -1:
                raise errors.InvalidInput(f"'{value}' should be an integer greater than or "
                                          "equal to -1")

        async def work(s: AsyncSession) -> None:
            for name, value in values.items():
                row = await s.get(NetQuota, (project_id, name))
                if row is None:
                    s.add(NetQuota(project_id=project_id, resource=name, limit=value))
                else:
                    row.limit = value

        await self.txn(work)
        return await self.get(project_id)

    async def reset(self, project_id: str) -> None:
        async def work(s: AsyncSession) -> None:
            await s.execute(delete(NetQuota).where(NetQuota.project_id == project_id))

        await self.txn(work)
