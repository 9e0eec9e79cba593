"""Version discovery, quotas and providers (flavors and availability zones, and the
providers' capability lists: ``flavors.py``)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.jsonbody import json_response
from onestack.api.common.request import ApiRequest
from onestack.api.load_balancer import schemas
from onestack.api.load_balancer.handlers import body, core, listing
from onestack.core.load_balancer import errors
from onestack.core.load_balancer.rules import PROVIDERS, QUOTA_RESOURCES

# Octavia API versions served; clients read the last one to decide which features to use.
NEWEST = 16
UPDATED = "2020-04-02T00:00:00Z"


async def versions(req: ApiRequest) -> Response:
    base = req.base_url()
    out = [{"id": f"v2.{n}", "status": "CURRENT" if n == NEWEST else "SUPPORTED",
            "updated": UPDATED, "links": [{"href": f"{base}/v2", "rel": "self"}]}
           for n in range(NEWEST + 1)]
    return json_response({"versions": out})


async def project_target(req: ApiRequest) -> dict[str, Any]:
    return {"project_id": req.params["project_id"]}


def _quota(project_id: str | None, limits: dict[str, int]) -> dict[str, Any]:
    out: dict[str, Any] = {name: limits[name] for name in QUOTA_RESOURCES}
    out["loadbalancer"], out["healthmonitor"] = limits["load_balancer"], limits[
        "health_monitor"]
    if project_id is not None:
        out["project_id"] = project_id
    return out


async def list_quotas(req: ApiRequest) -> Response:
    quotas = await core(req).quotas()
    return listing(req, "quotas", [_quota(p, q) for p, q in quotas.items()])


async def get_quota(req: ApiRequest) -> Response:
    project = req.params["project_id"]
    return json_response({"quota": _quota(None, await core(req).quota(project))})


async def default_quota(req: ApiRequest) -> Response:
    return json_response({"quota": _quota(None, {k: -1 for k in QUOTA_RESOURCES})})


async def put_quota(req: ApiRequest) -> Response:
    data = await body(req, "quota")
    if not isinstance(data, dict):
        raise errors.invalid("quota", data, "Value should be a JSON object")
    values: dict[str, int] = {}
    for key, value in data.items():
        if key not in schemas.QUOTA:
            raise errors.invalid(key, value, "Unknown attribute for argument quota")
        if value is None:
            value = -1
        aliases = {"loadbalancer": "load_balancer", "healthmonitor": "health_monitor"}
        resource: str = aliases.get(str(key), str(key))
        values[resource] = schemas.QUOTA[key](value, key)
    limits = await core(req).set_quota(req.params["project_id"], values)
    return json_response({"quota": _quota(None, limits)}, 202)


async def delete_quota(req: ApiRequest) -> Response:
    await core(req).reset_quota(req.params["project_id"])
    return Response(status_code=202)


async def providers(req: ApiRequest) -> Response:
    return listing(req, "providers", [dict(p) for p in PROVIDERS])
