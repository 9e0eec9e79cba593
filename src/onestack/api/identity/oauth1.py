"""/v3/OS-OAUTH1/consumers: OAuth1 consumers (admin only). Request and access tokens are
not served."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.identity import schemas, views
from onestack.api.identity.resources import split_extra
from onestack.db.models.identity_admin import OAuthConsumer
from onestack.errors import BadRequest

BASE = "/v3/OS-OAUTH1/consumers"


def _view(req: ApiRequest, c: OAuthConsumer, secret: str | None = None) -> dict[str, Any]:
    out = {**c.extra, "id": c.id, "description": c.description,
           "links": {"self": req.url(f"{BASE}/{c.id}")}}
    if secret is not None:
        out["secret"] = secret
    return out


async def create(req: ApiRequest) -> Response:
    body = (await req.json(schemas.consumer_create))["consumer"]
    data = split_extra(body, {"description"})
    consumer, secret = await req.runtime.identity.oauth1.create(
        data.get("description"), data.get("extra", {}))
    return views.respond({"consumer": _view(req, consumer, secret)}, status=201)


async def list_(req: ApiRequest) -> Response:
    consumers = await req.runtime.identity.oauth1.list()
    return views.listing(req, "consumers", [_view(req, c) for c in consumers])


async def get(req: ApiRequest) -> Response:
    consumer = await req.runtime.identity.oauth1.get(req.params["consumer_id"])
    return views.respond({"consumer": _view(req, consumer)})


async def update(req: ApiRequest) -> Response:
    body = (await req.json(schemas.consumer_update))["consumer"]
    if "secret" in body:
        raise BadRequest("Invalid input for field 'secret': a consumer's secret cannot be "
                         "changed.")
    if "id" in body and body["id"] != req.params["consumer_id"]:
        raise BadRequest("Invalid input for field 'id': the id cannot be changed.")
    consumer = await req.runtime.identity.oauth1.update(
        req.params["consumer_id"], split_extra(body, {"description", "id"}))
    return views.respond({"consumer": _view(req, consumer)})


async def delete(req: ApiRequest) -> Response:
    await req.runtime.identity.oauth1.delete(req.params["consumer_id"])
    return views.no_content()
