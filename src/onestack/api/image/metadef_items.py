"""Objects, property definitions and tags of a metadata definition namespace:
/v2/metadefs/namespaces/{namespace_name}/(objects|properties|tags)[/{name}]."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest, validate
from onestack.api.image import metadef_schemas as schemas
from onestack.api.image import metadef_views as mv
from onestack.api.image import views
from onestack.api.image.metadefs import body_for_put, ns_name, page
from onestack.db.models.image_metadef import MetadefObject, MetadefProperty, MetadefTag
from onestack.errors import NotFound


def _object_fields(body: dict[str, Any]) -> dict[str, Any]:
    return {"description": body.get("description"), "required": body.get("required") or [],
            "properties": body.get("properties") or {}}


def _property_fields(body: dict[str, Any]) -> dict[str, Any]:
    return {"json_schema": {k: v for k, v in body.items() if k != "name"}}


# --- objects -------------------------------------------------------------------------------
async def list_objects(req: ApiRequest) -> Response:
    rows = await req.runtime.image.metadef_items.list_items(views.caller(req), ns_name(req),
                                                      MetadefObject, page(req))
    return views.respond({"objects": [mv.obj(r, ns_name(req)) for r in rows],
                          "schema": f"{mv.SCHEMAS}/objects"})


async def create_object(req: ApiRequest) -> Response:
    body = await req.json(schemas.object_body)
    row = await req.runtime.image.metadef_items.create(
        views.caller(req), ns_name(req), MetadefObject, body["name"], _object_fields(body))
    return views.respond(mv.obj(row, ns_name(req)), status=201)


async def show_object(req: ApiRequest) -> Response:
    row = await req.runtime.image.metadef_items.get(views.caller(req), ns_name(req),
                                                    MetadefObject, req.params["object_name"])
    return views.respond(mv.obj(row, ns_name(req)))


async def update_object(req: ApiRequest) -> Response:
    body = await body_for_put(req, schemas.object_body)
    row = await req.runtime.image.metadef_items.update(
        views.caller(req), ns_name(req), MetadefObject, req.params["object_name"],
        body["name"], _object_fields(body))
    return views.respond(mv.obj(row, ns_name(req)))


async def delete_object(req: ApiRequest) -> Response:
    await req.runtime.image.metadef_items.delete(views.caller(req), ns_name(req),
                                                 MetadefObject, req.params["object_name"])
    return views.no_content()


async def delete_objects(req: ApiRequest) -> Response:
    await req.runtime.image.metadef_items.delete_all(views.caller(req), ns_name(req),
                                                     MetadefObject)
    return views.no_content()


# --- properties ----------------------------------------------------------------------------
async def list_properties(req: ApiRequest) -> Response:
    rows = await req.runtime.image.metadef_items.list_items(views.caller(req), ns_name(req),
                                                      MetadefProperty)
    return views.respond({"properties": mv.properties_map(rows),
                          "schema": f"{mv.SCHEMAS}/properties"})


async def create_property(req: ApiRequest) -> Response:
    body = await req.json(schemas.property_body)
    row = await req.runtime.image.metadef_items.create(
        views.caller(req), ns_name(req), MetadefProperty, body["name"],
        _property_fields(body))
    return views.respond(mv.prop(row), status=201)


async def _property_name(req: ApiRequest) -> tuple[str, str]:
    """The stored name a path names, and the prefix it was asked with: with
    ``?resource_type=``, the name carries that association's prefix (Glance)."""
    name = req.params["property_name"]
    rt = req.query.get("resource_type")
    if not rt:
        return name, ""
    assocs = await req.runtime.image.metadefs.associations(views.caller(req), ns_name(req))
    prefix = next((a.prefix or "" for a in assocs if a.resource_type == rt), "")
    if prefix and not name.startswith(prefix):
        raise NotFound(f"Property {name} does not start with the expected resource type "
                       f"association prefix of '{prefix}'.")
    return name[len(prefix):], prefix


async def show_property(req: ApiRequest) -> Response:
    name, prefix = await _property_name(req)
    row = await req.runtime.image.metadef_items.get(views.caller(req), ns_name(req),
                                                    MetadefProperty, name)
    return views.respond(mv.prop(row, prefix))


async def update_property(req: ApiRequest) -> Response:
    body = await body_for_put(req, schemas.property_body)
    row = await req.runtime.image.metadef_items.update(
        views.caller(req), ns_name(req), MetadefProperty, req.params["property_name"],
        body["name"], _property_fields(body))
    return views.respond(mv.prop(row))


async def delete_property(req: ApiRequest) -> Response:
    await req.runtime.image.metadef_items.delete(views.caller(req), ns_name(req),
                                                 MetadefProperty, req.params["property_name"])
    return views.no_content()


async def delete_properties(req: ApiRequest) -> Response:
    await req.runtime.image.metadef_items.delete_all(views.caller(req), ns_name(req),
                                                     MetadefProperty)
    return views.no_content()


# --- tags ----------------------------------------------------------------------------------
async def list_tags(req: ApiRequest) -> Response:
    rows = await req.runtime.image.metadef_items.list_items(views.caller(req), ns_name(req),
                                                      MetadefTag, page(req))
    return views.respond({"tags": [mv.tag(r) for r in rows]})


async def create_tags(req: ApiRequest) -> Response:
    body = await req.json(schemas.tags_body)
    append = (req.header("x-openstack-append") or "").strip().lower() in ("true", "1", "yes")
    rows = await req.runtime.image.metadef_items.create_tags(
        views.caller(req), ns_name(req), [t["name"] for t in body["tags"]], append)
    return views.respond({"tags": [{"name": r.name} for r in rows]}, status=201)


async def delete_tags(req: ApiRequest) -> Response:
    await req.runtime.image.metadef_items.delete_all(views.caller(req), ns_name(req),
                                                     MetadefTag)
    return views.no_content()


async def create_tag(req: ApiRequest) -> Response:
    name = req.params["tag_name"]
    validate({"name": name}, schemas.tag_body)
    row = await req.runtime.image.metadef_items.create(views.caller(req), ns_name(req),
                                                       MetadefTag, name, {})
    return views.respond(mv.tag(row), status=201)


async def show_tag(req: ApiRequest) -> Response:
    row = await req.runtime.image.metadef_items.get(views.caller(req), ns_name(req),
                                                    MetadefTag, req.params["tag_name"])
    return views.respond(mv.tag(row))


async def update_tag(req: ApiRequest) -> Response:
    body = await body_for_put(req, schemas.tag_body)
    row = await req.runtime.image.metadef_items.update(
        views.caller(req), ns_name(req), MetadefTag, req.params["tag_name"], body["name"], {})
    return views.respond(mv.tag(row))


async def delete_tag(req: ApiRequest) -> Response:
    await req.runtime.image.metadef_items.delete(views.caller(req), ns_name(req), MetadefTag,
                                                 req.params["tag_name"])
    return views.no_content()
