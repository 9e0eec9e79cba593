"""Allocations: of a consumer, of a provider, and many consumers at once."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.microversions import req_version
from onestack.api.common.request import ApiRequest
from onestack.api.placement import query, schemas, views
from onestack.scheduler.allocations import INCOMPLETE, UNCHECKED, Claim


def _claim(consumer: str, body: dict[str, Any], v: tuple[int, int]) -> Claim:
    allocs = body["allocations"]
    if isinstance(allocs, list):  # before 1.12
        mapping: dict[str, dict[str, int]] = {}
        for item in allocs:
            u = item["resource_provider"]["uuid"]
            mapping.setdefault(u, {}).update(item["resources"])
    else:
        mapping = {u: dict(a["resources"]) for u, a in allocs.items()}
    mapping = {query.check_uuid(u, "resource_provider"): r for u, r in mapping.items()}
    return Claim(consumer, mapping, body.get("project_id") or INCOMPLETE,
                 body.get("user_id") or INCOMPLETE,
                 body.get("consumer_generation") if v >= (1, 28) else UNCHECKED)


async def get(req: ApiRequest) -> Response:
    v = req_version(req)
    got = await req.runtime.placement.allocations.of_consumer(req.params["consumer_uuid"])
    body: dict[str, Any] = {"allocations": {
        u: {"generation": gen, "resources": res} for u, (gen, res) in got.providers.items()}}
    if v >= (1, 12) and got.providers:
        body["project_id"], body["user_id"] = got.project_id, got.user_id
    if v >= (1, 28) and got.providers:
        body["consumer_generation"] = got.generation
    return views.respond(body)


async def put(req: ApiRequest) -> Response:
    v = req_version(req)
    consumer = query.check_uuid(req.params["consumer_uuid"], "consumer_uuid")
    body = await req.json(schemas.allocations_put(v))
    await req.runtime.placement.allocations.claim([_claim(consumer, body, v)])
    return views.no_content()


async def post(req: ApiRequest) -> Response:
    v = req_version(req)
    body = await req.json(schemas.allocations_post(v))
    claims = [_claim(query.check_uuid(c, "consumer_uuid"), data, v)
              for c, data in body.items()]
    await req.runtime.placement.allocations.claim(claims)
    return views.no_content()


async def delete(req: ApiRequest) -> Response:
    await req.runtime.placement.allocations.delete(req.params["consumer_uuid"])
    return views.no_content()


async def of_provider(req: ApiRequest) -> Response:
    rp, allocs = await req.runtime.placement.allocations.of_provider(req.params["uuid"])
    return views.respond({
        "allocations": {c: {"resources": res} for c, res in allocs.items()},
        "resource_provider_generation": rp.generation})
