"""The shelve and rescue server actions (core/compute/shelve.py): ``shelve``,
``shelveOffload`` (admins), ``unshelve`` (a zone from 2.77, a host from 2.91, admins),
``rescue`` (an image and a password) and ``unrescue``, with Nova's policy names."""

from __future__ import annotations

import secrets
from typing import Any

from starlette.responses import Response

from onestack.api.common.policy import Rule
from onestack.api.common.request import ApiRequest, validate
from onestack.api.compute.common import caller, policy_target, respond, since

P = "os_compute_api:"
SHELVE, OFFLOAD = P + "os-shelve:shelve", P + "os-shelve:shelve_offload"
UNSHELVE, TO_HOST = P + "os-shelve:unshelve", P + "os-shelve:unshelve_to_host"
RESCUE, UNRESCUE = P + "os-rescue", P + "os-unrescue"
# nova/policies/shelve.py, rescue.py
RULES = [*(Rule(name, "rule:project_member_or_admin")
           for name in (SHELVE, UNSHELVE, RESCUE, UNRESCUE)),
         *(Rule(name, "rule:admin_api") for name in (OFFLOAD, TO_HOST))]

# shelve, shelveOffload, unrescue and unshelve before 2.77 take no arguments: null, as the
# api-ref has it, or an empty object, as tempest sends ({"shelve": {}})
NO_ARGS = {"type": ["object", "null"], "additionalProperties": False, "properties": {}}
ZONE = {"type": "string", "minLength": 1, "maxLength": 255}
UNSHELVE_V277 = {"type": ["object", "null"], "additionalProperties": False,
                 "required": ["availability_zone"],
                 "properties": {"availability_zone": ZONE}}
UNSHELVE_V291 = {"type": ["object", "null"], "additionalProperties": False,
                 "minProperties": 1,
                 "properties": {"availability_zone": {**ZONE, "type": ["string", "null"]},
                                "host": {"type": "string", "minLength": 1,
                                         "maxLength": 255}}}
RESCUE_BODY = {"type": ["object", "null"], "additionalProperties": False, "properties": {
    "adminPass": {"type": "string", "maxLength": 255},
    "rescue_image_ref": {"type": "string", "format": "uuid"}}}


def _check(req: ApiRequest, name: str, args: Any, schema: dict[str, Any]) -> None:
    """Validate the action's value under its own name (the 400 names the field)."""
    validate({name: args}, {"type": "object", "properties": {name: schema}})


async def _enforce(req: ApiRequest, rule: str) -> None:
    req.runtime.policy.enforce(rule, req.ctx, await policy_target(req))


async def shelve(req: ApiRequest, server_id: str, args: Any) -> Response:
    await _enforce(req, SHELVE)
    _check(req, "shelve", args, NO_ARGS)
    await req.runtime.compute.shelving.shelve(caller(req), server_id)
    return Response(status_code=202)


async def shelve_offload(req: ApiRequest, server_id: str, args: Any) -> Response:
    await _enforce(req, OFFLOAD)
    _check(req, "shelveOffload", args, NO_ARGS)
    await req.runtime.compute.shelving.offload(caller(req), server_id)
    return Response(status_code=202)


async def unshelve(req: ApiRequest, server_id: str, args: Any) -> Response:
    await _enforce(req, UNSHELVE)
    schema = UNSHELVE_V291 if since(req, 2, 91) else UNSHELVE_V277 if since(req, 2, 77) \
        else NO_ARGS
    _check(req, "unshelve", args, schema)
    args = args or {}
    host = args.get("host")
    if host is not None:
        await _enforce(req, TO_HOST)
    zone = args.get("availability_zone")
    if "availability_zone" in args and zone is None:
        zone = ""  # 2.91: unpinned from the zone it was in
    await req.runtime.compute.shelving.unshelve(caller(req), server_id, zone, host,
                                                moved=bool(args))
    return Response(status_code=202)


async def rescue(req: ApiRequest, server_id: str, args: Any) -> Response:
    await _enforce(req, RESCUE)
    _check(req, "rescue", args, RESCUE_BODY)
    args = args or {}
    password = args.get("adminPass") or secrets.token_urlsafe(9)
    await req.runtime.compute.shelving.rescue(caller(req), server_id,
                                              args.get("rescue_image_ref"), password)
    return respond({"adminPass": password})


async def unrescue(req: ApiRequest, server_id: str, args: Any) -> Response:
    await _enforce(req, UNRESCUE)
    _check(req, "unrescue", args, NO_ARGS)
    await req.runtime.compute.shelving.unrescue(caller(req), server_id)
    return Response(status_code=202)


ACTIONS = {"shelve": shelve, "shelveOffload": shelve_offload, "unshelve": unshelve,
           "rescue": rescue, "unrescue": unrescue}
