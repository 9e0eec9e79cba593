"""Version discovery, the secret store, quotas and ACLs."""

from __future__ import annotations

from starlette.responses import Response

from onestack.api.common.jsonbody import json_response
from onestack.api.common.request import ApiRequest
from onestack.api.key_manager import schemas, views
from onestack.api.key_manager.common import body, core
from onestack.core.key_manager import errors
from onestack.core.key_manager.rules import QUOTA_RESOURCES, STORE

MIN_VERSION, MAX_VERSION = "1.0", "1.1"
STORE_ID = "00000000-0000-4000-8000-00000000000a"
EPOCH = "2026-12-07T00:00:00"


def _version(req: ApiRequest) -> dict[str, object]:
    return {"id": "v1", "status": "CURRENT", "min_version": MIN_VERSION,
            "max_version": MAX_VERSION,
            "links": [{"rel": "self", "href": req.url("/v1/")},
                      {"rel": "describedby", "type": "text/html",
                       "href": "https://docs.openstack.org/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.key-manager-v1+json"}]}


async def versions(req: ApiRequest) -> Response:
    return json_response({"versions": {"values": [_version(req)]}}, 300)


async def version(req: ApiRequest) -> Response:
    return json_response({"version": _version(req)})


# --- the one secret store ----------------------------------------------------------------------
def _store(req: ApiRequest) -> dict[str, object]:
    return {**STORE, "global_default": True, "status": "ACTIVE", "created": EPOCH,
            "updated": EPOCH, "secret_store_ref": req.url(f"/v1/secret-stores/{STORE_ID}")}


async def stores(req: ApiRequest) -> Response:
    return json_response({"secret_stores": [_store(req)], "total": 1})


async def global_default(req: ApiRequest) -> Response:
    return json_response(_store(req))


async def store(req: ApiRequest) -> Response:
    if req.params["store_id"] != STORE_ID:
        raise errors.not_found("Secret store")
    return json_response(_store(req))


# --- quotas ------------------------------------------------------------------------------------
async def quotas(req: ApiRequest) -> Response:
    return json_response({"quotas": await core(req).quotas(req.ctx.project_id or "")})


async def project_quotas(req: ApiRequest) -> Response:
    offset, limit = schemas.paging(req.query)
    found = await core(req).project_quotas()
    items = [{"project_id": p, "project_quotas": q} for p, q in found.items()]
    return json_response(views.page(req, "project-quotas", "project_quotas",
                                    items[offset:offset + limit], len(items), offset, limit))


async def project_quota(req: ApiRequest) -> Response:
    found = (await core(req).project_quotas()).get(req.params["project_id"])
    if found is None:
        raise errors.NotFound("Not Found. Sorry but your project quotas are in another "
                              "castle.")
    return json_response({"project_quotas": {k: found[k] for k in QUOTA_RESOURCES
                                             if k in found}})


async def put_project_quota(req: ApiRequest) -> Response:
    values = schemas.quotas(await body(req))
    await core(req).set_project_quotas(req.params["project_id"], values)
    return Response(status_code=204)


async def delete_project_quota(req: ApiRequest) -> Response:
    await core(req).delete_project_quotas(req.params["project_id"])
    return Response(status_code=204)


# --- ACLs --------------------------------------------------------------------------------------
def _target(req: ApiRequest) -> tuple[str, str]:
    if "secret_id" in req.params:
        return "secret", req.params["secret_id"]
    return "container", req.params["container_id"]


async def get_acl(req: ApiRequest) -> Response:
    kind, _ = _target(req)
    return json_response(views.acl(req.state[kind].acl))


async def _set_acl(req: ApiRequest, replace: bool) -> Response:
    users, access = schemas.acl(await body(req))
    kind, ident = _target(req)
    await core(req).set_acl(kind, ident, users, access, replace)
    return json_response({"acl_ref": views.ref(req, f"{kind}s", ident) + "/acl"})


async def put_acl(req: ApiRequest) -> Response:
    return await _set_acl(req, True)


async def patch_acl(req: ApiRequest) -> Response:
    return await _set_acl(req, False)


async def delete_acl(req: ApiRequest) -> Response:
    kind, ident = _target(req)
    await core(req).delete_acl(kind, ident)
    return json_response(None)  # Barbican answers 200 with a JSON null
