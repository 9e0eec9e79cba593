"""A guest's interactive console (serial or VNC) as a byte stream, and carrying it.

``open_local``: the console of a guest of an agent in this process, from its unix socket.
``carry``: a remote agent's side of a console the control side asked for (an ask of kind
``console-stream`` with its work poll): it opens the guest's console and a websocket of its
own to the control side (``/console/agent/<ask id>``, with its host credential), says ``ok``
(or ``error: why``) and bridges the two. The agent needs no port of its own for this.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from typing import TYPE_CHECKING, Any, Protocol

import httpx
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from onestack.drivers.virt.base import VirtError
from onestack.drivers.virt.qemu import console
from onestack.drivers.virt.qemu.cmdline import GuestFiles

if TYPE_CHECKING:
    from onestack.agent.compute import ComputeAgent

log = logging.getLogger("onestack.agent.console")

CHUNK = 65536
STREAM_KIND = "console-stream"


class End(Protocol):
    """One side of a console's bytes."""

    async def recv(self) -> bytes | None:
        """The next bytes; None once this side is gone."""

    async def send(self, data: bytes) -> None: ...

    async def close(self, code: int = 1000, reason: str = "") -> None: ...


class SocketEnd:
    """A unix socket connection (the guest's console)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def recv(self) -> bytes | None:
        data = await self.reader.read(CHUNK)
        return data or None

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await self.writer.wait_closed()


class ClientWsEnd:
    """A websocket this process opened (the agent's, to the control side)."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def recv(self) -> bytes | None:
        try:
            data = await self.ws.recv()
        except ConnectionClosed:
            return None
        return data if isinstance(data, bytes) else data.encode()

    async def send(self, data: bytes) -> None:
        await self.ws.send(data)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        with contextlib.suppress(Exception):
            await self.ws.close(code, reason)


async def bridge(a: End, b: End) -> None:
    """Bytes both ways until either side ends; then both are closed."""

    async def pump(source: End, sink: End) -> None:
        while (data := await source.recv()) is not None:
            await sink.send(data)

    tasks = [asyncio.create_task(pump(a, b)), asyncio.create_task(pump(b, a))]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for end in (a, b):
            with contextlib.suppress(Exception):
                await end.close()


async def open_local(agent: ComputeAgent, uuid: str, protocol: str) -> SocketEnd:
    """The console of a guest of this agent; VirtError when it has none (not running, or a
    driver without consoles)."""
    reader, writer = await console.open_console(GuestFiles(agent.instance_dir(uuid)),
                                                protocol)
    return SocketEnd(reader, writer)


def control_socket(link: Any, ask_id: str) -> tuple[str, dict[str, str]]:
    """The websocket URL on the control side for ``ask_id`` and the headers (the host
    credential) of an HTTP agent link."""
    client = getattr(link, "client", None)
    if not isinstance(client, httpx.AsyncClient):
        raise VirtError("console streams need the HTTP agent link")
    url = client.base_url
    scheme = "wss" if url.scheme == "https" else "ws"
    root = f"{scheme}://{url.netloc.decode()}"
    return f"{root}/console/agent/{ask_id}", {"Authorization": client.headers["authorization"]}


async def carry(agent: ComputeAgent, ask: dict[str, Any]) -> None:
    """Carry the console ``ask`` names to the control side (see the module's doc)."""
    ask_id, uuid = str(ask.get("id")), str(ask.get("uuid"))
    try:
        url, headers = control_socket(agent.link, ask_id)
    except VirtError as exc:
        log.warning("console stream %s not carried: %s", ask_id, exc)
        return
    local: SocketEnd | None = None
    error = ""
    try:
        local = await open_local(agent, uuid, str(ask.get("protocol")))
    except (VirtError, OSError) as exc:
        error = f"on host {agent.host}: {exc}"
    try:
        async with ws_connect(url, additional_headers=headers, max_size=None,
                              ssl=ssl.create_default_context() if url.startswith("wss")
                              else None, open_timeout=10) as ws:
            if local is None:
                await ws.send("error: " + error)
                return
            await ws.send("ok")
            await bridge(local, ClientWsEnd(ws))
    except (OSError, WebSocketException, TimeoutError) as exc:
        log.warning("console stream %s of %s failed: %s", ask_id, uuid, exc)
    finally:
        if local is not None:
            await local.close()
