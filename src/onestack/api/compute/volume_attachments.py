"""os-volume_attachments: volumes on a server (attach, list, show, detach).

Shapes by microversion: ``tag`` from 2.70 (accepted on attach from 2.49),
``delete_on_termination`` from 2.79.
"""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest, validate
from onestack.api.compute.common import accepted, caller, respond, since
from onestack.db.models.compute import BlockDeviceMapping
from onestack.errors import BadRequest, NotFound

ATTACH = {
    "type": "object",
    "properties": {"volumeAttachment": {
        "type": "object",
        "properties": {
            "volumeId": {"type": "string", "minLength": 1, "maxLength": 255},
            "device": {"type": ["string", "null"],
                       "pattern": "^/dev/[a-z]+$", "maxLength": 255},
            "tag": {"type": "string", "minLength": 1, "maxLength": 60},
            "delete_on_termination": {"type": "boolean"},
        },
        "required": ["volumeId"],
        "additionalProperties": False,
    }},
    "required": ["volumeAttachment"],
    "additionalProperties": False,
}


def view(req: ApiRequest, bdm: BlockDeviceMapping) -> dict[str, Any]:
    out: dict[str, Any] = {"id": bdm.volume_id, "serverId": bdm.instance_uuid,
                           "volumeId": bdm.volume_id, "device": bdm.device_name}
    if since(req, 2, 70):
        out["tag"] = bdm.tag
    if since(req, 2, 79):
        out["delete_on_termination"] = bdm.delete_on_termination
    return out


def _volumes(req: ApiRequest) -> Any:
    found = req.runtime.compute.volumes
    if found is None:
        raise NotFound("Block storage is not available in this cloud.")
    return found


async def listing(req: ApiRequest) -> Response:
    rows = await _volumes(req).listing(caller(req), req.params["server_id"])
    limit = req.query.get("limit")
    offset = req.query.get("offset")
    try:
        start = int(offset) if offset is not None else 0
        end = start + int(limit) if limit is not None else None
    except ValueError as exc:
        raise BadRequest("limit and offset must be integers") from exc
    if start < 0 or (end is not None and end < start):
        raise BadRequest("limit and offset must not be negative")
    return respond({"volumeAttachments": [view(req, b) for b in rows[start:end]]})


async def show(req: ApiRequest) -> Response:
    bdm = await _volumes(req).get(caller(req), req.params["server_id"],
                                  req.params["volume_id"])
    return respond({"volumeAttachment": view(req, bdm)})


async def attach(req: ApiRequest) -> Response:
    data = await req.json()
    validate(data, ATTACH)
    body = data["volumeAttachment"]
    if "tag" in body and not since(req, 2, 49):
        raise BadRequest("Invalid input for field/attribute volumeAttachment. Additional "
                         "properties are not allowed ('tag' was unexpected)")
    if "delete_on_termination" in body and not since(req, 2, 79):
        raise BadRequest("Invalid input for field/attribute volumeAttachment. Additional "
                         "properties are not allowed ('delete_on_termination' was "
                         "unexpected)")
    bdm = await _volumes(req).attach(
        caller(req), req.params["server_id"], body["volumeId"], body.get("device"),
        body.get("tag"), bool(body.get("delete_on_termination", False)))
    return respond({"volumeAttachment": view(req, bdm)})


async def detach(req: ApiRequest) -> Response:
    await _volumes(req).detach(caller(req), req.params["server_id"], req.params["volume_id"])
    return accepted()
