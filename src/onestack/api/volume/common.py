"""What every Cinder resource shares: the caller, responses, links, query parameters."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response

from onestack.api.common.jsonbody import json_response
from onestack.api.common.microversions import req_version
from onestack.api.common.request import ApiRequest
from onestack.core.volume.base import Caller
from onestack.core.volume.listing import MAX_LIMIT, ListQuery, parse_sort
from onestack.errors import BadRequest, Forbidden, NotFound

MIN_VERSION, MAX_VERSION = (3, 0), (3, 67)


def respond(body: Any, status: int = 200) -> Response:
    return json_response(body, status, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return iso(value)
    raise TypeError(f"cannot render {type(value).__name__}")


def accepted() -> Response:
    return Response(status_code=202)


def iso(t: dt.datetime | None) -> str | None:
    """Cinder's times: 2018-11-28T06:21:12.715987."""
    return None if t is None else t.strftime("%Y-%m-%dT%H:%M:%S.%f")


def is_admin(req: ApiRequest) -> bool:
    return req.runtime.policy.authorize("context_is_admin", req.ctx, {})


async def policy_target(req: ApiRequest) -> dict[str, Any]:
    """Cinder's policy target: the project a quota path names, else the caller's. A project
    in the URL (/v3/{project}/...) must be the token's, as Cinder checks ("Malformed
    request url"): links and lookups follow the token's project."""
    url_project = req.params.get("project")
    if url_project is not None and req.ctx.project_id not in (None, url_project):
        raise BadRequest(f"Malformed request url: the project {url_project} in the URL is "
                         "not the token's project; use the endpoint of the catalog of a "
                         "token scoped to that project.")
    return {"project_id": req.params.get("target_project") or req.ctx.project_id}


def caller(req: ApiRequest) -> Caller:
    """Who acts, for the core. Only admins act without a project (the policy refuses other
    tokens without one first): nothing lands in a project "" shared by unscoped callers."""
    admin = is_admin(req)
    if req.ctx.project_id is None and not admin:
        raise Forbidden("This action needs a project-scoped token: authenticate with a "
                        "project (e.g. set OS_PROJECT_NAME) on which you hold a role.")
    return Caller(req.ctx.project_id or "", req.ctx.user_id or "", admin, req.ctx.request_id)


def since(req: ApiRequest, major: int, minor: int) -> bool:
    return req_version(req) >= (major, minor)


def project_prefix(req: ApiRequest) -> str:
    """/v3 or /v3/<project_id>, as the client called it (links keep the same shape)."""
    project = req.params.get("project")
    return f"/v3/{project}" if project else "/v3"


def links(req: ApiRequest, collection: str, ident: str) -> list[dict[str, str]]:
    base = req.base_url()
    project = req.params.get("project") or req.ctx.project_id or ""
    return [{"rel": "self", "href": f"{base}/v3/{project}/{collection}/{ident}"},
            {"rel": "bookmark", "href": f"{base}/{project}/{collection}/{ident}"}]


def next_links(req: ApiRequest, count: int, q: ListQuery, last_id: str | None
               ) -> list[dict[str, str]] | None:
    """Cinder's next link: whenever a page is full (even when nothing follows)."""
    limit = q.limit if q.limit is not None else MAX_LIMIT
    if last_id is None or count < limit or limit == 0:
        return None
    params = [(k, v) for k, v in req.query.multi_items() if k not in ("marker", "offset")]
    params.append(("marker", last_id))
    href = f"{req.base_url()}{req.path.rstrip('/')}?{urlencode(params)}"
    return [{"rel": "next", "href": href}]


def one(req: ApiRequest, name: str) -> str | None:
    values = req.query.getlist(name)
    return values[-1] if values else None


def int_param(req: ApiRequest, name: str, minimum: int = 0) -> int | None:
    raw = one(req, name)
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError as exc:
        raise BadRequest(f"Invalid input received: {name} must be an integer, not "
                         f"{raw!r}.") from exc
    if value < minimum:
        raise BadRequest(f"Invalid input received: {name} must be >= {minimum}.")
    return value


def bool_param(req: ApiRequest, name: str) -> bool | None:
    raw = one(req, name)
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in ("1", "true", "t", "yes", "y", "on"):
        return True
    if value in ("0", "false", "f", "no", "n", "off"):
        return False
    raise BadRequest(f"Invalid input received: {name} must be a boolean, not {raw!r}.")


def list_query(req: ApiRequest, sort_columns: dict[str, Any], filters: dict[str, Any]
               ) -> ListQuery:
    if req.path.endswith("/") and req.path.rstrip("/").endswith(("/volumes", "/snapshots")):
        # GET .../volumes/ names no volume: Cinder answers 404, as for any missing id.
        raise NotFound("The resource could not be found.")
    limit = int_param(req, "limit")
    all_projects = bool(bool_param(req, "all_tenants") or bool_param(req, "all_projects"))
    return ListQuery(filters=filters,
                     sort=parse_sort(one(req, "sort"), one(req, "sort_key"),
                                     one(req, "sort_dir"), sort_columns),
                     limit=None if limit is None else min(limit, MAX_LIMIT),
                     marker=one(req, "marker"), offset=int_param(req, "offset") or 0,
                     all_projects=all_projects,
                     project_id=one(req, "project_id") if all_projects else None)


async def body_of(req: ApiRequest, key: str) -> dict[str, Any]:
    """The object under ``key`` in the request body; 400 when the body is not one."""
    body = await req.json()
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise BadRequest(f"Missing required element '{key}' in request body.")
    inner: dict[str, Any] = body[key]
    return inner
