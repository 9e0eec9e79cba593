"""Placement response shapes, with their microversion branches, and the error body."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.responses import Response

from onestack.api.common.jsonbody import json_response
from onestack.api.common.microversions import req_version
from onestack.errors import OnestackError
from onestack.scheduler.base import Provider

if TYPE_CHECKING:
    from onestack.api.common.request import ApiRequest

JSON = "application/json"


def respond(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return json_response(body, status, headers, JSON)


def respond_json(body: bytes) -> Response:
    """200 with a body already encoded as JSON."""
    return Response(body, media_type=JSON)


def no_content() -> Response:
    return Response(status_code=204)


def placement_fault(exc: OnestackError, req: ApiRequest | None
                    ) -> tuple[dict[str, Any], dict[str, str]]:
    error: dict[str, Any] = {"status": exc.status, "title": exc.title, "detail": exc.message,
                             "request_id": req.ctx.request_id if req is not None else None}
    if req is not None and req_version(req) >= (1, 23):
        error["code"] = getattr(exc, "code", "placement.undefined")
    return {"errors": [error]}, dict(exc.headers)


def link(req: ApiRequest, rel: str, path: str) -> dict[str, str]:
    return {"rel": rel, "href": f"{req.service.prefix}{path}"}


def provider(req: ApiRequest, rp: Provider) -> dict[str, Any]:
    v = req_version(req)
    base = f"/resource_providers/{rp.uuid}"
    links = [link(req, "self", base), link(req, "inventories", base + "/inventories"),
             link(req, "usages", base + "/usages")]
    if v >= (1, 1):
        links.append(link(req, "aggregates", base + "/aggregates"))
    if v >= (1, 6):
        links.append(link(req, "traits", base + "/traits"))
    if v >= (1, 11):
        links.append(link(req, "allocations", base + "/allocations"))
    out: dict[str, Any] = {"uuid": rp.uuid, "name": rp.name, "generation": rp.generation,
                           "links": links}
    if v >= (1, 14):
        out["parent_provider_uuid"] = rp.parent_uuid
        out["root_provider_uuid"] = rp.root_uuid
    return out


def resource_class(req: ApiRequest, name: str) -> dict[str, Any]:
    return {"name": name, "links": [link(req, "self", f"/resource_classes/{name}")]}
