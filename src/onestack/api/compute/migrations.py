"""Migration records: ``GET /os-migrations`` (admins), and a server's live migrations under
way (``/servers/{id}/migrations``, 2.23; abort 2.24; force_complete 2.22)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.compute.common import (
    accepted,
    caller,
    iso_micro,
    limit_param,
    one,
    parse_time,
    respond,
    since,
)
from onestack.core.compute.migration_records import Filters
from onestack.db.models.compute import Migration
from onestack.errors import BadRequest, Conflict, NotFound

TYPES = ("evacuation", "live-migration", "migration", "resize")


def _flavor(value: str | None) -> int | str | None:
    return int(value) if value is not None and value.isdigit() else value


def _base(m: Migration) -> dict[str, Any]:
    return {"id": m.id, "created_at": iso_micro(m.created_at),
            "updated_at": iso_micro(m.updated_at), "status": m.status,
            "source_compute": m.source_compute, "source_node": m.source_node,
            "dest_compute": m.dest_compute, "dest_node": m.dest_node,
            "dest_host": m.dest_host}


def _uuid(req: ApiRequest, body: dict[str, Any], m: Migration) -> dict[str, Any]:
    if since(req, 2, 59):
        body["uuid"] = m.uuid
    return body


def listed(req: ApiRequest, m: Migration) -> dict[str, Any]:
    body = {**_base(m), "instance_uuid": m.instance_uuid,
            "old_instance_type_id": _flavor(m.old_flavor_id),
            "new_instance_type_id": _flavor(m.new_flavor_id)}
    if since(req, 2, 23):
        body["migration_type"] = m.migration_type
        if m.migration_type == "live-migration" and m.status in (
                "queued", "preparing", "running", "post-migrating"):
            prefix = str(req.http.base_url).rstrip("/") + "/compute"
            path = f"/servers/{m.instance_uuid}/migrations/{m.id}"
            body["links"] = [{"rel": "self", "href": f"{prefix}/v2.1{path}"},
                             {"rel": "bookmark", "href": f"{prefix}{path}"}]
    return _uuid(req, body, m)


def live(req: ApiRequest, m: Migration) -> dict[str, Any]:
    # the progress counters are not tracked: QEMU's totals stay on the source host
    body = {**_base(m), "server_uuid": m.instance_uuid,
            **{f"{kind}_{what}_bytes": None for kind in ("memory", "disk")
               for what in ("total", "processed", "remaining")}}
    return _uuid(req, body, m)


async def index(req: ApiRequest) -> Response:
    kind = one(req, "migration_type")
    if kind is not None and kind not in TYPES:
        raise BadRequest(f"Invalid migration_type {kind!r}: one of {', '.join(TYPES)}.")
    f = Filters(host=one(req, "host"), status=one(req, "status"),
                instance_uuid=one(req, "instance_uuid"),
                source_compute=one(req, "source_compute"), migration_type=kind)
    limit = marker = None
    if since(req, 2, 59):
        if (value := one(req, "changes-since")) is not None:
            f.changes_since = parse_time(value, "changes-since")
        limit = limit_param(req)
        marker = one(req, "marker")
    if since(req, 2, 66) and (value := one(req, "changes-before")) is not None:
        f.changes_before = parse_time(value, "changes-before")
        if f.changes_since and f.changes_before < f.changes_since:
            raise BadRequest("The value of changes-since must be less than or equal to "
                             "changes-before.")
    rows = await req.runtime.compute.migrations.records.listing(f, limit, marker)
    body: dict[str, Any] = {"migrations": [listed(req, m) for m in rows]}
    if limit is not None and rows and len(rows) >= limit:
        base = str(req.http.base_url).rstrip("/")
        body["migrations_links"] = [{"rel": "next", "href": f"{base}/compute/v2.1/"
                                     f"os-migrations?limit={limit}&marker={rows[-1].uuid}"}]
    return respond(body)


async def _server(req: ApiRequest, major: int = 2, minor: int = 23) -> str:
    if not since(req, major, minor):
        raise NotFound(f"The resource could not be found (needs microversion "
                       f"{major}.{minor} or later).")
    server_id = req.params["server_id"]
    await req.runtime.compute.servers.get(caller(req), server_id)
    return server_id


def _migration_id(req: ApiRequest) -> int:
    raw = req.params["migration_id"]
    if not raw.isdigit():
        raise NotFound(f"Migration {raw} not found.")
    return int(raw)


async def server_index(req: ApiRequest) -> Response:
    rows = await req.runtime.compute.migrations.records.in_progress(await _server(req))
    return respond({"migrations": [live(req, m) for m in rows]})


async def server_show(req: ApiRequest) -> Response:
    server_id = await _server(req)
    row = await req.runtime.compute.migrations.records.live(server_id, _migration_id(req))
    return respond({"migration": live(req, row)})


async def server_abort(req: ApiRequest) -> Response:
    server_id = await _server(req, 2, 24)
    await req.runtime.compute.migrations.abort_live(caller(req), server_id,
                                                    _migration_id(req))
    return accepted()


async def server_action(req: ApiRequest) -> Response:
    server_id = await _server(req, 2, 22)
    body = await req.json()
    if not isinstance(body, dict) or list(body) != ["force_complete"]:
        raise BadRequest("The action body must be {\"force_complete\": null}.")
    await req.runtime.compute.migrations.records.live(server_id, _migration_id(req))
    raise Conflict("Forcing a live migration to complete is not supported here: the copy "
                   "runs with auto-converge, which slows the guest until it completes.")
