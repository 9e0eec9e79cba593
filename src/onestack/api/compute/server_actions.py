"""POST /servers/{id}/action, instance actions, and server groups."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest, validate
from onestack.api.compute import (
    admin_actions,
    consoles,
    floating_ips,
    networking,
    schemas,
    server_views,
    shelve_actions,
    views,
)
from onestack.api.compute.common import (
    bool_param,
    caller,
    int_param,
    is_admin,
    limit_param,
    respond,
    since,
)
from onestack.api.compute.servers import check_base64, normal_ip
from onestack.errors import BadRequest, Forbidden

Handler = Callable[[ApiRequest, str, Any], Awaitable[Response]]
_SIMPLE = {"os-stop": "stop", "os-start": "start", "pause": "pause", "unpause": "unpause",
           "suspend": "suspend", "resume": "resume"}


def _accepted() -> Response:
    return Response(status_code=202)


async def _simple(req: ApiRequest, server_id: str, name: str, args: Any) -> Response:
    validate(args, schemas.no_args)
    await req.runtime.compute.actions.simple(caller(req), server_id, _SIMPLE[name])
    return _accepted()


async def _reboot(req: ApiRequest, server_id: str, args: Any) -> Response:
    validate(args, schemas.reboot)
    hard = args["type"].upper() == "HARD"
    await req.runtime.compute.actions.simple(caller(req), server_id,
                                             "reboot_hard" if hard else "reboot")
    return _accepted()


async def _rebuild(req: ApiRequest, server_id: str, args: Any) -> Response:
    validate(args, schemas.rebuild)
    for field, version in (("description", (2, 19)), ("key_name", (2, 54)),
                           ("user_data", (2, 57)), ("trusted_image_certificates", (2, 63)),
                           ("hostname", (2, 90))):
        if field in args and not since(req, *version):
            raise BadRequest(f"Invalid input for field/attribute rebuild. Additional "
                             f"properties are not allowed ('{field}' was unexpected)")
    check_base64(args.get("user_data"), "user_data")
    names = {"name": "name", "metadata": "metadata_", "accessIPv4": "access_ip_v4",
             "accessIPv6": "access_ip_v6", "OS-DCF:diskConfig": "disk_config",
             "description": "description", "user_data": "user_data"}
    updates = {names[k]: normal_ip(v) if k.startswith("accessIP") else v
               for k, v in args.items() if k in names}
    admin_pass = args.get("adminPass") or secrets.token_urlsafe(9)
    compute = req.runtime.compute
    if "key_name" in args:
        if args["key_name"] is None:
            updates.update(key_name=None, key_data=None)
        else:
            kp = await compute.keypairs.get(req.ctx.user_id or "", args["key_name"])
            updates.update(key_name=kp.name, key_data=kp.public_key)
    await compute.actions.rebuild(caller(req), server_id, args["imageRef"], updates)
    rec = await compute.servers.get(caller(req), server_id)
    return respond({"server": server_views.rebuilt(req, rec, admin_pass)}, status=202)


async def _resize(req: ApiRequest, server_id: str, args: Any) -> Response:
    validate(args, schemas.resize)
    await req.runtime.compute.actions.resize(caller(req), server_id, str(args["flavorRef"]),
                                             args.get("OS-DCF:diskConfig"))
    return _accepted()


async def _confirm(req: ApiRequest, server_id: str, args: Any) -> Response:
    await req.runtime.compute.actions.confirm_resize(caller(req), server_id)
    return Response(status_code=204)


async def _revert(req: ApiRequest, server_id: str, args: Any) -> Response:
    await req.runtime.compute.actions.revert_resize(caller(req), server_id)
    return _accepted()


async def _create_image(req: ApiRequest, server_id: str, args: Any) -> Response:
    validate(args, schemas.create_image)
    image_id = await req.runtime.compute.actions.create_image(
        caller(req), server_id, args["name"], args.get("metadata", {}))
    location = f"{req.runtime.settings.server.base_url()}/image/v2/images/{image_id}"
    if since(req, 2, 45):
        return respond({"image_id": image_id}, status=202, headers={"Location": location})
    return Response(status_code=202, headers={"Location": location})


async def _console(req: ApiRequest, server_id: str, args: Any) -> Response:
    validate(args, schemas.console_output)
    length = (args or {}).get("length")
    n = None if length in (None, -1, "-1") else int(length)
    if n is not None and n < 0:
        raise BadRequest("length must be -1 or a non-negative integer")
    out = await req.runtime.compute.servers.console_output(caller(req), server_id, n)
    if n is not None:  # Nova's tail: the last n pieces of the log split at newlines, the
        out = "\n".join(out.split("\n")[-n:]) if n else ""  # one after the last newline too
    return respond({"output": out})


async def _lock(req: ApiRequest, server_id: str, args: Any) -> Response:
    validate(args, schemas.lock)
    reason = (args or {}).get("locked_reason")
    if reason is not None and not since(req, 2, 73):
        raise BadRequest("locked_reason needs microversion 2.73 or later.")
    await req.runtime.compute.servers.set_lock(caller(req), server_id, True, reason)
    return _accepted()


async def _unlock(req: ApiRequest, server_id: str, args: Any) -> Response:
    await req.runtime.compute.servers.set_lock(caller(req), server_id, False)
    return _accepted()


async def _evacuate(req: ApiRequest, server_id: str, args: Any) -> Response:
    """Admin: rebuild a server of a down host on another host (no shared storage)."""
    if not is_admin(req):
        raise Forbidden("Policy doesn't allow os_compute_api:os-evacuate to be performed.")
    validate(args, schemas.evacuate(shared_storage=not since(req, 2, 14),
                                    force=since(req, 2, 29) and not since(req, 2, 68)))
    if schemas.truthy(args.get("onSharedStorage", False)):
        raise BadRequest("Evacuating to shared storage is not supported: instance disks are "
                         "local to their host.")
    if schemas.truthy(args.get("force", False)) and not args.get("host"):
        raise BadRequest("Can't force to a non-provided destination")
    password = args.get("adminPass") or secrets.token_urlsafe(9)
    await req.runtime.compute.evacuations.evacuate(caller(req), server_id, args.get("host"))
    if since(req, 2, 14):
        return Response(status_code=200)
    return respond({"adminPass": password})


async def _migrate(req: ApiRequest, server_id: str, args: Any) -> Response:
    """Admin: cold migration to another host with the server's disk (core/compute/
    migrate.py); ``{"migrate": null}``, or ``{"host": ...}`` from microversion 2.56."""
    if not is_admin(req):
        raise Forbidden("Policy doesn't allow os_compute_api:os-migrate-server:migrate to "
                        "be performed.")
    host = None
    if args is not None and since(req, 2, 56):  # before 2.56 Nova does not read the body
        validate(args, {"type": "object", "additionalProperties": False, "properties": {
            "host": {"type": ["string", "null"], "minLength": 1, "maxLength": 255}}})
        host = args.get("host")
    await req.runtime.compute.migrations.migrate(caller(req), server_id, host)
    return _accepted()


async def _migrate_live(req: ApiRequest, server_id: str, args: Any) -> Response:
    """Admin: live migration with the disks copied (core/compute/live_migrate.py)."""
    if not is_admin(req):
        raise Forbidden("Policy doesn't allow os_compute_api:os-migrate-server:"
                        "migrate_live to be performed.")
    validate(args, schemas.migrate_live(auto=since(req, 2, 25),
                                        force=since(req, 2, 30) and not since(req, 2, 68)))
    block = args["block_migration"]
    block_migration = None if block == "auto" else schemas.truthy(block)
    if schemas.truthy(args.get("force", False)) and not args.get("host"):
        raise BadRequest("Can't force to a non-provided destination")
    await req.runtime.compute.migrations.live_migrate(caller(req), server_id,
                                                      args.get("host"), block_migration)
    return _accepted()


async def _force_delete(req: ApiRequest, server_id: str, args: Any) -> Response:
    await req.runtime.compute.servers.delete(caller(req), server_id, force=True)
    return _accepted()


ACTIONS: dict[str, Handler] = {
    "reboot": _reboot, "rebuild": _rebuild, "resize": _resize, "confirmResize": _confirm,
    "revertResize": _revert, "createImage": _create_image,
    "os-getConsoleOutput": _console, "lock": _lock, "unlock": _unlock,
    "forceDelete": _force_delete, "evacuate": _evacuate, "migrate": _migrate,
    "os-migrateLive": _migrate_live,
    "addSecurityGroup": networking.add_group_action,
    "removeSecurityGroup": networking.remove_group_action,
    **consoles.ACTIONS,
    **shelve_actions.ACTIONS,
    **admin_actions.ACTIONS,
    **floating_ips.ACTIONS,
}


async def action(req: ApiRequest) -> Response:
    body = await req.json()
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("The action body must be an object with exactly one action.")
    name, args = next(iter(body.items()))
    server_id = req.params["server_id"]
    if name in _SIMPLE:
        return await _simple(req, server_id, name, args)
    handler = ACTIONS.get(name)
    if handler is None:
        raise BadRequest(f"There is no such action: {name}")
    return await handler(req, server_id, args)


# --- instance actions ----------------------------------------------------------------------
async def list_instance_actions(req: ApiRequest) -> Response:
    server_id = req.params["server_id"]
    compute = req.runtime.compute
    if not since(req, 2, 21):
        await compute.servers.get(caller(req), server_id)
    else:
        await _visible_even_deleted(req, server_id)
    rows = await compute.instance_actions.listing(server_id)
    return respond({"instanceActions": [views.instance_action(req, a) for a in rows]})


async def show_instance_action(req: ApiRequest) -> Response:
    server_id = req.params["server_id"]
    compute = req.runtime.compute
    if not since(req, 2, 21):
        await compute.servers.get(caller(req), server_id)
    else:
        await _visible_even_deleted(req, server_id)
    rec = await compute.instance_actions.get(server_id, req.params["request_id"])
    return respond({"instanceAction": views.instance_action_detail(req, rec)})


async def _visible_even_deleted(req: ApiRequest, server_id: str) -> None:
    inst = await req.runtime.compute.work.get(server_id)
    who = caller(req)
    if inst is None or (inst.project_id != who.project_id and not who.is_admin):
        from onestack.core.compute.servers import not_found

        raise not_found(server_id)


# --- server groups -------------------------------------------------------------------------
async def create_group(req: ApiRequest) -> Response:
    body = (await req.json(schemas.server_group_create))["server_group"]
    if since(req, 2, 64):
        if "policies" in body or "policy" not in body:
            raise BadRequest("From microversion 2.64 a server group has one 'policy' (and "
                             "optional 'rules'), not 'policies'.")
        policy, rules = body["policy"], body.get("rules", {})
    else:
        if "policy" in body or "rules" in body or "policies" not in body:
            raise BadRequest("Before microversion 2.64 a server group has 'policies'.")
        if body["policies"][0].startswith("soft") and not since(req, 2, 15):
            raise BadRequest("Soft policies need microversion 2.15 or later.")
        policy, rules = body["policies"][0], {}
    rules = {k: int(v) for k, v in rules.items()}
    rec = await req.runtime.compute.groups.create(caller(req), body["name"], policy, rules)
    return respond({"server_group": views.server_group(req, rec)})


async def list_groups(req: ApiRequest) -> Response:
    all_projects = bool(bool_param(req, "all_projects"))
    offset = int_param(req, "offset") or 0
    recs = await req.runtime.compute.groups.listing(caller(req), all_projects,
                                                    limit_param(req), offset)
    return respond({"server_groups": [views.server_group(req, r) for r in recs]})


async def show_group(req: ApiRequest) -> Response:
    rec = await req.runtime.compute.groups.get(caller(req), req.params["group_id"])
    return respond({"server_group": views.server_group(req, rec)})


async def delete_group(req: ApiRequest) -> Response:
    await req.runtime.compute.groups.delete(caller(req), req.params["group_id"])
    return Response(status_code=204)
