"""Resource classes and traits."""

from __future__ import annotations

from starlette.responses import Response

from onestack.api.common.microversions import req_version
from onestack.api.common.request import ApiRequest
from onestack.api.placement import query, schemas, views
from onestack.errors import NotFound


async def list_classes(req: ApiRequest) -> Response:
    names = await req.runtime.placement.catalog.resource_classes()
    return views.respond({"resource_classes": [views.resource_class(req, n) for n in names]})


async def create_class(req: ApiRequest) -> Response:
    body = await req.json(schemas.resource_class_body)
    await req.runtime.placement.catalog.create_class(body["name"])
    return Response(status_code=201,
                    headers={"Location": req.url(f"/resource_classes/{body['name']}")})


async def show_class(req: ApiRequest) -> Response:
    name = await req.runtime.placement.catalog.get_class(req.params["name"])
    return views.respond(views.resource_class(req, name))


async def put_class(req: ApiRequest) -> Response:
    name = req.params["name"]
    if req_version(req) >= (1, 7):
        created = await req.runtime.placement.catalog.create_class(name, exist_ok=True)
        headers = {"Location": req.url(f"/resource_classes/{name}")}
        return Response(status_code=201 if created else 204, headers=headers)
    body = await req.json(schemas.resource_class_body)
    new = await req.runtime.placement.catalog.rename_class(name, body["name"])
    return views.respond(views.resource_class(req, new))


async def delete_class(req: ApiRequest) -> Response:
    await req.runtime.placement.catalog.delete_class(req.params["name"])
    return views.no_content()


async def list_traits(req: ApiRequest) -> Response:
    query.check_known(req, {"name", "associated"})
    names: list[str] | None = None
    prefix = None
    if (text := query.single(req, "name")) is not None:
        if text.startswith("in:"):
            names = [t.strip() for t in text[3:].split(",")]
        elif text.startswith("startswith:"):
            prefix = text[len("startswith:"):]
        else:
            raise query.BadQuery(f"Badly formatted name parameter. Expected name query string "
                                 f"parameter in form: ?name=[in|startswith]:[name1,name2|prefix]"
                                 f". Got: \"{text}\"")
    associated = None
    if "associated" in req.query:
        associated = req.flag("associated")
    traits = await req.runtime.placement.catalog.traits(names, prefix, associated)
    return views.respond({"traits": traits})


async def show_trait(req: ApiRequest) -> Response:
    if not await req.runtime.placement.catalog.trait_exists(req.params["name"]):
        raise NotFound(f"No such trait(s): {req.params['name']}")
    return views.no_content()


async def put_trait(req: ApiRequest) -> Response:
    name = req.params["name"]
    created = await req.runtime.placement.catalog.put_trait(name)
    return Response(status_code=201 if created else 204,
                    headers={"Location": req.url(f"/traits/{name}")})


async def delete_trait(req: ApiRequest) -> Response:
    await req.runtime.placement.catalog.delete_trait(req.params["name"])
    return views.no_content()
