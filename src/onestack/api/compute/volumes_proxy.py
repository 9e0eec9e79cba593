"""Nova's volume proxy over the block storage service: ``/os-volumes`` (to 2.35, 404 from
2.36, as Nova): list, detail, create, show and delete a volume of the caller's project in
Nova's camel-case shape (nova/api/openstack/compute/volumes.py)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.compute import schemas
from onestack.api.compute.common import (
    accepted,
    caller,
    int_param,
    iso_micro,
    respond,
    since,
)
from onestack.core.volume.base import Caller, VolumeRecord
from onestack.core.volume.listing import ListQuery
from onestack.errors import NotFound

P = "os_compute_api:os-volumes:"
# nova/policies/volumes.py: readers list and show, members create and delete
READ_RULES = (P + "list", P + "detail", P + "show")
WRITE_RULES = (P + "create", P + "delete")

CREATE = schemas.obj("volume", {
    "volume_type": {"type": ["string", "null"]},
    "metadata": schemas.metadata,
    "snapshot_id": {"type": ["string", "null"]},
    "size": {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1},
    "availability_zone": {"type": ["string", "null"]},
    "display_name": {"type": ["string", "null"]},
    "display_description": {"type": ["string", "null"]}}, required=["size"])


def _check_version(req: ApiRequest) -> None:
    if since(req, 2, 36):
        raise NotFound("The resource could not be found.")


def _caller(req: ApiRequest) -> Caller:
    who = caller(req)
    return Caller(who.project_id, who.user_id, who.is_admin, who.request_id)


def view(rec: VolumeRecord) -> dict[str, Any]:
    vol = rec.volume
    attachments = [{"id": vol.id, "volumeId": vol.id, "serverId": a.instance_uuid,
                    "device": a.mountpoint or ""}
                   for a in rec.attachments if a.instance_uuid]
    return {"id": vol.id, "status": vol.status, "size": vol.size,
            "availabilityZone": vol.availability_zone, "createdAt": iso_micro(vol.created_at),
            "displayName": vol.name, "displayDescription": vol.description,
            "volumeType": rec.type_name, "snapshotId": vol.snapshot_id,
            "metadata": dict(rec.metadata), "attachments": attachments or [{}]}


async def _listed(req: ApiRequest) -> Response:
    _check_version(req)
    if req.http.url.path.endswith("/"):  # GET /os-volumes/: no such route in Nova
        raise NotFound("The resource could not be found.")
    q = ListQuery(limit=int_param(req, "limit"), offset=int_param(req, "offset") or 0)
    recs = await req.runtime.volume.volumes.page(_caller(req), q)
    return respond({"volumes": [view(r) for r in recs]})


async def listing(req: ApiRequest) -> Response:
    return await _listed(req)


async def detail(req: ApiRequest) -> Response:
    return await _listed(req)


async def _get(req: ApiRequest) -> VolumeRecord:
    volume_id = req.params["volume_id"]
    try:
        return await req.runtime.volume.volumes.get(_caller(req), volume_id)
    except NotFound as exc:
        raise NotFound(f"Volume {volume_id} could not be found.") from exc


async def show(req: ApiRequest) -> Response:
    _check_version(req)
    return respond({"volume": view(await _get(req))})


async def create(req: ApiRequest) -> Response:
    _check_version(req)
    vol = (await req.json(CREATE))["volume"]
    body = {"size": int(vol["size"]), "name": vol.get("display_name"),
            "description": vol.get("display_description"),
            "metadata": vol.get("metadata") or {}, "volume_type": vol.get("volume_type"),
            "snapshot_id": vol.get("snapshot_id"),
            "availability_zone": vol.get("availability_zone")}
    rec = await req.runtime.volume.volumes.create(_caller(req), body)
    return respond({"volume": view(rec)})


async def delete(req: ApiRequest) -> Response:
    _check_version(req)
    rec = await _get(req)
    await req.runtime.volume.volumes.delete(_caller(req), rec.volume.id)
    return accepted()
