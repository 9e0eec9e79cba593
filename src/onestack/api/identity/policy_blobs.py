"""/v3/policies: Keystone's deprecated policy blob store (admin only)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.identity import schemas, views
from onestack.api.identity.resources import split_extra
from onestack.db.models.identity_admin import PolicyBlob

KEYS = {"type", "blob"}


def _view(req: ApiRequest, p: PolicyBlob) -> dict[str, Any]:
    return {**p.extra, "id": p.id, "type": p.type, "blob": p.blob,
            "links": {"self": req.url(f"/v3/policies/{p.id}")}}


async def create(req: ApiRequest) -> Response:
    body = (await req.json(schemas.policy_create))["policy"]
    blob = await req.runtime.identity.policy_blobs.create(split_extra(body, KEYS | {"id"}))
    return views.respond({"policy": _view(req, blob)}, status=201)


async def list_(req: ApiRequest) -> Response:
    blobs = await req.runtime.identity.policy_blobs.list(req.query.get("type"))
    return views.listing(req, "policies", [_view(req, b) for b in blobs])


async def get(req: ApiRequest) -> Response:
    blob = await req.runtime.identity.policy_blobs.get(req.params["policy_id"])
    return views.respond({"policy": _view(req, blob)})


async def update(req: ApiRequest) -> Response:
    body = (await req.json(schemas.policy_update))["policy"]
    blob = await req.runtime.identity.policy_blobs.update(req.params["policy_id"],
                                                          split_extra(body, KEYS | {"id"}))
    return views.respond({"policy": _view(req, blob)})


async def delete(req: ApiRequest) -> Response:
    await req.runtime.identity.policy_blobs.delete(req.params["policy_id"])
    return views.no_content()
