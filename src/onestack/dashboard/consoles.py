"""An instance's consoles: the graphical console (noVNC), the serial terminal (xterm.js) and
a live tail of its console log.

The page never carries a console token in a URL: its script asks this module for one (a
POST with the session's CSRF token, the one-time token in the JSON answer, made by Nova's
remote-consoles API with the user's own Keystone token) and sends it as the websocket's first
message to the console proxy (api/console_proxy.py), naming the instance in the websocket's
URL so the token opens nothing else.
"""

from __future__ import annotations

from urllib.parse import parse_qs, unquote, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from onestack.dashboard.client import ApiError
from onestack.dashboard.pages import MICRO, NOVA, Page, page
from onestack.dashboard.web import Web, conditional

TYPES = {"vnc": "novnc", "serial": "serial"}
LOG_LINES = 200


def token_from_url(url: str) -> str:
    """The token in a console URL the API gave (``?token=`` or noVNC's ``?path=...``)."""
    query = parse_qs(urlsplit(url).query)
    if "path" in query:
        query = parse_qs(urlsplit(unquote(query["path"][0])).query)
    found = query.get("token")
    if not found:
        raise ApiError(502, "The compute API gave a console URL without a token.")
    return found[0]


async def console_page(web: Web, request: Request) -> Response:
    p = await page(web, request)
    server_id = request.path_params["server_id"]
    server = (await p.get(f"{NOVA}/servers/{server_id}", headers=MICRO))["server"]
    return await p.render("console.html", server=server, log=await _log(p, server_id))


async def console_token(web: Web, request: Request) -> Response:
    """A one-time token for the instance's ``vnc`` or ``serial`` console, in the body."""
    p = await page(web, request)
    form = await web.form(request, p.session)
    server_id = request.path_params["server_id"]
    protocol = str(form.get("protocol", ""))
    if protocol not in TYPES:
        raise ApiError(400, f"Console protocol {protocol!r} is not one of {sorted(TYPES)}.")
    made = await p.post(f"{NOVA}/servers/{server_id}/remote-consoles",
                        {"remote_console": {"protocol": protocol, "type": TYPES[protocol]}},
                        headers=MICRO)
    return JSONResponse({"token": token_from_url(made["remote_console"]["url"]),
                         "socket": f"/console/{protocol}?instance={server_id}"})


async def _log(p: Page, server_id: str) -> str:
    try:
        out = await p.post(f"{NOVA}/servers/{server_id}/action",
                           {"os-getConsoleOutput": {"length": LOG_LINES}})
    except ApiError as exc:
        return f"(no console log: {exc.message})"
    return str(out["output"])


async def console_log(web: Web, request: Request) -> Response:
    """The console log's tail as a live fragment (polled; 304 while unchanged)."""
    p = await page(web, request)
    server_id = request.path_params["server_id"]
    response = web.render(request, "console_log.html", log=await _log(p, server_id))
    return conditional(request, response)


CON = "/project/{project_id}/instances/{server_id}/console"
ROUTES = [
    (CON, console_page, ("GET",)),
    (CON + "/token", console_token, ("POST",)),
    (CON + "/log", console_log, ("GET",)),
]
