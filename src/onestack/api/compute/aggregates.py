"""Host aggregates (``os-aggregates``): create, list, show, update, delete, and the
add_host, remove_host and set_metadata actions, as Nova serves them (admin only)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest, validate
from onestack.api.compute.common import iso_micro, respond, since
from onestack.core.compute.aggregates import AZ_KEY, AggregateView
from onestack.errors import BadRequest

_TEXT = r"^(?! )[\S ]*(?<! )$"  # Nova's name: no leading or trailing blanks
NAME = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": _TEXT}
ZONE = {"type": ["string", "null"], "minLength": 1, "maxLength": 255,
        "pattern": r"^(?! )[^:]*(?<! )$"}
HOST = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[a-zA-Z0-9-._]*$"}
METADATA = {"type": "object", "patternProperties": {
    r"^[a-zA-Z0-9-_:. ]{1,255}$": {"type": ["string", "null"], "maxLength": 255}},
    "additionalProperties": False}


def _body(key: str, props: dict[str, Any], required: list[str],
          min_props: int = 0) -> dict[str, Any]:
    inner: dict[str, Any] = {"type": "object", "properties": props, "required": required,
                             "additionalProperties": False}
    if min_props:
        inner["minProperties"] = min_props
    return {"type": "object", "properties": {key: inner}, "required": [key],
            "additionalProperties": False}


CREATE = _body("aggregate", {"name": NAME, "availability_zone": ZONE}, ["name"])
UPDATE = _body("aggregate", {"name": NAME, "availability_zone": ZONE}, [], min_props=1)
ACTIONS = {"add_host": _body("add_host", {"host": HOST}, ["host"]),
           "remove_host": _body("remove_host", {"host": HOST}, ["host"]),
           "set_metadata": _body("set_metadata", {"metadata": METADATA}, ["metadata"])}


def view(req: ApiRequest, agg: AggregateView, full: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "availability_zone": agg.availability_zone, "created_at": iso_micro(agg.created_at),
        "deleted": False, "deleted_at": None, "id": agg.id, "name": agg.name,
        "updated_at": iso_micro(agg.updated_at)}
    if full:  # Nova's create answers without hosts and metadata
        out["hosts"] = list(agg.hosts)
        out["metadata"] = dict(agg.metadata)
    if since(req, 2, 41):
        out["uuid"] = agg.uuid
    return out


def _ident(req: ApiRequest) -> int:
    raw = req.params["aggregate_id"]
    try:
        return int(raw)
    except ValueError as exc:
        raise BadRequest("Invalid input received: id must be an integer") from exc


async def listing(req: ApiRequest) -> Response:
    aggs = await req.runtime.compute.aggregates.listing()
    return respond({"aggregates": [view(req, a) for a in aggs]})


async def create(req: ApiRequest) -> Response:
    body = (await req.json(CREATE))["aggregate"]
    agg = await req.runtime.compute.aggregates.create(body["name"],
                                                      body.get("availability_zone"))
    return respond({"aggregate": view(req, agg, full=False)})


async def show(req: ApiRequest) -> Response:
    agg = await req.runtime.compute.aggregates.get(_ident(req))
    return respond({"aggregate": view(req, agg)})


async def update(req: ApiRequest) -> Response:
    ident = _ident(req)
    body = (await req.json(UPDATE))["aggregate"]
    aggregates = req.runtime.compute.aggregates
    if AZ_KEY in body:
        agg = await aggregates.update(ident, body.get("name"), body[AZ_KEY])
    else:
        agg = await aggregates.update(ident, body.get("name"))
    return respond({"aggregate": view(req, agg)})


async def delete(req: ApiRequest) -> Response:
    await req.runtime.compute.aggregates.delete(_ident(req))
    return Response(status_code=200)


async def action(req: ApiRequest) -> Response:
    ident = _ident(req)
    body = await req.json()
    if not isinstance(body, dict) or len(body) != 1 or next(iter(body)) not in ACTIONS:
        raise BadRequest("Invalid input: the aggregate action body must hold one of "
                         "add_host, remove_host, set_metadata.")
    name = next(iter(body))
    req.runtime.policy.enforce(f"os_compute_api:os-aggregates:{name}", req.ctx, {})
    validate(body, ACTIONS[name])
    args = body[name]
    aggregates = req.runtime.compute.aggregates
    if name == "add_host":
        agg = await aggregates.add_host(ident, args["host"])
    elif name == "remove_host":
        agg = await aggregates.remove_host(ident, args["host"])
    else:
        validate(args["metadata"], {"type": "object", "properties": {AZ_KEY: ZONE}})
        agg = await aggregates.set_metadata(ident, args["metadata"])
    return respond({"aggregate": view(req, agg)})
