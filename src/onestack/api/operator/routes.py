"""``GET /operator/v1/audit?since=&user_id=&project_id=&limit=``: the audit trail of writes,
newest first, for admins; ``GET /operator/v1/events``: resource state changes as
server-sent events (``events.py``). Not an OpenStack service: not in the catalog."""

from __future__ import annotations

import datetime as dt

from starlette.responses import JSONResponse, Response

from onestack.api.common.faults import keystone_fault
from onestack.api.common.policy import Rule
from onestack.api.common.request import ApiRequest
from onestack.api.common.routing import Route, ServiceApi
from onestack.api.operator.events import stream_events
from onestack.core.identity.bootstrap import ServiceEntry
from onestack.core.operations.audit import MAX_LIMIT
from onestack.errors import BadRequest

RULES = [
    Rule("operator:audit:list", "role:admin", "List the audit trail of write requests."),
    Rule("operator:metrics:get", "role:admin", "Read /metrics with a Keystone token."),
    Rule("operator:events:list", "role:reader or role:member or role:admin",
         "Stream the state changes of the token's project's resources.", ("project",)),
    Rule("operator:events:all_projects", "role:admin",
         "Stream the state changes of every project's resources."),
]


def _since(raw: str | None) -> dt.datetime | None:
    if raw is None:
        return None
    try:
        value = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"Invalid value for 'since': {raw!r} is not an ISO 8601 time.") from None
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _limit(raw: str | None) -> int:
    if raw is None:
        return 100
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadRequest(f"Invalid value for 'limit': {raw!r} is not a whole number from 1 "
                         f"to {MAX_LIMIT}.")
    return int(raw)


async def list_audit(req: ApiRequest) -> Response:
    q = req.query
    records = await req.runtime.operations.audit.query(
        since=_since(q.get("since")), user_id=q.get("user_id"),
        project_id=q.get("project_id"), limit=_limit(q.get("limit")))
    return JSONResponse({"records": [r.view() for r in records]})


SERVICE = ServiceApi(
    name="operator", prefix="/operator",
    routes=[Route("GET", "/v1/audit", list_audit, "operator:audit:list"),
            Route("GET", "/v1/events", stream_events, "operator:events:list")],
    render_fault=keystone_fault)


def catalog_entries(_base_url: str) -> list[ServiceEntry]:
    return []
