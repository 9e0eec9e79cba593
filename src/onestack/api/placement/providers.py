"""Resource providers, their traits and aggregates."""

from __future__ import annotations

from starlette.responses import Response

from onestack.api.common.microversions import req_version
from onestack.api.common.request import ApiRequest
from onestack.api.placement import query, schemas, views
from onestack.scheduler.providers import UNSET, ProviderFilter


def _p(req: ApiRequest) -> str:
    return req.params["uuid"]


async def create(req: ApiRequest) -> Response:
    v = req_version(req)
    body = await req.json(schemas.provider_create(v))
    rp = await req.runtime.placement.providers.create(
        body["name"], body.get("uuid"), body.get("parent_provider_uuid"))
    location = {"Location": req.url(f"/resource_providers/{rp.uuid}")}
    if v >= (1, 20):
        return views.respond(views.provider(req, rp), headers=location)
    return Response(status_code=201, headers=location)


async def show(req: ApiRequest) -> Response:
    rp = await req.runtime.placement.providers.get(_p(req))
    return views.respond(views.provider(req, rp))


async def listing(req: ApiRequest) -> Response:
    v = req_version(req)
    allowed = {"name", "uuid"}
    for key, since in (("member_of", (1, 3)), ("resources", (1, 4)), ("in_tree", (1, 14)),
                       ("required", (1, 18))):
        if v >= since:
            allowed.add(key)
    query.check_known(req, allowed)
    f = ProviderFilter(name=query.single(req, "name"))
    if (u := query.single(req, "uuid")) is not None:
        f.uuid = query.check_uuid(u, "uuid")
    if values := req.query.getlist("member_of"):
        f.member_of = query.member_of(values, v)
    if (text := query.single(req, "resources")) is not None:
        f.resources = query.resources(text)
        for rc in f.resources:
            if not await req.runtime.placement.catalog.class_exists(rc):
                raise query.BadQuery(f"Invalid resource class in resources parameter: No "
                                     f"such resource class {rc}.")
    if (tree := query.single(req, "in_tree")) is not None:
        f.in_tree = query.check_uuid(tree, "in_tree")
    if values := req.query.getlist("required"):
        f.required, f.forbidden = query.traits(values, v)
        await _check_traits(req, [t for any_of in f.required for t in any_of] + f.forbidden)
    rps = await req.runtime.placement.providers.find(f)
    return views.respond({"resource_providers": [views.provider(req, rp) for rp in rps]})


async def _check_traits(req: ApiRequest, names: list[str]) -> None:
    for name in names:
        if not await req.runtime.placement.catalog.trait_exists(name):
            raise query.BadQuery(f"Invalid query string parameters: No such trait(s): {name}.")


async def update(req: ApiRequest) -> Response:
    v = req_version(req)
    body = await req.json(schemas.provider_update(v))
    parent = body.get("parent_provider_uuid", UNSET)
    rp = await req.runtime.placement.providers.update(_p(req), body["name"], parent,
                                                      allow_reparent=v >= (1, 37))
    return views.respond(views.provider(req, rp))


async def delete(req: ApiRequest) -> Response:
    await req.runtime.placement.providers.delete(_p(req))
    return views.no_content()


# --- traits ------------------------------------------------------------------------------
async def get_traits(req: ApiRequest) -> Response:
    rp, names = await req.runtime.placement.providers.traits(_p(req))
    return views.respond({"traits": names, "resource_provider_generation": rp.generation})


async def put_traits(req: ApiRequest) -> Response:
    body = await req.json(schemas.traits_put)
    rp, names = await req.runtime.placement.providers.set_traits(
        _p(req), body["traits"], body["resource_provider_generation"])
    return views.respond({"traits": names, "resource_provider_generation": rp.generation})


async def delete_traits(req: ApiRequest) -> Response:
    await req.runtime.placement.providers.delete_traits(_p(req))
    return views.no_content()


# --- aggregates --------------------------------------------------------------------------
async def get_aggregates(req: ApiRequest) -> Response:
    rp, aggs = await req.runtime.placement.providers.aggregates(_p(req))
    body: dict[str, object] = {"aggregates": aggs}
    if req_version(req) >= (1, 19):
        body["resource_provider_generation"] = rp.generation
    return views.respond(body)


async def put_aggregates(req: ApiRequest) -> Response:
    v = req_version(req)
    if v >= (1, 19):
        body = await req.json(schemas.aggregates_put)
        aggs, gen = body["aggregates"], body["resource_provider_generation"]
    else:
        aggs, gen = await req.json(schemas.aggregates_put_old), None
    rp, stored = await req.runtime.placement.providers.set_aggregates(_p(req), aggs, gen)
    out: dict[str, object] = {"aggregates": stored}
    if v >= (1, 19):
        out["resource_provider_generation"] = rp.generation
    return views.respond(out)

