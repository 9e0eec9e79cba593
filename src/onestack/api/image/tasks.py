"""Glance's tasks API (deprecated upstream, admin-only by default): /v2/tasks[/{task_id}]."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.image import metadef_schemas as schemas
from onestack.api.image import metadef_views as mv
from onestack.api.image import views
from onestack.api.image.metadefs import int_param
from onestack.core.image.tasks import TaskQuery
from onestack.errors import MethodNotAllowed


async def create_task(req: ApiRequest) -> Response:
    body = await req.json(schemas.task_body)
    row = await req.runtime.image.tasks.create(views.caller(req), body["type"],
                                               body["input"], req.ctx.user_id,
                                               req.ctx.request_id)
    return views.respond(mv.task(row), status=201,
                         headers={"Location": req.url(f"/v2/tasks/{row.id}")})


async def list_tasks(req: ApiRequest) -> Response:
    q = TaskQuery(status=req.query.get("status"), type=req.query.get("type"),
                  sort_key=req.query.get("sort_key", "created_at"),
                  sort_dir=req.query.get("sort_dir", "desc"), limit=int_param(req, "limit"),
                  marker=req.query.get("marker"))
    rows, more = await req.runtime.image.tasks.page(views.caller(req), q)
    params = [(k, v) for k, v in req.query.multi_items() if k != "marker"]
    first = "/v2/tasks" + (f"?{urlencode(params)}" if params else "")
    body = {"tasks": [mv.task(r, stub=True) for r in rows], "first": first,
            "schema": "/v2/schemas/tasks"}
    if more:
        body["next"] = f"/v2/tasks?{urlencode([*params, ('marker', rows[-1].id)])}"
    return views.respond(body)


async def show_task(req: ApiRequest) -> Response:
    row = await req.runtime.image.tasks.get(views.caller(req), req.params["task_id"])
    return views.respond(mv.task(row))


async def delete_task(req: ApiRequest) -> Response:
    raise MethodNotAllowed("This operation is currently not permitted on Glance Tasks. "
                           "They are auto deleted after reaching the time based on their "
                           "expires_at property.")
