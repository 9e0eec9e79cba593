"""Glance v2 response shapes and fault bodies."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from starlette.responses import Response

from onestack.api.common.jsonbody import json_response
from onestack.core.image.access import Caller
from onestack.core.image.records import ImageRecord
from onestack.db.models import ImageMember
from onestack.errors import OnestackError, Unauthorized

if TYPE_CHECKING:
    from onestack.api.common.request import ApiRequest

IMPORT_METHODS_HEADER = "OpenStack-image-import-methods"
STORE_IDS_HEADER = "OpenStack-image-store-ids"


def isotime(value: dt.datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def respond(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return json_response(body, status, headers)


def no_content(headers: dict[str, str] | None = None) -> Response:
    return Response(status_code=204, headers=headers)


def caller(req: ApiRequest) -> Caller:
    policy = req.runtime.policy
    is_admin = policy.authorize("context_is_admin", req.ctx, {})
    return Caller(req.ctx.project_id, is_admin,
                  publicize=is_admin or policy.authorize("publicize_image", req.ctx, {}),
                  communitize=is_admin or policy.authorize("communitize_image", req.ctx, {}))


def image(rec: ImageRecord) -> dict[str, Any]:
    i = rec.image
    body: dict[str, Any] = {
        **rec.properties,
        "id": i.id, "name": i.name, "status": i.status, "visibility": i.visibility,
        "protected": i.protected, "os_hidden": i.os_hidden, "checksum": i.checksum,
        "os_hash_algo": i.os_hash_algo, "os_hash_value": i.os_hash_value, "owner": i.owner,
        "size": i.size, "virtual_size": i.virtual_size, "min_ram": i.min_ram,
        "min_disk": i.min_disk, "disk_format": i.disk_format,
        "container_format": i.container_format, "created_at": isotime(i.created_at),
        "updated_at": isotime(i.updated_at), "tags": list(rec.tags),
        "self": f"/v2/images/{i.id}", "file": f"/v2/images/{i.id}/file",
        "schema": "/v2/schemas/image",
    }
    if i.location:
        body["stores"] = "file"
    return body


def image_listing(req: ApiRequest, recs: list[ImageRecord], more: bool,
                  limit: int) -> dict[str, Any]:
    body: dict[str, Any] = {"images": [image(r) for r in recs], "first": "/v2/images",
                            "schema": "/v2/schemas/images"}
    if more and recs:
        params = [(k, v) for k, v in req.query.multi_items() if k not in ("marker", "limit")]
        params += [("marker", recs[-1].image.id), ("limit", str(limit))]
        body["next"] = f"/v2/images?{urlencode(params)}"
    return body


def member(m: ImageMember) -> dict[str, Any]:
    return {"image_id": m.image_id, "member_id": m.member, "status": m.status,
            "created_at": isotime(m.created_at), "updated_at": isotime(m.updated_at),
            "schema": "/v2/schemas/member"}


def glance_fault(exc: OnestackError, req: ApiRequest | None) -> tuple[dict[str, Any],
                                                                       dict[str, str]]:
    headers = dict(exc.headers)
    if isinstance(exc, Unauthorized) and req is not None:
        identity = req.runtime.settings.server.public_url or req.base_url()[
            :-len(req.service.prefix)]
        headers["WWW-Authenticate"] = f'Keystone uri="{identity.rstrip("/")}/identity"'
    return {"code": exc.status, "title": exc.title, "message": exc.message}, headers
