"""OS-EP-FILTER: endpoint groups and the endpoints a project's catalog is limited to."""

from __future__ import annotations

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.identity import schemas, views


async def create_group(req: ApiRequest) -> Response:
    body = (await req.json(schemas.endpoint_group_create))["endpoint_group"]
    group = await req.runtime.identity.endpoint_groups.create(body)
    return views.respond({"endpoint_group": views.endpoint_group(req, group)}, status=201)


async def list_groups(req: ApiRequest) -> Response:
    groups = await req.runtime.identity.endpoint_groups.list_groups(req.query.get("name"))
    return views.listing(req, "endpoint_groups",
                         [views.endpoint_group(req, g) for g in groups])


async def get_group(req: ApiRequest) -> Response:
    group = await req.runtime.identity.endpoint_groups.get(req.params["endpoint_group_id"])
    return views.respond({"endpoint_group": views.endpoint_group(req, group)})


async def update_group(req: ApiRequest) -> Response:
    body = (await req.json(schemas.endpoint_group_update))["endpoint_group"]
    group = await req.runtime.identity.endpoint_groups.update(
        req.params["endpoint_group_id"], body)
    return views.respond({"endpoint_group": views.endpoint_group(req, group)})


async def delete_group(req: ApiRequest) -> Response:
    await req.runtime.identity.endpoint_groups.delete(req.params["endpoint_group_id"])
    return views.no_content()


async def group_endpoints(req: ApiRequest) -> Response:
    eps = await req.runtime.identity.endpoint_groups.endpoints_of(
        req.params["endpoint_group_id"])
    return views.listing(req, "endpoints", [views.endpoint(req, e) for e in eps])


async def _projects(req: ApiRequest, kind: str, ident: str) -> Response:
    ident_core = req.runtime.identity
    projects = await ident_core.endpoint_groups.projects_of(kind, ident)
    tags = await ident_core.resources.project_tags([p.id for p in projects])
    return views.listing(req, "projects", [views.project(req, p, tags[p.id])
                                           for p in projects])


async def group_projects(req: ApiRequest) -> Response:
    return await _projects(req, "group", req.params["endpoint_group_id"])


async def endpoint_projects(req: ApiRequest) -> Response:
    return await _projects(req, "endpoint", req.params["endpoint_id"])


def _assoc(req: ApiRequest) -> tuple[str, str, str]:
    p = req.params
    if "endpoint_group_id" in p:
        return "group", p["endpoint_group_id"], p["project_id"]
    return "endpoint", p["endpoint_id"], p["project_id"]


async def associate(req: ApiRequest) -> Response:
    await req.runtime.identity.endpoint_groups.associate(*_assoc(req))
    return views.no_content()


async def check(req: ApiRequest) -> Response:
    kind, ident, project_id = _assoc(req)
    await req.runtime.identity.endpoint_groups.check(kind, ident, project_id)
    if kind == "endpoint":
        return views.no_content()
    return views.respond({"project_endpoint_group": {
        "endpoint_group_id": ident, "project_id": project_id,
        "links": {"self": req.url(f"/v3/OS-EP-FILTER/endpoint_groups/{ident}/projects/"
                                  f"{project_id}")}}})


async def dissociate(req: ApiRequest) -> Response:
    await req.runtime.identity.endpoint_groups.dissociate(*_assoc(req))
    return views.no_content()


async def project_groups(req: ApiRequest) -> Response:
    groups = await req.runtime.identity.endpoint_groups.groups_of_project(
        req.params["project_id"])
    return views.listing(req, "endpoint_groups",
                         [views.endpoint_group(req, g) for g in groups])


async def project_endpoints(req: ApiRequest) -> Response:
    eps = await req.runtime.identity.endpoint_groups.endpoints_of_project(
        req.params["project_id"])
    return views.listing(req, "endpoints", [views.endpoint(req, e) for e in eps])
