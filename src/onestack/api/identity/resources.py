"""Domains and projects."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest, validate
from onestack.api.identity import schemas, views
from onestack.db.models import Domain
from onestack.errors import BadRequest, NotFound

DOMAIN_KEYS = {"name", "description", "enabled", "tags", "options", "explicit_domain_id", "id"}
PROJECT_KEYS = {"name", "description", "enabled", "domain_id", "parent_id", "is_domain",
                "tags", "options", "id"}


def split_extra(data: dict[str, Any], known: set[str]) -> dict[str, Any]:
    """Keystone keeps unknown attributes as 'extra' and returns them."""
    out = {k: v for k, v in data.items() if k in known}
    extra = {k: v for k, v in data.items() if k not in known and k != "links"}
    if extra:
        out["extra"] = extra
    return out


def list_filters(req: ApiRequest, keys: tuple[str, ...]) -> dict[str, Any]:
    f: dict[str, Any] = {}
    for key in keys:
        if key in req.query:
            f[key] = req.query[key]
    if "enabled" in req.query:
        f["enabled"] = req.flag("enabled")
    return f


def domain_list_filters(req: ApiRequest, keys: tuple[str, ...]) -> dict[str, Any]:
    """List filters; a domain-scoped token lists its own domain unless it names one (as
    Keystone; the policy decides whether it may name another)."""
    f = list_filters(req, keys)
    if req.ctx.domain_id and "domain_id" not in f:
        f["domain_id"] = req.ctx.domain_id
    return f


# --- domains -------------------------------------------------------------------------------
async def create_domain(req: ApiRequest) -> Response:
    body = (await req.json(schemas.domain_create))["domain"]
    data = split_extra(body, DOMAIN_KEYS)
    if body.get("explicit_domain_id"):
        data["id"] = body["explicit_domain_id"]
    dom = await req.runtime.identity.resources.create_domain(data)
    return views.respond({"domain": views.domain(req, dom)}, status=201)


async def list_domains(req: ApiRequest) -> Response:
    doms = await req.runtime.identity.resources.list_domains(list_filters(req, ("name",)))
    ctx = req.ctx
    if not ctx.has_admin_role and not (ctx.system_scope and "reader" in ctx.roles):
        # a domain manager (list_domains lets it find its domain by name) sees its own
        own = ctx.domain_id or ctx.project_domain_id
        doms = [d for d in doms if d.id == own]
    return views.listing(req, "domains", [views.domain(req, d) for d in doms])


async def get_domain(req: ApiRequest) -> Response:
    dom = await req.runtime.identity.resources.get_domain(req.params["domain_id"])
    return views.respond({"domain": views.domain(req, dom)})


async def update_domain(req: ApiRequest) -> Response:
    body = (await req.json(schemas.domain_update))["domain"]
    if "id" in body and body["id"] != req.params["domain_id"]:
        raise BadRequest("The domain id cannot be changed.")
    dom = await req.runtime.identity.resources.update_domain(
        req.params["domain_id"], split_extra(body, DOMAIN_KEYS))
    return views.respond({"domain": views.domain(req, dom)})


async def delete_domain(req: ApiRequest) -> Response:
    await req.runtime.identity.resources.delete_domain(req.params["domain_id"])
    return views.no_content()


# --- projects ------------------------------------------------------------------------------
def default_domain(req: ApiRequest) -> str:
    """Where a new project, user or group goes when the body names no domain."""
    return req.ctx.domain_id or req.ctx.project_domain_id or "default"


async def _render_projects(req: ApiRequest, projects: list[Any]) -> list[dict[str, Any]]:
    tags = await req.runtime.identity.resources.project_tags([p.id for p in projects])
    return [views.project(req, p, tags[p.id]) for p in projects]


# --- projects acting as domains (is_domain=true): Keystone's other face of a domain ---------
async def _domain_or_none(req: ApiRequest, ident: str) -> Domain | None:
    """The domain behind a project id, when the id names a domain and no project."""
    res = req.runtime.identity.resources
    try:
        await res.get_project(ident)
        return None
    except NotFound:
        try:
            return await res.get_domain(ident)
        except NotFound:
            return None


async def _create_domain_project(req: ApiRequest, body: dict[str, Any]) -> Response:
    for key in ("parent_id", "domain_id"):
        if body.get(key):
            raise BadRequest(f"Invalid input for field '{key}': a project acting as a domain "
                             "(is_domain=true) has no parent and no domain.")
    data = split_extra({k: v for k, v in body.items() if k not in ("is_domain", "parent_id",
                                                                    "domain_id")}, DOMAIN_KEYS)
    dom = await req.runtime.identity.resources.create_domain(data)
    return views.respond({"project": views.domain_project(req, dom)}, status=201)


async def create_project(req: ApiRequest) -> Response:
    body = (await req.json(schemas.project_create))["project"]
    if body.get("is_domain") is True:
        return await _create_domain_project(req, body)
    proj = await req.runtime.identity.resources.create_project(
        split_extra(body, PROJECT_KEYS), default_domain(req))
    return views.respond({"project": (await _render_projects(req, [proj]))[0]}, status=201)


def _tag_list(req: ApiRequest, key: str) -> list[str] | None:
    if key not in req.query:
        return None
    return [t for t in req.query[key].split(",") if t]


async def list_projects(req: ApiRequest) -> Response:
    f = domain_list_filters(req, ("name", "domain_id", "parent_id"))
    if "is_domain" in req.query:
        f["is_domain"] = req.flag("is_domain")
    for key in ("tags", "tags-any", "not-tags", "not-tags-any"):
        value = _tag_list(req, key)
        if value is not None:
            f[key] = value
    if f.get("is_domain") is True:
        doms = await req.runtime.identity.resources.list_domains(
            {k: f[k] for k in ("name", "enabled") if k in f})
        if f.get("domain_id") or f.get("parent_id"):
            doms = []  # a project acting as a domain sits under nothing
        return views.listing(req, "projects", [views.domain_project(req, d) for d in doms])
    projects = await req.runtime.identity.resources.list_projects(f)
    return views.listing(req, "projects", await _render_projects(req, projects))


async def get_project(req: ApiRequest) -> Response:
    res = req.runtime.identity.resources
    dom = await _domain_or_none(req, req.params["project_id"])
    if dom is not None:
        return views.respond({"project": views.domain_project(req, dom)})
    proj = await res.get_project(req.params["project_id"])
    tags = await res.project_tags([proj.id])
    parents = None
    if req.flag("parents_as_list") or req.flag("parents_as_ids"):
        parents = await res.project_parents(proj)
    body = views.project(req, proj, tags[proj.id], parents)
    if req.flag("subtree_as_list") or req.flag("subtree_as_ids"):
        ids = await res.project_subtree_ids(proj.id)
        subtree = await res.list_projects({"ids": ids}) if ids else []
        body["subtree"] = [{"project": p} for p in await _render_projects(req, subtree)]
    return views.respond({"project": body})


async def update_project(req: ApiRequest) -> Response:
    body = (await req.json(schemas.project_update))["project"]
    dom = await _domain_or_none(req, req.params["project_id"])
    if dom is not None:
        if "is_domain" in body and body["is_domain"] is not True:
            raise BadRequest("Update of `is_domain` is not allowed.")
        data = {k: v for k, v in body.items() if k not in ("is_domain", "parent_id",
                                                             "domain_id")}
        dom = await req.runtime.identity.resources.update_domain(
            dom.id, split_extra(data, DOMAIN_KEYS))
        return views.respond({"project": views.domain_project(req, dom)})
    proj = await req.runtime.identity.resources.update_project(
        req.params["project_id"], split_extra(body, PROJECT_KEYS))
    return views.respond({"project": (await _render_projects(req, [proj]))[0]})


async def delete_project(req: ApiRequest) -> Response:
    dom = await _domain_or_none(req, req.params["project_id"])
    if dom is not None:
        await req.runtime.identity.resources.delete_domain(dom.id)
        return views.no_content()
    await req.runtime.identity.resources.delete_project(req.params["project_id"])
    return views.no_content()


async def list_project_tags(req: ApiRequest) -> Response:
    res = req.runtime.identity.resources
    await res.get_project(req.params["project_id"])
    tags = await res.project_tags([req.params["project_id"]])
    return views.respond({"tags": tags[req.params["project_id"]]})


async def set_project_tags(req: ApiRequest) -> Response:
    body = await req.json(schemas.project_tags)
    tags = await req.runtime.identity.resources.set_project_tags(req.params["project_id"],
                                                                 body["tags"])
    return views.respond({"tags": tags})


async def delete_project_tags(req: ApiRequest) -> Response:
    await req.runtime.identity.resources.set_project_tags(req.params["project_id"], [])
    return views.no_content()


async def check_project_tag(req: ApiRequest) -> Response:
    res = req.runtime.identity.resources
    await res.get_project(req.params["project_id"])
    tags = await res.project_tags([req.params["project_id"]])
    if req.params["tag"] not in tags[req.params["project_id"]]:
        raise NotFound(f"Tag {req.params['tag']} not found on the project.")
    return views.no_content()


async def add_project_tag(req: ApiRequest) -> Response:
    validate(req.params["tag"], schemas.tag)
    await req.runtime.identity.resources.add_project_tag(req.params["project_id"],
                                                         req.params["tag"])
    return Response(status_code=201, headers={
        "Location": req.url(f"/v3/projects/{req.params['project_id']}/tags/{req.params['tag']}")})


async def delete_project_tag(req: ApiRequest) -> Response:
    await req.runtime.identity.resources.delete_project_tag(req.params["project_id"],
                                                            req.params["tag"])
    return views.no_content()
