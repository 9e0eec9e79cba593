"""What every Nova resource shares: the caller, responses, links, query parameters, times."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.responses import Response

from onestack.api.common.jsonbody import json_response
from onestack.api.common.microversions import Version, req_version
from onestack.api.common.request import ApiRequest
from onestack.core.compute.base import Caller
from onestack.errors import BadRequest, Forbidden

API = "/v2.1"


def respond(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return json_response(body, status, headers)


def no_content(status: int = 204) -> Response:
    return Response(status_code=status)


def accepted() -> Response:
    return Response(status_code=202)


def is_admin(req: ApiRequest) -> bool:
    """Asked by the views once per server of a page: the policy check is made once."""
    admin = req.state.get("compute_is_admin")
    if admin is None:
        admin = req.state["compute_is_admin"] = req.runtime.policy.authorize(
            "context_is_admin", req.ctx, {})
    return bool(admin)


async def policy_target(req: ApiRequest) -> dict[str, Any]:
    """Nova's policy target: the project a path names (quota sets, usage) or the caller's,
    and the caller's user (key pairs are the user's)."""
    return {"project_id": req.params.get("project_id") or req.ctx.project_id,
            "user_id": req.ctx.user_id}


def caller(req: ApiRequest) -> Caller:
    """Who acts, for the core. Only admins act without a project (the policy refuses other
    tokens without one first): nothing lands in, or is read from, a project "" shared by
    every unscoped caller."""
    admin = is_admin(req)
    if req.ctx.project_id is None and not admin:
        raise Forbidden("This action needs a project-scoped token: authenticate with a "
                        "project (e.g. set OS_PROJECT_NAME) on which you hold a role.")
    return Caller(req.ctx.project_id or "", req.ctx.user_id or "", admin, req.ctx.request_id)


def version(req: ApiRequest) -> Version:
    return req_version(req)


def since(req: ApiRequest, major: int, minor: int) -> bool:
    return req_version(req) >= (major, minor)


def links(req: ApiRequest, collection: str, ident: str) -> list[dict[str, str]]:
    base = req.base_url()
    return [{"rel": "self", "href": f"{base}{API}/{collection}/{ident}"},
            {"rel": "bookmark", "href": f"{base}/{collection}/{ident}"}]


def next_link(req: ApiRequest, collection: str, marker: str) -> list[dict[str, str]]:
    params = [(k, v) for k, v in req.query.multi_items() if k != "marker"]
    params.append(("marker", marker))
    from urllib.parse import urlencode

    return [{"rel": "next", "href": f"{req.base_url()}{API}/{collection}?{urlencode(params)}"}]


def iso(t: dt.datetime | None) -> str | None:
    """Nova's server times: 2012-08-20T21:11:09Z."""
    if t is None:
        return None
    if t.tzinfo is not None:
        t = t.replace(tzinfo=None)
    return t.isoformat(timespec="seconds") + "Z"  # strftime is slower


def iso_micro(t: dt.datetime | None) -> str | None:
    """Nova's other times: 2012-08-20T21:11:09.000000."""
    if t is None:
        return None
    if t.tzinfo is not None:
        t = t.replace(tzinfo=None)
    return t.isoformat(timespec="microseconds")


def parse_time(value: str, name: str) -> dt.datetime:
    text = value.strip().replace(" ", "+")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadRequest(f"Invalid input for query parameters {name}. Value: {value}. "
                         f"{value} is not a valid ISO 8601 date-time.") from exc
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(dt.UTC).replace(tzinfo=None)
    return parsed


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
        raise BadRequest(f"Invalid input for query parameters {name}. Value: {raw}. "
                         f"'{raw}' is not an integer") from exc
    if value < minimum:
        raise BadRequest(f"Invalid input for query parameters {name}. Value: {raw}. "
                         f"{value} is less than the minimum of {minimum}")
    return value


def bool_param(req: ApiRequest, name: str) -> bool | None:
    raw = one(req, name)
    if raw is None:
        return None
    value = raw.strip().lower()
    if value in ("1", "true", "t", "yes", "y", "on", ""):
        return True
    if value in ("0", "false", "f", "no", "n", "off"):
        return False
    raise BadRequest(f"Invalid input for query parameters {name}. Value: {raw}. "
                     "It must be a boolean.")


def limit_param(req: ApiRequest, maximum: int = 1000, default: int | None = None
                ) -> int | None:
    """``limit``, at most ``maximum`` (Nova's max_limit); ``default`` when not given."""
    limit = int_param(req, "limit")
    return default if limit is None else min(limit, maximum)
