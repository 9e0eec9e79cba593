"""Snapshots and their metadata: thin handlers over core.volume."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.volume import views
from onestack.api.volume.common import (
    accepted,
    body_of,
    caller,
    list_query,
    next_links,
    one,
    respond,
    since,
)
from onestack.core.volume import snapshots as core
from onestack.core.volume.volumes import parse_metadata_filter
from onestack.errors import BadRequest, NotFound


def _filters(req: ApiRequest) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("name", "display_name", "status", "volume_id", "metadata"):
        value = one(req, key)
        if value is None:
            continue
        if key == "metadata":
            out[key] = parse_metadata_filter(value)
        else:
            out["name" if key == "display_name" else key] = value
    return out


async def _listing(req: ApiRequest, detail: bool) -> Response:
    q = list_query(req, core.SORT_COLUMNS, _filters(req))
    recs = await req.runtime.volume.snapshots.page(caller(req), q)
    body: dict[str, Any] = {"snapshots": [views.snapshot(req, r, extended=detail)
                                          for r in recs]}
    nxt = next_links(req, len(recs), q, recs[-1].snapshot.id if recs else None)
    if nxt:
        body["snapshots_links"] = nxt
    return respond(body)


async def list_snapshots(req: ApiRequest) -> Response:
    return await _listing(req, False)


async def list_details(req: ApiRequest) -> Response:
    return await _listing(req, True)


async def create(req: ApiRequest) -> Response:
    body = await body_of(req, "snapshot")
    rec = await req.runtime.volume.snapshots.create(caller(req), body,
                                                    in_use_ok=since(req, 3, 66))
    return respond({"snapshot": views.snapshot(req, rec, extended=False)}, 202)


async def show(req: ApiRequest) -> Response:
    rec = await req.runtime.volume.snapshots.get(caller(req), req.params["snapshot_id"])
    return respond({"snapshot": views.snapshot(req, rec)})


async def update(req: ApiRequest) -> Response:
    body = await body_of(req, "snapshot")
    rec = await req.runtime.volume.snapshots.update(caller(req), req.params["snapshot_id"],
                                                    body)
    return respond({"snapshot": views.snapshot(req, rec, extended=False)})


async def delete(req: ApiRequest) -> Response:
    await req.runtime.volume.snapshots.delete(caller(req), req.params["snapshot_id"])
    return accepted()


async def no_snapshot_id(req: ApiRequest) -> Response:
    raise NotFound("Snapshot could not be found: no snapshot id was given.")


async def action(req: ApiRequest) -> Response:
    body = await req.json()
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Invalid request body: one action is expected.")
    name, args = next(iter(body.items()))
    snaps = req.runtime.volume.snapshots
    sid = req.params["snapshot_id"]
    admin = req.runtime.policy.authorize("volume_extension:snapshot_admin_actions:"
                                         "reset_status", req.ctx, {})
    if name == "os-reset_status" and admin:
        await snaps.reset_status(caller(req), sid, (args or {}).get("status")
                                 if isinstance(args, dict) else None)
    elif name == "os-force_delete" and admin:
        await snaps.delete(caller(req), sid, force=True)
    elif name == "os-update_snapshot_status":
        if not isinstance(args, dict):
            raise BadRequest("Invalid input received: status is required.")
        await snaps.reset_status(caller(req), sid, args.get("status"), args.get("progress"))
    elif name in ("os-reset_status", "os-force_delete"):
        raise NotFound(f"Snapshot {sid} could not be found.")
    else:
        raise BadRequest(f"There is no such action: {name}")
    return accepted()


# --- metadata ------------------------------------------------------------------------------
async def show_metadata(req: ApiRequest) -> Response:
    meta = await req.runtime.volume.snapshots.metadata(caller(req), req.params["snapshot_id"])
    return respond({"metadata": meta})


async def _set(req: ApiRequest, replace: bool) -> Response:
    body = await req.json()
    if not isinstance(body, dict) or "metadata" not in body:
        raise BadRequest("Malformed request body: a 'metadata' object is required.")
    meta = await req.runtime.volume.snapshots.set_metadata(
        caller(req), req.params["snapshot_id"], body["metadata"], replace=replace)
    return respond({"metadata": meta})


async def create_metadata(req: ApiRequest) -> Response:
    return await _set(req, False)


async def replace_metadata(req: ApiRequest) -> Response:
    return await _set(req, True)


async def show_metadata_item(req: ApiRequest) -> Response:
    meta = await req.runtime.volume.snapshots.metadata(caller(req), req.params["snapshot_id"])
    key = req.params["key"]
    if key not in meta:
        raise NotFound(f"Snapshot {req.params['snapshot_id']} has no metadata with key "
                       f"{key}.")
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
    await req.runtime.volume.snapshots.set_metadata(caller(req), req.params["snapshot_id"],
                                                    meta, replace=False)
    return respond({"meta": meta})


async def delete_metadata_item(req: ApiRequest) -> Response:
    await req.runtime.volume.snapshots.delete_metadata_item(
        caller(req), req.params["snapshot_id"], req.params["key"])
    return Response(status_code=200)
