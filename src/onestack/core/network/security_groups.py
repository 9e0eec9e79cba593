"""Security groups and their rules, and each project's `default` group.

The `default` group is made on a project's first use (listing groups, creating a group or a
port), with Neutron's default rules: egress anywhere (IPv4 and IPv6) and ingress from members
of the same group. A row per project in net_default_security_group makes that race-free.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.context import RequestContext
from onestack.core.network import errors
from onestack.core.network.base import (
    ResourceStore,
    apply,
    bump,
    check_quota,
    check_revision,
    drop_tags,
    fetch,
    is_admin,
    owned,
    project_of,
    set_tags,
    touch_new,
    visible_rules,
)
from onestack.core.network.listing import (
    Attr,
    ListQuery,
    Page,
    run,
    standard_attrs,
    to_bool,
    to_int,
    to_optional,
)
from onestack.core.network.rules import check_rule, same_rule
from onestack.db.models.network import (
    DefaultSecurityGroup,
    PortSecurityGroup,
    SecurityGroup,
    SecurityGroupRule,
)
from onestack.errors import Conflict

SG_ATTRS: dict[str, Attr] = {
    **standard_attrs(SecurityGroup),
    "stateful": Attr(SecurityGroup.stateful, to_bool),
}
RULE_ATTRS: dict[str, Attr] = {
    **standard_attrs(SecurityGroupRule),
    "security_group_id": Attr(SecurityGroupRule.security_group_id),
    "direction": Attr(SecurityGroupRule.direction),
    "ethertype": Attr(SecurityGroupRule.ethertype),
    "protocol": Attr(SecurityGroupRule.protocol, to_optional(str)),
    "port_range_min": Attr(SecurityGroupRule.port_range_min, to_optional(to_int)),
    "port_range_max": Attr(SecurityGroupRule.port_range_max, to_optional(to_int)),
    "remote_ip_prefix": Attr(SecurityGroupRule.remote_ip_prefix, to_optional(str)),
    "remote_group_id": Attr(SecurityGroupRule.remote_group_id, to_optional(str)),
}
DEFAULT_DESCRIPTION = "Default security group"


def _rule(sg: SecurityGroup, direction: str, ethertype: str,
          remote_group: str | None = None) -> SecurityGroupRule:
    rule = SecurityGroupRule(project_id=sg.project_id, security_group_id=sg.id,
                             direction=direction, ethertype=ethertype,
                             remote_group_id=remote_group)
    touch_new(rule)
    return rule


async def _new_group(s: AsyncSession, project: str, name: str, description: str,
                     stateful: bool, default: bool) -> SecurityGroup:
    sg = SecurityGroup(project_id=project, name=name, description=description,
                       stateful=stateful)
    touch_new(sg)
    s.add(sg)
    await s.flush()
    for ethertype in ("IPv4", "IPv6"):
        s.add(_rule(sg, "egress", ethertype))
        if default:
            s.add(_rule(sg, "ingress", ethertype, sg.id))
    return sg


class SecurityGroups(ResourceStore[SecurityGroup]):
    model = SecurityGroup

    async def ensure_default(self, project: str) -> str | None:
        """The id of the project's `default` group, made now if it does not exist yet."""
        if not project:
            return None

        async def lookup(s: AsyncSession) -> str | None:
            row = await s.get(DefaultSecurityGroup, project)
            return row.security_group_id if row is not None else None

        async with self.read() as s:
            found = await lookup(s)
        if found:
            return found

        async def work(s: AsyncSession) -> str:
            existing = await lookup(s)
            if existing:
                return existing
            sg = await _new_group(s, project, "default", DEFAULT_DESCRIPTION, True, True)
            s.add(DefaultSecurityGroup(project_id=project, security_group_id=sg.id))
            return sg.id

        return await self.txn(work)

    # --- groups ----------------------------------------------------------------------------
    async def search(self, ctx: RequestContext, q: ListQuery) -> Page:
        await self.ensure_default(project_of(ctx))
        async with self.read() as s:
            return await run(s, SecurityGroup, owned(SecurityGroup, ctx), q, SG_ATTRS,
                             missing=errors.SecurityGroupNotFound)

    async def get(self, ctx: RequestContext, sg_id: str) -> SecurityGroup:
        async with self.read() as s:
            return await fetch(s, SecurityGroup, sg_id, owned(SecurityGroup, ctx),
                               errors.SecurityGroupNotFound)

    async def create(self, ctx: RequestContext, items: list[dict[str, Any]]
                     ) -> list[SecurityGroup]:
        for project in {d.get("project_id") or project_of(ctx) for d in items}:
            await self.ensure_default(project)

        async def work(s: AsyncSession) -> list[str]:
            ids = []
            for data in items:
                project = data.get("project_id") or project_of(ctx)
                if data.get("name") == "default":
                    raise errors.SecurityGroupConflict("Default security group already exists.")
                await check_quota(s, project, "security_group")
                await check_quota(s, project, "security_group_rule", 2)
                sg = await _new_group(s, project, data.get("name", ""),
                                      data.get("description", ""),
                                      data.get("stateful", True), False)
                if data.get("tags"):
                    await set_tags(s, sg.id, data["tags"])
                ids.append(sg.id)
            return ids

        return await self.get_many(await self.txn(work))

    async def update(self, ctx: RequestContext, sg_id: str, data: dict[str, Any],
                     if_match: int | None = None) -> SecurityGroup:
        async def work(s: AsyncSession) -> None:
            sg = await fetch(s, SecurityGroup, sg_id, owned(SecurityGroup, ctx),
                             errors.SecurityGroupNotFound, lock=True)
            check_revision(sg, if_match)
            if "name" in data and data["name"] != sg.name and (
                    sg.name == "default" or data["name"] == "default"):
                raise errors.SecurityGroupConflict(
                    "Updating default security group not allowed.")
            if "stateful" in data and data["stateful"] != sg.stateful and await self._in_use(
                    s, sg_id):
                raise errors.SecurityGroupInUse(sg_id)
            if apply(sg, data, ("name", "description", "stateful")):
                bump(sg)

        await self.txn(work)
        return (await self.get_many([sg_id]))[0]

    @staticmethod
    async def _in_use(s: AsyncSession, sg_id: str) -> bool:
        count = (await s.execute(select(func.count()).select_from(PortSecurityGroup).where(
            PortSecurityGroup.security_group_id == sg_id))).scalar_one()
        return bool(count)

    async def delete(self, ctx: RequestContext, sg_id: str, if_match: int | None = None
                     ) -> None:
        async def work(s: AsyncSession) -> None:
            sg = await fetch(s, SecurityGroup, sg_id, owned(SecurityGroup, ctx),
                             errors.SecurityGroupNotFound, lock=True)
            check_revision(sg, if_match)
            default = await s.get(DefaultSecurityGroup, sg.project_id)
            if default is not None and default.security_group_id == sg_id and not is_admin(ctx):
                raise Conflict("Insufficient rights for removing default security group.")
            if await self._in_use(s, sg_id):
                raise errors.SecurityGroupInUse(sg_id)
            rule_ids = list((await s.execute(select(SecurityGroupRule.id).where(or_(
                SecurityGroupRule.security_group_id == sg_id,
                SecurityGroupRule.remote_group_id == sg_id)))).scalars())
            await s.execute(delete(SecurityGroupRule).where(SecurityGroupRule.id.in_(rule_ids)))
            await s.execute(delete(DefaultSecurityGroup).where(
                DefaultSecurityGroup.security_group_id == sg_id))
            await drop_tags(s, [sg_id, *rule_ids])
            await s.execute(delete(SecurityGroup).where(SecurityGroup.id == sg_id))

        await self.txn(work)

    # --- rules -----------------------------------------------------------------------------
    async def list_rules(self, ctx: RequestContext, q: ListQuery) -> Page:
        async with self.read() as s:
            return await run(s, SecurityGroupRule, visible_rules(ctx), q, RULE_ATTRS,
                             missing=errors.SecurityGroupRuleNotFound)

    async def get_rule(self, ctx: RequestContext, rule_id: str) -> SecurityGroupRule:
        async with self.read() as s:
            return await fetch(s, SecurityGroupRule, rule_id, visible_rules(ctx),
                               errors.SecurityGroupRuleNotFound)

    async def get_rules(self, ids: list[str]) -> list[SecurityGroupRule]:
        async with self.read() as s:
            rows = (await s.execute(select(SecurityGroupRule).where(
                SecurityGroupRule.id.in_(ids)))).scalars()
            by_id = {x.id: x for x in rows}
        return [by_id[i] for i in ids]

    async def create_rules(self, ctx: RequestContext, items: list[dict[str, Any]]
                           ) -> list[SecurityGroupRule]:
        async def work(s: AsyncSession) -> list[str]:
            ids = []
            for data in items:
                sg_id = data.get("security_group_id")
                sg = await fetch(s, SecurityGroup, str(sg_id), owned(SecurityGroup, ctx),
                                 errors.SecurityGroupNotFound)
                values = check_rule(data)
                remote = values.get("remote_group_id")
                if remote is not None:
                    await fetch(s, SecurityGroup, remote, owned(SecurityGroup, ctx),
                                errors.SecurityGroupNotFound)
                for other in (await s.execute(select(SecurityGroupRule).where(
                        SecurityGroupRule.security_group_id == sg.id))).scalars():
                    if same_rule(other, values):
                        raise errors.SecurityGroupRuleExists(other.id)
                project = data.get("project_id") or sg.project_id
                await check_quota(s, project, "security_group_rule")
                rule = SecurityGroupRule(project_id=project, security_group_id=sg.id,
                                         description=data.get("description", ""), **values)
                touch_new(rule)
                s.add(rule)
                await s.flush()
                bump(sg)
                ids.append(rule.id)
            return ids

        return await self.get_rules(await self.txn(work))

    async def delete_rule(self, ctx: RequestContext, rule_id: str,
                          if_match: int | None = None) -> None:
        async def work(s: AsyncSession) -> None:
            rule = await fetch(s, SecurityGroupRule, rule_id, visible_rules(ctx),
                               errors.SecurityGroupRuleNotFound)
            check_revision(rule, if_match)
            await drop_tags(s, [rule_id])
            await s.execute(delete(SecurityGroupRule).where(SecurityGroupRule.id == rule_id))
            sg = await s.get(SecurityGroup, rule.security_group_id)
            if sg is not None:
                bump(sg)

        await self.txn(work)
