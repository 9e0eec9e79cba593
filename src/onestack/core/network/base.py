"""Shared plumbing of the network core: retried write transactions, who sees what,
revision numbers, quotas and tags."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, delete, false, func, or_, select, true
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.context import RequestContext
from onestack.core.network import errors
from onestack.db.engine import Database
from onestack.db.locks import quota_lock
from onestack.db.models.base import utcnow
from onestack.db.models.network import (
    FloatingIP,
    NetQuota,
    NetTag,
    Network,
    Port,
    Router,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
    SubnetPool,
)
from onestack.errors import Conflict

log = logging.getLogger("onestack.network")
T = TypeVar("T")
RETRIES = 25

# Neutron's default quotas (-1: unlimited).
DEFAULT_QUOTAS: dict[str, int] = {
    "network": 100, "subnet": 100, "port": 500, "router": 10, "floatingip": 50,
    "security_group": 10, "security_group_rule": 100, "subnetpool": -1,
}
QUOTA_MODELS: dict[str, Any] = {
    "network": Network, "subnet": Subnet, "port": Port, "router": Router,
    "floatingip": FloatingIP, "security_group": SecurityGroup,
    "security_group_rule": SecurityGroupRule, "subnetpool": SubnetPool,
}


def is_admin(ctx: RequestContext) -> bool:
    return ctx.has_admin_role


def project_of(ctx: RequestContext) -> str:
    return ctx.project_id or ""


def _retryable(exc: BaseException) -> bool:
    """A unique-key race or a PostgreSQL deadlock/serialization failure: run it again."""
    if isinstance(exc, IntegrityError):
        return True
    code = getattr(getattr(exc, "orig", None), "sqlstate", None)
    return isinstance(exc, DBAPIError) and code in ("40001", "40P01")


@dataclass
class Store:
    db: Database
    # Called after every committed write (the network agent's wake-up).
    on_commit: Callable[[], None] | None = None

    async def txn(self, work: Callable[[AsyncSession], Awaitable[T]],
                  conflict: str = "") -> T:
        """Run `work` in one write transaction; on a unique-key race, run it again.

        Each attempt re-reads what it decides on, so a retry either succeeds with a fresh
        choice (another free address, MAC or segment) or raises the proper Neutron error.
        """
        for attempt in range(RETRIES):
            try:
                async with self.db.write() as s:
                    result = await work(s)
                    await s.flush()
                if self.on_commit is not None:
                    self.on_commit()
                return result
            except (IntegrityError, DBAPIError) as exc:
                if not _retryable(exc):
                    raise
                if attempt == RETRIES - 1:
                    log.warning("giving up after %d conflicting attempts: %s", RETRIES, exc)
                    raise Conflict(conflict or "Conflict occurred attempting to store data; "
                                   "try again.") from exc
                await asyncio.sleep(random.uniform(0, 0.005 * (attempt + 1)))
        raise AssertionError("unreachable")

    def read(self) -> Any:
        return self.db.read()


M = TypeVar("M")


class ResourceStore(Store, Generic[M]):
    """A store of one kind of row (networks, ports...)."""

    model: type[M]

    async def get_many(self, ids: list[str]) -> list[M]:
        """The rows with these ids, in the order given (every id must exist)."""
        column = getattr(self.model, "id")  # noqa: B009 (the model is a type variable)
        async with self.read() as s:
            rows = (await s.execute(select(self.model).where(column.in_(ids)))).scalars()
            by_id = {x.id: x for x in rows}
        return [by_id[i] for i in ids]


def visible_networks(ctx: RequestContext) -> ColumnElement[bool]:
    if is_admin(ctx):
        return true()
    return or_(Network.project_id == project_of(ctx), Network.shared.is_(True),
               Network.external.is_(True))


def owned(model: Any, ctx: RequestContext) -> ColumnElement[bool]:
    if is_admin(ctx):
        return true()
    return model.project_id == project_of(ctx)


def visible_subnets(ctx: RequestContext) -> ColumnElement[bool]:
    if is_admin(ctx):
        return true()
    shared = select(Network.id).where(or_(Network.shared.is_(True), Network.external.is_(True)))
    return or_(Subnet.project_id == project_of(ctx), Subnet.network_id.in_(shared))


def visible_ports(ctx: RequestContext) -> ColumnElement[bool]:
    if is_admin(ctx):
        return true()
    mine = select(Network.id).where(Network.project_id == project_of(ctx))
    return or_(Port.project_id == project_of(ctx), Port.network_id.in_(mine))


def visible_pools(ctx: RequestContext) -> ColumnElement[bool]:
    if is_admin(ctx):
        return true()
    return or_(SubnetPool.project_id == project_of(ctx), SubnetPool.shared.is_(True))


def visible_rules(ctx: RequestContext) -> ColumnElement[bool]:
    if is_admin(ctx):
        return true()
    mine = select(SecurityGroup.id).where(SecurityGroup.project_id == project_of(ctx))
    return or_(SecurityGroupRule.project_id == project_of(ctx),
               SecurityGroupRule.security_group_id.in_(mine))


async def fetch(s: AsyncSession, model: type[T], ident: str, where: ColumnElement[bool],
                missing: Callable[[str], Exception], lock: bool = False) -> T:
    q = select(model).where(model.id == ident, where)  # type: ignore[attr-defined]
    if lock:
        q = q.with_for_update()
    obj = (await s.execute(q)).scalars().first()
    if obj is None:
        raise missing(ident)
    return obj


def check_revision(obj: Any, if_match: int | None) -> None:
    if if_match is not None and obj.revision_number != if_match:
        raise errors.RevisionNumberConstraintFailed(if_match, obj.revision_number)


def bump(obj: Any) -> None:
    """Every change: revision_number + 1 and a new updated_at."""
    obj.revision_number = (obj.revision_number or 0) + 1
    obj.updated_at = utcnow()


def touch_new(obj: Any) -> None:
    now = utcnow()
    obj.created_at = obj.updated_at = now
    obj.revision_number = 0


def apply(obj: Any, data: dict[str, Any], keys: tuple[str, ...]) -> bool:
    changed = False
    for key in keys:
        if key in data and getattr(obj, key) != data[key]:
            setattr(obj, key, data[key])
            changed = True
    return changed


# --- quotas --------------------------------------------------------------------------------
async def quota_limits(s: AsyncSession, project_id: str) -> dict[str, int]:
    limits = dict(DEFAULT_QUOTAS)
    rows = (await s.execute(select(NetQuota).where(NetQuota.project_id == project_id))).scalars()
    for row in rows:
        limits[row.resource] = row.limit
    return limits


async def usage(s: AsyncSession, project_id: str, resource: str) -> int:
    """Every row of the project counts, whatever its device_owner says (the ports Onestack
    makes for router gateways, floating IPs and DHCP belong to no project)."""
    model = QUOTA_MODELS[resource]
    q = select(func.count()).select_from(model).where(model.project_id == project_id)
    return int((await s.execute(q)).scalar_one())


async def check_quota(s: AsyncSession, project_id: str, resource: str, adding: int = 1) -> None:
    """Inside the write transaction that adds the rows: the project's quota lock is held
    from the count to the commit, so concurrent creates cannot both take the last one."""
    if not project_id:
        return
    limit = (await quota_limits(s, project_id)).get(resource, -1)
    if limit < 0:
        return
    await quota_lock(s, f"network:{resource}", project_id)
    if await usage(s, project_id, resource) + adding > limit:
        raise errors.OverQuota([resource])


# --- tags ----------------------------------------------------------------------------------
async def set_tags(s: AsyncSession, resource_id: str, tags: list[str]) -> None:
    await s.execute(delete(NetTag).where(NetTag.resource_id == resource_id))
    for tag in sorted(set(tags)):
        s.add(NetTag(resource_id=resource_id, tag=tag))


async def drop_tags(s: AsyncSession, ids: list[str]) -> None:
    if ids:
        await s.execute(delete(NetTag).where(NetTag.resource_id.in_(ids)))


def tag_clause(model: Any, key: str, tags: list[str]) -> ColumnElement[bool]:
    """tags (all), tags-any, not-tags (not all), not-tags-any (none)."""
    if not tags:
        return true() if key in ("tags", "not-tags-any") else false()

    def has(tag: str) -> ColumnElement[bool]:
        return model.id.in_(select(NetTag.resource_id).where(NetTag.tag == tag))

    if key == "tags":
        return and_all([has(t) for t in tags])
    if key == "tags-any":
        return or_(*[has(t) for t in tags])
    if key == "not-tags":
        return ~and_all([has(t) for t in tags])
    return ~or_(*[has(t) for t in tags])


def and_all(clauses: list[ColumnElement[bool]]) -> ColumnElement[bool]:
    out = clauses[0]
    for clause in clauses[1:]:
        out = out & clause
    return out
