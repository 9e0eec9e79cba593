"""Neutron's metering labels and their rules (``metering``,
``metering_source_and_destination_fields``): admin-made, each label of one project (or
``shared``: of every project's routers), its rules naming the traffic to count by direction
and prefixes, ``excluded`` ones cut out of it. Only admins see them (as Neutron's policy);
the rules' overlaps are refused as Neutron refuses them."""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import delete, false, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.context import RequestContext
from onestack.core.network import errors
from onestack.core.network.base import ResourceStore, fetch, is_admin, project_of
from onestack.core.network.listing import Attr, ListQuery, Page, run, to_bool, to_optional
from onestack.db.models.network import MeteringLabel, MeteringLabelRule
from onestack.errors import Conflict

LABEL_ATTRS = {
    "id": Attr(MeteringLabel.id), "name": Attr(MeteringLabel.name),
    "description": Attr(MeteringLabel.description),
    "project_id": Attr(MeteringLabel.project_id), "tenant_id": Attr(MeteringLabel.project_id),
    "shared": Attr(MeteringLabel.shared, to_bool),
}
RULE_ATTRS = {
    "id": Attr(MeteringLabelRule.id),
    "metering_label_id": Attr(MeteringLabelRule.metering_label_id),
    "direction": Attr(MeteringLabelRule.direction),
    "excluded": Attr(MeteringLabelRule.excluded, to_bool),
    "remote_ip_prefix": Attr(MeteringLabelRule.remote_ip_prefix, to_optional(str)),
    "source_ip_prefix": Attr(MeteringLabelRule.source_ip_prefix, to_optional(str)),
    "destination_ip_prefix": Attr(MeteringLabelRule.destination_ip_prefix, to_optional(str)),
    "project_id": Attr(MeteringLabelRule.project_id),
    "tenant_id": Attr(MeteringLabelRule.project_id),
}
PREFIXES = ("remote_ip_prefix", "source_ip_prefix", "destination_ip_prefix")


class MeteringRuleOverlaps(Conflict):
    neutron_type = "MeteringLabelRuleOverlaps"

    def __init__(self, prefix: str) -> None:
        super().__init__(f"Metering label rule with remote_ip_prefix {prefix} overlaps "
                         "another")


def _seen(ctx: RequestContext) -> Any:
    return true() if is_admin(ctx) else false()


def _prefix(value: Any, name: str) -> str | None:
    if value is None:
        return None
    try:
        return str(ipaddress.ip_network(str(value), strict=False))
    except ValueError:
        raise errors.HTTPBadRequest(f"Invalid input for {name}. Reason: '{value}' is not a "
                                    "valid IP subnet.") from None


class MeteringLabels(ResourceStore[MeteringLabel]):
    model = MeteringLabel

    async def search(self, ctx: RequestContext, q: ListQuery) -> Page:
        async with self.read() as s:
            return await run(s, MeteringLabel, _seen(ctx), q, LABEL_ATTRS,
                             missing=errors.MeteringLabelNotFound)

    async def get(self, ctx: RequestContext, label_id: str) -> MeteringLabel:
        """Any caller finds it; the policy (admin only) decides what they may do with it."""
        async with self.read() as s:
            return await fetch(s, MeteringLabel, label_id, true(),
                               errors.MeteringLabelNotFound)

    async def create(self, ctx: RequestContext, items: list[dict[str, Any]]
                     ) -> list[MeteringLabel]:
        async def work(s: AsyncSession) -> list[MeteringLabel]:
            out = []
            for data in items:
                row = MeteringLabel(project_id=data.get("project_id") or project_of(ctx),
                                    name=data.get("name", ""),
                                    description=data.get("description", ""),
                                    shared=data.get("shared", False))
                s.add(row)
                out.append(row)
            await s.flush()
            return out

        return await self.txn(work)

    async def delete(self, ctx: RequestContext, label_id: str, _if_match: int | None = None
                     ) -> None:
        async def work(s: AsyncSession) -> None:
            await fetch(s, MeteringLabel, label_id, true(), errors.MeteringLabelNotFound,
                        lock=True)
            await s.execute(delete(MeteringLabelRule).where(
                MeteringLabelRule.metering_label_id == label_id))
            await s.execute(delete(MeteringLabel).where(MeteringLabel.id == label_id))

        await self.txn(work)


class MeteringRules(ResourceStore[MeteringLabelRule]):
    model = MeteringLabelRule

    async def search(self, ctx: RequestContext, q: ListQuery) -> Page:
        async with self.read() as s:
            return await run(s, MeteringLabelRule, _seen(ctx), q, RULE_ATTRS,
                             missing=errors.MeteringLabelRuleNotFound)

    async def get(self, ctx: RequestContext, rule_id: str) -> MeteringLabelRule:
        async with self.read() as s:
            return await fetch(s, MeteringLabelRule, rule_id, true(),
                               errors.MeteringLabelRuleNotFound)

    async def create(self, ctx: RequestContext, items: list[dict[str, Any]]
                     ) -> list[MeteringLabelRule]:
        async def work(s: AsyncSession) -> list[MeteringLabelRule]:
            out = []
            for data in items:
                row = await self._rule(s, data)
                s.add(row)
                await s.flush()
                out.append(row)
            return out

        return await self.txn(work)

    async def _rule(self, s: AsyncSession, data: dict[str, Any]) -> MeteringLabelRule:
        direction = data.get("direction")
        if direction not in ("ingress", "egress"):
            raise errors.HTTPBadRequest(f"Invalid input for direction. Reason: '{direction}' "
                                        "is not in ['ingress', 'egress'].")
        prefixes = {k: _prefix(data.get(k), k) for k in PREFIXES}
        if prefixes["remote_ip_prefix"] and (prefixes["source_ip_prefix"] or
                                             prefixes["destination_ip_prefix"]):
            raise errors.InvalidInput(
                "Cannot use 'remote-ip-prefix' in conjunction with 'source-ip-prefix' or "
                "'destination-ip-prefix'.")
        if not any(prefixes.values()):
            raise errors.InvalidInput(
                "You must define at least one of the following parameters "
                "'remote_ip_prefix', or 'source_ip_prefix' or 'destination_ip_prefix'.")
        label = await fetch(s, MeteringLabel, str(data.get("metering_label_id")), true(),
                            errors.MeteringLabelNotFound, lock=True)
        excluded = bool(data.get("excluded", False))
        remote = prefixes["remote_ip_prefix"]
        if remote:
            others = (await s.execute(select(MeteringLabelRule.remote_ip_prefix).where(
                MeteringLabelRule.metering_label_id == label.id,
                MeteringLabelRule.direction == direction,
                MeteringLabelRule.excluded == excluded))).scalars()
            new = ipaddress.ip_network(remote)
            for other in others:
                if other and ipaddress.ip_network(other).version == new.version and \
                        ipaddress.ip_network(other).overlaps(new):
                    raise MeteringRuleOverlaps(remote)
        return MeteringLabelRule(project_id=label.project_id, metering_label_id=label.id,
                                 direction=direction, excluded=excluded, **prefixes)

    async def delete(self, ctx: RequestContext, rule_id: str, _if_match: int | None = None
                     ) -> None:
        async def work(s: AsyncSession) -> None:
            await fetch(s, MeteringLabelRule, rule_id, true(),
                        errors.MeteringLabelRuleNotFound)
            await s.execute(delete(MeteringLabelRule).where(MeteringLabelRule.id == rule_id))

        await self.txn(work)
