"""Domains and projects (with their tags and parent hierarchy)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.identity.base import Store, drop_trusts, get_or_404
from onestack.db.models import (
    Assignment,
    Domain,
    Group,
    Project,
    ProjectTag,
    RevocationEvent,
    User,
)
from onestack.db.models.base import utcnow
from onestack.db.models.identity import Trust
from onestack.errors import BadRequest, Conflict, Forbidden, NotFound

DEFAULT_DOMAIN_ID = "default"
PROJECT_FIELDS = ("name", "description", "enabled", "domain_id", "parent_id")


class Resources(Store):
    # --- domains -------------------------------------------------------------------------
    async def create_domain(self, data: dict[str, Any]) -> Domain:
        dom = Domain(
            id=data.get("id") or None,
            name=data["name"],
            description=data.get("description", ""),
            enabled=data.get("enabled", True),
            tags=sorted(set(data.get("tags", []))),
            extra=data.get("extra", {}),
        )
        async with self.write(f"Duplicate entry found with name {data['name']} at domain") as s:
            if (await s.execute(select(Domain.id).where(Domain.name == dom.name))).first():
                raise Conflict(f"Conflict occurred attempting to store domain - Duplicate entry "
                               f"found with name {dom.name}.")
            s.add(dom)
        return dom

    async def get_domain(self, domain_id: str) -> Domain:
        async with self.read() as s:
            return await get_or_404(s, Domain, domain_id, "domain")

    async def find_domain(self, *, id: str | None = None, name: str | None = None) -> Domain:
        async with self.read() as s:
            if id:
                return await get_or_404(s, Domain, id, "domain")
            dom = (await s.execute(select(Domain).where(Domain.name == name))).scalar()
            if dom is None:
                raise NotFound(f"Could not find domain: {name}.")
            return dom

    async def list_domains(self, filters: dict[str, Any]) -> list[Domain]:
        q = select(Domain).order_by(Domain.name)
        if "name" in filters:
            q = q.where(Domain.name == filters["name"])
        if "enabled" in filters:
            q = q.where(Domain.enabled == filters["enabled"])
        if "ids" in filters:
            q = q.where(Domain.id.in_(filters["ids"]))
        async with self.read() as s:
            return list((await s.execute(q)).scalars())

    async def update_domain(self, domain_id: str, data: dict[str, Any]) -> Domain:
        async with self.write(f"Duplicate entry found with name {data.get('name')}") as s:
            dom = await get_or_404(s, Domain, domain_id, "domain")
            if domain_id == DEFAULT_DOMAIN_ID and data.get("enabled") is False:
                raise Forbidden("The default domain cannot be disabled.")
            was_enabled = dom.enabled
            for key in ("name", "description", "enabled"):
                if key in data:
                    setattr(dom, key, data[key])
            if "tags" in data:
                dom.tags = sorted(set(data["tags"]))
            if "extra" in data:
                dom.extra = {**dom.extra, **data["extra"]}
            if was_enabled and not dom.enabled:
                s.add(RevocationEvent(domain_id=domain_id, issued_before=utcnow()))
        return dom

    async def delete_domain(self, domain_id: str) -> None:
        async with self.write() as s:
            dom = await get_or_404(s, Domain, domain_id, "domain")
            if dom.enabled:
                raise Forbidden(
                    "Cannot delete a domain that is enabled, please disable it first."
                )
            projects = (
                await s.execute(select(Project.id).where(Project.domain_id == domain_id))
            ).scalars().all()
            # One statement, so the parent_id foreign key is checked once all rows are gone.
            await s.execute(delete(Assignment).where(Assignment.target_id.in_(projects)))
            await s.execute(delete(ProjectTag).where(ProjectTag.project_id.in_(projects)))
            await s.execute(delete(Project).where(Project.domain_id == domain_id))
            for pid in projects:
                s.add(RevocationEvent(project_id=pid, issued_before=utcnow()))
            users = (await s.execute(select(User.id).where(User.domain_id == domain_id))).scalars()
            user_ids = list(users)
            groups = list(
                (await s.execute(select(Group.id).where(Group.domain_id == domain_id))).scalars()
            )
            await s.execute(delete(Assignment).where(Assignment.actor_id.in_(user_ids + groups)))
            await s.execute(delete(Assignment).where(Assignment.target_id == domain_id))
            await s.execute(delete(User).where(User.domain_id == domain_id))
            await s.execute(delete(Group).where(Group.domain_id == domain_id))
            await s.delete(dom)
            s.add(RevocationEvent(domain_id=domain_id, issued_before=utcnow()))

    # --- projects ------------------------------------------------------------------------
    async def create_project(self, data: dict[str, Any], default_domain: str) -> Project:
        if data.get("is_domain"):
            raise BadRequest("Creating projects that act as domains (is_domain=true) is not "
                             "supported; create a domain with POST /v3/domains instead.")
        async with self.write() as s:
            parent_id = data.get("parent_id")
            domain_id = data.get("domain_id")
            if parent_id:
                parent = await s.get(Project, parent_id)
                if parent is None:
                    if await s.get(Domain, parent_id) is None:
                        raise NotFound(f"Could not find project: {parent_id}.")
                    domain_id, parent_id = domain_id or parent_id, None
                else:
                    if domain_id and domain_id != parent.domain_id:
                        raise BadRequest("Cannot create project, the parent "
                                         f"({parent.id}) is in a different domain.")
                    domain_id = parent.domain_id
            domain_id = domain_id or default_domain
            if await s.get(Domain, domain_id) is None:
                raise NotFound(f"Could not find domain: {domain_id}.")
            name = data["name"]
            if (await s.execute(select(Project.id).where(
                    Project.domain_id == domain_id, Project.name == name))).first():
                raise Conflict("Conflict occurred attempting to store project - it is not "
                               f"permitted to have two projects with the same name in the same "
                               f"domain : {name}.")
            proj = Project(
                id=data.get("id") or None, name=name, domain_id=domain_id,
                description=data.get("description", ""), enabled=data.get("enabled", True),
                parent_id=parent_id, extra=data.get("extra", {}),
            )
            s.add(proj)
            await s.flush()
            for tag in sorted(set(data.get("tags", []))):
                s.add(ProjectTag(project_id=proj.id, name=tag))
        return proj

    async def get_project(self, project_id: str) -> Project:
        async with self.read() as s:
            return await get_or_404(s, Project, project_id, "project")

    async def project_tags(self, project_ids: list[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {pid: [] for pid in project_ids}
        if not project_ids:
            return out
        await self.coherence.refresh()
        key = ("tags", *project_ids)
        hit = self.coherence.recall(key)
        if hit is not None:
            return {pid: list(tags) for pid, tags in hit.items()}
        async with self.read() as s:
            rows = await s.execute(
                select(ProjectTag.project_id, ProjectTag.name)
                .where(ProjectTag.project_id.in_(project_ids))
                .order_by(ProjectTag.name)
            )
            for pid, name in rows:
                out[pid].append(name)
        self.coherence.remember(key, {pid: tuple(tags) for pid, tags in out.items()})
        return out

    async def list_projects(self, filters: dict[str, Any]) -> list[Project]:
        """Projects matching the filters; remembered until the next identity write."""
        key = ("projects", *sorted(
            (k, tuple(sorted(v)) if isinstance(v, list | set | tuple) else v)
            for k, v in filters.items()))
        await self.coherence.refresh()
        hit = self.coherence.recall(key)
        if hit is None:
            hit = await self._list_projects(filters)
            self.coherence.remember(key, hit)
        return list(hit)

    async def _list_projects(self, filters: dict[str, Any]) -> list[Project]:
        q = select(Project).order_by(Project.name)
        for key in ("name", "domain_id", "enabled", "parent_id"):
            if key in filters:
                q = q.where(getattr(Project, key) == filters[key])
        if filters.get("is_domain") is True:
            return []
        if "ids" in filters:
            q = q.where(Project.id.in_(filters["ids"]))
        tagged = ProjectTag.project_id
        if filters.get("tags"):
            tags = filters["tags"]
            sub = (select(tagged).where(ProjectTag.name.in_(tags)).group_by(tagged)
                   .having(func.count() == len(tags)))
            q = q.where(Project.id.in_(sub))
        if filters.get("tags-any"):
            q = q.where(Project.id.in_(
                select(tagged).where(ProjectTag.name.in_(filters["tags-any"]))))
        if filters.get("not-tags"):
            tags = filters["not-tags"]
            sub = (select(tagged).where(ProjectTag.name.in_(tags)).group_by(tagged)
                   .having(func.count() == len(tags)))
            q = q.where(Project.id.not_in(sub))
        if filters.get("not-tags-any"):
            q = q.where(Project.id.not_in(
                select(tagged).where(ProjectTag.name.in_(filters["not-tags-any"]))))
        async with self.read() as s:
            return list((await s.execute(q)).scalars())

    async def update_project(self, project_id: str, data: dict[str, Any]) -> Project:
        async with self.write() as s:
            proj = await get_or_404(s, Project, project_id, "project")
            if "domain_id" in data and data["domain_id"] != proj.domain_id:
                raise BadRequest("Update of `domain_id` is not allowed.")
            if "parent_id" in data and data["parent_id"] != proj.parent_id:
                raise BadRequest("Update of `parent_id` is not allowed.")
            if data.get("is_domain"):
                raise BadRequest("Update of `is_domain` is not allowed.")
            if "name" in data and data["name"] != proj.name and (await s.execute(
                    select(Project.id).where(Project.domain_id == proj.domain_id,
                                             Project.name == data["name"]))).first():
                raise Conflict("Conflict occurred attempting to store project - it is not "
                               "permitted to have two projects with the same name in the same "
                               f"domain : {data['name']}.")
            was_enabled = proj.enabled
            for key in ("name", "description", "enabled"):
                if key in data:
                    setattr(proj, key, data[key])
            if "extra" in data:
                proj.extra = {**proj.extra, **data["extra"]}
            if "tags" in data:
                await self._set_tags(s, project_id, data["tags"])
            if was_enabled and not proj.enabled:
                s.add(RevocationEvent(project_id=project_id, issued_before=utcnow()))
        return proj

    async def delete_project(self, project_id: str) -> None:
        async with self.write() as s:
            await get_or_404(s, Project, project_id, "project")
            child = (await s.execute(
                select(Project.id).where(Project.parent_id == project_id))).first()
            if child:
                raise Forbidden(f"Cannot delete project {project_id}: it has child projects; "
                                "delete them first.")
            await self._delete_project_rows(s, project_id)

    async def _delete_project_rows(self, s: AsyncSession, project_id: str) -> None:
        await s.execute(delete(Assignment).where(Assignment.target_id == project_id))
        await s.execute(delete(ProjectTag).where(ProjectTag.project_id == project_id))
        await drop_trusts(s, Trust.project_id == project_id)
        await s.execute(delete(Project).where(Project.id == project_id))
        s.add(RevocationEvent(project_id=project_id, issued_before=utcnow()))

    # --- project tags --------------------------------------------------------------------
    async def _set_tags(self, s: AsyncSession, project_id: str, tags: list[str]) -> None:
        await s.execute(delete(ProjectTag).where(ProjectTag.project_id == project_id))
        for tag in sorted(set(tags)):
            s.add(ProjectTag(project_id=project_id, name=tag))

    async def set_project_tags(self, project_id: str, tags: list[str]) -> list[str]:
        async with self.write() as s:
            await get_or_404(s, Project, project_id, "project")
            await self._set_tags(s, project_id, tags)
        return sorted(set(tags))

    async def add_project_tag(self, project_id: str, tag: str) -> None:
        async with self.write() as s:
            await get_or_404(s, Project, project_id, "project")
            count = (await s.execute(select(func.count()).where(
                ProjectTag.project_id == project_id))).scalar_one()
            if await s.get(ProjectTag, (project_id, tag)) is None:
                if count >= 80:
                    raise BadRequest("A project may have at most 80 tags.")
                s.add(ProjectTag(project_id=project_id, name=tag))

    async def delete_project_tag(self, project_id: str, tag: str) -> None:
        async with self.write() as s:
            await get_or_404(s, Project, project_id, "project")
            row = await s.get(ProjectTag, (project_id, tag))
            if row is None:
                raise NotFound(f"Tag {tag} not found on project {project_id}.")
            await s.delete(row)

    async def project_subtree_ids(self, project_id: str) -> list[str]:
        async with self.read() as s:
            found: list[str] = []
            frontier = [project_id]
            while frontier:
                children = list((await s.execute(
                    select(Project.id).where(Project.parent_id.in_(frontier)))).scalars())
                found.extend(children)
                frontier = children
            return found

    async def project_parents(self, project: Project) -> list[Project]:
        out: list[Project] = []
        async with self.read() as s:
            pid = project.parent_id
            while pid:
                parent = await s.get(Project, pid)
                if parent is None:
                    break
                out.append(parent)
                pid = parent.parent_id
        return out
