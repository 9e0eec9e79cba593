"""Domain-specific configuration: /v3/domains/{id}/config and the defaults."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.identity import views
from onestack.core.identity import domain_config

BODY = {"type": "object", "properties": {"config": {"type": "object"}}, "required": ["config"]}


def _where(req: ApiRequest) -> tuple[str, str | None, str | None]:
    return req.params["domain_id"], req.params.get("group"), req.params.get("option")


async def _body(req: ApiRequest) -> dict[str, Any]:
    body: dict[str, Any] = (await req.json(BODY))["config"]
    return body


async def create(req: ApiRequest) -> Response:
    config, new = await req.runtime.identity.domain_configs.create(req.params["domain_id"],
                                                                   await _body(req))
    return views.respond({"config": config}, status=201 if new else 200)


async def get(req: ApiRequest) -> Response:
    return views.respond({"config": await req.runtime.identity.domain_configs.get(
        *_where(req))})


async def update(req: ApiRequest) -> Response:
    domain_id, group, option = _where(req)
    config = await req.runtime.identity.domain_configs.update(domain_id, await _body(req),
                                                              group, option)
    return views.respond({"config": config})


async def delete(req: ApiRequest) -> Response:
    await req.runtime.identity.domain_configs.delete(*_where(req))
    return views.no_content()


async def get_default(req: ApiRequest) -> Response:
    return views.respond({"config": domain_config.default(req.params.get("group"),
                                                          req.params.get("option"))})
