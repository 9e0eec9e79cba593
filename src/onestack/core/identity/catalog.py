"""Regions, services and endpoints, and the catalog a token carries."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from onestack.core.identity.base import Store, get_or_404
from onestack.core.identity.endpoint_groups import allowed_endpoints
from onestack.db.models import Endpoint, Region, Service
from onestack.db.models.base import new_id
from onestack.errors import BadRequest, Conflict, NotFound

INTERFACES = ("public", "internal", "admin")


def substitute(url: str, values: dict[str, str | None]) -> str | None:
    """Fill Keystone's ``$(project_id)s`` / ``%(project_id)s`` placeholders; None if unfillable."""
    for key, value in values.items():
        for pattern in (f"$({key})s", f"%({key})s"):
            if pattern in url:
                if value is None:
                    return None
                url = url.replace(pattern, value)
    return url


class Catalog(Store):
    # --- regions -------------------------------------------------------------------------
    async def create_region(self, data: dict[str, Any]) -> Region:
        async with self.write() as s:
            rid = data.get("id") or new_id()
            if await s.get(Region, rid) is not None:
                raise Conflict(f"Duplicate ID, {rid}.")
            parent = data.get("parent_region_id")
            if parent and await s.get(Region, parent) is None:
                raise NotFound(f"Could not find region: {parent}.")
            region = Region(id=rid, description=data.get("description", ""),
                            parent_region_id=parent, extra=data.get("extra", {}))
            s.add(region)
        return region

    async def get_region(self, region_id: str) -> Region:
        async with self.read() as s:
            return await get_or_404(s, Region, region_id, "region")

    async def list_regions(self, filters: dict[str, Any]) -> list[Region]:
        q = select(Region).order_by(Region.id)
        if "parent_region_id" in filters:
            q = q.where(Region.parent_region_id == filters["parent_region_id"])
        async with self.read() as s:
            return list((await s.execute(q)).scalars())

    async def update_region(self, region_id: str, data: dict[str, Any]) -> Region:
        async with self.write() as s:
            region = await get_or_404(s, Region, region_id, "region")
            if "parent_region_id" in data:
                parent = data["parent_region_id"]
                seen = {region_id}
                walk = parent
                while walk:
                    if walk in seen:
                        raise BadRequest(f"Setting parent region {parent} would create a "
                                         "circular region hierarchy.")
                    seen.add(walk)
                    found = await s.get(Region, walk)
                    if found is None:
                        raise NotFound(f"Could not find region: {walk}.")
                    walk = found.parent_region_id
                region.parent_region_id = parent
            if "description" in data:
                region.description = data["description"]
            if "extra" in data:
                region.extra = {**region.extra, **data["extra"]}
        return region

    async def delete_region(self, region_id: str) -> None:
        async with self.write() as s:
            region = await get_or_404(s, Region, region_id, "region")
            if (await s.execute(select(Region.id).where(
                    Region.parent_region_id == region_id))).first():
                raise Conflict(f"Region {region_id} has child regions; delete them first.")
            if (await s.execute(select(Endpoint.id).where(
                    Endpoint.region_id == region_id))).first():
                raise Conflict(f"Region {region_id} has endpoints; delete them first.")
            await s.delete(region)

    # --- services ------------------------------------------------------------------------
    async def create_service(self, data: dict[str, Any]) -> Service:
        async with self.write() as s:
            svc = Service(id=data.get("id") or None, type=data["type"],
                          name=data.get("name", ""), description=data.get("description", ""),
                          enabled=data.get("enabled", True), extra=data.get("extra", {}))
            s.add(svc)
        return svc

    async def get_service(self, service_id: str) -> Service:
        async with self.read() as s:
            return await get_or_404(s, Service, service_id, "service")

    async def list_services(self, filters: dict[str, Any]) -> list[Service]:
        q = select(Service).order_by(Service.type, Service.name)
        for key in ("type", "name"):
            if key in filters:
                q = q.where(getattr(Service, key) == filters[key])
        async with self.read() as s:
            return list((await s.execute(q)).scalars())

    async def update_service(self, service_id: str, data: dict[str, Any]) -> Service:
        async with self.write() as s:
            svc = await get_or_404(s, Service, service_id, "service")
            for key in ("type", "name", "description", "enabled"):
                if key in data:
                    setattr(svc, key, data[key])
            if "extra" in data:
                svc.extra = {**svc.extra, **data["extra"]}
        return svc

    async def delete_service(self, service_id: str) -> None:
        async with self.write() as s:
            svc = await get_or_404(s, Service, service_id, "service")
            for ep in (await s.execute(select(Endpoint).where(
                    Endpoint.service_id == service_id))).scalars():
                await s.delete(ep)
            await s.delete(svc)

    # --- endpoints -----------------------------------------------------------------------
    async def create_endpoint(self, data: dict[str, Any]) -> Endpoint:
        async with self.write() as s:
            await get_or_404(s, Service, data["service_id"], "service")
            region_id = data.get("region_id") or data.get("region")
            if region_id and await s.get(Region, region_id) is None:
                s.add(Region(id=region_id, description=""))
            ep = Endpoint(id=data.get("id") or None, service_id=data["service_id"],
                          interface=data["interface"], region_id=region_id, url=data["url"],
                          enabled=data.get("enabled", True), extra=data.get("extra", {}))
            s.add(ep)
        return ep

    async def get_endpoint(self, endpoint_id: str) -> Endpoint:
        async with self.read() as s:
            return await get_or_404(s, Endpoint, endpoint_id, "endpoint")

    async def list_endpoints(self, filters: dict[str, Any]) -> list[Endpoint]:
        q = select(Endpoint).order_by(Endpoint.service_id, Endpoint.interface)
        for key in ("service_id", "interface", "region_id"):
            if key in filters:
                q = q.where(getattr(Endpoint, key) == filters[key])
        async with self.read() as s:
            return list((await s.execute(q)).scalars())

    async def update_endpoint(self, endpoint_id: str, data: dict[str, Any]) -> Endpoint:
        async with self.write() as s:
            ep = await get_or_404(s, Endpoint, endpoint_id, "endpoint")
            if "service_id" in data:
                await get_or_404(s, Service, data["service_id"], "service")
            if "region_id" in data or "region" in data:
                rid = data.get("region_id") or data.get("region")
                if rid and await s.get(Region, rid) is None:
                    if data.get("region_id"):
                        raise NotFound(f"Could not find region: {rid}.")
                    s.add(Region(id=rid, description=""))  # the legacy `region`, as create
                ep.region_id = rid
            for key in ("service_id", "interface", "url", "enabled"):
                if key in data:
                    setattr(ep, key, data[key])
            if "extra" in data:
                ep.extra = {**ep.extra, **data["extra"]}
        return ep

    async def delete_endpoint(self, endpoint_id: str) -> None:
        async with self.write() as s:
            await s.delete(await get_or_404(s, Endpoint, endpoint_id, "endpoint"))

    # --- the catalog ---------------------------------------------------------------------
    async def build(self, project_id: str | None, user_id: str | None) -> list[dict[str, Any]]:
        values = {"project_id": project_id, "tenant_id": project_id, "user_id": user_id}
        async with self.read() as s:
            services = list((await s.execute(
                select(Service).where(Service.enabled.is_(True))
                .order_by(Service.type))).scalars())
            endpoints = list((await s.execute(
                select(Endpoint).where(Endpoint.enabled.is_(True))
                .order_by(Endpoint.interface))).scalars())
            allowed = await allowed_endpoints(s, project_id) if project_id else None
        if allowed is not None:
            endpoints = [ep for ep in endpoints if ep.id in allowed]
        by_service: dict[str, list[dict[str, Any]]] = {}
        for ep in endpoints:
            url = substitute(ep.url, values)
            if url is None:
                continue
            by_service.setdefault(ep.service_id, []).append({
                "id": ep.id, "interface": ep.interface, "region": ep.region_id,
                "region_id": ep.region_id, "url": url,
            })
        return [{"endpoints": by_service.get(svc.id, []), "id": svc.id, "type": svc.type,
                 "name": svc.name} for svc in services
                if allowed is None or svc.id in by_service]
