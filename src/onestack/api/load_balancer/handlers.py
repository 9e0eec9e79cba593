"""Thin handlers for load balancers and every object below them: parse, check, one core
call, render. Lists filter on any attribute of the rendered object, sort by creation and
page with limit/marker as Octavia does."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from onestack.api.common.jsonbody import json_response
from onestack.api.common.request import ApiRequest
from onestack.api.load_balancer import schemas, tls, views
from onestack.api.load_balancer.policies import API
from onestack.core.load_balancer import errors
from onestack.core.load_balancer.base import Tree
from onestack.core.load_balancer.rules import PROVIDER_ALIASES

CONTROL = {"limit", "marker", "page_reverse", "sort", "sort_key", "sort_dir", "fields"}
TAG_KEYS = ("tags", "tags-any", "not-tags", "not-tags-any")


def core(req: ApiRequest) -> Any:
    return req.runtime.load_balancer


def all_projects(req: ApiRequest, kind: str) -> bool:
    """Whether the caller reads every project's objects (admins, global observers)."""
    policy = req.runtime.policy
    rule = f"{API}:{kind}:get_all-global"
    if rule not in policy.rules:  # members and L7 rules: as their load balancer
        rule = f"{API}:loadbalancer:get_all-global"
    return rule in policy.rules and policy.authorize(rule, req.ctx, {
        "project_id": req.ctx.project_id or ""})


async def body(req: ApiRequest, key: str) -> Any:
    data = await req.json()
    if not isinstance(data, dict) or key not in data:
        raise errors.invalid(key, None, f"Missing mandatory field: the body must be "
                                        f"{{\"{key}\": {{...}}}}")
    return data[key]


REFS = {"loadbalancer_id": "loadbalancers", "pool_id": "pools", "listener_id": "listeners"}


def _match(item: dict[str, Any], key: str, wanted: list[str]) -> bool:
    if key not in item and REFS.get(key) in item:  # ?loadbalancer_id= on listeners, pools
        return any(ref["id"] in wanted for ref in item[REFS[key]])
    value = item.get(key)
    if isinstance(value, bool):  # ?enabled=True as ?enabled=true (Octavia's WSME)
        return str(value).lower() in [w.lower() for w in wanted]
    return str(value) in wanted or (value is None and "" in wanted)


def _tags(item: dict[str, Any], key: str, wanted: list[str]) -> bool:
    have = set(item.get("tags") or [])
    if key == "tags":
        return set(wanted) <= have
    if key == "tags-any":
        return bool(set(wanted) & have)
    if key == "not-tags":
        return not set(wanted) <= have
    return not set(wanted) & have


def listing(req: ApiRequest, plural: str, items: list[dict[str, Any]],
            links_key: str | None = None) -> Response:
    for key in set(req.query):
        if key in CONTROL or key in req.params:  # ?l7policy_id= beside the path's
            continue
        if key in TAG_KEYS:
            wanted = [t for v in req.query.getlist(key) for t in v.split(",") if t]
            items = [i for i in items if _tags(i, key, wanted)]
        else:
            values = req.query.getlist(key)
            items = [i for i in items if _match(i, key, values)]
    for key, reverse in reversed(_sort_keys(req)):
        items.sort(key=lambda i: (i.get(key) is None, str(i.get(key))), reverse=reverse)
    marker, limit = req.query.get("marker"), req.query.get("limit")
    if marker:
        ids = [i["id"] for i in items]
        if marker not in ids:
            raise errors.invalid("marker", marker, "Marker not found.")
        items = items[ids.index(marker) + 1:]
    links = []
    if limit:
        try:
            count = int(limit)
        except ValueError:
            raise errors.invalid("limit", limit, "Value should be an integer") from None
        if count < 0:
            raise errors.invalid("limit", limit, "Value should be greater or equal to 0")
        if count and len(items) > count:
            items = items[:count]
            links.append({"rel": "next", "href": req.url(req.path) + f"?limit={count}&"
                                                                     f"marker={items[-1]['id']}"})
    fields = [f for v in req.query.getlist("fields") for f in v.split(",") if f]
    if fields:
        items = [{k: v for k, v in i.items() if k in fields} for i in items]  # as Octavia
    return json_response({plural: items, links_key or f"{plural}_links": links})


def _sort_keys(req: ApiRequest) -> list[tuple[str, bool]]:
    """``sort=name:desc,created_at`` or ``sort_key``/``sort_dir`` pairs: (key, descending)."""
    out: list[tuple[str, bool]] = []
    for part in ",".join(req.query.getlist("sort")).split(","):
        if part:
            key, _, way = part.partition(":")
            out.append((key, _direction(way or "asc")))
    dirs = req.query.getlist("sort_dir")
    for n, key in enumerate(req.query.getlist("sort_key")):
        out.append((key, _direction(dirs[n] if n < len(dirs) else "asc")))
    return out


def _direction(way: str) -> bool:
    if way not in ("asc", "desc"):
        raise errors.invalid("sort_dir", way, "Value should be one of: asc, desc")
    return way == "desc"


def ok(data: dict[str, Any], status: int = 200) -> Response:
    return json_response(data, status)


# --- load balancers ---------------------------------------------------------------------------
async def lb_target(req: ApiRequest) -> dict[str, Any]:
    tree = await core(req).tree(req.ctx, req.params["lb_id"], all_projects(req,
                                                                           "loadbalancer"))
    req.state["tree"] = tree
    return {"project_id": tree.lb.project_id}


async def lb_create_target(req: ApiRequest) -> dict[str, Any]:
    data = schemas.check("loadbalancer", await body(req, "loadbalancer"), "post", True)
    req.state["data"] = data
    return {"project_id": data.get("project_id") or req.ctx.project_id or ""}


async def own_target(req: ApiRequest) -> dict[str, Any]:
    return {"project_id": req.ctx.project_id or ""}


async def list_lbs(req: ApiRequest) -> Response:
    trees = await core(req).trees(req.ctx, all_projects(req, "loadbalancer"))
    return listing(req, "loadbalancers", [views.loadbalancer(t) for t in trees])


async def show_lb(req: ApiRequest) -> Response:
    return ok({"loadbalancer": views.loadbalancer(req.state["tree"])})


async def create_lb(req: ApiRequest) -> Response:
    data = dict(req.state["data"])
    provider = data.pop("provider", None)
    if provider is not None and provider not in PROVIDER_ALIASES:
        raise errors.validation(f"Provider '{provider}' is not enabled.")
    graph = {k: data.pop(k) for k in ("listeners", "pools") if k in data}
    if data.get("project_id") and data["project_id"] != req.ctx.project_id and \
            not req.ctx.has_admin_role:
        raise errors.validation("project_id can only be set by an administrator.")
    await tls.check_graph(req, graph)
    tree: Tree = await core(req).create_lb(req.ctx, data, graph or None)
    return ok({"loadbalancer": views.loadbalancer(tree, full=bool(graph))}, 201)


async def update_lb(req: ApiRequest) -> Response:
    data = schemas.check("loadbalancer", await body(req, "loadbalancer"), "put")
    tree = await core(req).update_lb(req.ctx, req.state["tree"], data)
    return ok({"loadbalancer": views.loadbalancer(tree)})


async def delete_lb(req: ApiRequest) -> Response:
    cascade = req.query.get("cascade", "false").lower() in ("true", "1", "yes")
    await core(req).delete_lb(req.state["tree"], cascade)
    return Response(status_code=204)


async def lb_status(req: ApiRequest) -> Response:
    return ok(views.status_tree(req.state["tree"]))


async def lb_stats(req: ApiRequest) -> Response:
    return ok(views.stats(req.state["tree"].lb))


async def failover(req: ApiRequest) -> Response:
    await core(req).failover(req.state["tree"])
    return Response(status_code=202)


# --- the objects below ------------------------------------------------------------------------
@dataclass
class Kind:
    kind: str  # listener: the body key and the policy name
    plural: str  # listeners
    parent_param: str | None = None  # pool_id for members, l7policy_id for rules
    id_param: str = "id"
    key: str = ""  # the body key, when not the kind ("rule" for L7 rules)

    def __post_init__(self) -> None:
        self.key = self.key or self.kind

    async def target(self, req: ApiRequest) -> dict[str, Any]:
        obj, tree = await core(req).find(req.ctx, self.kind, req.params[self.id_param],
                                         all_projects(req, self.kind))
        if self.parent_param and obj.parent_id != req.params[self.parent_param]:
            raise errors.not_found(self.kind, obj.id)
        req.state["obj"], req.state["tree"] = obj, tree
        return {"project_id": obj.project_id}

    async def parent_target(self, req: ApiRequest) -> dict[str, Any]:
        """Members and rules: the parent (a pool, an L7 policy) of the path."""
        assert self.parent_param is not None
        kind = "pool" if self.kind == "member" else "l7policy"
        obj, tree = await core(req).find(req.ctx, kind, req.params[self.parent_param],
                                         all_projects(req, kind))
        req.state["parent"], req.state["tree"] = obj, tree
        return {"project_id": obj.project_id}

    async def create_target(self, req: ApiRequest) -> dict[str, Any]:
        if self.parent_param:
            return await self.parent_target(req)
        data = schemas.check(self.kind, await body(req, self.key), "post")
        req.state["data"] = data
        ref = {"listener": ("loadbalancer", "loadbalancer_id"),
               "healthmonitor": ("pool", "pool_id"),
               "l7policy": ("listener", "listener_id")}.get(self.kind)
        ctx, svc = req.ctx, core(req)
        if self.kind == "pool":
            if data.get("listener_id"):
                ref = ("listener", "listener_id")
            elif data.get("loadbalancer_id"):
                ref = ("loadbalancer", "loadbalancer_id")
            else:
                raise errors.validation("A pool needs a listener_id or a loadbalancer_id.")
        assert ref is not None
        kind, key = ref
        if data.get(key) is None:
            raise errors.invalid(key, None, "Mandatory field missing.")
        if kind == "loadbalancer":  # another project's: 404, as one that does not exist
            tree = await svc.tree(ctx, data[key], all_projects(req, kind))
            parent_project = tree.lb.project_id
            req.state["lb_id"], req.state["parent_id"] = tree.lb.id, None
        else:
            parent, tree = await svc.find(ctx, kind, data[key], all_projects(req, kind))
            parent_project = parent.project_id
            req.state["lb_id"] = tree.lb.id
            req.state["parent_id"] = parent.id if self.kind != "pool" else None
            if data.get("loadbalancer_id") not in (None, tree.lb.id):
                raise errors.validation(f"Listener {parent.id} is not on load balancer "
                                        f"{data['loadbalancer_id']}.")
        return {"project_id": parent_project}

    async def index(self, req: ApiRequest) -> Response:
        parent = req.params.get(self.parent_param) if self.parent_param else None
        found = await core(req).objects(req.ctx, self.kind, all_projects(req, self.kind),
                                        parent)
        items = [views.obj(tree, o) for o, tree in found]  # by created_at, as Octavia
        return listing(req, self.plural, items)

    async def show(self, req: ApiRequest) -> Response:
        return ok({self.key: views.obj(req.state["tree"], req.state["obj"])})

    async def create(self, req: ApiRequest) -> Response:
        if self.parent_param:
            data = schemas.check(self.kind, await body(req, self.key), "post")
            parent = req.state["parent"]
            lb_id, parent_id = parent.loadbalancer_id, parent.id
        else:
            data, lb_id, parent_id = (req.state["data"], req.state["lb_id"],
                                      req.state["parent_id"])
        if self.kind == "listener":
            await tls.check(req, data, data.get("protocol"))
        obj = await core(req).create(req.ctx, self.kind, lb_id, parent_id, data)
        _o, tree = await core(req).find(req.ctx, self.kind, obj.id, True)
        return ok({self.key: views.obj(tree, obj)}, 201)

    async def update(self, req: ApiRequest) -> Response:
        data = schemas.check(self.kind, await body(req, self.key), "put")
        if self.kind == "listener":
            await tls.check(req, data, req.state["obj"].attrs.get("protocol"))
        obj = await core(req).update(req.ctx, req.state["obj"], data)
        _o, tree = await core(req).find(req.ctx, self.kind, obj.id, True)
        return ok({self.key: views.obj(tree, obj)})

    async def delete(self, req: ApiRequest) -> Response:
        await core(req).delete(req.state["obj"])
        return Response(status_code=204)

    async def stats(self, req: ApiRequest) -> Response:
        return ok(views.stats(req.state["obj"]))


LISTENERS = Kind("listener", "listeners", id_param="listener_id")
POOLS = Kind("pool", "pools", id_param="pool_id")
MEMBERS = Kind("member", "members", "pool_id", "member_id")
MONITORS = Kind("healthmonitor", "healthmonitors", id_param="healthmonitor_id")
L7POLICIES = Kind("l7policy", "l7policies", id_param="l7policy_id")
L7RULES = Kind("l7rule", "rules", "l7policy_id", "l7rule_id", "rule")


async def batch_members(req: ApiRequest) -> Response:
    data = await req.json()
    if not isinstance(data, dict) or not isinstance(data.get("members"), list):
        raise errors.invalid("members", None, "The body must be {\"members\": [...]}")
    members = [schemas.check("member", m, "post") for m in data["members"]]
    await core(req).replace_members(req.ctx, req.state["parent"], members)
    return Response(status_code=202)
