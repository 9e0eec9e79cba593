"""Flavors: list, detail, show, admin create/update/delete, extra specs, flavor access."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.compute import schemas, views
from onestack.api.compute.common import (
    caller,
    int_param,
    is_admin,
    limit_param,
    next_link,
    one,
    respond,
    since,
)
from onestack.core.compute.flavors import FlavorQuery, FlavorRecord
from onestack.errors import BadRequest, NotFound


def _query(req: ApiRequest) -> FlavorQuery:
    q = FlavorQuery(min_ram=int_param(req, "minRam"), min_disk=int_param(req, "minDisk"),
                    sort_key=one(req, "sort_key") or "flavorid",
                    sort_dir=one(req, "sort_dir") or "asc", limit=limit_param(req),
                    marker=one(req, "marker"))
    raw = (one(req, "is_public") or "").strip().lower()
    if raw in ("none", "all") and is_admin(req):
        q.is_public = None
    elif raw in ("0", "false", "f", "no", "off"):
        q.is_public = False
    elif raw in ("", "1", "true", "t", "yes", "on", "none", "all"):
        q.is_public = None if raw in ("none", "all") else True
        if not raw and not is_admin(req):
            q.is_public = None  # non-admins see public ones and those shared with them
    else:
        raise BadRequest(f"Invalid is_public filter [{raw}]")
    return q


def _page(req: ApiRequest, recs: list[FlavorRecord], q: FlavorQuery, key: str,
          render: Any) -> Response:
    body: dict[str, Any] = {key: [render(req, r) for r in recs]}
    if q.limit is not None and len(recs) == q.limit and recs:
        body["flavors_links"] = next_link(req, "flavors" + ("/detail" if key == "flavors" and
                                                            render is views.flavor else ""),
                                          recs[-1].flavor.id)
    return respond(body)


async def list_flavors(req: ApiRequest) -> Response:
    q = _query(req)
    recs = await req.runtime.compute.flavors.listing(caller(req), q)
    return _page(req, recs, q, "flavors", views.flavor_summary)


async def list_details(req: ApiRequest) -> Response:
    q = _query(req)
    recs = await req.runtime.compute.flavors.listing(caller(req), q)
    return _page(req, recs, q, "flavors", views.flavor)


async def show(req: ApiRequest) -> Response:
    rec = await req.runtime.compute.flavors.get(caller(req), req.params["flavor_id"])
    return respond({"flavor": views.flavor(req, rec)})


def _int(value: Any, field: str, minimum: int) -> int:
    if isinstance(value, str):
        if not value.isdigit():
            raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value}. "
                             "It must be an integer.")
        value = int(value)
    if value < minimum or value > 2147483647:
        raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value}. "
                         f"{value} is less than the minimum of {minimum}")
    return int(value)


async def create(req: ApiRequest) -> Response:
    body = (await req.json(schemas.flavor_create))["flavor"]
    if "description" in body and not since(req, 2, 55):
        raise BadRequest("Invalid input for field/attribute flavor. Additional properties "
                         "are not allowed ('description' was unexpected)")
    swap = body.get("swap", 0)
    flavor_id = body.get("id")
    data = {"name": body["name"], "id": None if flavor_id is None else str(flavor_id),
            "ram": _int(body["ram"], "ram", 1),
            "vcpus": _int(body["vcpus"], "vcpus", 1), "disk": _int(body["disk"], "disk", 0),
            "ephemeral": _int(body.get("OS-FLV-EXT-DATA:ephemeral", 0), "ephemeral", 0),
            "swap": 0 if swap == "" else _int(swap, "swap", 0),
            "rxtx_factor": float(body.get("rxtx_factor", 1.0)),
            "is_public": schemas.truthy(body.get("os-flavor-access:is_public", True)),
            "description": body.get("description")}
    rec = await req.runtime.compute.flavors.create(data)
    return respond({"flavor": views.flavor(req, rec)})


async def update(req: ApiRequest) -> Response:
    if not since(req, 2, 55):
        raise NotFound("The resource could not be found: flavor update needs microversion "
                       "2.55 or later.")
    body = (await req.json(schemas.flavor_update))["flavor"]
    rec = await req.runtime.compute.flavors.update(caller(req), req.params["flavor_id"],
                                                   body["description"])
    return respond({"flavor": views.flavor(req, rec)})


async def delete(req: ApiRequest) -> Response:
    await req.runtime.compute.flavors.delete(req.params["flavor_id"])
    return Response(status_code=202)


# --- extra specs -------------------------------------------------------------------------
async def list_specs(req: ApiRequest) -> Response:
    specs = await req.runtime.compute.flavors.extra_specs(caller(req), req.params["flavor_id"])
    return respond({"extra_specs": specs})


def _strings(specs: dict[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in specs.items():
        if isinstance(value, bool):
            value = str(value)
        out[str(key)] = str(value)
    return out


async def create_specs(req: ApiRequest) -> Response:
    body = await req.json(schemas.extra_specs)
    specs = await req.runtime.compute.flavors.set_extra_specs(
        req.params["flavor_id"], _strings(body["extra_specs"]))
    return respond({"extra_specs": specs})


async def show_spec(req: ApiRequest) -> Response:
    key = req.params["key"]
    specs = await req.runtime.compute.flavors.extra_specs(caller(req), req.params["flavor_id"])
    if key not in specs:
        raise NotFound(f"Flavor {req.params['flavor_id']} has no extra specs with key {key}.")
    return respond({key: specs[key]})


async def update_spec(req: ApiRequest) -> Response:
    body = await req.json(schemas.extra_spec_one)
    key = req.params["key"]
    if key not in body:
        raise BadRequest("Request body and URI mismatch")
    specs = await req.runtime.compute.flavors.set_extra_specs(req.params["flavor_id"],
                                                              _strings(body))
    return respond(specs)


async def delete_spec(req: ApiRequest) -> Response:
    await req.runtime.compute.flavors.delete_extra_spec(req.params["flavor_id"],
                                                        req.params["key"])
    return Response(status_code=200)


# --- access --------------------------------------------------------------------------------
async def list_access(req: ApiRequest) -> Response:
    flavor_id = req.params["flavor_id"]
    projects = await req.runtime.compute.flavors.access(flavor_id)
    return respond(views.flavor_access(flavor_id, projects))


async def action(req: ApiRequest) -> Response:
    body = await req.json()
    flavor_id = req.params["flavor_id"]
    flavors = req.runtime.compute.flavors
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("The flavor action body must hold one of addTenantAccess, "
                         "removeTenantAccess.")
    name, args = next(iter(body.items()))
    if name == "addTenantAccess":
        req.runtime.policy.enforce("os_compute_api:os-flavor-access:add_tenant_access",
                                   req.ctx, {})
        from onestack.api.common.request import validate

        validate(args, schemas.tenant_access)
        projects = await flavors.add_access(flavor_id, args["tenant"])
    elif name == "removeTenantAccess":
        req.runtime.policy.enforce("os_compute_api:os-flavor-access:remove_tenant_access",
                                   req.ctx, {})
        from onestack.api.common.request import validate

        validate(args, schemas.tenant_access)
        projects = await flavors.remove_access(flavor_id, args["tenant"])
    else:
        raise BadRequest(f"Unknown flavor action {name}.")
    return respond(views.flavor_access(flavor_id, projects))
