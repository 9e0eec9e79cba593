"""``GET /operator/v1/events``: resource state changes as server-sent events.

A project's members and readers see their project's events; an admin may ask
``?all_projects=1``. ``?type=server,volume`` and ``?id=<resource id>`` narrow it. Each event
is one ``data:`` line of JSON with an ``id:`` a client sends back as ``Last-Event-ID`` to
resume from this process's ring of recent events. Control events: ``reset`` (that id cannot
be resumed from: list again), ``dropped`` (the client fell too far behind), ``expired`` (the
token is no longer valid). A comment line every ``KEEPALIVE`` seconds keeps proxies from
closing an idle stream; the token is checked again each time.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from starlette.responses import Response, StreamingResponse

from onestack.api.common.auth import authenticate_request
from onestack.api.common.request import ApiRequest
from onestack.context import RequestContext
from onestack.core.events.bus import Event, EventBus, Filter, Subscription
from onestack.core.events.capture import TYPES
from onestack.errors import BadRequest, Forbidden

KEEPALIVE = 15.0  # seconds between keep-alive comments (and token checks)
RETRY_MS = 2000  # what the client waits before reconnecting


def _types(raw: str | None) -> frozenset[str]:
    if not raw:
        return frozenset()
    wanted = frozenset(t.strip() for t in raw.split(",") if t.strip())
    unknown = sorted(wanted - TYPES)
    if unknown:
        raise BadRequest(f"Invalid value for 'type': {', '.join(unknown)} (known: "
                         f"{', '.join(sorted(TYPES))}).")
    return wanted


def _filter(req: ApiRequest) -> Filter:
    ctx = req.ctx
    if req.flag("all_projects"):
        req.runtime.policy.enforce("operator:events:all_projects", ctx, {})
        project = None
    elif not ctx.project_id:
        raise Forbidden("The event stream is a project's: use a project-scoped token "
                        "(an admin may ask for all_projects=1).")
    else:
        project = ctx.project_id
    resource = req.query.get("id") or None
    if resource is not None and len(resource) > 255:
        raise BadRequest("Invalid value for 'id': longer than 255 characters.")
    return Filter(project, _types(req.query.get("type")), resource)


def frame(bus: EventBus, event: Event) -> str:
    return f"id: {bus.event_id(event)}\ndata: {json.dumps(event.view())}\n\n"


def control(name: str, message: str) -> str:
    return f"event: {name}\ndata: {json.dumps({'message': message})}\n\n"


async def _frames(req: ApiRequest, sub: Subscription, resumed: bool, token: str
                  ) -> AsyncIterator[str]:
    bus = sub.bus
    try:
        yield f"retry: {RETRY_MS}\n: connected\n\n"
        if not resumed:
            yield control("reset", "Last-Event-ID is not in this server's recent events; "
                          "list the resources again.")
        while True:
            event = await sub.next(KEEPALIVE)
            if event is not None:
                yield frame(bus, event)
                continue
            if sub.dropped.is_set():
                yield control("dropped", "This client fell too far behind; reconnect with "
                              "Last-Event-ID.")
                return
            probe = RequestContext(request_id=req.ctx.request_id)
            if not await authenticate_request(req.runtime.identity, token, probe):
                yield control("expired", "The token is no longer valid.")
                return
            yield ": keep-alive\n\n"
    finally:
        sub.close()


async def stream_events(req: ApiRequest) -> Response:
    flt = _filter(req)
    bus = req.runtime.operations.events
    last = req.header("last-event-id") or req.query.get("last_event_id")
    sub, resumed = bus.subscribe(flt, last)
    token = req.header("x-auth-token") or ""
    return StreamingResponse(_frames(req, sub, resumed, token),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
