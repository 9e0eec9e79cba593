"""``GET /metrics`` in the Prometheus text format, for an admin's ``X-Auth-Token`` (policy
rule ``operator:metrics:get``) or the ``[metrics] token`` as ``Authorization: Bearer``.
No token: 401; a valid token without the rule: 403."""

from __future__ import annotations

import hmac

from starlette.responses import Response

from onestack.api.common.faults import keystone_fault
from onestack.api.common.policy import Rule
from onestack.api.common.request import ApiRequest
from onestack.api.common.routing import Route, ServiceApi
from onestack.core.identity.bootstrap import ServiceEntry
from onestack.core.operations.collect import HostLoop
from onestack.core.operations.metrics import CONTENT_TYPE
from onestack.errors import Unauthorized

RULES: list[Rule] = []  # operator:metrics:get is declared with the operator API


def _bearer_ok(req: ApiRequest) -> bool:
    configured = req.runtime.operations.token
    scheme, _, secret = (req.header("authorization") or "").partition(" ")
    return bool(configured) and scheme.lower() == "bearer" and hmac.compare_digest(
        secret.strip().encode(), configured.encode())


async def get_metrics(req: ApiRequest) -> Response:
    if not _bearer_ok(req):
        if not req.ctx.authenticated:
            raise Unauthorized("/metrics needs an admin's X-Auth-Token or the configured "
                               "bearer token.")
        req.runtime.policy.enforce("operator:metrics:get", req.ctx, {})
    rt = req.runtime
    loops = []
    if rt.compute_agent.host:
        loops.append(HostLoop(rt.compute_agent.host, rt.compute_agent.loop))
    if rt.network_agent is not None and rt.compute_agent.host:
        loops.append(HostLoop(rt.compute_agent.host, rt.network_agent.loop))
    driver = rt.compute_agent.driver if rt.compute_agent.host else None
    text = await rt.operations.render(loops, driver)
    return Response(text, media_type=None, headers={"content-type": CONTENT_TYPE})


SERVICE = ServiceApi(name="metrics", prefix="/metrics",
                     routes=[Route("GET", "/", get_metrics, auth=False)],
                     render_fault=keystone_fault)


def catalog_entries(_base_url: str) -> list[ServiceEntry]:
    return []
