"""Roles, implied roles, grants, and the effective roles a user holds on a scope."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.identity.base import Store, get_or_404
from onestack.db.models import (
    Assignment,
    Domain,
    Group,
    GroupMembership,
    ImpliedRole,
    Project,
    Role,
    User,
)
from onestack.errors import BadRequest, Conflict, Forbidden, NotFound

SYSTEM = "system"
ACTOR_KINDS = ("user", "group")
TARGET_KINDS = ("project", "domain", "system")


def assignment_type(actor: str, target: str) -> str:
    return actor.capitalize() + target.capitalize()


@dataclass(frozen=True)
class Grant:
    """One row of GET /v3/role_assignments."""

    role_id: str
    actor_kind: str  # user | group
    actor_id: str
    target_kind: str  # project | domain | system
    target_id: str
    inherited: bool = False
    via_group: str | None = None  # effective: the group that gave the user this role
    prior_role: str | None = None  # effective: the role that implied this one
    via_target: str | None = None  # effective: where an inherited grant was made


class Roles(Store):
    # --- roles ---------------------------------------------------------------------------
    async def create_role(self, data: dict[str, Any]) -> Role:
        domain_id = data.get("domain_id") or ""
        async with self.write() as s:
            if domain_id and await s.get(Domain, domain_id) is None:
                raise NotFound(f"Could not find domain: {domain_id}.")
            if (await s.execute(select(Role.id).where(
                    Role.name == data["name"], Role.domain_id == domain_id))).first():
                raise Conflict("Conflict occurred attempting to store role - Duplicate entry "
                               f"found with name {data['name']}.")
            role = Role(id=data.get("id") or None, name=data["name"], domain_id=domain_id,
                        description=data.get("description"), options=data.get("options", {}),
                        extra=data.get("extra", {}))
            s.add(role)
        return role

    async def get_role(self, role_id: str) -> Role:
        async with self.read() as s:
            return await get_or_404(s, Role, role_id, "role")

    async def find_role(self, name: str, domain_id: str = "") -> Role:
        async with self.read() as s:
            role = (await s.execute(select(Role).where(
                Role.name == name, Role.domain_id == domain_id))).scalar()
        if role is None:
            raise NotFound(f"Could not find role: {name}.")
        return role

    async def list_roles(self, filters: dict[str, Any]) -> list[Role]:
        q = select(Role).order_by(Role.name)
        if "name" in filters:
            q = q.where(Role.name == filters["name"])
        q = q.where(Role.domain_id == (filters.get("domain_id") or ""))
        async with self.read() as s:
            return list((await s.execute(q)).scalars())

    async def roles_by_id(self, ids: list[str] | set[str]) -> dict[str, Role]:
        if not ids:
            return {}
        async with self.read() as s:
            rows = await s.execute(select(Role).where(Role.id.in_(list(ids))))
            return {r.id: r for r in rows.scalars()}

    async def global_roles(self, ids: list[str] | set[str]) -> list[Role]:
        """The global roles among these: a domain-specific role only counts through the
        global roles it implies (it is never in a token, as in Keystone)."""
        return [r for r in (await self.roles_by_id(ids)).values() if not r.domain_id]

    async def update_role(self, role_id: str, data: dict[str, Any]) -> Role:
        async with self.write() as s:
            role = await get_or_404(s, Role, role_id, "role")
            if "domain_id" in data and (data["domain_id"] or "") != role.domain_id:
                raise BadRequest("Update of `domain_id` is not allowed.")
            if "name" in data and data["name"] != role.name and (await s.execute(
                    select(Role.id).where(Role.name == data["name"],
                                          Role.domain_id == role.domain_id))).first():
                raise Conflict("Conflict occurred attempting to store role - Duplicate entry "
                               f"found with name {data['name']}.")
            if role.options.get("immutable") and data.get("options", {}).get(
                    "immutable") is not False:
                raise Forbidden(f"Role {role_id} is immutable; unset its immutable option "
                                "first.")
            for key in ("name", "description"):
                if key in data:
                    setattr(role, key, data[key])
            if "options" in data:
                opts = {**role.options, **data["options"]}
                role.options = {k: v for k, v in opts.items() if v is not None}
            if "extra" in data:
                role.extra = {**role.extra, **data["extra"]}
        return role

    async def delete_role(self, role_id: str) -> None:
        async with self.write() as s:
            role = await get_or_404(s, Role, role_id, "role")
            if role.options.get("immutable"):
                raise Forbidden(f"Role {role_id} is immutable and cannot be deleted.")
            await s.execute(delete(Assignment).where(Assignment.role_id == role_id))
            await s.execute(delete(ImpliedRole).where(or_(
                ImpliedRole.prior_role_id == role_id, ImpliedRole.implied_role_id == role_id)))
            await s.delete(role)

    # --- implied roles -------------------------------------------------------------------
    async def create_implied(self, prior_id: str, implied_id: str) -> tuple[Role, Role]:
        async with self.write() as s:
            prior = await get_or_404(s, Role, prior_id, "role")
            implied = await get_or_404(s, Role, implied_id, "role")
            if implied.domain_id and not prior.domain_id:
                raise Forbidden("A global role cannot imply a domain-specific role.")
            rules = await self._implications(s)
            if prior_id in self._expand({implied_id}, rules):
                raise Forbidden(f"Role {implied_id} already implies {prior_id}; a cycle of "
                                "implied roles is not allowed.")
            if await s.get(ImpliedRole, (prior_id, implied_id)) is None:
                s.add(ImpliedRole(prior_role_id=prior_id, implied_role_id=implied_id))
        return prior, implied

    async def get_implied(self, prior_id: str, implied_id: str) -> tuple[Role, Role]:
        async with self.read() as s:
            prior = await get_or_404(s, Role, prior_id, "role")
            implied = await get_or_404(s, Role, implied_id, "role")
            if await s.get(ImpliedRole, (prior_id, implied_id)) is None:
                raise NotFound(f"{prior_id} does not imply {implied_id}.")
        return prior, implied

    async def delete_implied(self, prior_id: str, implied_id: str) -> None:
        async with self.write() as s:
            row = await s.get(ImpliedRole, (prior_id, implied_id))
            if row is None:
                raise NotFound(f"{prior_id} does not imply {implied_id}.")
            await s.delete(row)

    async def list_implied(self, prior_id: str | None = None) -> dict[str, list[str]]:
        async with self.read() as s:
            if prior_id is not None:
                await get_or_404(s, Role, prior_id, "role")
            rules = await self._implications(s)
        if prior_id is not None:
            return {prior_id: rules.get(prior_id, [])}
        return rules

    async def expand(self, role_ids: set[str]) -> set[str]:
        """The roles and every role they imply."""
        async with self.read() as s:
            return self._expand(role_ids, await self._implications(s))

    @staticmethod
    async def _implications(s: AsyncSession) -> dict[str, list[str]]:
        rules: dict[str, list[str]] = {}
        for prior, implied in await s.execute(
                select(ImpliedRole.prior_role_id, ImpliedRole.implied_role_id)):
            rules.setdefault(prior, []).append(implied)
        return rules

    @staticmethod
    def _expand(role_ids: set[str], rules: dict[str, list[str]]) -> set[str]:
        out = set(role_ids)
        stack = list(role_ids)
        while stack:
            for implied in rules.get(stack.pop(), []):
                if implied not in out:
                    out.add(implied)
                    stack.append(implied)
        return out

    # --- grants --------------------------------------------------------------------------
    @staticmethod
    async def _check_actor_and_target(s: AsyncSession, actor: str, actor_id: str,
                                      target: str, target_id: str) -> Project | None:
        """404 unless the actor and the target exist; the project when the target is one."""
        await get_or_404(s, User if actor == "user" else Group, actor_id, actor)
        if target == "project":
            return await get_or_404(s, Project, target_id, "project")
        if target == "domain":
            await get_or_404(s, Domain, target_id, "domain")
        return None

    async def _check_grant_parts(self, s: AsyncSession, role_id: str, actor: str,
                                 actor_id: str, target: str, target_id: str) -> None:
        role = await get_or_404(s, Role, role_id, "role")
        proj = await self._check_actor_and_target(s, actor, actor_id, target, target_id)
        if role.domain_id and role.domain_id != (proj.domain_id if proj is not None
                                                 else target_id):
            raise Forbidden("Domain-specific roles can only be granted on their domain and "
                            "on projects of their domain.")

    async def grant(self, role_id: str, actor: str, actor_id: str, target: str,
                    target_id: str, inherited: bool = False) -> None:
        async with self.write() as s:
            await self._check_grant_parts(s, role_id, actor, actor_id, target, target_id)
            key = (assignment_type(actor, target), actor_id, target_id, role_id, inherited)
            if await s.get(Assignment, key) is None:
                s.add(Assignment(type=key[0], actor_id=actor_id, target_id=target_id,
                                 role_id=role_id, inherited=inherited))

    async def check_grant(self, role_id: str, actor: str, actor_id: str, target: str,
                          target_id: str, inherited: bool = False) -> None:
        async with self.read() as s:
            await self._check_grant_parts(s, role_id, actor, actor_id, target, target_id)
            key = (assignment_type(actor, target), actor_id, target_id, role_id, inherited)
            if await s.get(Assignment, key) is None:
                raise NotFound(f"Could not find role assignment with role: {role_id}, "
                               f"{actor}: {actor_id}, {target}: {target_id}.")

    async def revoke(self, role_id: str, actor: str, actor_id: str, target: str,
                     target_id: str, inherited: bool = False) -> None:
        async with self.write() as s:
            key = (assignment_type(actor, target), actor_id, target_id, role_id, inherited)
            row = await s.get(Assignment, key)
            if row is None:
                await self._check_grant_parts(s, role_id, actor, actor_id, target, target_id)
                raise NotFound(f"Could not find role assignment with role: {role_id}, "
                               f"{actor}: {actor_id}, {target}: {target_id}.")
            await s.delete(row)

    async def list_grants(self, actor: str, actor_id: str, target: str, target_id: str,
                          inherited: bool = False) -> list[Role]:
        async with self.read() as s:
            await self._check_actor_and_target(s, actor, actor_id, target, target_id)
            rows = await s.execute(select(Role).join(
                Assignment, Assignment.role_id == Role.id).where(
                Assignment.type == assignment_type(actor, target),
                Assignment.actor_id == actor_id, Assignment.target_id == target_id,
                Assignment.inherited == inherited).order_by(Role.name))
            return list(rows.scalars())

    # --- effective roles -----------------------------------------------------------------
    async def effective_role_ids(self, user_id: str, target: str, target_id: str) -> set[str]:
        """Every role (implied ones included) the user holds on a project, domain or system."""
        async with self.read() as s:
            groups = list((await s.execute(select(GroupMembership.group_id).where(
                GroupMembership.user_id == user_id))).scalars())
            actors = [user_id, *groups]
            direct = select(Assignment.role_id).where(
                Assignment.actor_id.in_(actors), Assignment.target_id == target_id,
                Assignment.type.in_([assignment_type(a, target) for a in ACTOR_KINDS]),
                Assignment.inherited.is_(False))
            roles = set((await s.execute(direct)).scalars())
            if target == "project":
                proj = await s.get(Project, target_id)
                if proj is not None:
                    anc: list[str] = []
                    pid = proj.parent_id
                    while pid:
                        anc.append(pid)
                        parent = await s.get(Project, pid)
                        pid = parent.parent_id if parent else None
                    inherited = select(Assignment.role_id).where(
                        Assignment.actor_id.in_(actors), Assignment.inherited.is_(True),
                        or_(Assignment.target_id == proj.domain_id,
                            Assignment.target_id.in_(anc)))
                    roles |= set((await s.execute(inherited)).scalars())
            if not roles:
                return set()
            return self._expand(roles, await self._implications(s))

    async def project_ids_for_user(self, user_id: str) -> set[str]:
        """Projects on which the user holds any role (directly, by group, or inherited)."""
        async with self.read() as s:
            groups = list((await s.execute(select(GroupMembership.group_id).where(
                GroupMembership.user_id == user_id))).scalars())
            actors = [user_id, *groups]
            rows = await s.execute(select(Assignment.target_id, Assignment.type,
                                          Assignment.inherited).where(
                Assignment.actor_id.in_(actors)))
            projects: set[str] = set()
            inherit_domains: set[str] = set()
            inherit_projects: set[str] = set()
            for target_id, typ, inherited in rows:
                if typ.endswith("Project"):
                    (inherit_projects if inherited else projects).add(target_id)
                elif typ.endswith("Domain") and inherited:
                    inherit_domains.add(target_id)
            if inherit_domains:
                projects |= set((await s.execute(select(Project.id).where(
                    Project.domain_id.in_(inherit_domains)))).scalars())
            frontier = list(inherit_projects)
            while frontier:
                children = list((await s.execute(select(Project.id).where(
                    Project.parent_id.in_(frontier)))).scalars())
                projects |= set(children)
                frontier = children
            return projects

    async def domain_ids_for_user(self, user_id: str) -> set[str]:
        async with self.read() as s:
            groups = list((await s.execute(select(GroupMembership.group_id).where(
                GroupMembership.user_id == user_id))).scalars())
            return set((await s.execute(select(Assignment.target_id).where(
                Assignment.actor_id.in_([user_id, *groups]),
                Assignment.type.in_(["UserDomain", "GroupDomain"]),
                Assignment.inherited.is_(False)))).scalars())

    # --- GET /v3/role_assignments --------------------------------------------------------
    async def list_assignments(self, f: dict[str, Any]) -> list[Grant]:
        effective = bool(f.get("effective"))
        async with self.read() as s:
            q = select(Assignment)
            if f.get("role_id") and not effective:
                q = q.where(Assignment.role_id == f["role_id"])
            if f.get("group_id"):
                q = q.where(Assignment.actor_id == f["group_id"],
                            Assignment.type.like("Group%"))
            if f.get("inherited") is not None and not effective:
                q = q.where(Assignment.inherited.is_(bool(f["inherited"])))
            rows = list((await s.execute(q)).scalars())
            grants = [self._grant(r) for r in rows]
            if effective:
                grants = await self._effective(s, grants)
            rules = await self._implications(s) if effective else {}
        if effective and rules:
            expanded: list[Grant] = []
            for g in grants:
                expanded.append(g)
                for implied in sorted(self._expand({g.role_id}, rules) - {g.role_id}):
                    expanded.append(Grant(implied, g.actor_kind, g.actor_id, g.target_kind,
                                          g.target_id, g.inherited, g.via_group, g.role_id,
                                          g.via_target))
            grants = expanded
        if effective:  # a domain-specific role only counts through what it implies
            global_ids = {r.id for r in await self.global_roles({g.role_id for g in grants})}
            grants = [g for g in grants if g.role_id in global_ids]
        return [g for g in self._dedupe(grants) if self._matches(g, f)]

    @staticmethod
    def _grant(r: Assignment) -> Grant:
        actor = "user" if r.type.startswith("User") else "group"
        target = r.type[len(actor):].lower()
        return Grant(r.role_id, actor, r.actor_id, target, r.target_id, r.inherited)

    @staticmethod
    def _dedupe(grants: list[Grant]) -> list[Grant]:
        seen: set[tuple[Any, ...]] = set()
        out = []
        for g in grants:
            key = (g.role_id, g.actor_kind, g.actor_id, g.target_kind, g.target_id, g.inherited)
            if key not in seen:
                seen.add(key)
                out.append(g)
        return out

    async def _effective(self, s: AsyncSession, grants: list[Grant]) -> list[Grant]:
        """Expand groups into their members and inherited grants onto their projects."""
        members: dict[str, list[str]] = {}
        for uid, gid in await s.execute(select(GroupMembership.user_id,
                                               GroupMembership.group_id)):
            members.setdefault(gid, []).append(uid)
        users: list[Grant] = []
        for g in grants:
            if g.actor_kind == "group":
                users.extend(Grant(g.role_id, "user", uid, g.target_kind, g.target_id,
                                   g.inherited, g.actor_id, None, g.via_target)
                             for uid in members.get(g.actor_id, []))
            else:
                users.append(g)
        out: list[Grant] = []
        for g in users:
            if not g.inherited:
                out.append(g)
                continue
            pids: list[str] = []
            if g.target_kind == "domain":
                pids = list((await s.execute(select(Project.id).where(
                    Project.domain_id == g.target_id))).scalars())
            else:
                frontier = [g.target_id]
                while frontier:
                    frontier = list((await s.execute(select(Project.id).where(
                        Project.parent_id.in_(frontier)))).scalars())
                    pids.extend(frontier)
            out.extend(Grant(g.role_id, "user", g.actor_id, "project", pid, False,
                             g.via_group, None, g.target_id) for pid in pids)
        return out

    @staticmethod
    def _matches(g: Grant, f: dict[str, Any]) -> bool:
        if f.get("user_id") and not (g.actor_kind == "user" and g.actor_id == f["user_id"]):
            return False
        if f.get("role_id") and g.role_id != f["role_id"]:
            return False
        if f.get("project_ids") is not None and not (
                g.target_kind == "project" and g.target_id in f["project_ids"]):
            return False
        if f.get("domain_id") and not (g.target_kind == "domain"
                                       and g.target_id == f["domain_id"]):
            return False
        return not (f.get("system") and g.target_kind != "system")
