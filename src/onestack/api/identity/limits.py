"""Unified limits: /v3/registered_limits, /v3/limits and /v3/limits/model."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.identity import schemas, views
from onestack.core.identity.limits import MODEL

_FILTERS = ("service_id", "region_id", "resource_name")


def _filters(req: ApiRequest, keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: req.query[k] for k in keys if k in req.query}


# --- registered limits ---------------------------------------------------------------------
async def create_registered(req: ApiRequest) -> Response:
    body = await req.json(schemas.registered_limits_create)
    made = await req.runtime.identity.limits.create_registered(body["registered_limits"])
    return views.respond({"registered_limits": [views.registered_limit(req, r) for r in made]},
                         status=201)


async def list_registered(req: ApiRequest) -> Response:
    regs = await req.runtime.identity.limits.list_registered(_filters(req, _FILTERS))
    return views.listing(req, "registered_limits",
                         [views.registered_limit(req, r) for r in regs])


async def get_registered(req: ApiRequest) -> Response:
    reg = await req.runtime.identity.limits.get_registered(req.params["registered_limit_id"])
    return views.respond({"registered_limit": views.registered_limit(req, reg)})


async def update_registered(req: ApiRequest) -> Response:
    body = (await req.json(schemas.registered_limit_update))["registered_limit"]
    reg = await req.runtime.identity.limits.update_registered(
        req.params["registered_limit_id"], body)
    return views.respond({"registered_limit": views.registered_limit(req, reg)})


async def delete_registered(req: ApiRequest) -> Response:
    await req.runtime.identity.limits.delete_registered(req.params["registered_limit_id"])
    return views.no_content()


# --- limits --------------------------------------------------------------------------------
async def limit_target(req: ApiRequest) -> dict[str, Any]:
    limit = await req.runtime.identity.limits.get_limit(req.params["limit_id"])
    return {"target.limit.project_id": limit.project_id or None,
            "target.limit.domain_id": limit.domain_id or None}


async def create_limits(req: ApiRequest) -> Response:
    body = await req.json(schemas.limits_create)
    made = await req.runtime.identity.limits.create_limits(body["limits"])
    return views.respond({"limits": [views.limit(req, x) for x in made]}, status=201)


async def list_limits(req: ApiRequest) -> Response:
    """Everything for admins and system readers; a project's own limits for its tokens, a
    domain's and its projects' for a domain-scoped one; nothing for an unscoped one."""
    ctx, ident = req.ctx, req.runtime.identity
    f = _filters(req, (*_FILTERS, "project_id", "domain_id"))
    if not (ctx.has_admin_role or (ctx.system_scope and "reader" in ctx.roles)):
        if ctx.project_id:
            f["project_ids"] = {ctx.project_id}
        elif ctx.domain_id:
            projects = await ident.resources.list_projects({"domain_id": ctx.domain_id})
            f["project_ids"] = {p.id for p in projects}
        else:
            f["project_ids"] = set()
    limits = await ident.limits.list_limits(f)
    if ctx.domain_id and "project_ids" in f:  # the domain's own limits too
        limits += await ident.limits.list_limits({**f, "project_ids": None,
                                                  "domain_id": ctx.domain_id})
    return views.listing(req, "limits", [views.limit(req, x) for x in limits])


async def get_limit(req: ApiRequest) -> Response:
    limit = await req.runtime.identity.limits.get_limit(req.params["limit_id"])
    return views.respond({"limit": views.limit(req, limit)})


async def update_limit(req: ApiRequest) -> Response:
    body = (await req.json(schemas.limit_update))["limit"]
    limit = await req.runtime.identity.limits.update_limit(req.params["limit_id"], body)
    return views.respond({"limit": views.limit(req, limit)})


async def delete_limit(req: ApiRequest) -> Response:
    await req.runtime.identity.limits.delete_limit(req.params["limit_id"])
    return views.no_content()


async def limit_model(req: ApiRequest) -> Response:
    return views.respond({"model": dict(MODEL)})
