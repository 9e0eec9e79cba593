"""Nova's image metadata proxy (``/images/{id}/metadata``, deprecated: to 2.38, 404 after,
as Nova): an image's extra properties in Glance, read and written as Nova's metadata."""

from __future__ import annotations

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.compute import schemas
from onestack.api.compute.common import respond, since
from onestack.api.compute.images import _caller, _get
from onestack.core.image.patch import BASE, Change
from onestack.errors import BadRequest, NotFound

MAX_ITEMS = 128  # Nova's metadata_items quota


def _check_version(req: ApiRequest) -> None:
    if since(req, 2, 39):
        raise NotFound("The resource could not be found.")


async def _properties(req: ApiRequest) -> dict[str, str]:
    _check_version(req)
    return dict((await _get(req)).properties)


async def _write(req: ApiRequest, changes: list[Change]) -> dict[str, str]:
    for change in changes:
        if change.path in BASE:
            raise BadRequest(f"Invalid metadata key {change.path!r}: an image attribute.")
    image_id = req.params["image_id"]
    rec = await req.runtime.image.images.update(_caller(req), image_id, changes)
    if len(rec.properties) > MAX_ITEMS:
        raise BadRequest(f"Quota exceeded for metadata items: at most {MAX_ITEMS}.")
    return dict(rec.properties)


async def index(req: ApiRequest) -> Response:
    return respond({"metadata": await _properties(req)})


async def update(req: ApiRequest) -> Response:
    """POST merges the items into the image's; PUT replaces them all."""
    old = await _properties(req)
    items = (await req.json(schemas.metadata_body))["metadata"]
    if len(items if req.method == "PUT" else {**old, **items}) > MAX_ITEMS:
        raise BadRequest(f"Quota exceeded for metadata items: at most {MAX_ITEMS}.")
    changes = [Change("add", k, v) for k, v in items.items()]
    if req.method == "PUT":
        changes += [Change("remove", k) for k in old if k not in items]
    return respond({"metadata": await _write(req, changes)})


async def show(req: ApiRequest) -> Response:
    props, key = await _properties(req), req.params["key"]
    if key not in props:
        raise NotFound("Image not found.")
    return respond({"meta": {key: props[key]}})


async def put_item(req: ApiRequest) -> Response:
    await _properties(req)
    meta = (await req.json(schemas.meta_item))["meta"]
    key = req.params["key"]
    if key not in meta:
        raise BadRequest("Request body and URI mismatch")
    await _write(req, [Change("add", key, meta[key])])
    return respond({"meta": meta})


async def delete_item(req: ApiRequest) -> Response:
    props, key = await _properties(req), req.params["key"]
    if key not in props:
        raise NotFound("Image not found.")
    await _write(req, [Change("remove", key)])
    return Response(status_code=204)
