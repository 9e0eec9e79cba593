"""Version discovery, /v3/auth/tokens and the /v3/auth/* helpers."""

from __future__ import annotations

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.identity import schemas, views
from onestack.core.identity.auth import TokenData
from onestack.errors import NotFound, Unauthorized

V3_UPDATED = "2024-04-24T00:00:00Z"
V3_ID = "v3.14"


def _version(req: ApiRequest) -> dict[str, object]:
    return {
        "id": V3_ID, "status": "stable", "updated": V3_UPDATED,
        "links": [{"rel": "self", "href": req.url("/v3/")}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.identity-v3+json"}],
    }


async def versions(req: ApiRequest) -> Response:
    return views.respond({"versions": {"values": [_version(req)]}}, status=300)


async def version_v3(req: ApiRequest) -> Response:
    return views.respond({"version": _version(req)})


async def _body(req: ApiRequest, data: TokenData, status: int = 200) -> Response:
    nocatalog = req.flag("nocatalog")
    catalog = None if nocatalog else await req.runtime.identity.auth.catalog_for(data)
    return views.respond(views.token_body(data, catalog), status=status,
                         headers={"X-Subject-Token": data.token})


async def issue(req: ApiRequest) -> Response:
    body = await req.json(schemas.token_issue)
    auth = body["auth"]
    identity = auth["identity"]
    if "token" in identity["methods"] and not identity.get("token") and req.ctx.auth_token:
        identity["token"] = {"id": req.ctx.auth_token}
    data = await req.runtime.identity.auth.authenticate(auth)
    return await _body(req, data, status=201)


async def _subject(req: ApiRequest) -> TokenData:
    token = req.header("x-subject-token")
    if not token:
        raise NotFound("X-Subject-Token header is required.")
    allow_expired = bool(req.flag("allow_expired"))
    data = await req.runtime.identity.auth.validate(token, allow_expired=allow_expired)
    rule = {"GET": "identity:validate_token", "HEAD": "identity:check_token",
            "DELETE": "identity:revoke_token"}[req.method]
    req.runtime.policy.enforce(rule, req.ctx, {"target.token.user_id": data.user.id})
    return data


async def validate(req: ApiRequest) -> Response:
    data = await _subject(req)
    if req.method == "HEAD":
        return Response(status_code=200, headers={"X-Subject-Token": data.token})
    return await _body(req, data)


async def revoke(req: ApiRequest) -> Response:
    data = await _subject(req)
    await req.runtime.identity.auth.revoke(data)
    return views.no_content()


async def _current(req: ApiRequest) -> TokenData:
    if not req.ctx.auth_token:
        raise Unauthorized()
    return await req.runtime.identity.auth.validate(req.ctx.auth_token)


async def auth_catalog(req: ApiRequest) -> Response:
    data = await _current(req)
    if data.payload.scope == "unscoped":
        raise Unauthorized("The catalog needs a scoped token (project, domain or system).")
    catalog = await req.runtime.identity.auth.catalog_for(data)
    return views.respond({"catalog": catalog, "links": {"self": req.url("/v3/auth/catalog"),
                                                        "previous": None, "next": None}})


async def auth_projects(req: ApiRequest) -> Response:
    ident = req.runtime.identity
    assert req.ctx.user_id
    ids = await ident.roles.project_ids_for_user(req.ctx.user_id)
    projects = [p for p in await ident.resources.list_projects({"ids": list(ids)}) if p.enabled]
    tags = await ident.resources.project_tags([p.id for p in projects])
    return views.listing(req, "projects", [views.project(req, p, tags[p.id]) for p in projects])


async def auth_domains(req: ApiRequest) -> Response:
    ident = req.runtime.identity
    assert req.ctx.user_id
    ids = await ident.roles.domain_ids_for_user(req.ctx.user_id)
    domains = [d for d in await ident.resources.list_domains({"ids": list(ids)}) if d.enabled]
    return views.listing(req, "domains", [views.domain(req, d) for d in domains])


async def auth_system(req: ApiRequest) -> Response:
    assert req.ctx.user_id
    roles = await req.runtime.identity.roles.effective_role_ids(req.ctx.user_id, "system",
                                                                "system")
    return views.listing(req, "system", [{"all": True}] if roles else [])
