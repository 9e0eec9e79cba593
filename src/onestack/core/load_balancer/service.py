"""The load balancer core: load balancers and every object below them, as one object the
API layer and the agent call. Every change is one transaction; a change to an object whose
load balancer is PENDING_* is refused (409); the agent converges PENDING_* to ACTIVE."""

from __future__ import annotations

import platform
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.context import RequestContext
from onestack.core.load_balancer import checks, errors, tree_ops, vip
from onestack.core.load_balancer.base import (
    Store,
    Tree,
    check_mutable,
    check_quota,
    check_visible,
    load_tree,
    quota_limits,
)
from onestack.core.load_balancer.flavors import FlavorCatalog
from onestack.core.load_balancer.rules import (
    DEFAULTS,
    PENDING,
    tls_defaults,
)
from onestack.db.engine import Database
from onestack.db.models.base import utcnow
from onestack.db.models.load_balancer import LbObject, LbQuota, LoadBalancer


class LoadBalancerService(Store):
    def __init__(self, db: Database, network_changed: Callable[[], None] | None = None,
                 catalog: FlavorCatalog | None = None) -> None:
        """``network_changed`` wakes the network agent: load balancers make and remove
        ports and change their security groups' rules. ``catalog``: flavors and
        availability zones."""
        super().__init__(db)
        self.catalog = catalog or FlavorCatalog(db, platform.node)
        if network_changed is not None:
            self.listeners.append(network_changed)

    def subscribe(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every committed change (the load balancer agent)."""
        self.listeners.append(listener)

    # --- reads -----------------------------------------------------------------------------
    async def trees(self, ctx: RequestContext, all_projects: bool,
                    lb_ids: list[str] | None = None) -> list[Tree]:
        async with self.read() as s:
            q = select(LoadBalancer).order_by(LoadBalancer.created_at, LoadBalancer.id)
            if not all_projects:
                q = q.where(LoadBalancer.project_id == (ctx.project_id or ""))
            if lb_ids is not None:
                q = q.where(LoadBalancer.id.in_(lb_ids))
            lbs = list((await s.execute(q)).scalars())
            objs = list((await s.execute(select(LbObject).where(
                LbObject.loadbalancer_id.in_([lb.id for lb in lbs]))
                .order_by(LbObject.created_at, LbObject.id))).scalars())
        return [Tree(lb, [o for o in objs if o.loadbalancer_id == lb.id]) for lb in lbs]

    async def tree(self, ctx: RequestContext, lb_id: str, all_projects: bool) -> Tree:
        async with self.read() as s:
            tree = await load_tree(s, lb_id)
        check_visible(ctx, tree.lb.project_id, "loadbalancer", lb_id, all_projects)
        return tree

    async def objects(self, ctx: RequestContext, kind: str, all_projects: bool,
                      parent: str | None = None) -> list[tuple[LbObject, Tree]]:
        async with self.read() as s:
            q = select(LbObject.loadbalancer_id).where(LbObject.kind == kind)
            if parent is not None:
                q = q.where(LbObject.parent_id == parent)
            if not all_projects:
                q = q.where(LbObject.project_id == (ctx.project_id or ""))
            lb_ids = sorted(set((await s.execute(q)).scalars()))
        out = []
        for tree in await self.trees(ctx, True, lb_ids):
            out += [(o, tree) for o in tree.of(kind, parent)
                    if all_projects or o.project_id == (ctx.project_id or "")]
        out.sort(key=lambda x: (x[0].created_at, x[0].id))
        return out

    async def find(self, ctx: RequestContext, kind: str, ident: str, all_projects: bool
                   ) -> tuple[LbObject, Tree]:
        async with self.read() as s:
            obj = await s.get(LbObject, ident)
            if obj is None or obj.kind != kind:
                raise errors.not_found(kind, ident)
            check_visible(ctx, obj.project_id, kind, ident, all_projects)
            tree = await load_tree(s, obj.loadbalancer_id)
        found = tree.get(ident)
        if found is None:  # purged between the two reads (the agent finished a delete)
            raise errors.not_found(kind, ident)
        return found, tree

    # --- load balancers --------------------------------------------------------------------
    async def create_lb(self, ctx: RequestContext, data: dict[str, Any],
                        graph: dict[str, Any] | None = None) -> Tree:
        """One load balancer, with its VIP port, and (a fully populated create) the
        listeners, pools, members, monitors and L7 policies of ``graph``."""
        project = data.get("project_id") or ctx.project_id or ""

        async def work(s: AsyncSession) -> Tree:
            counts = {"loadbalancer": 1, **(tree_ops.graph_counts(graph) if graph else {})}
            await check_quota(s, project, counts)
            flavored = await self.catalog.check_lb(s, data)
            where = await vip.resolve(s, ctx, data)
            cols, attrs = tree_ops.split("loadbalancer", data)
            attrs = {**DEFAULTS["loadbalancer"], **attrs, "own_port": where.port_id is None,
                     tree_ops.LISTENER_DEFAULTS: flavored}
            lb = LoadBalancer(project_id=project, provisioning_status="PENDING_CREATE",
                              operating_status="OFFLINE", provider="haproxy",
                              vip_network_id=where.network_id, vip_subnet_id=where.subnet_id,
                              vip_address="", vip_port_id="", attrs=attrs,
                              created_at=utcnow(), **cols)
            s.add(lb)
            await s.flush()
            lb.vip_port_id, lb.vip_address, lb.security_group_id = await vip.make_port(
                s, ctx, lb.id, project, where)
            tree = Tree(lb)
            if graph:
                await tree_ops.add_graph(s, tree, graph)
            await vip.sync_rules(s, tree)
            return await load_tree(s, lb.id)

        # The answer is what this transaction committed (PENDING_CREATE), read before the
        # agent is woken: a read after it could already see the agent's ACTIVE.
        return await self.txn(work)

    async def update_lb(self, ctx: RequestContext, tree: Tree, data: dict[str, Any]) -> Tree:
        async def work(s: AsyncSession) -> Tree:
            fresh = await load_tree(s, tree.lb.id, lock=True)
            check_mutable(fresh.lb)
            cols, attrs = tree_ops.split("loadbalancer", data)
            for key, value in cols.items():
                setattr(fresh.lb, key, value)
            fresh.lb.attrs = {**fresh.lb.attrs, **attrs}
            fresh.lb.provisioning_status = "PENDING_UPDATE"
            fresh.lb.updated_at = utcnow()
            return await load_tree(s, fresh.lb.id)

        return await self.txn(work)

    async def delete_lb(self, tree: Tree, cascade: bool) -> None:
        async def work(s: AsyncSession) -> None:
            fresh = await load_tree(s, tree.lb.id, lock=True)
            check_mutable(fresh.lb)
            if checks.live(fresh.objects) and not cascade:
                raise errors.validation(f"Cannot delete Load Balancer {fresh.lb.id} - it has "
                                        "children")
            fresh.lb.provisioning_status = "PENDING_DELETE"
            for obj in fresh.objects:
                obj.provisioning_status = "PENDING_DELETE"
            fresh.lb.updated_at = utcnow()

        await self.txn(work)

    async def failover(self, tree: Tree) -> None:
        async def work(s: AsyncSession) -> None:
            fresh = await load_tree(s, tree.lb.id, lock=True)
            check_mutable(fresh.lb)
            fresh.lb.provisioning_status = "PENDING_UPDATE"

        await self.txn(work)

    # --- objects below a load balancer -----------------------------------------------------
    async def create(self, ctx: RequestContext, kind: str, lb_id: str, parent_id: str | None,
                     data: dict[str, Any]) -> LbObject:
        async def work(s: AsyncSession) -> LbObject:
            tree = await load_tree(s, lb_id, lock=True)
            check_mutable(tree.lb)
            await check_quota(s, tree.lb.project_id, {kind: 1})
            obj = await tree_ops.add(s, tree, kind, parent_id, data)
            await tree_ops.mark_updating(tree)
            await vip.sync_rules(s, tree)
            return obj

        return await self.txn(work)  # as committed (PENDING_CREATE), see create_lb

    async def update(self, ctx: RequestContext, obj: LbObject, data: dict[str, Any]
                     ) -> LbObject:
        async def work(s: AsyncSession) -> LbObject:
            tree = await load_tree(s, obj.loadbalancer_id, lock=True)
            check_mutable(tree.lb)
            fresh = tree.get(obj.id)
            if fresh is None:
                raise errors.not_found(obj.kind, obj.id)
            cols, attrs = tree_ops.split(obj.kind, data)
            merged = {**fresh.attrs, **attrs}
            if fresh.kind == "listener":
                merged = tls_defaults(merged)
            if fresh.kind == "l7policy" and "action" in attrs:
                # a new action drops the old action's target unless given (Octavia)
                for target in ("redirect_pool_id", "redirect_url", "redirect_prefix",
                               "redirect_http_code"):
                    if target not in attrs:
                        merged[target] = None
            tree_ops.check(tree, fresh.kind, fresh.parent_id, merged, fresh.id)
            for key, value in cols.items():
                setattr(fresh, key, value)
            if fresh.kind == "l7policy" and data.get("position"):
                tree_ops.reorder(tree, fresh, int(data["position"]))
            fresh.attrs = merged
            fresh.provisioning_status = "PENDING_UPDATE"
            fresh.updated_at = utcnow()
            await tree_ops.mark_updating(tree)
            await vip.sync_rules(s, tree)
            return fresh

        return await self.txn(work)  # as committed (PENDING_UPDATE), see create_lb

    async def delete(self, obj: LbObject) -> None:
        async def work(s: AsyncSession) -> None:
            tree = await load_tree(s, obj.loadbalancer_id, lock=True)
            check_mutable(tree.lb)
            fresh = tree.get(obj.id)
            if fresh is None:
                raise errors.not_found(obj.kind, obj.id)
            if fresh.kind == "pool":
                for policy in checks.live(tree.of("l7policy")):
                    if policy.attrs.get("redirect_pool_id") == fresh.id:
                        raise errors.validation(f"Pool {fresh.id} is in use by L7 policy "
                                                f"{policy.id}.")
                for lis in tree.of("listener"):
                    if lis.attrs.get("default_pool_id") == fresh.id:
                        lis.attrs = {**lis.attrs, "default_pool_id": None}
            for gone in (fresh, *tree.descendants(fresh)):
                gone.provisioning_status = "PENDING_DELETE"
            await tree_ops.mark_updating(tree)
            await vip.sync_rules(s, tree)

        await self.txn(work)

    async def replace_members(self, ctx: RequestContext, pool: LbObject,
                              members: list[dict[str, Any]]) -> None:
        """Batch update: members matched by (address, protocol_port) are updated, the
        others made, the pool's members not named deleted."""
        async def work(s: AsyncSession) -> None:
            tree = await load_tree(s, pool.loadbalancer_id, lock=True)
            check_mutable(tree.lb)
            current = {(m.attrs["address"], m.attrs["protocol_port"]): m
                       for m in checks.live(tree.of("member", pool.id))}
            wanted = {(m["address"], m["protocol_port"]) for m in members}
            if len(wanted) != len(members):
                raise errors.validation("The batch names a member (address and "
                                        "protocol_port) more than once.")
            new = [m for m in members if (m["address"], m["protocol_port"]) not in current]
            await check_quota(s, tree.lb.project_id, {"member": len(new)})
            for pair, gone in current.items():
                if pair not in wanted:
                    gone.provisioning_status = "PENDING_DELETE"
            for data in members:
                old = current.get((data["address"], data["protocol_port"]))
                if old is None:
                    await tree_ops.add(s, tree, "member", pool.id, data)
                    continue
                cols, attrs = tree_ops.split("member", data)
                for col, value in cols.items():
                    setattr(old, col, value)
                old.attrs = {**old.attrs, **attrs}
                old.provisioning_status = "PENDING_UPDATE"
                old.updated_at = utcnow()
            await tree_ops.mark_updating(tree)

        await self.txn(work)

    # --- quotas ----------------------------------------------------------------------------
    async def quota(self, project_id: str) -> dict[str, int]:
        async with self.read() as s:
            return await quota_limits(s, project_id)

    async def quotas(self) -> dict[str, dict[str, int]]:
        async with self.read() as s:
            projects = sorted(set((await s.execute(select(LbQuota.project_id))).scalars()))
            return {p: await quota_limits(s, p) for p in projects}

    async def set_quota(self, project_id: str, values: dict[str, int]) -> dict[str, int]:
        async def work(s: AsyncSession) -> None:
            for name, value in values.items():
                row = await s.get(LbQuota, (project_id, name))
                if row is None:
                    s.add(LbQuota(project_id=project_id, resource=name, limit=value))
                else:
                    row.limit = value

        await self.txn(work)
        return await self.quota(project_id)

    async def reset_quota(self, project_id: str) -> None:
        async def work(s: AsyncSession) -> None:
            await s.execute(delete(LbQuota).where(LbQuota.project_id == project_id))

        await self.txn(work)

    # --- the agent's side ------------------------------------------------------------------
    async def all_trees(self) -> list[Tree]:
        return await self.trees(RequestContext(), True)

    async def finish(self, lb_id: str, ok: bool, statuses: dict[str, str] | None = None,
                     stats: dict[str, dict[str, int]] | None = None) -> None:
        """After ``ensure``: PENDING_DELETE objects go, the others are ACTIVE (or ERROR),
        with the operating statuses the data plane reported (in the same transaction: an
        ACTIVE load balancer is never seen with its old operating status)."""
        async def work(s: AsyncSession) -> None:
            tree = await load_tree(s, lb_id, lock=True)
            gone = [o.id for o in tree.objects if o.provisioning_status == "PENDING_DELETE"]
            if gone:
                await s.execute(delete(LbObject).where(LbObject.id.in_(gone)))
            state, now = ("ACTIVE" if ok else "ERROR"), utcnow()
            for obj in tree.objects:  # Octavia's rows change: updated_at set, also on create
                if obj.id not in gone and obj.provisioning_status in PENDING:
                    obj.provisioning_status, obj.updated_at = state, now
            if tree.lb.provisioning_status in PENDING:
                tree.lb.provisioning_status, tree.lb.updated_at = state, now
            if not ok:
                tree.lb.operating_status = "ERROR"
            await s.flush()
            await tree_ops.write_status(s, lb_id, statuses or {}, stats or {})

        await self.txn(work)

    async def member_port(self, lb: LoadBalancer, subnet_id: str) -> str | None:
        """The load balancer's port on a member subnet (made on first need)."""
        async def work(s: AsyncSession) -> str | None:
            return await vip.member_port(s, lb, subnet_id)

        return await self.txn(work)

    async def purge(self, lb_id: str) -> None:
        """After ``destroy``: the rows, the VIP port and its security group."""
        async def work(s: AsyncSession) -> None:
            tree = await load_tree(s, lb_id, lock=True)
            await s.execute(delete(LbObject).where(LbObject.loadbalancer_id == lb_id))
            await vip.remove(s, tree)
            await s.execute(delete(LoadBalancer).where(LoadBalancer.id == lb_id))

        await self.txn(work)

    async def write_status(self, lb_id: str, statuses: dict[str, str],
                           stats: dict[str, dict[str, int]]) -> None:
        """Operating statuses (object id -> status, the load balancer's included) and
        counters, as the data plane reported them."""
        async with self.db.write() as s:
            await tree_ops.write_status(s, lb_id, statuses, stats)
