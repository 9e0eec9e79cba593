"""The attachments API (3.27+): thin handlers over core.volume.attachments."""

from __future__ import annotations

from starlette.responses import Response

from onestack.api.common.microversions import NotAcceptable
from onestack.api.common.request import ApiRequest
from onestack.api.volume import views
from onestack.api.volume.common import (
    body_of,
    bool_param,
    caller,
    int_param,
    one,
    respond,
    since,
)
from onestack.errors import BadRequest


def _need(req: ApiRequest, minor: int = 27) -> None:
    if not since(req, 3, minor):
        raise NotAcceptable(f"The attachments API needs microversion 3.{minor} or later.")


async def create(req: ApiRequest) -> Response:
    _need(req)
    body = await body_of(req, "attachment")
    if not since(req, 3, 54):
        body.pop("mode", None)
    att = await req.runtime.volume.attachments.create(caller(req), body)
    return respond({"attachment": views.attachment(req, att)})


async def _list(req: ApiRequest, detail: bool) -> Response:
    _need(req)
    filters = {k: v for k in ("volume_id", "instance_id", "status")
               if (v := one(req, k)) is not None}
    rows = await req.runtime.volume.attachments.list(
        caller(req), bool(bool_param(req, "all_tenants")), filters, int_param(req, "limit"),
        one(req, "marker"))
    return respond({"attachments": [views.attachment(req, a, detail=detail) for a in rows]})


async def list_attachments(req: ApiRequest) -> Response:
    return await _list(req, False)


async def list_details(req: ApiRequest) -> Response:
    return await _list(req, True)


async def show(req: ApiRequest) -> Response:
    _need(req)
    att = await req.runtime.volume.attachments.get(caller(req), req.params["attachment_id"])
    return respond({"attachment": views.attachment(req, att)})


async def update(req: ApiRequest) -> Response:
    _need(req)
    body = await body_of(req, "attachment")
    att = await req.runtime.volume.attachments.update(caller(req),
                                                      req.params["attachment_id"],
                                                      body.get("connector"))
    return respond({"attachment": views.attachment(req, att)})


async def delete(req: ApiRequest) -> Response:
    _need(req)
    await req.runtime.volume.attachments.delete(caller(req), req.params["attachment_id"])
    return respond({"attachments": []})


async def action(req: ApiRequest) -> Response:
    _need(req, 44)
    body = await req.json()
    if not isinstance(body, dict) or "os-complete" not in body:
        raise BadRequest("Invalid request body: the only attachment action is os-complete.")
    await req.runtime.volume.attachments.complete(caller(req), req.params["attachment_id"])
    return Response(status_code=204)
