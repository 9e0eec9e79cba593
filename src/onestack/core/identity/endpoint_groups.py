"""OS-EP-FILTER: endpoint groups and project-endpoint associations. A project with any
association sees only its associated endpoints in its tokens' catalog (Keystone's
endpoint_filter catalog with return_all_endpoints_if_no_filter); others see them all."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.identity.base import Store, get_or_404
from onestack.db.models import Endpoint, Project
from onestack.db.models.identity import EndpointGroup, ProjectEndpoint, ProjectEndpointGroup
from onestack.errors import BadRequest, NotFound

FILTER_KEYS = ("interface", "service_id", "region_id")


def check_filters(filters: dict[str, Any]) -> dict[str, Any]:
    bad = sorted(set(filters) - set(FILTER_KEYS))
    if bad:
        raise BadRequest(f"Invalid input for field 'filters': {', '.join(bad)} is not one of "
                         f"{', '.join(FILTER_KEYS)}.")
    return dict(filters)


def matches(ep: Endpoint, filters: dict[str, Any]) -> bool:
    return all(getattr(ep, key) == value for key, value in filters.items())


async def allowed_endpoints(s: AsyncSession, project_id: str) -> set[str] | None:
    """The endpoint ids a project's catalog is limited to; None: no association, all."""
    direct = set((await s.execute(select(ProjectEndpoint.endpoint_id).where(
        ProjectEndpoint.project_id == project_id))).scalars())
    groups = list((await s.execute(select(EndpointGroup).join(
        ProjectEndpointGroup, ProjectEndpointGroup.endpoint_group_id == EndpointGroup.id).where(
        ProjectEndpointGroup.project_id == project_id))).scalars())
    if not direct and not groups:
        return None
    if groups:
        for ep in (await s.execute(select(Endpoint))).scalars():
            if any(matches(ep, g.filters) for g in groups):
                direct.add(ep.id)
    return direct


class EndpointGroups(Store):
    # --- groups --------------------------------------------------------------------------
    async def create(self, data: dict[str, Any]) -> EndpointGroup:
        group = EndpointGroup(name=data["name"], description=data.get("description"),
                              filters=check_filters(data["filters"]))
        async with self.write() as s:
            s.add(group)
        return group

    async def get(self, group_id: str) -> EndpointGroup:
        async with self.read() as s:
            return await get_or_404(s, EndpointGroup, group_id, "endpoint group")

    async def list_groups(self, name: str | None = None) -> list[EndpointGroup]:
        q = select(EndpointGroup).order_by(EndpointGroup.name, EndpointGroup.id)
        if name is not None:
            q = q.where(EndpointGroup.name == name)
        async with self.read() as s:
            return list((await s.execute(q)).scalars())

    async def update(self, group_id: str, data: dict[str, Any]) -> EndpointGroup:
        async with self.write() as s:
            group = await get_or_404(s, EndpointGroup, group_id, "endpoint group")
            for key in ("name", "description"):
                if key in data:
                    setattr(group, key, data[key])
            if "filters" in data:
                group.filters = check_filters(data["filters"])
        return group

    async def delete(self, group_id: str) -> None:
        async with self.write() as s:
            await s.delete(await get_or_404(s, EndpointGroup, group_id, "endpoint group"))

    async def endpoints_of(self, group_id: str) -> list[Endpoint]:
        async with self.read() as s:
            group = await get_or_404(s, EndpointGroup, group_id, "endpoint group")
            eps = (await s.execute(select(Endpoint).order_by(Endpoint.id))).scalars()
            return [ep for ep in eps if matches(ep, group.filters)]

    # --- associations --------------------------------------------------------------------
    async def _parts(self, s: AsyncSession, model: type[Any], ident: str, kind: str,
                     project_id: str) -> None:
        await get_or_404(s, model, ident, kind)
        await get_or_404(s, Project, project_id, "project")

    async def associate(self, kind: str, ident: str, project_id: str) -> None:
        """kind: "group" (an endpoint group) or "endpoint"."""
        model, row = self._row(kind, ident, project_id)
        async with self.write() as s:
            await self._parts(s, model, ident, kind.replace("group", "endpoint group"),
                              project_id)
            if await s.get(type(row), (ident, project_id)) is None:
                s.add(row)

    async def check(self, kind: str, ident: str, project_id: str) -> None:
        model, row = self._row(kind, ident, project_id)
        async with self.read() as s:
            await self._parts(s, model, ident, kind.replace("group", "endpoint group"),
                              project_id)
            if await s.get(type(row), (ident, project_id)) is None:
                raise NotFound(f"{ident} is not associated with project {project_id}.")

    async def dissociate(self, kind: str, ident: str, project_id: str) -> None:
        model, row = self._row(kind, ident, project_id)
        async with self.write() as s:
            found = await s.get(type(row), (ident, project_id))
            if found is None:
                await self._parts(s, model, ident, kind.replace("group", "endpoint group"),
                                  project_id)
                raise NotFound(f"{ident} is not associated with project {project_id}.")
            await s.delete(found)

    @staticmethod
    def _row(kind: str, ident: str, project_id: str) -> tuple[type[Any], Any]:
        if kind == "group":
            return EndpointGroup, ProjectEndpointGroup(endpoint_group_id=ident,
                                                       project_id=project_id)
        return Endpoint, ProjectEndpoint(endpoint_id=ident, project_id=project_id)

    async def projects_of(self, kind: str, ident: str) -> list[Project]:
        async with self.read() as s:
            if kind == "group":
                await get_or_404(s, EndpointGroup, ident, "endpoint group")
                ids = select(ProjectEndpointGroup.project_id).where(
                    ProjectEndpointGroup.endpoint_group_id == ident)
            else:
                await get_or_404(s, Endpoint, ident, "endpoint")
                ids = select(ProjectEndpoint.project_id).where(
                    ProjectEndpoint.endpoint_id == ident)
            return list((await s.execute(select(Project).where(Project.id.in_(ids))
                                         .order_by(Project.name))).scalars())

    async def groups_of_project(self, project_id: str) -> list[EndpointGroup]:
        async with self.read() as s:
            await get_or_404(s, Project, project_id, "project")
            return list((await s.execute(select(EndpointGroup).join(
                ProjectEndpointGroup,
                ProjectEndpointGroup.endpoint_group_id == EndpointGroup.id).where(
                ProjectEndpointGroup.project_id == project_id))).scalars())

    async def endpoints_of_project(self, project_id: str) -> list[Endpoint]:
        async with self.read() as s:
            await get_or_404(s, Project, project_id, "project")
            allowed = await allowed_endpoints(s, project_id)
            q = select(Endpoint).order_by(Endpoint.id)
            if allowed is None:
                return []
            return list((await s.execute(q.where(Endpoint.id.in_(list(allowed))))).scalars())
