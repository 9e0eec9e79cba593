"""Admin and deferred-delete server actions: ``os-resetState`` (admins force ``active`` or
``error``), ``injectNetworkInfo`` (admins; nothing to inject into a QEMU guest, which takes
its network from DHCP and the metadata service, as with Nova's libvirt driver) and
``restore`` (a soft-deleted server back: none is ever soft-deleted here, as Nova with
``reclaim_instance_interval = 0``, so it is a 409)."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from onestack.api.common.policy import Rule
from onestack.api.common.request import ApiRequest, validate
from onestack.api.compute.common import caller, policy_target
from onestack.errors import Conflict

P = "os_compute_api:"
RESET, INJECT = P + "os-admin-actions:reset_state", P + "os-admin-actions:inject_network_info"
RESTORE = P + "os-deferred-delete:restore"
# nova/policies/admin_actions.py, deferred_delete.py
RULES = [Rule(RESET, "rule:admin_api"), Rule(INJECT, "rule:admin_api"),
         Rule(RESTORE, "rule:project_member_or_admin")]

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


ACTIONS = {"os-resetState": reset_state, "injectNetworkInfo": inject_network_info,
           "restore": restore}
