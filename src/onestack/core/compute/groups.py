"""Server groups: affinity, anti-affinity and their soft variants; their members' hosts feed
the scheduler's filter (hard policies) or weigher (soft ones)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.compute.base import Caller, Store
from onestack.core.compute.quotas import Quotas
from onestack.db.locks import quota_lock
from onestack.db.models.base import utcnow
from onestack.db.models.compute import Instance, ServerGroup, ServerGroupMember
from onestack.errors import BadRequest, Forbidden, NotFound

POLICIES = ("affinity", "anti-affinity", "soft-affinity", "soft-anti-affinity")


@dataclass
class GroupRecord:
    group: ServerGroup
    members: list[str] = field(default_factory=list)


@dataclass
class Placement:
    """What the scheduler needs of a group: its policy and where its members run."""

    policy: str
    hosts: dict[str, int]  # host -> how many members run there
    max_per_host: int = 1


async def members(s: AsyncSession, group_uuid: str) -> list[str]:
    q = (select(ServerGroupMember.instance_uuid)
         .join(Instance, Instance.uuid == ServerGroupMember.instance_uuid)
         .where(ServerGroupMember.group_uuid == group_uuid, Instance.deleted.is_(False)))
    return list((await s.execute(q)).scalars())


async def placement_of(s: AsyncSession, group_uuid: str) -> Placement | None:
    group = await s.get(ServerGroup, group_uuid)
    if group is None:
        return None
    q = (select(Instance.host, func.count()).join(
        ServerGroupMember, ServerGroupMember.instance_uuid == Instance.uuid)
         .where(ServerGroupMember.group_uuid == group_uuid, Instance.deleted.is_(False),
                Instance.host.is_not(None)).group_by(Instance.host))
    hosts = {str(h): int(n) for h, n in await s.execute(q)}
    return Placement(group.policy, hosts, int(group.rules.get("max_server_per_host", 1)))


class ServerGroups(Store):
    async def create(self, caller: Caller, name: str, policy: str,
                     rules: dict[str, Any]) -> GroupRecord:
        if policy not in POLICIES:
            raise BadRequest(f"Invalid policy {policy}: use one of {', '.join(POLICIES)}.")
        if rules and policy != "anti-affinity":
            raise BadRequest("Only anti-affinity policy supports rules.")
        row = ServerGroup(uuid=str(uuid.uuid4()), name=name, project_id=caller.project_id,
                          user_id=caller.user_id, policy=policy, rules=rules,
                          created_at=utcnow())
        async with self.write() as s:
            await quota_lock(s, "compute", caller.project_id)
            limits = await Quotas._limits(s, caller.project_id)
            used = await s.scalar(select(func.count()).select_from(ServerGroup).where(
                ServerGroup.project_id == caller.project_id))
            if 0 <= limits["server_groups"] <= int(used or 0):
                raise Forbidden("Quota exceeded, too many server groups.")
            s.add(row)
        return GroupRecord(row)

    async def _get(self, s: AsyncSession, caller: Caller, group_uuid: str) -> ServerGroup:
        row = await s.get(ServerGroup, group_uuid)
        if row is None or (row.project_id != caller.project_id and not caller.is_admin):
            raise NotFound(f"Instance group {group_uuid} could not be found.")
        return row

    async def get(self, caller: Caller, group_uuid: str) -> GroupRecord:
        async with self.db.read() as s:
            row = await self._get(s, caller, group_uuid)
            return GroupRecord(row, await members(s, row.uuid))

    async def listing(self, caller: Caller, all_projects: bool, limit: int | None,
                      offset: int) -> list[GroupRecord]:
        q = select(ServerGroup).order_by(ServerGroup.created_at, ServerGroup.uuid)
        if not (all_projects and caller.is_admin):
            q = q.where(ServerGroup.project_id == caller.project_id)
        q = q.offset(offset)
        if limit is not None:
            q = q.limit(limit)
        async with self.db.read() as s:
            rows = list((await s.execute(q)).scalars())
            return [GroupRecord(r, await members(s, r.uuid)) for r in rows]

    async def delete(self, caller: Caller, group_uuid: str) -> None:
        async with self.write() as s:
            await s.delete(await self._get(s, caller, group_uuid))

    async def check_member_quota(self, s: AsyncSession, caller: Caller, group_uuid: str,
                                 adding: int) -> None:
        group = await self._get(s, caller, group_uuid)
        limits = await Quotas._limits(s, group.project_id)
        have = len(await members(s, group_uuid))
        limit = limits["server_group_members"]
        if 0 <= limit < have + adding:
            raise Forbidden("Quota exceeded, too many servers in group")
