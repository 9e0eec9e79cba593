"""Admin and deferred-delete server actions: ``os-resetState`` (admins force ``active`` or
``error``), ``injectNetworkInfo`` (admins; nothing to inject into a QEMU guest, which takes
its network from DHCP and the metadata service, as with Nova's libvirt driver) and
``restore`` (a soft-deleted server back: none is ever soft-deleted here, as Nova with
``reclaim_instance_interval = 0``, so it is a 409) and ``createBackup`` (a snapshot kept
as one of the newest ``rotation`` backups of its type); and the server password
(``/servers/{id}/os-server-password``): the metadata service here takes no password a guest
posts, so it is always empty, as Nova's for a guest that never set one."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.policy import Rule
from onestack.api.common.request import ApiRequest, validate
from onestack.api.compute import schemas
from onestack.api.compute.common import caller, policy_target, respond, since
from onestack.errors import Conflict

P = "os_compute_api:"
RESET, INJECT = P + "os-admin-actions:reset_state", P + "os-admin-actions:inject_network_info"
RESTORE, BACKUP = P + "os-deferred-delete:restore", P + "os-create-backup"
PASSWORD_SHOW, PASSWORD_CLEAR = P + "os-server-password:show", P + "os-server-password:clear"
# nova/policies/admin_actions.py, deferred_delete.py
RULES = [Rule(RESET, "rule:admin_api"), Rule(INJECT, "rule:admin_api"),
         Rule(RESTORE, "rule:project_member_or_admin"),
         Rule(BACKUP, "rule:project_member_or_admin"),
         Rule(PASSWORD_SHOW, "rule:project_reader_or_admin"),
         Rule(PASSWORD_CLEAR, "rule:project_member_or_admin")]

RESET_BODY = {"type": "object", "additionalProperties": False, "required": ["state"],
              "properties": {"state": {"type": "string", "enum": ["active", "error"]}}}


async def _enforce(req: ApiRequest, rule: str) -> None:
    req.runtime.policy.enforce(rule, req.ctx, await policy_target(req))


async def reset_state(req: ApiRequest, server_id: str, args: Any) -> Response:
    await _enforce(req, RESET)
    validate({"os-resetState": args}, {"type": "object", "properties": {
        "os-resetState": RESET_BODY}})
    await req.runtime.compute.servers.reset_state(caller(req), server_id, args["state"])
    return Response(status_code=202)


async def inject_network_info(req: ApiRequest, server_id: str, args: Any) -> Response:
    await _enforce(req, INJECT)
    await req.runtime.compute.servers.get(caller(req), server_id)
    return Response(status_code=202)


async def restore(req: ApiRequest, server_id: str, args: Any) -> Response:
    await _enforce(req, RESTORE)
    rec = await req.runtime.compute.servers.get(caller(req), server_id)
    # never states.SOFT_DELETED here: a delete is final
    raise Conflict(f"Cannot 'restore' instance {server_id} while it is in vm_state "
                   f"{rec.instance.vm_state}")


BACKUP_BODY = {"type": "object", "additionalProperties": False,
               "required": ["name", "backup_type", "rotation"], "properties": {
                   "name": schemas.name, "backup_type": {"type": "string"},
                   "rotation": {"type": ["integer", "string"], "pattern": "^[0-9]+$",
                                "minimum": 0},
                   "metadata": schemas.metadata}}


async def create_backup(req: ApiRequest, server_id: str, args: Any) -> Response:
    await _enforce(req, BACKUP)
    validate({"createBackup": args}, {"type": "object", "properties": {
        "createBackup": BACKUP_BODY}})
    rotation = int(args["rotation"])
    image_id = await req.runtime.compute.actions.create_image(
        caller(req), server_id, args["name"], args.get("metadata", {}),
        backup=(args["backup_type"], rotation))
    if rotation == 0:  # made, then rotated away with the rest: nothing to point to
        return Response(status_code=202)
    if since(req, 2, 45):
        return respond({"image_id": image_id}, status=202)
    location = f"{req.runtime.settings.server.base_url()}/image/v2/images/{image_id}"
    return Response(status_code=202, headers={"Location": location})


ACTIONS = {"os-resetState": reset_state, "injectNetworkInfo": inject_network_info,
           "restore": restore, "createBackup": create_backup}


async def show_password(req: ApiRequest) -> Response:
    await req.runtime.compute.servers.get(caller(req), req.params["server_id"])
    return respond({"password": ""})


async def clear_password(req: ApiRequest) -> Response:
    await req.runtime.compute.servers.get(caller(req), req.params["server_id"])
    return Response(status_code=204)
