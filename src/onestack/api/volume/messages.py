"""Cinder's user messages (3.3): why a volume or snapshot went to error."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.volume.common import caller, iso, links, respond, since
from onestack.core.volume.messages import Message
from onestack.errors import NotFound


def _view(req: ApiRequest, m: Message) -> dict[str, Any]:
    return {"id": m.id, "message_level": "ERROR", "event_id": m.event_id,
            "user_message": m.user_message, "resource_type": m.resource_type,
            "resource_uuid": m.resource_uuid, "request_id": m.request_id,
            "created_at": iso(m.created_at), "guaranteed_until": iso(m.guaranteed_until),
            "links": links(req, "messages", m.id)}


def _check(req: ApiRequest) -> None:
    if not since(req, 3, 3):
        raise NotFound("The resource could not be found.")


async def list_messages(req: ApiRequest) -> Response:
    _check(req)
    rows = await req.runtime.volume.messages.list(caller(req))
    return respond({"messages": [_view(req, m) for m in rows]})


async def show(req: ApiRequest) -> Response:
    _check(req)
    m = await req.runtime.volume.messages.get(caller(req), req.params["message_id"])
    return respond({"message": _view(req, m)})


async def delete(req: ApiRequest) -> Response:
    _check(req)
    await req.runtime.volume.messages.delete(caller(req), req.params["message_id"])
    return Response(status_code=204)
