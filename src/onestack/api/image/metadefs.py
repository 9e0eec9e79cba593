"""Metadata definition namespaces, resource types and associations, and the metadefs
schemas: /v2/metadefs/namespaces[/{namespace_name}[/resource_types[/...]]],
/v2/metadefs/resource_types, /v2/schemas/metadefs/{schema}."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from onestack.api.common.request import ApiRequest, validate
from onestack.api.image import metadef_schemas as schemas
from onestack.api.image import metadef_views as mv
from onestack.api.image import views
from onestack.core.image.metadefs import Page
from onestack.errors import BadRequest, Forbidden, NotFound


def int_param(req: ApiRequest, name: str) -> int | None:
    raw = req.query.get(name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"Invalid input for field '{name}': {name} param must be an "
                         "integer.") from None
    if value < 0:
        raise BadRequest(f"Invalid input for field '{name}': {name} param must be positive.")
    return value


def page(req: ApiRequest, sort_key: str = "created_at", sort_dir: str = "desc") -> Page:
    return Page(limit=int_param(req, "limit"), marker=req.query.get("marker"),
                sort_key=req.query.get("sort_key", sort_key),
                sort_dir=req.query.get("sort_dir", sort_dir))


async def body_for_put(req: ApiRequest, schema: dict[str, Any]) -> dict[str, Any]:
    """A PUT body: read-only attributes are 403 (Glance: "Attribute 'x' is read-only.")."""
    body = await req.json()
    if isinstance(body, dict):
        for key in schemas.READ_ONLY:
            if key in body:
                raise Forbidden(f"Attribute '{key}' is read-only.")
    validate(body, schema)
    return dict(body)


def ns_name(req: ApiRequest) -> str:
    return req.params["namespace_name"]


# --- namespaces ----------------------------------------------------------------------------
async def list_namespaces(req: ApiRequest) -> Response:
    q = page(req)
    rts = [r for r in (req.query.get("resource_types") or "").split(",") if r]
    recs, more = await req.runtime.image.metadefs.page(
        views.caller(req), q, req.query.get("visibility"), rts)
    body: dict[str, Any] = {"namespaces": [mv.namespace(r) for r in recs],
                            "first": mv.NS_BASE, "schema": f"{mv.SCHEMAS}/namespaces"}
    if more:
        params = [(k, v) for k, v in req.query.multi_items() if k != "marker"]
        params.append(("marker", recs[-1].ns.namespace))
        body["next"] = f"{mv.NS_BASE}?{urlencode(params)}"
    return views.respond(body)


async def create_namespace(req: ApiRequest) -> Response:
    body = await req.json(schemas.namespace_body)
    rec = await req.runtime.image.metadefs.create(views.caller(req), body)
    return views.respond(mv.namespace(rec), status=201,
                         headers={"Location": req.url(mv.ns_href(rec.ns.namespace))})


async def show_namespace(req: ApiRequest) -> Response:
    rec = await req.runtime.image.metadefs.get(views.caller(req), ns_name(req))
    return views.respond(mv.namespace(rec, req.query.get("resource_type")))


async def update_namespace(req: ApiRequest) -> Response:
    body = await body_for_put(req, schemas.namespace_body)
    rec = await req.runtime.image.metadefs.update(views.caller(req), ns_name(req), body)
    return views.respond(mv.namespace(rec))


async def delete_namespace(req: ApiRequest) -> Response:
    await req.runtime.image.metadefs.delete(views.caller(req), ns_name(req))
    return views.no_content()


# --- resource types ------------------------------------------------------------------------
async def list_resource_types(req: ApiRequest) -> Response:
    rows = await req.runtime.image.metadefs.resource_types()
    return views.respond({"resource_types": [mv.resource_type(r) for r in rows]})


async def list_associations(req: ApiRequest) -> Response:
    rows = await req.runtime.image.metadefs.associations(views.caller(req), ns_name(req))
    return views.respond({"resource_type_associations": [mv.association(r) for r in rows]})


async def create_association(req: ApiRequest) -> Response:
    body = await req.json(schemas.association_body)
    row = await req.runtime.image.metadefs.associate(views.caller(req), ns_name(req), body)
    return views.respond(mv.association(row), status=201)


async def delete_association(req: ApiRequest) -> Response:
    await req.runtime.image.metadefs.dissociate(views.caller(req), ns_name(req),
                                                req.params["resource_type_name"])
    return views.no_content()


# --- schemas ---------------------------------------------------------------------------
async def show_schema(req: ApiRequest) -> Response:
    doc = schemas.METADEF_DOCUMENTS.get(req.params["schema"])
    if doc is None:
        raise NotFound(f"No schema named metadefs/{req.params['schema']}.")
    return views.respond(doc)
