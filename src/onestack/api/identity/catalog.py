"""Regions, services and endpoints."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.identity import schemas, views
from onestack.api.identity.resources import split_extra

REGION_KEYS = {"id", "description", "parent_region_id"}
SERVICE_KEYS = {"type", "name", "description", "enabled"}
ENDPOINT_KEYS = {"interface", "url", "service_id", "region_id", "region", "enabled"}


def _filters(req: ApiRequest, keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: req.query[k] for k in keys if k in req.query}


async def create_region(req: ApiRequest) -> Response:
    body = (await req.json(schemas.region_create))["region"]
    if "region_id" in req.params:
        body["id"] = req.params["region_id"]
    region = await req.runtime.identity.catalog.create_region(split_extra(body, REGION_KEYS))
    return views.respond({"region": views.region(req, region)}, status=201)


async def list_regions(req: ApiRequest) -> Response:
    regions = await req.runtime.identity.catalog.list_regions(
        _filters(req, ("parent_region_id",)))
    return views.listing(req, "regions", [views.region(req, r) for r in regions])


async def get_region(req: ApiRequest) -> Response:
    region = await req.runtime.identity.catalog.get_region(req.params["region_id"])
    return views.respond({"region": views.region(req, region)})


async def update_region(req: ApiRequest) -> Response:
    body = (await req.json(schemas.region_update))["region"]
    body.pop("id", None)
    region = await req.runtime.identity.catalog.update_region(
        req.params["region_id"], split_extra(body, REGION_KEYS))
    return views.respond({"region": views.region(req, region)})


async def delete_region(req: ApiRequest) -> Response:
    await req.runtime.identity.catalog.delete_region(req.params["region_id"])
    return views.no_content()


async def create_service(req: ApiRequest) -> Response:
    body = (await req.json(schemas.service_create))["service"]
    svc = await req.runtime.identity.catalog.create_service(split_extra(body, SERVICE_KEYS))
    return views.respond({"service": views.service(req, svc)}, status=201)


async def list_services(req: ApiRequest) -> Response:
    svcs = await req.runtime.identity.catalog.list_services(_filters(req, ("type", "name")))
    return views.listing(req, "services", [views.service(req, s) for s in svcs])


async def get_service(req: ApiRequest) -> Response:
    svc = await req.runtime.identity.catalog.get_service(req.params["service_id"])
    return views.respond({"service": views.service(req, svc)})


async def update_service(req: ApiRequest) -> Response:
    body = (await req.json(schemas.service_update))["service"]
    body.pop("id", None)
    svc = await req.runtime.identity.catalog.update_service(
        req.params["service_id"], split_extra(body, SERVICE_KEYS))
    return views.respond({"service": views.service(req, svc)})


async def delete_service(req: ApiRequest) -> Response:
    await req.runtime.identity.catalog.delete_service(req.params["service_id"])
    return views.no_content()


async def create_endpoint(req: ApiRequest) -> Response:
    body = (await req.json(schemas.endpoint_create))["endpoint"]
    ep = await req.runtime.identity.catalog.create_endpoint(split_extra(body, ENDPOINT_KEYS))
    return views.respond({"endpoint": views.endpoint(req, ep)}, status=201)


async def list_endpoints(req: ApiRequest) -> Response:
    eps = await req.runtime.identity.catalog.list_endpoints(
        _filters(req, ("service_id", "interface", "region_id")))
    return views.listing(req, "endpoints", [views.endpoint(req, e) for e in eps])


async def get_endpoint(req: ApiRequest) -> Response:
    ep = await req.runtime.identity.catalog.get_endpoint(req.params["endpoint_id"])
    return views.respond({"endpoint": views.endpoint(req, ep)})


async def update_endpoint(req: ApiRequest) -> Response:
    body = (await req.json(schemas.endpoint_update))["endpoint"]
    body.pop("id", None)
    ep = await req.runtime.identity.catalog.update_endpoint(
        req.params["endpoint_id"], split_extra(body, ENDPOINT_KEYS))
    return views.respond({"endpoint": views.endpoint(req, ep)})


async def delete_endpoint(req: ApiRequest) -> Response:
    await req.runtime.identity.catalog.delete_endpoint(req.params["endpoint_id"])
    return views.no_content()
