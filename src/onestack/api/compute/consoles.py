"""Nova's remote consoles: POST /servers/{id}/remote-consoles (2.6+), the older
os-getVNCConsole and os-getSerialConsole actions (2.1 to 2.5), and
GET /os-console-auth-tokens/{token} (admins).

The URLs handed out point at this same server (``/console/...``, see api/console_proxy.py):
``<base>/console/novnc/vnc_lite.html?path=console%2Fvnc%3Ftoken%3D<token>`` for VNC (noVNC's
page, whose ``path`` is the websocket to open), ``ws://<host>/console/serial?token=<token>``
for the serial console, as Nova's proxies' URLs look.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.responses import Response

from onestack.api.common.policy import Rule
from onestack.api.common.request import ApiRequest, validate
from onestack.api.compute.common import caller, respond, since
from onestack.core.compute.consoles import ConsoleTokens
from onestack.errors import BadRequest, NotFound

P = "os_compute_api:"
REMOTE_CONSOLES = P + "os-remote-consoles"
AUTH_TOKENS = P + "os-console-auth-tokens"
# nova/policies/remote_consoles.py, console_auth_tokens.py
RULES = [Rule(REMOTE_CONSOLES, "rule:project_member_or_admin"),
         Rule(AUTH_TOKENS, "rule:admin_api")]


def _create_schema(protocols: list[str], types: list[str]) -> dict[str, Any]:
    return {"type": "object", "required": ["remote_console"], "additionalProperties": False,
            "properties": {"remote_console": {
                "type": "object", "required": ["protocol", "type"],
                "additionalProperties": False,
                "properties": {"protocol": {"type": "string", "enum": protocols},
                               "type": {"type": "string", "enum": types}}}}}


CREATE_V26 = _create_schema(["vnc", "spice", "serial"],
                            ["novnc", "xvpvnc", "spice-html5", "serial"])
CREATE_V28 = _create_schema(["vnc", "spice", "serial", "mks"],
                            ["novnc", "xvpvnc", "spice-html5", "serial", "webmks"])


def _action_schema(action: str, types: list[str]) -> dict[str, Any]:
    return {"type": "object", "required": ["type"], "additionalProperties": False,
            "properties": {"type": {"type": "string", "enum": types}},
            "title": action}


VNC_ACTION = _action_schema("os-getVNCConsole", ["novnc", "xvpvnc"])
SERIAL_ACTION = _action_schema("os-getSerialConsole", ["serial"])


def console_url(req: ApiRequest, protocol: str, token: str) -> str:
    """The console's URL on this server, in the form of Nova's proxies' URLs."""
    root = req.base_url()[:-len(req.service.prefix)]
    if protocol == "vnc":
        path = quote("console/vnc?token=" + token, safe="")
        return f"{root}/console/novnc/vnc_lite.html?path={path}"
    ws_root = "ws" + root[4:] if root.startswith("http") else root
    return f"{ws_root}/console/serial?token={token}"


async def _issue(req: ApiRequest, server_id: str, protocol: str, console_type: str) -> str:
    token = await ConsoleTokens(req.runtime.compute.servers).issue(
        caller(req), server_id, protocol, console_type)
    return console_url(req, protocol, token)


async def create(req: ApiRequest) -> Response:
    if not since(req, 2, 6):
        raise NotFound("The resource could not be found.")
    body = await req.json()
    validate(body, CREATE_V28 if since(req, 2, 8) else CREATE_V26)
    protocol = body["remote_console"]["protocol"]
    console_type = body["remote_console"]["type"]
    url = await _issue(req, req.params["server_id"], protocol, console_type)
    return respond({"remote_console": {"protocol": protocol, "type": console_type,
                                       "url": url}})


async def _legacy(req: ApiRequest, server_id: str, args: Any, protocol: str,
                  schema: dict[str, Any]) -> Response:
    if since(req, 2, 6):  # replaced by remote-consoles
        raise NotFound("The resource could not be found.")
    # the action route checks servers:action; Nova checks its console rule for these too
    req.runtime.policy.enforce(REMOTE_CONSOLES, req.ctx, {"project_id": req.ctx.project_id,
                                                          "user_id": req.ctx.user_id})
    validate(args, schema)
    url = await _issue(req, server_id, protocol, args["type"])
    return respond({"console": {"type": args["type"], "url": url}})


async def vnc_action(req: ApiRequest, server_id: str, args: Any) -> Response:
    return await _legacy(req, server_id, args, "vnc", VNC_ACTION)


async def serial_action(req: ApiRequest, server_id: str, args: Any) -> Response:
    return await _legacy(req, server_id, args, "serial", SERIAL_ACTION)


ACTIONS = {"os-getVNCConsole": vnc_action, "os-getSerialConsole": serial_action}


async def show_token(req: ApiRequest) -> Response:
    if not since(req, 2, 31):  # as Nova since its rdp-html5 consoles went (29.0.0)
        raise BadRequest("Console auth tokens are shown from microversion 2.31.")
    grant = await ConsoleTokens(req.runtime.compute.servers).show(req.params["token"])
    # the console is a unix socket on its host: no port, no path to it
    return respond({"console": {"instance_uuid": grant.instance_uuid, "host": grant.host,
                                "port": 0, "internal_access_path": None}})
