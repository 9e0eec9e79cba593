"""The console proxy on the API's own port: websockets at ``/console/vnc`` (RFB) and
``/console/serial`` (the serial port's bytes), and noVNC's page at
``/console/novnc/vnc_lite.html`` for the URLs Nova's API hands out.

A websocket brings a one-time console token, in the ``token`` query parameter (Nova's URLs)
or as its first text message (the dashboard, whose pages keep tokens out of every URL); an
``instance`` query parameter makes the token good for that instance only. The token is spent
before anything is opened; a refused one closes the websocket with code 4401 and why. Then
the websocket is bridged to the guest's console on its host: the agent in this process
opens it directly; a remote agent carries it over a websocket it opens to the internal API
(agent/console_relay.py). Tokens never reach a log: only the path is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.responses import HTMLResponse, Response
from starlette.websockets import WebSocket, WebSocketDisconnect

from onestack.agent.compute import ComputeAgent
from onestack.agent.console_relay import Stream, open_local
from onestack.core.compute.consoles import ConsoleGrant, ConsoleTokens
from onestack.drivers.virt.base import VirtError
from onestack.errors import Conflict, OnestackError, Unauthorized

log = logging.getLogger("onestack.console")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

PREFIX = "/console"
SOCKETS = {PREFIX + "/vnc": "vnc", PREFIX + "/serial": "serial"}
TOKEN_WAIT = 10.0  # seconds a websocket has to send its token
CHUNK = 65536
REFUSED = 4401  # close code: the token was refused (a 401 in websocket terms)
UNAVAILABLE = 4409  # close code: the console cannot be opened now
VNC_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Console · Onestack</title>
<link rel="stylesheet" href="/dashboard/static/app.css">
<script type="module" src="/dashboard/static/console-lite.js"></script>
</head><body class="console-lite"><p id="console-status">Connecting…</p>
<div id="console-screen"></div></body></html>
"""
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")

Opener = Callable[[ConsoleGrant], Awaitable[Stream]]
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


class ConsoleProxy:
    """``open_remote``: how a grant on another host's guest is opened (set by the runtime
    when remote agents can carry consoles); without it such consoles are unavailable."""

    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.open_remote: Opener | None = None
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
        await bridge(ws, stream)
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

    async def _open(self, grant: ConsoleGrant) -> Stream:
        link = self.runtime.compute.links.get(grant.host)
        try:
            if isinstance(link, ComputeAgent):
                return await open_local(link, grant.instance_uuid, grant.protocol)
            if self.open_remote is not None:
                return await self.open_remote(grant)
        except VirtError as exc:
            raise Conflict(f"The {grant.protocol} console of instance {grant.instance_uuid} "
                           f"cannot be opened: {exc}") from exc
        raise Conflict(f"The {grant.protocol} console of instance {grant.instance_uuid} "
                       f"cannot be reached on host {grant.host}.")


async def bridge(ws: WebSocket, stream: Stream) -> None:
    """Bytes both ways until either side ends; then both are closed."""
    reader, writer = stream

    async def upstream() -> None:
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            if data is None:
                data = (message.get("text") or "").encode()
            writer.write(data)
            await writer.drain()

    async def downstream() -> None:
        while data := await reader.read(CHUNK):
            await ws.send_bytes(data)

    tasks = [asyncio.create_task(upstream()), asyncio.create_task(downstream())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
        with contextlib.suppress(Exception):
            await ws.close()
