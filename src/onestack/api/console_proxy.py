"""The console proxy on the API's own port: websockets at ``/console/vnc`` (RFB) and
``/console/serial`` (the serial port's bytes), and noVNC's page at
``/console/novnc/vnc_lite.html`` for the URLs Nova's API hands out.

A websocket brings a one-time console token, in the ``token`` query parameter (Nova's URLs)
or as its first text message (the dashboard, whose pages keep tokens out of every URL); an
``instance`` query parameter makes the token good for that instance only. The token is spent
before anything is opened; a refused one closes the websocket with code 4401 and why. Then
the websocket is bridged to the guest's console on its host: the agent in this process
opens it directly; a remote agent carries it over a websocket it opens to
``/console/agent/<ask id>`` with its host credential (agent/console_relay.py). Request logs
show ``token=***``; refusals say why without the token.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.responses import HTMLResponse, Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from onestack.agent.compute import ComputeAgent
from onestack.agent.console_relay import STREAM_KIND, End, bridge, open_local
from onestack.core.compute.base import ASK_TIMEOUT
from onestack.core.compute.consoles import ConsoleGrant, ConsoleTokens
from onestack.drivers.virt.base import VirtError
from onestack.errors import Conflict, OnestackError, Unauthorized

log = logging.getLogger("onestack.console")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

PREFIX = "/console"
SOCKETS = {PREFIX + "/vnc": "vnc", PREFIX + "/serial": "serial"}
AGENTS = PREFIX + "/agent/"  # + ask id: a remote agent bringing a console
TOKEN_WAIT = 10.0  # seconds a websocket has to send its token
REFUSED = 4401  # close code: the token was refused (a 401 in websocket terms)
UNAVAILABLE = 4409  # close code: the console cannot be opened now
VNC_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Console · Onestack</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/dashboard/static/app.css">
<link rel="stylesheet" href="/dashboard/static/console.css">
<script type="module" src="/dashboard/static/console-lite.js"></script>
</head><body class="console-lite"><p id="console-status">Connecting…</p>
<div id="console-screen"></div></body></html>
"""
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")

# the loggers that write request lines with their query (uvicorn's "WebSocket /console/...
# ?token=..." line among them)
REQUEST_LOGGERS = ("uvicorn.error", "uvicorn.access", "onestack.access")


class RedactTokens(logging.Filter):
    """Console tokens in a logged URL (``token=...``, also URL-encoded) become ``***``."""

    PATTERN = re.compile(r"(token(?:=|%3D))[^&\s\"'%]+(%[^&\s\"']*)?", re.IGNORECASE)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "token" in message.lower():
            record.msg, record.args = self.PATTERN.sub(r"\1***", message), None
        return True


REDACT = RedactTokens()


def redact_request_logs() -> None:
    for name in REQUEST_LOGGERS:
        logger = logging.getLogger(name)
        if REDACT not in logger.filters:
            logger.addFilter(REDACT)


class ServerWsEnd:
    """A websocket this server accepted (a browser's, or a remote agent's)."""

    def __init__(self, ws: WebSocket) -> None:
        self.ws = ws
        self.closed = asyncio.Event()

    async def recv(self) -> bytes | None:
        message = await self.ws.receive()
        if message["type"] == "websocket.disconnect":
            self.closed.set()
            return None
        data = message.get("bytes")
        return data if data is not None else (message.get("text") or "").encode()

    async def send(self, data: bytes) -> None:
        await self.ws.send_bytes(data)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        with contextlib.suppress(Exception):
            await self.ws.close(code=code, reason=reason)
        self.closed.set()


class ConsoleProxy:
    """The websockets of the consoles. A console on a remote host is asked of its agent
    (``RemoteHost.ask``), which comes back with a websocket of its own (``/console/agent/
    <ask id>``): ``waiting`` holds the asks still waiting for their agent, in this process
    (the agent polls the process that asked, as for console logs)."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.waiting: dict[str, tuple[str, asyncio.Future[ServerWsEnd]]] = {}
        redact_request_logs()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._page(scope)(scope, receive, send)
        elif scope["type"] == "websocket":
            await self._socket(WebSocket(scope, receive, send))

    def _page(self, scope: Scope) -> Response:
        if scope["path"] == PREFIX + "/novnc/vnc_lite.html" and scope["method"] in ("GET",
                                                                                   "HEAD"):
            return HTMLResponse(VNC_PAGE, headers={"Content-Security-Policy": CSP,
                                                   "Cache-Control": "no-store",
                                                   "Referrer-Policy": "no-referrer"})
        return Response("Not Found", status_code=404, media_type="text/plain")

    async def _socket(self, ws: WebSocket) -> None:
        path = ws.scope["path"]
        if path.startswith(AGENTS):
            await self._agent_socket(ws, path[len(AGENTS):])
            return
        protocol = SOCKETS.get(path)
        offered = ws.scope.get("subprotocols") or []
        if protocol is None:
            await ws.close(code=1008, reason="No console is served at this path.")
            return
        await ws.accept(subprotocol="binary" if "binary" in offered else None)
        try:
            grant = await self._redeem(ws, protocol)
            stream = await self._open(grant)
        except OnestackError as exc:
            code = UNAVAILABLE if isinstance(exc, Conflict) else REFUSED
            log.info("console %s refused: %s", path, exc.message)
            with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                await ws.close(code=code, reason=exc.message[:120])
            return
        log.info("console %s of instance %s opened", protocol, grant.instance_uuid)
        await bridge(ServerWsEnd(ws), stream)
        log.info("console %s of instance %s closed", protocol, grant.instance_uuid)

    async def _redeem(self, ws: WebSocket, protocol: str) -> ConsoleGrant:
        token = ws.query_params.get("token")
        if not token:
            try:
                async with asyncio.timeout(TOKEN_WAIT):
                    token = await ws.receive_text()
            except (TimeoutError, KeyError, WebSocketDisconnect) as exc:
                raise Unauthorized("No console token came with the websocket.") from exc
        tokens = ConsoleTokens(self.runtime.compute.servers)
        return await tokens.redeem(token.strip(), protocol, ws.query_params.get("instance"))

    async def _open(self, grant: ConsoleGrant) -> End:
        link = self.runtime.compute.links.get(grant.host)
        try:
            if isinstance(link, ComputeAgent):
                return await open_local(link, grant.instance_uuid, grant.protocol)
        except VirtError as exc:
            raise Conflict(f"The console cannot be opened: {exc}") from exc
        return await self._open_remote(grant)

    async def _open_remote(self, grant: ConsoleGrant) -> End:
        remote = self.runtime.compute.links.remote(grant.host or "")
        if remote is None:
            raise Conflict(f"The {grant.protocol} console of instance {grant.instance_uuid} "
                           f"cannot be reached on host {grant.host}.")
        ask_id = uuid.uuid4().hex
        arrived: asyncio.Future[ServerWsEnd] = asyncio.get_running_loop().create_future()
        self.waiting[ask_id] = (grant.host or "", arrived)
        remote.ask({"id": ask_id, "kind": STREAM_KIND, "uuid": grant.instance_uuid,
                    "protocol": grant.protocol})
        try:
            return await asyncio.wait_for(arrived, ASK_TIMEOUT)
        except TimeoutError as exc:
            raise Conflict(f"Host {grant.host} did not bring the {grant.protocol} console of "
                           f"instance {grant.instance_uuid} within {ASK_TIMEOUT:g}s: is its "
                           "agent up (openstack compute service list)?") from exc
        finally:
            self.waiting.pop(ask_id, None)
            remote.withdraw(ask_id)

    async def _agent_socket(self, ws: WebSocket, ask_id: str) -> None:
        """A remote agent's websocket with the console it was asked for: its first message
        is ``ok`` (the console's bytes follow) or ``error: why``."""
        scheme, _, secret = (ws.headers.get("authorization") or "").partition(" ")
        host = None
        if scheme.lower() == "bearer" and secret.strip():
            host = await self.runtime.compute.agent_credentials.host_for(secret.strip())
        entry = self.waiting.get(ask_id)
        if host is None or entry is None or entry[0] != host or entry[1].done():
            log.info("console stream %s refused (host %s)", ask_id, host)
            await ws.close(code=1008)
            return
        await ws.accept()
        end = ServerWsEnd(ws)
        try:
            first = await asyncio.wait_for(ws.receive_text(), TOKEN_WAIT)
        except (TimeoutError, KeyError, WebSocketDisconnect):
            first = "error: the agent sent nothing"
        if first != "ok":
            if not entry[1].done():
                entry[1].set_exception(Conflict(
                    "The console cannot be opened " + first.removeprefix("error: ")))
            await end.close()
            return
        if entry[1].done():  # the browser gave up meanwhile
            await end.close()
            return
        entry[1].set_result(end)
        await end.closed.wait()  # until the browser's bridge ends it
