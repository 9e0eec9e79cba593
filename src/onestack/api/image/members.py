"""Image members: /v2/images/{image_id}/members[/{member_id}]."""

from __future__ import annotations

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.image import schemas, views


async def create_member(req: ApiRequest) -> Response:
    body = await req.json(schemas.member_create)
    m = await req.runtime.image.members.create(views.caller(req), req.params["image_id"],
                                               body["member"])
    return views.respond(views.member(m))


async def list_members(req: ApiRequest) -> Response:
    rows = await req.runtime.image.members.list_for(views.caller(req), req.params["image_id"])
    return views.respond({"members": [views.member(m) for m in rows],
                          "schema": "/v2/schemas/members"})


async def show_member(req: ApiRequest) -> Response:
    m = await req.runtime.image.members.get(views.caller(req), req.params["image_id"],
                                            req.params["member_id"])
    return views.respond(views.member(m))


async def update_member(req: ApiRequest) -> Response:
    body = await req.json(schemas.member_update)
    m = await req.runtime.image.members.update(views.caller(req), req.params["image_id"],
                                               req.params["member_id"], body["status"])
    return views.respond(views.member(m))


async def delete_member(req: ApiRequest) -> Response:
    await req.runtime.image.members.delete(views.caller(req), req.params["image_id"],
                                           req.params["member_id"])
    return views.no_content()
