"""Volumes and their metadata: thin handlers over core.volume."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.volume import views
from onestack.api.volume.common import (
    accepted,
    body_of,
    bool_param,
    caller,
    list_query,
    next_links,
    one,
    respond,
    since,
)
from onestack.core.volume import volumes as core
from onestack.errors import BadRequest, NotFound

FILTERS = ("name", "display_name", "status", "availability_zone", "bootable", "volume_type",
           "metadata", "snapshot_id", "source_volid", "id", "size")


def _filters(req: ApiRequest) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in FILTERS:
        value = one(req, key)
        if value is None:
            continue
        if key == "display_name":
            key = "name"
        if key == "metadata":
            out[key] = core.parse_metadata_filter(value)
        elif key == "bootable":
            out[key] = bool_param(req, "bootable")
        else:
            out[key] = value
    return out


async def _listing(req: ApiRequest, detail: bool) -> Response:
    q = list_query(req, core.SORT_COLUMNS, _filters(req))
    recs = await req.runtime.volume.volumes.page(caller(req), q)
    body: dict[str, Any] = {"volumes": [
        views.volume(req, r) if detail else views.volume_summary(req, r) for r in recs]}
    nxt = next_links(req, len(recs), q, recs[-1].volume.id if recs else None)
    if nxt:
        body["volumes_links"] = nxt
    if since(req, 3, 45) and bool_param(req, "with_count"):
        body["count"] = len(recs)
    return respond(body)


async def list_volumes(req: ApiRequest) -> Response:
    return await _listing(req, False)


async def list_details(req: ApiRequest) -> Response:
    return await _listing(req, True)


async def summary(req: ApiRequest) -> Response:
    out = await req.runtime.volume.volumes.summary(
        caller(req), bool(bool_param(req, "all_tenants")))
    if since(req, 3, 36):
        out["metadata"] = {}
    return respond({"volume-summary": out})


async def create(req: ApiRequest) -> Response:
    body = await body_of(req, "volume")
    rec = await req.runtime.volume.volumes.create(caller(req), body)
    return respond({"volume": views.volume(req, rec, extended=False)}, 202)


async def show(req: ApiRequest) -> Response:
    rec = await req.runtime.volume.volumes.get(caller(req), req.params["volume_id"])
    return respond({"volume": views.volume(req, rec)})


async def update(req: ApiRequest) -> Response:
    body = await body_of(req, "volume")
    rec = await req.runtime.volume.volumes.update(caller(req), req.params["volume_id"], body)
    return respond({"volume": views.volume(req, rec, extended=False)})


async def delete(req: ApiRequest) -> Response:
    cascade = bool(bool_param(req, "cascade"))
    force = bool(bool_param(req, "force"))
    if force and not req.runtime.policy.authorize("volume:force_delete", req.ctx, {}):
        raise NotFound(f"Volume {req.params['volume_id']} could not be found.")
    await req.runtime.volume.volumes.delete(caller(req), req.params["volume_id"],
                                            cascade=cascade, force=force)
    return accepted()


async def no_volume_id(req: ApiRequest) -> Response:
    """PUT or DELETE on the collection: no volume named (Cinder's 404)."""
    raise NotFound("Volume could not be found: no volume id was given.")


# --- metadata ------------------------------------------------------------------------------
async def show_metadata(req: ApiRequest) -> Response:
    rec = await req.runtime.volume.volumes.get(caller(req), req.params["volume_id"])
    return respond({"metadata": views._metadata(rec)})


async def _set(req: ApiRequest, replace: bool) -> Response:
    body = await req.json()
    if not isinstance(body, dict) or "metadata" not in body:
        raise BadRequest("Malformed request body: a 'metadata' object is required.")
    meta = await req.runtime.volume.volumes.set_metadata(
        caller(req), req.params["volume_id"], body["metadata"], replace=replace)
    return respond({"metadata": meta})


async def create_metadata(req: ApiRequest) -> Response:
    return await _set(req, False)


async def replace_metadata(req: ApiRequest) -> Response:
    return await _set(req, True)


async def show_metadata_item(req: ApiRequest) -> Response:
    rec = await req.runtime.volume.volumes.get(caller(req), req.params["volume_id"])
    key = req.params["key"]
    meta = views._metadata(rec)
    if key not in meta:
        raise NotFound(f"Volume {rec.volume.id} has no metadata with key {key}.")
    return respond({"meta": {key: meta[key]}})


async def set_metadata_item(req: ApiRequest) -> Response:
    body = await req.json()
    key = req.params["key"]
    meta = body.get("meta") if isinstance(body, dict) else None
    if not isinstance(meta, dict):
        raise BadRequest("Malformed request body: a 'meta' object is required.")
    if key not in meta:
        raise BadRequest("Request body and URI mismatch.")
    if len(meta) > 1:
        raise BadRequest("Request body contains too many items.")
    await req.runtime.volume.volumes.set_metadata(caller(req), req.params["volume_id"],
                                                  meta, replace=False)
    return respond({"meta": meta})


async def delete_metadata_item(req: ApiRequest) -> Response:
    await req.runtime.volume.volumes.delete_metadata_item(
        caller(req), req.params["volume_id"], req.params["key"])
    return Response(status_code=200)
