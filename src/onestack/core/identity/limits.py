"""Unified limits (Keystone's flat model): registered limits are a service's default for a
resource, limits a project's (or domain's) own value. A limit needs its registered limit; a
registered limit with limits on it cannot be changed in its identity or removed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.identity.base import Store, get_or_404
from onestack.db.models import Domain, Project, Region, Service
from onestack.db.models.identity import Limit, RegisteredLimit
from onestack.errors import BadRequest, Forbidden

MODEL = {"name": "flat", "description": "Limit enforcement and validation does not take "
         "project hierarchy into consideration."}
_IDENTITY = ("service_id", "region_id", "resource_name")


async def _exists(s: AsyncSession, model: type[Any], ident: str | None, field: str) -> None:
    if ident and await s.get(model, ident) is None:
        raise BadRequest(f"Invalid input for field '{field}': {ident} does not exist.")


class Limits(Store):
    # --- registered limits ---------------------------------------------------------------
    async def create_registered(self, items: list[dict[str, Any]]) -> list[RegisteredLimit]:
        """All or none (one transaction), as Keystone's batch create."""
        out: list[RegisteredLimit] = []
        async with self.write(_duplicate("registered limit")) as s:
            for item in items:
                await _exists(s, Service, item["service_id"], "service_id")
                await _exists(s, Region, item.get("region_id"), "region_id")
                reg = RegisteredLimit(service_id=item["service_id"],
                                      region_id=item.get("region_id") or "",
                                      resource_name=item["resource_name"],
                                      default_limit=item["default_limit"],
                                      description=item.get("description"))
                s.add(reg)
                out.append(reg)
        return out

    async def list_registered(self, f: dict[str, Any]) -> list[RegisteredLimit]:
        q = select(RegisteredLimit).order_by(RegisteredLimit.resource_name, RegisteredLimit.id)
        for key in _IDENTITY:
            if key in f:
                q = q.where(getattr(RegisteredLimit, key) == (f[key] or ""))
        async with self.read() as s:
            return list((await s.execute(q)).scalars())

    async def get_registered(self, reg_id: str) -> RegisteredLimit:
        async with self.read() as s:
            return await get_or_404(s, RegisteredLimit, reg_id, "registered limit")

    async def update_registered(self, reg_id: str, data: dict[str, Any]) -> RegisteredLimit:
        async with self.write(_duplicate("registered limit")) as s:
            reg = await get_or_404(s, RegisteredLimit, reg_id, "registered limit")
            moves = any(k in data and (data[k] or "") != getattr(reg, k) for k in _IDENTITY)
            if moves and await self._limits_of(s, reg):
                raise Forbidden("Unable to update or delete registered limit "
                                f"{reg_id} because there are project limits associated "
                                "with it.")
            await _exists(s, Service, data.get("service_id"), "service_id")
            await _exists(s, Region, data.get("region_id"), "region_id")
            for key in (*_IDENTITY, "default_limit", "description"):
                if key in data:
                    value = data[key]
                    setattr(reg, key, (value or "") if key == "region_id" else value)
        return reg

    async def delete_registered(self, reg_id: str) -> None:
        async with self.write() as s:
            reg = await get_or_404(s, RegisteredLimit, reg_id, "registered limit")
            if await self._limits_of(s, reg):
                raise Forbidden("Unable to update or delete registered limit "
                                f"{reg_id} because there are project limits associated "
                                "with it.")
            await s.delete(reg)

    @staticmethod
    async def _limits_of(s: AsyncSession, reg: RegisteredLimit) -> list[str]:
        return list((await s.execute(select(Limit.id).where(
            Limit.service_id == reg.service_id, Limit.region_id == reg.region_id,
            Limit.resource_name == reg.resource_name))).scalars())

    # --- limits --------------------------------------------------------------------------
    async def create_limits(self, items: list[dict[str, Any]]) -> list[Limit]:
        out: list[Limit] = []
        async with self.write(_duplicate("limit")) as s:
            for item in items:
                if bool(item.get("project_id")) == bool(item.get("domain_id")):
                    raise BadRequest("Invalid input for field 'project_id': a limit names "
                                     "either a project_id or a domain_id.")
                await _exists(s, Project, item.get("project_id"), "project_id")
                await _exists(s, Domain, item.get("domain_id"), "domain_id")
                await _exists(s, Service, item["service_id"], "service_id")
                await _exists(s, Region, item.get("region_id"), "region_id")
                region = item.get("region_id") or ""
                if (await s.execute(select(RegisteredLimit.id).where(
                        RegisteredLimit.service_id == item["service_id"],
                        RegisteredLimit.region_id == region,
                        RegisteredLimit.resource_name == item["resource_name"]))).first() \
                        is None:
                    raise Forbidden("Unable to create a limit that has no corresponding "
                                    f"registered limit (resource_name "
                                    f"{item['resource_name']}).")
                limit = Limit(project_id=item.get("project_id") or "",
                              domain_id=item.get("domain_id") or "",
                              service_id=item["service_id"], region_id=region,
                              resource_name=item["resource_name"],
                              resource_limit=item["resource_limit"],
                              description=item.get("description"))
                s.add(limit)
                out.append(limit)
        return out

    async def list_limits(self, f: dict[str, Any]) -> list[Limit]:
        q = select(Limit).order_by(Limit.resource_name, Limit.id)
        for key in (*_IDENTITY, "project_id", "domain_id"):
            if key in f:
                q = q.where(getattr(Limit, key) == (f[key] or ""))
        if f.get("project_ids") is not None:
            q = q.where(Limit.project_id.in_(list(f["project_ids"])))
        async with self.read() as s:
            return list((await s.execute(q)).scalars())

    async def get_limit(self, limit_id: str) -> Limit:
        async with self.read() as s:
            return await get_or_404(s, Limit, limit_id, "limit")

    async def update_limit(self, limit_id: str, data: dict[str, Any]) -> Limit:
        async with self.write() as s:
            limit = await get_or_404(s, Limit, limit_id, "limit")
            for key in ("resource_limit", "description"):
                if key in data:
                    setattr(limit, key, data[key])
        return limit

    async def delete_limit(self, limit_id: str) -> None:
        async with self.write() as s:
            await s.delete(await get_or_404(s, Limit, limit_id, "limit"))

    async def effective(self, project_id: str, service_id: str, resource_name: str,
                        region_id: str = "") -> int | None:
        """The project's limit, else the registered default, else None (not registered)."""
        async with self.read() as s:
            own = (await s.execute(select(Limit.resource_limit).where(
                Limit.project_id == project_id, Limit.service_id == service_id,
                Limit.region_id == region_id, Limit.resource_name == resource_name))).scalar()
            if own is not None:
                return int(own)
            default = (await s.execute(select(RegisteredLimit.default_limit).where(
                RegisteredLimit.service_id == service_id,
                RegisteredLimit.region_id == region_id,
                RegisteredLimit.resource_name == resource_name))).scalar()
        return int(default) if default is not None else None


def _duplicate(kind: str) -> str:
    return f"Conflict occurred attempting to store {kind} - Duplicate entry."
