"""POST /volumes/{id}/action: one handler, a table of actions."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.responses import Response

from onestack.api.common.request import ApiRequest
from onestack.api.volume import views
from onestack.api.volume.common import accepted, caller, respond, since
from onestack.core.volume.base import Caller
from onestack.errors import BadRequest, NotFound

Handler = Callable[[ApiRequest, Caller, str, Any], Awaitable[Response]]


def _args(args: Any) -> dict[str, Any]:
    if args is None:
        return {}
    if not isinstance(args, dict):
        raise BadRequest("Invalid input received: the action's arguments must be an object.")
    return args


def _required(args: Any, key: str) -> Any:
    found = _args(args)
    if key not in found:
        raise BadRequest(f"Invalid input received: '{key}' is required.")
    return found[key]


async def _extend(req: ApiRequest, who: Caller, vid: str, args: Any) -> Response:
    await req.runtime.volume.actions.extend(who, vid, _required(args, "new_size"),
                                            attached_ok=since(req, 3, 42))
    return accepted()


async def _bootable(req: ApiRequest, who: Caller, vid: str, args: Any) -> Response:
    await req.runtime.volume.actions.set_bootable(who, vid, _required(args, "bootable"))
    return Response(status_code=200)


async def _readonly(req: ApiRequest, who: Caller, vid: str, args: Any) -> Response:
    await req.runtime.volume.actions.set_readonly(who, vid, _required(args, "readonly"))
    return accepted()


async def _upload(req: ApiRequest, who: Caller, vid: str, args: Any) -> Response:
    body = dict(_args(args))
    if not since(req, 3, 1):  # Cinder reads visibility and protected from 3.1 on
        body.pop("visibility", None)
        body.pop("protected", None)
    publish = body.get("visibility") == "public"
    if publish:  # Cinder's rule, then Glance's (Cinder creates the image as the caller)
        req.runtime.policy.enforce("volume_extension:volume_actions:upload_public", req.ctx,
                                   {"project_id": who.project_id})
        req.runtime.policy.enforce("publicize_image", req.ctx, {"project_id": who.project_id})
    out = await req.runtime.volume.actions.upload_image(who, vid, body, may_publish=publish)
    if not since(req, 3, 1):
        out.pop("protected", None)
        out.pop("visibility", None)
    return respond({"os-volume_upload_image": out}, 202)


async def _reset_status(req: ApiRequest, who: Caller, vid: str, args: Any) -> Response:
    await req.runtime.volume.actions.reset_status(who, vid, _args(args))
    return accepted()


async def _force_delete(req: ApiRequest, who: Caller, vid: str, args: Any) -> Response:
    await req.runtime.volume.volumes.delete(who, vid, force=True, cascade=True)
    return accepted()


async def _force_detach(req: ApiRequest, who: Caller, vid: str, args: Any) -> Response:
    await req.runtime.volume.actions.detach(who, vid, _args(args).get("attachment_id"),
                                            force=True)
    return accepted()


async def _reserve(req: ApiRequest, who: Caller, vid: str, args: Any) -> Response:
    await req.runtime.volume.actions.reserve(who, vid)
    return accepted()


async def _unreserve(req: ApiRequest, who: Caller, vid: str, args: Any) -> Response:
    await req.runtime.volume.actions.unreserve(who, vid)
    return accepted()


async def _begin_detaching(req: ApiRequest, who: Caller, vid: str, args: Any) -> Response:
    await req.runtime.volume.actions.begin_detaching(who, vid)
    return accepted()


async def _roll_detaching(req: ApiRequest, who: Caller, vid: str, args: Any) -> Response:
    await req.runtime.volume.actions.roll_detaching(who, vid)
    return accepted()


async def _initialize(req: ApiRequest, who: Caller, vid: str, args: Any) -> Response:
    info = await req.runtime.volume.actions.initialize_connection(
        who, vid, _required(args, "connector"))
    return respond({"connection_info": views.connection_info(req, info)})


async def _terminate(req: ApiRequest, who: Caller, vid: str, args: Any) -> Response:
    _required(args, "connector")
    await req.runtime.volume.volumes.get(who, vid)
    return accepted()


async def _attach(req: ApiRequest, who: Caller, vid: str, args: Any) -> Response:
    await req.runtime.volume.actions.attach(who, vid, _args(args))
    return accepted()


async def _detach(req: ApiRequest, who: Caller, vid: str, args: Any) -> Response:
    await req.runtime.volume.actions.detach(who, vid, _args(args).get("attachment_id"))
    return accepted()


async def _set_image_meta(req: ApiRequest, who: Caller, vid: str, args: Any) -> Response:
    meta = await req.runtime.volume.admin.set_image_metadata(who, vid,
                                                             _required(args, "metadata"))
    return respond({"metadata": meta})


async def _unset_image_meta(req: ApiRequest, who: Caller, vid: str, args: Any) -> Response:
    await req.runtime.volume.admin.unset_image_metadata(who, vid, _required(args, "key"))
    return Response(status_code=200)


async def _show_image_meta(req: ApiRequest, who: Caller, vid: str, args: Any) -> Response:
    return respond({"metadata": await req.runtime.volume.admin.image_metadata(who, vid)})


# name -> (handler, admin only)
ACTIONS: dict[str, tuple[Handler, bool]] = {
    "os-extend": (_extend, False),
    "os-set_bootable": (_bootable, False),
    "os-update_readonly_flag": (_readonly, False),
    "os-volume_upload_image": (_upload, False),
    "os-reset_status": (_reset_status, True),
    "os-force_delete": (_force_delete, True),
    "os-force_detach": (_force_detach, True),
    "os-reserve": (_reserve, False),
    "os-unreserve": (_unreserve, False),
    "os-begin_detaching": (_begin_detaching, False),
    "os-roll_detaching": (_roll_detaching, False),
    "os-initialize_connection": (_initialize, False),
    "os-terminate_connection": (_terminate, False),
    "os-attach": (_attach, False),
    "os-detach": (_detach, False),
    "os-set_image_metadata": (_set_image_meta, False),
    "os-unset_image_metadata": (_unset_image_meta, False),
    "os-show_image_metadata": (_show_image_meta, False),
}
# The route lets readers in for this one (Cinder's per-action policy); every other action
# needs volume:volume_actions (members).
READ_ACTIONS = {"os-show_image_metadata"}
READ_RULE = "volume_extension:volume_image_metadata:show"


async def action(req: ApiRequest) -> Response:
    body = await req.json()
    name, args = next(iter(body.items())) if isinstance(body, dict) and body else ("", None)
    if name not in READ_ACTIONS:
        req.runtime.policy.enforce("volume:volume_actions", req.ctx,
                                   {"project_id": req.ctx.project_id})
    if not isinstance(body, dict) or len(body) != 1:
        raise BadRequest("Invalid request body: exactly one action is expected.")
    found = ACTIONS.get(name)
    if found is None:
        raise BadRequest(f"There is no such action: {name}")
    handler, admin_only = found
    who = caller(req)
    vid = req.params["volume_id"]
    if admin_only and not who.is_admin:
        await req.runtime.volume.volumes.get(who, vid)  # 404 before 403 for others' volumes
        req.runtime.policy.enforce(f"volume_extension:volume_admin_actions:{name[3:]}",
                                   req.ctx, {})
    if vid == "":
        raise NotFound("Volume could not be found.")
    return await handler(req, who, vid, args)
