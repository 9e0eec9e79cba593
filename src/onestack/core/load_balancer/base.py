"""What the load balancer core shares: write transactions that wake the agent, loading a
load balancer with every object below it, who sees what, immutability and quotas."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.context import RequestContext
from onestack.core.load_balancer import errors
from onestack.core.load_balancer.rules import (
    DEFAULT_QUOTA,
    PENDING,
    QUOTA_NAMES,
    QUOTA_RESOURCES,
)
from onestack.db.engine import Database
from onestack.db.locks import quota_lock
from onestack.db.models.load_balancer import LbObject, LbQuota, LoadBalancer

T = TypeVar("T")


@dataclass
class Tree:
    """A load balancer and every object below it."""

    lb: LoadBalancer
    objects: list[LbObject] = field(default_factory=list)

    def of(self, kind: str, parent: str | None = None) -> list[LbObject]:
        return [o for o in self.objects if o.kind == kind
                and (parent is None or o.parent_id == parent)]

    def get(self, ident: str | None) -> LbObject | None:
        return next((o for o in self.objects if o.id == ident), None)

    def descendants(self, obj: LbObject) -> list[LbObject]:
        out: list[LbObject] = []
        for child in self.objects:
            if child.parent_id == obj.id:
                out += [child, *self.descendants(child)]
        return out


@dataclass
class Store:
    db: Database
    listeners: list[Callable[[], None]] = field(default_factory=list)

    async def txn(self, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
        async with self.db.write() as s:
            result = await work(s)
            await s.flush()
        for listener in self.listeners:
            listener()
        return result

    def read(self) -> Any:
        return self.db.read()


def sees_all(ctx: RequestContext) -> bool:
    return ctx.has_admin_role or "load-balancer_global_observer" in {
        r.lower() for r in ctx.roles}


async def load_tree(s: AsyncSession, lb_id: str, lock: bool = False) -> Tree:
    q = select(LoadBalancer).where(LoadBalancer.id == lb_id)
    if lock:
        q = q.with_for_update()
    lb = (await s.execute(q)).scalars().first()
    if lb is None:
        raise errors.not_found("loadbalancer", lb_id)
    rows = (await s.execute(select(LbObject).where(LbObject.loadbalancer_id == lb_id)
                            .order_by(LbObject.created_at, LbObject.id))).scalars()
    return Tree(lb, list(rows))


def check_visible(ctx: RequestContext, project_id: str, kind: str, ident: str,
                  all_projects: bool) -> None:
    if not all_projects and project_id != (ctx.project_id or ""):
        raise errors.policy_forbidden()


def check_mutable(lb: LoadBalancer) -> None:
    if lb.provisioning_status in PENDING:
        raise errors.immutable(lb.id)


async def quota_limits(s: AsyncSession, project_id: str) -> dict[str, int]:
    limits = {name: DEFAULT_QUOTA for name in QUOTA_RESOURCES}
    rows = (await s.execute(select(LbQuota).where(LbQuota.project_id == project_id))).scalars()
    for row in rows:
        limits[row.resource] = row.limit
    return limits


async def usage(s: AsyncSession, project_id: str, kind: str) -> int:
    if kind == "loadbalancer":
        q = select(func.count()).select_from(LoadBalancer).where(
            LoadBalancer.project_id == project_id)
    else:
        q = select(func.count()).select_from(LbObject).where(
            LbObject.project_id == project_id, LbObject.kind == kind)
    return int((await s.execute(q)).scalar_one())


async def check_quota(s: AsyncSession, project_id: str, adding: dict[str, int]) -> None:
    """Inside the write transaction that adds the rows, under the project's quota lock."""
    limits = await quota_limits(s, project_id)
    by_kind = {kind: name for name, kind in QUOTA_RESOURCES.items()}
    await quota_lock(s, "load_balancer", project_id)
    for kind, count in adding.items():
        limit = limits.get(by_kind[kind], DEFAULT_QUOTA)
        if count and limit >= 0 and await usage(s, project_id, kind) + count > limit:
            raise errors.quota_met(QUOTA_NAMES[kind])
