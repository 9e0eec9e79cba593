"""Group types and group specs (Cinder's /group_types, 3.11): thin handlers over
core.volume.group_types."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.volume.common import accepted, body_of, caller, one, respond, since
from onestack.core.volume.group_types import GroupTypeRecord, GroupTypes
from onestack.errors import BadRequest, NotFound


def _core(req: ApiRequest) -> GroupTypes:
    if not since(req, 3, 11):
        raise NotFound("The resource could not be found: group types need microversion "
                       "3.11 or later.")
    types: GroupTypes = req.runtime.volume.group_types
    return types


def _view(req: ApiRequest, rec: GroupTypeRecord) -> dict[str, Any]:
    t = rec.type
    out: dict[str, Any] = {"id": t.id, "name": t.name, "description": t.description,
                           "is_public": t.is_public}
    if caller(req).is_admin:
        out["group_specs"] = dict(rec.specs)
    return out


def _is_public(req: ApiRequest) -> bool | None:
    raw = one(req, "is_public")
    if raw is None:
        return True  # Cinder's default: the public ones
    value = raw.strip().lower()
    if value == "none":
        return None
    if value in ("true", "1", "yes", "false", "0", "no"):
        return value in ("true", "1", "yes")
    raise BadRequest(f"Invalid input for field/attribute is_public. Value: {raw}. It must "
                     "be a boolean or None.")


async def list_types(req: ApiRequest) -> Response:
    recs = await _core(req).list_types(caller(req), _is_public(req), one(req, "sort"))
    return respond({"group_types": [_view(req, r) for r in recs]})


async def create(req: ApiRequest) -> Response:
    body = await body_of(req, "group_type")
    return respond({"group_type": _view(req, await _core(req).create(body))}, 202)


async def show(req: ApiRequest) -> Response:
    rec = await _core(req).get(caller(req), req.params["group_type_id"])
    return respond({"group_type": _view(req, rec)})


async def update(req: ApiRequest) -> Response:
    body = await body_of(req, "group_type")
    rec = await _core(req).update(caller(req), req.params["group_type_id"], body)
    return respond({"group_type": _view(req, rec)})


async def delete(req: ApiRequest) -> Response:
    await _core(req).delete(caller(req), req.params["group_type_id"])
    return accepted()


async def list_specs(req: ApiRequest) -> Response:
    rec = await _core(req).get(caller(req), req.params["group_type_id"])
    return respond({"group_specs": rec.specs})


async def create_specs(req: ApiRequest) -> Response:
    body = await body_of(req, "group_specs")
    specs = await _core(req).set_specs(caller(req), req.params["group_type_id"], body)
    return respond({"group_specs": specs}, 202)


async def show_spec(req: ApiRequest) -> Response:
    rec = await _core(req).get(caller(req), req.params["group_type_id"])
    key = req.params["key"]
    if key not in rec.specs:
        raise NotFound(f"Group Type {rec.type.id} has no specs with key {key}.")
    return respond({key: rec.specs[key]})


async def update_spec(req: ApiRequest) -> Response:
    body = await req.json()
    key = req.params["key"]
    if not isinstance(body, dict) or key not in body:
        raise BadRequest(f"Invalid input for field/attribute {key}: the request body and "
                         "URI mismatch.")
    if len(body) > 1:
        raise BadRequest("Request body contains too many items.")
    await _core(req).set_specs(caller(req), req.params["group_type_id"], body)
    return respond(body)


async def delete_spec(req: ApiRequest) -> Response:
    await _core(req).delete_spec(caller(req), req.params["group_type_id"], req.params["key"])
    return accepted()


GT = "/group_types/{group_type_id}"
MANAGE, SPECS = "group:group_types_manage", "group:group_types_specs"
READ = "group:group_types:get"
POLICY: list[tuple[str, str]] = [
    (MANAGE, "rule:admin_api"), (SPECS, "rule:admin_api"),
    (READ, "rule:xena_system_admin_or_project_reader")]
TABLE: list[tuple[str, str, Any, str]] = [
    ("GET", "/group_types", list_types, READ),
    ("POST", "/group_types", create, MANAGE),
    ("GET", GT, show, READ),
    ("PUT", GT, update, MANAGE),
    ("DELETE", GT, delete, MANAGE),
    ("GET", GT + "/group_specs", list_specs, SPECS),
    ("POST", GT + "/group_specs", create_specs, SPECS),
    ("GET", GT + "/group_specs/{key}", show_spec, SPECS),
    ("PUT", GT + "/group_specs/{key}", update_spec, SPECS),
    ("DELETE", GT + "/group_specs/{key}", delete_spec, SPECS),
]
