"""Volume backups (Cinder's /backups): thin handlers over core.volume.backups."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.volume.common import (
    accepted,
    body_of,
    caller,
    is_admin,
    iso,
    links,
    list_query,
    next_links,
    one,
    respond,
    since,
)
from onestack.core.volume.backups import SORT_COLUMNS, Backups
from onestack.db.models.volume_backup import Backup
from onestack.errors import BadRequest, NotFound


def _core(req: ApiRequest) -> Backups:
    backups: Backups = req.runtime.volume_backups
    return backups


def view(req: ApiRequest, row: Backup, dependent: bool, detail: bool = True
         ) -> dict[str, Any]:
    out: dict[str, Any] = {"id": row.id, "name": row.name,
                           "links": links(req, "backups", row.id)}
    if not detail:
        return out
    out.update({
        "availability_zone": row.availability_zone, "container": row.container,
        "created_at": iso(row.created_at), "updated_at": iso(row.updated_at),
        "data_timestamp": iso(row.data_timestamp), "description": row.description,
        "fail_reason": row.fail_reason, "has_dependent_backups": dependent,
        "is_incremental": row.is_incremental, "object_count": row.object_count,
        "size": row.size, "snapshot_id": row.snapshot_id, "status": row.status,
        "volume_id": row.volume_id})
    if since(req, 3, 18) and is_admin(req):
        out["os-backup-project-attr:project_id"] = row.project_id
    if since(req, 3, 43):
        out["metadata"] = dict(row.meta or {})
    if since(req, 3, 56):
        out["user_id"] = row.user_id
    return out


async def _listing(req: ApiRequest, detail: bool) -> Response:
    filters = {k: v for k in ("name", "status", "volume_id") if (v := one(req, k)) is not None}
    q = list_query(req, SORT_COLUMNS, filters)
    rows = await _core(req).page(caller(req), q)
    body: dict[str, Any] = {"backups": [view(req, r, dep, detail) for r, dep in rows]}
    nxt = next_links(req, len(rows), q, rows[-1][0].id if rows else None)
    if nxt:
        body["backups_links"] = nxt
    if since(req, 3, 45) and one(req, "with_count") in ("true", "True", "1"):
        body["count"] = len(rows)
    return respond(body)


async def list_backups(req: ApiRequest) -> Response:
    return await _listing(req, False)


async def list_details(req: ApiRequest) -> Response:
    return await _listing(req, True)


async def create(req: ApiRequest) -> Response:
    body = await body_of(req, "backup")
    if not since(req, 3, 43):
        body.pop("metadata", None)
    row = await _core(req).create(caller(req), body)
    return respond({"backup": view(req, row, False, detail=False)}, 202)


async def show(req: ApiRequest) -> Response:
    row, dep = await _core(req).get(caller(req), req.params["backup_id"])
    return respond({"backup": view(req, row, dep)})


async def update(req: ApiRequest) -> Response:
    if not since(req, 3, 9):
        raise NotFound("The resource could not be found.")
    body = await body_of(req, "backup")
    unknown = set(body) - {"name", "description", "metadata"}
    if unknown:
        raise BadRequest(f"Invalid input for field/attribute backup. Additional properties "
                         f"are not allowed ({', '.join(sorted(unknown))} unexpected)")
    row = await _core(req).update(caller(req), req.params["backup_id"], body)
    # Cinder answers the summary view (id, name, links)
    return respond({"backup": view(req, row, False, detail=False)})


async def delete(req: ApiRequest) -> Response:
    force = one(req, "force") in ("true", "True", "1")
    if force and not req.runtime.policy.authorize("backup:delete_force", req.ctx, {}):
        raise NotFound(f"Backup {req.params['backup_id']} could not be found.")
    await _core(req).delete(caller(req), req.params["backup_id"], force=force)
    return accepted()


async def restore(req: ApiRequest) -> Response:
    body = await body_of(req, "restore")
    out = await _core(req).restore(caller(req), req.params["backup_id"], body)
    return respond({"restore": out}, 202)


async def action(req: ApiRequest) -> Response:
    body = await req.json()
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Invalid request body: one action is expected.")
    name, args = next(iter(body.items()))
    bid = req.params["backup_id"]
    if name == "os-reset_status":
        status = args.get("status") if isinstance(args, dict) else None
        await _core(req).reset_status(caller(req), bid, status)
    elif name == "os-force_delete":
        await _core(req).delete(caller(req), bid, force=True)
    else:
        raise BadRequest(f"There is no such action: {name}")
    return accepted()


async def export_record(req: ApiRequest) -> Response:
    record = await _core(req).export_record(caller(req), req.params["backup_id"])
    return respond({"backup-record": record})


async def import_record(req: ApiRequest) -> Response:
    body = await req.json()
    if not isinstance(body, dict) or "backup-record" not in body:
        raise BadRequest("Missing required element 'backup-record' in request body.")
    row = await _core(req).import_record(caller(req), body["backup-record"])
    return respond({"backup": view(req, row, False, detail=False)}, 201)


async def no_backup_id(req: ApiRequest) -> Response:
    raise NotFound("Backup could not be found: no backup id was given.")


BK = "/backups/{backup_id}"
ADMIN = "rule:admin_api"
READER = "rule:xena_system_admin_or_project_reader"
MEMBER = "rule:xena_system_admin_or_project_member"
# Cinder's defaults (cinder/policies/backups.py, backup_actions.py)
POLICY: list[tuple[str, str]] = [
    ("backup:get_all", READER), ("backup:get", READER), ("backup:create", MEMBER),
    ("backup:update", MEMBER), ("backup:delete", MEMBER), ("backup:restore", MEMBER),
    ("backup:delete_force", ADMIN), ("backup:backup-import", ADMIN),
    ("backup:export-import", ADMIN), ("volume_extension:backup_admin_actions", ADMIN)]
TABLE: list[tuple[str, str, Any, str]] = [
    ("GET", "/backups", list_backups, "backup:get_all"),
    ("POST", "/backups", create, "backup:create"),
    ("GET", "/backups/detail", list_details, "backup:get_all"),
    ("POST", "/backups/import_record", import_record, "backup:backup-import"),
    ("DELETE", "/backups", no_backup_id, "backup:delete"),
    ("GET", BK, show, "backup:get"),
    ("PUT", BK, update, "backup:update"),
    ("DELETE", BK, delete, "backup:delete"),
    ("POST", BK + "/restore", restore, "backup:restore"),
    ("POST", BK + "/action", action, "volume_extension:backup_admin_actions"),
    ("GET", BK + "/export_record", export_record, "backup:export-import"),
]
