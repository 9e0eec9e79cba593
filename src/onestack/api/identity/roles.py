"""Roles, implied roles, grants and GET /v3/role_assignments."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.identity import schemas, views
from onestack.api.identity.resources import split_extra
from onestack.errors import BadRequest

ROLE_KEYS = {"name", "description", "domain_id", "options", "id"}


async def create_role(req: ApiRequest) -> Response:
    body = (await req.json(schemas.role_create))["role"]
    role = await req.runtime.identity.roles.create_role(split_extra(body, ROLE_KEYS))
    return views.respond({"role": views.role(req, role)}, status=201)


async def list_roles(req: ApiRequest) -> Response:
    f: dict[str, Any] = {k: req.query[k] for k in ("name", "domain_id") if k in req.query}
    roles = await req.runtime.identity.roles.list_roles(f)
    return views.listing(req, "roles", [views.role(req, r) for r in roles])


async def get_role(req: ApiRequest) -> Response:
    role = await req.runtime.identity.roles.get_role(req.params["role_id"])
    return views.respond({"role": views.role(req, role)})


async def update_role(req: ApiRequest) -> Response:
    body = (await req.json(schemas.role_update))["role"]
    role = await req.runtime.identity.roles.update_role(req.params["role_id"],
                                                        split_extra(body, ROLE_KEYS))
    return views.respond({"role": views.role(req, role)})


async def delete_role(req: ApiRequest) -> Response:
    await req.runtime.identity.roles.delete_role(req.params["role_id"])
    return views.no_content()


# --- implied roles -------------------------------------------------------------------------
def _inference(req: ApiRequest, prior: Any, implied: list[Any]) -> dict[str, Any]:
    return {"prior_role": views.role_ref(req, prior),
            "implies": [views.role_ref(req, r) for r in implied]}


async def create_implied(req: ApiRequest) -> Response:
    prior, implied = await req.runtime.identity.roles.create_implied(
        req.params["prior_role_id"], req.params["implied_role_id"])
    body = {"role_inference": {"prior_role": views.role_ref(req, prior),
                               "implies": views.role_ref(req, implied)},
            "links": {"self": req.url(f"/v3/roles/{prior.id}/implies/{implied.id}")}}
    return views.respond(body, status=201)


async def get_implied(req: ApiRequest) -> Response:
    prior, implied = await req.runtime.identity.roles.get_implied(
        req.params["prior_role_id"], req.params["implied_role_id"])
    if req.method == "HEAD":
        return views.no_content()
    body = {"role_inference": {"prior_role": views.role_ref(req, prior),
                               "implies": views.role_ref(req, implied)},
            "links": {"self": req.url(f"/v3/roles/{prior.id}/implies/{implied.id}")}}
    return views.respond(body)


async def delete_implied(req: ApiRequest) -> Response:
    await req.runtime.identity.roles.delete_implied(req.params["prior_role_id"],
                                                    req.params["implied_role_id"])
    return views.no_content()


async def list_implied(req: ApiRequest) -> Response:
    roles = req.runtime.identity.roles
    rules = await roles.list_implied(req.params["prior_role_id"])
    ids = {req.params["prior_role_id"], *rules[req.params["prior_role_id"]]}
    by_id = await roles.roles_by_id(ids)
    prior = by_id[req.params["prior_role_id"]]
    implied = [by_id[i] for i in rules[prior.id] if i in by_id]
    return views.respond({"role_inference": _inference(req, prior, implied),
                          "links": {"self": req.url(f"/v3/roles/{prior.id}/implies")}})


async def list_inferences(req: ApiRequest) -> Response:
    roles = req.runtime.identity.roles
    rules = await roles.list_implied()
    ids = set(rules) | {i for v in rules.values() for i in v}
    by_id = await roles.roles_by_id(ids)
    body = [_inference(req, by_id[p], [by_id[i] for i in imp if i in by_id])
            for p, imp in sorted(rules.items()) if p in by_id]
    return views.respond({"role_inferences": body,
                          "links": {"self": req.url("/v3/role_inferences")}})


# --- grants --------------------------------------------------------------------------------
def _grant_args(req: ApiRequest) -> tuple[str, str, str, str, bool]:
    p = req.params
    actor = "user" if "user_id" in p else "group"
    actor_id = p.get("user_id") or p["group_id"]
    if "project_id" in p:
        target, target_id = "project", p["project_id"]
    elif "domain_id" in p:
        target, target_id = "domain", p["domain_id"]
    else:
        target, target_id = "system", "system"
    inherited = req.path.endswith("/inherited_to_projects")
    return actor, actor_id, target, target_id, inherited


async def put_grant(req: ApiRequest) -> Response:
    actor, actor_id, target, target_id, inh = _grant_args(req)
    await req.runtime.identity.roles.grant(req.params["role_id"], actor, actor_id, target,
                                           target_id, inh)
    return views.no_content()


async def check_grant(req: ApiRequest) -> Response:
    actor, actor_id, target, target_id, inh = _grant_args(req)
    await req.runtime.identity.roles.check_grant(req.params["role_id"], actor, actor_id,
                                                 target, target_id, inh)
    return views.no_content()


async def delete_grant(req: ApiRequest) -> Response:
    actor, actor_id, target, target_id, inh = _grant_args(req)
    await req.runtime.identity.roles.revoke(req.params["role_id"], actor, actor_id, target,
                                            target_id, inh)
    return views.no_content()


async def list_grants(req: ApiRequest) -> Response:
    actor, actor_id, target, target_id, inh = _grant_args(req)
    roles = await req.runtime.identity.roles.list_grants(actor, actor_id, target, target_id,
                                                         inh)
    return views.listing(req, "roles", [views.role(req, r) for r in roles])


# --- role assignments ----------------------------------------------------------------------
async def list_assignments(req: ApiRequest) -> Response:
    q = req.query
    ident = req.runtime.identity
    if "user.id" in q and "group.id" in q:
        raise BadRequest("Specify either user.id or group.id, not both.")
    if "scope.project.id" in q and "scope.domain.id" in q:
        raise BadRequest("Specify either scope.project.id or scope.domain.id, not both.")
    effective = req.flag("effective") or False
    include_names = req.flag("include_names") or False
    f: dict[str, Any] = {"effective": effective, "user_id": q.get("user.id"),
                         "group_id": q.get("group.id"), "role_id": q.get("role.id"),
                         "domain_id": q.get("scope.domain.id"),
                         "system": "scope.system" in q}
    if effective and f["group_id"]:
        raise BadRequest("effective cannot be combined with group.id.")
    if "scope.OS-INHERIT:inherited_to" in q:
        f["inherited"] = True
    if "scope.project.id" in q:
        pid = q["scope.project.id"]
        f["project_ids"] = {pid}
        if req.flag("include_subtree"):
            f["project_ids"] |= set(await ident.resources.project_subtree_ids(pid))
    grants = await ident.roles.list_assignments(f)
    ctx = req.ctx
    if ctx.domain_id and not (ctx.has_admin_role or ctx.system_scope):
        # a domain reader or manager sees its domain's assignments and its projects'
        inside = {p.id for p in await ident.resources.list_projects(
            {"domain_id": ctx.domain_id})} | {ctx.domain_id}
        grants = [g for g in grants if g.target_kind != "system" and g.target_id in inside]
    names = await _names(req, grants) if include_names else None
    return views.listing(req, "role_assignments",
                         [views.assignment(req, g, names) for g in grants])


async def _names(req: ApiRequest, grants: list[Any]) -> dict[str, dict[str, Any]]:
    ident = req.runtime.identity
    names: dict[str, dict[str, Any]] = {}
    domains = {d.id: d for d in await ident.resources.list_domains({})}

    def dom(domain_id: str | None) -> dict[str, Any]:
        d = domains.get(domain_id or "")
        return {"id": domain_id, "name": d.name if d else None}

    roles = await ident.roles.roles_by_id({g.role_id for g in grants})
    for rid, r in roles.items():
        names[rid] = {"name": r.name}
        if r.domain_id:
            names[rid]["domain"] = dom(r.domain_id)
    user_ids = [g.actor_id for g in grants if g.actor_kind == "user"]
    for u in await ident.users.list_users({"ids": user_ids}) if user_ids else []:
        names[u.id] = {"name": u.name, "domain": dom(u.domain_id)}
    for g in grants:
        if g.actor_kind == "group" and g.actor_id not in names:
            grp = await ident.users.get_group(g.actor_id)
            names[grp.id] = {"name": grp.name, "domain": dom(grp.domain_id)}
    project_ids = [g.target_id for g in grants if g.target_kind == "project"]
    for p in await ident.resources.list_projects({"ids": project_ids}) if project_ids else []:
        names[p.id] = {"name": p.name, "domain": dom(p.domain_id)}
    for g in grants:
        if g.target_kind == "domain":
            names[g.target_id] = {"name": dom(g.target_id)["name"]}
    return names
