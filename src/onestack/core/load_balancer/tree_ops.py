"""Adding, checking and ordering the objects below a load balancer, inside the caller's
transaction (one object, or a fully populated tree), and writing operating statuses."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.load_balancer import checks, errors
from onestack.core.load_balancer.base import Tree
from onestack.core.load_balancer.rules import (
    COLUMNS,
    DEFAULTS,
    QUOTA_RESOURCES,
    monitor_defaults,
    tls_defaults,
)
from onestack.db.models.base import utcnow
from onestack.db.models.load_balancer import LbObject, LoadBalancer
from onestack.errors import Conflict

PARENT = {"member": "pool", "healthmonitor": "pool", "l7policy": "listener",
          "l7rule": "l7policy"}


def split(kind: str, data: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    cols = {k: "" if v is None and k in ("name", "description") else v
            for k, v in data.items() if k in COLUMNS}
    attrs = {k: v for k, v in data.items() if k in DEFAULTS[kind]}
    return cols, attrs


async def mark_updating(tree: Tree) -> None:
    tree.lb.provisioning_status = "PENDING_UPDATE"
    tree.lb.updated_at = utcnow()


def reorder(tree: Tree, policy: LbObject, position: int) -> None:
    """Move an L7 policy to ``position`` (1-based) among its listener's, renumbering."""
    others = sorted((p for p in checks.live(tree.of("l7policy", policy.parent_id))
                     if p.id != policy.id), key=lambda p: p.position)
    others.insert(min(position, len(others) + 1) - 1, policy)
    for index, item in enumerate(others, 1):
        item.position = index


def check(tree: Tree, kind: str, parent_id: str | None, attrs: dict[str, Any],
           ident: str | None) -> None:
    parent = tree.get(parent_id) if parent_id else None
    if kind == "listener":
        checks.listener(tree, attrs, ident)
    elif kind == "pool":
        checks.pool(tree, attrs)
        for lis in checks.live(tree.of("listener")):
            if lis.attrs.get("default_pool_id") == ident and ident is not None:
                checks.pool_fits_listener(attrs["protocol"], lis.attrs["protocol"])
    elif kind == "member":
        checks.member(tree, str(parent_id), attrs, ident)
    elif kind == "healthmonitor" and parent is not None:
        checks.monitor(parent, attrs)
    elif kind == "l7policy" and parent is not None:
        checks.l7policy(tree, parent, attrs)
    elif kind == "l7rule":
        checks.l7rule(attrs)


# The load balancer's attrs key holding its flavor's listener defaults (not rendered).
LISTENER_DEFAULTS = "listener_defaults"


async def add(s: AsyncSession, tree: Tree, kind: str, parent_id: str | None,
               data: dict[str, Any]) -> LbObject:
    """One new object in ``tree`` (validated against the rest of it)."""
    if parent_id is not None:
        parent = tree.get(parent_id)
        if parent is None or parent.kind != PARENT[kind] or \
                parent.provisioning_status == "PENDING_DELETE":
            raise errors.not_found(PARENT[kind], parent_id)
        if kind == "healthmonitor" and checks.live(tree.of("healthmonitor", parent_id)):
            raise Conflict("This pool already has a health monitor")
    cols, attrs = split(kind, data)
    if kind == "healthmonitor":
        attrs = monitor_defaults(attrs["type"], attrs)
    attrs = tls_defaults({**DEFAULTS[kind], **tree.lb.attrs.get(LISTENER_DEFAULTS, {}),
                          **attrs}) if kind == "listener" else {**DEFAULTS[kind], **attrs}
    listener_id = data.get("listener_id") if kind == "pool" else None
    if listener_id:
        lis = tree.get(listener_id)
        if lis is None or lis.kind != "listener":
            raise errors.not_found("listener", listener_id)
        if lis.attrs.get("default_pool_id"):
            raise Conflict("This listener already has a default pool")
        checks.pool_fits_listener(attrs["protocol"], lis.attrs["protocol"])
    check(tree, kind, parent_id, attrs, None)
    position = 0
    if kind == "l7policy":
        siblings = sorted(checks.live(tree.of("l7policy", parent_id)), key=lambda o: o.position)
        wanted = data.get("position") or len(siblings) + 1
        position = min(wanted, len(siblings) + 1)
        for sib in siblings:
            if sib.position >= position:
                sib.position += 1
    obj = LbObject(kind=kind, loadbalancer_id=tree.lb.id, parent_id=parent_id,
                   project_id=tree.lb.project_id, provisioning_status="PENDING_CREATE",
                   operating_status="OFFLINE", position=position, attrs=attrs,
                   created_at=utcnow(), **cols)
    s.add(obj)
    await s.flush()
    tree.objects.append(obj)
    if listener_id:
        lis = tree.get(listener_id)
        assert lis is not None
        lis.attrs = {**lis.attrs, "default_pool_id": obj.id}
    return obj


def graph_counts(graph: dict[str, Any]) -> dict[str, int]:
    counts = {k: 0 for k in QUOTA_RESOURCES.values()}

    def pool(p: dict[str, Any]) -> None:
        counts["pool"] += 1
        counts["member"] += len(p.get("members") or [])
        counts["healthmonitor"] += 1 if p.get("healthmonitor") else 0

    for lis in graph.get("listeners") or []:
        counts["listener"] += 1
        if lis.get("default_pool"):
            pool(lis["default_pool"])
        for policy in lis.get("l7policies") or []:
            counts["l7policy"] += 1
            counts["l7rule"] += len(policy.get("rules") or [])
            if policy.get("redirect_pool"):
                pool(policy["redirect_pool"])
    for p in graph.get("pools") or []:
        pool(p)
    return counts


async def add_pool(s: AsyncSession, tree: Tree, data: dict[str, Any]) -> LbObject:
    body = {k: v for k, v in data.items() if k not in ("members", "healthmonitor")}
    obj = await add(s, tree, "pool", None, body)
    for member in data.get("members") or []:
        await add(s, tree, "member", obj.id, member)
    if data.get("healthmonitor"):
        await add(s, tree, "healthmonitor", obj.id, data["healthmonitor"])
    return obj


async def add_graph(s: AsyncSession, tree: Tree, graph: dict[str, Any]) -> None:
    named: dict[str, str] = {}
    for data in graph.get("pools") or []:
        obj = await add_pool(s, tree, data)
        if data.get("name"):
            named[data["name"]] = obj.id
    for data in graph.get("listeners") or []:
        body = {k: v for k, v in data.items() if k not in ("default_pool", "l7policies",
                                                           "default_pool_name")}
        if data.get("default_pool"):
            body["default_pool_id"] = (await add_pool(s, tree, data["default_pool"])).id
        elif data.get("default_pool_name"):
            if data["default_pool_name"] not in named:
                raise errors.validation(f"Pool {data['default_pool_name']} not found.")
            body["default_pool_id"] = named[data["default_pool_name"]]
        lis = await add(s, tree, "listener", None, body)
        for policy in data.get("l7policies") or []:
            pbody = {k: v for k, v in policy.items() if k not in ("rules", "redirect_pool")}
            if policy.get("redirect_pool"):
                pbody["redirect_pool_id"] = (await add_pool(s, tree,
                                                             policy["redirect_pool"])).id
            pol = await add(s, tree, "l7policy", lis.id, pbody)
            for rule in policy.get("rules") or []:
                await add(s, tree, "l7rule", pol.id, rule)


async def write_status(s: AsyncSession, lb_id: str, statuses: dict[str, str],
                       stats: dict[str, dict[str, int]]) -> None:
    lb = await s.get(LoadBalancer, lb_id)
    if lb is None:
        return
    if lb_id in statuses:
        lb.operating_status = statuses[lb_id]
    if lb_id in stats:
        lb.attrs = {**lb.attrs, "stats": stats[lb_id]}
    rows = (await s.execute(select(LbObject).where(LbObject.loadbalancer_id == lb_id))
            ).scalars()
    for obj in rows:
        if obj.id in statuses and obj.operating_status != statuses[obj.id]:
            obj.operating_status = statuses[obj.id]
        if obj.id in stats:
            obj.attrs = {**obj.attrs, "stats": stats[obj.id]}
