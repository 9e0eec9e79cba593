"""Volume types, their extra specs and access: thin handlers over core.volume.types."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.volume import views
from onestack.api.volume.common import accepted, body_of, bool_param, caller, respond
from onestack.errors import BadRequest, NotFound


def _name(body: dict[str, Any]) -> None:
    name = body.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 255:
        raise BadRequest("Invalid input received: a volume type name of 1 to 255 characters "
                         "is required.")
    desc = body.get("description")
    if desc is not None and (not isinstance(desc, str) or len(desc) > 255):
        raise BadRequest("Invalid input received: description must be a string of at most "
                         "255 characters.")


async def list_types(req: ApiRequest) -> Response:
    recs = await req.runtime.volume.types.list_types(caller(req),
                                                     bool_param(req, "is_public"))
    return respond({"volume_types": [views.volume_type(req, r) for r in recs]})


async def show(req: ApiRequest) -> Response:
    rec = await req.runtime.volume.types.get(caller(req), req.params["type_id"])
    return respond({"volume_type": views.volume_type(req, rec)})


async def show_default(req: ApiRequest) -> Response:
    rec = await req.runtime.volume.types.get(caller(req), "default")
    return respond({"volume_type": views.volume_type(req, rec)})


async def create(req: ApiRequest) -> Response:
    body = await body_of(req, "volume_type")
    _name(body)
    for key in ("os-volume-type-access:is_public", "is_public"):
        if key in body and not isinstance(body[key], bool):
            raise BadRequest(f"Invalid input received: {key} must be a boolean.")
    rec = await req.runtime.volume.types.create(body)
    return respond({"volume_type": views.volume_type(req, rec, "create")})


async def update(req: ApiRequest) -> Response:
    body = await body_of(req, "volume_type")
    if "name" in body and body["name"] is not None:
        _name(body)
    if "is_public" in body and not isinstance(body["is_public"], bool):
        raise BadRequest("Invalid input received: is_public must be a boolean.")
    rec = await req.runtime.volume.types.update(caller(req), req.params["type_id"], body)
    return respond({"volume_type": views.volume_type(req, rec, "update")})


async def delete(req: ApiRequest) -> Response:
    await req.runtime.volume.types.delete(caller(req), req.params["type_id"])
    return accepted()


async def list_specs(req: ApiRequest) -> Response:
    specs = await req.runtime.volume.types.specs(caller(req), req.params["type_id"])
    return respond({"extra_specs": specs})


async def create_specs(req: ApiRequest) -> Response:
    body = await req.json()
    if not isinstance(body, dict) or not isinstance(body.get("extra_specs"), dict):
        raise BadRequest("Malformed request body: an 'extra_specs' object is required.")
    specs = await req.runtime.volume.types.set_specs(caller(req), req.params["type_id"],
                                                     body["extra_specs"])
    return respond({"extra_specs": specs})


async def show_spec(req: ApiRequest) -> Response:
    specs = await req.runtime.volume.types.specs(caller(req), req.params["type_id"])
    key = req.params["key"]
    if key not in specs:
        raise NotFound(f"Volume Type {req.params['type_id']} has no extra specs with key "
                       f"{key}.")
    return respond({key: specs[key]})


async def update_spec(req: ApiRequest) -> Response:
    body = await req.json()
    key = req.params["key"]
    if not isinstance(body, dict) or key not in body:
        raise BadRequest("Request body and URI mismatch.")
    if len(body) > 1:
        raise BadRequest("Request body contains too many items.")
    await req.runtime.volume.types.set_specs(caller(req), req.params["type_id"], body)
    return respond(body)


async def delete_spec(req: ApiRequest) -> Response:
    await req.runtime.volume.types.delete_spec(caller(req), req.params["type_id"],
                                               req.params["key"])
    return accepted()


async def list_access(req: ApiRequest) -> Response:
    rows = await req.runtime.volume.types.access(caller(req), req.params["type_id"])
    return respond({"volume_type_access": [
        {"volume_type_id": r.type_id, "project_id": r.project_id} for r in rows]})


async def action(req: ApiRequest) -> Response:
    body = await req.json()
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Invalid request body: one action is expected.")
    name, args = next(iter(body.items()))
    project = args.get("project") if isinstance(args, dict) else None
    if not isinstance(project, str) or not project:
        raise BadRequest("Missing required element 'project' in request body.")
    types = req.runtime.volume.types
    if name == "addProjectAccess":
        await types.add_access(caller(req), req.params["type_id"], project)
    elif name == "removeProjectAccess":
        await types.remove_access(caller(req), req.params["type_id"], project)
    else:
        raise BadRequest(f"There is no such action: {name}")
    return accepted()
