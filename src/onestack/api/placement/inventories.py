"""Inventories of a provider, and usages (per provider and per project)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.microversions import req_version
from onestack.api.common.request import ApiRequest
from onestack.api.placement import query, schemas, views
from onestack.errors import BadRequest
from onestack.scheduler.inventory import normalise


def _rc_check(rc: str) -> None:
    if not query.ANY_NAME.match(rc):
        raise BadRequest(f"Invalid resource class name {rc!r}.")


def _norm(req: ApiRequest, rc: str, data: dict[str, Any]) -> dict[str, Any]:
    return normalise(rc, data, reserved_may_equal_total=req_version(req) >= (1, 26))


def _one(rc: str, inv: dict[str, Any], generation: int) -> dict[str, Any]:
    return {**inv, "resource_provider_generation": generation}


async def get_all(req: ApiRequest) -> Response:
    rp, invs = await req.runtime.placement.inventories.get_all(req.params["uuid"])
    return views.respond({"inventories": invs, "resource_provider_generation": rp.generation})


async def put_all(req: ApiRequest) -> Response:
    body = await req.json(schemas.inventories_put)
    invs = {rc: _norm(req, rc, data) for rc, data in body["inventories"].items()}
    rp, stored = await req.runtime.placement.inventories.replace_all(
        req.params["uuid"], body["resource_provider_generation"], invs)
    return views.respond({"inventories": stored, "resource_provider_generation": rp.generation})


async def delete_all(req: ApiRequest) -> Response:
    await req.runtime.placement.inventories.delete_all(req.params["uuid"])
    return views.no_content()


async def create(req: ApiRequest) -> Response:
    body = await req.json(schemas.inventory_post)
    rc = body.pop("resource_class")
    gen = body.pop("resource_provider_generation")
    inv = _norm(req, rc, body)
    rp = await req.runtime.placement.inventories.set_one(req.params["uuid"], rc, gen, inv,
                                                         create=True)
    location = req.url(f"/resource_providers/{rp.uuid}/inventories/{rc}")
    return views.respond(_one(rc, inv, rp.generation), status=201,
                         headers={"Location": location})


async def show(req: ApiRequest) -> Response:
    rc = req.params["resource_class"]
    _rc_check(rc)
    rp, inv = await req.runtime.placement.inventories.get_one(req.params["uuid"], rc)
    return views.respond(_one(rc, inv, rp.generation))


async def put_one(req: ApiRequest) -> Response:
    rc = req.params["resource_class"]
    _rc_check(rc)
    body = await req.json(schemas.inventory_put)
    gen = body.pop("resource_provider_generation")
    inv = _norm(req, rc, body)
    rp = await req.runtime.placement.inventories.set_one(req.params["uuid"], rc, gen, inv)
    return views.respond(_one(rc, inv, rp.generation))


async def delete_one(req: ApiRequest) -> Response:
    rc = req.params["resource_class"]
    _rc_check(rc)
    await req.runtime.placement.inventories.delete_one(req.params["uuid"], rc)
    return views.no_content()


async def provider_usages(req: ApiRequest) -> Response:
    rp, usages = await req.runtime.placement.inventories.usages(req.params["uuid"])
    return views.respond({"usages": usages, "resource_provider_generation": rp.generation})


async def project_usages(req: ApiRequest) -> Response:
    v = req_version(req)
    allowed = {"project_id", "user_id"} | ({"consumer_type"} if v >= (1, 38) else set())
    query.check_known(req, allowed)
    project = query.single(req, "project_id")
    if not project:
        raise query.BadQuery("Invalid query string parameters: 'project_id' is a required "
                             "property.")
    usages = await req.runtime.placement.allocations.usages(project,
                                                            query.single(req, "user_id"))
    return views.respond({"usages": usages})
