"""The metadata proxy: answers http://169.254.169.254/ inside a DHCP or router namespace.

The listening socket is made inside the namespace by the driver; the event loop serves it.
A request is identified by where it comes from: the namespace (a network, or a router and
its networks) and the guest's source address give the port; the instance is the one the
compute service attached that port to, if it is the port's project's (never the port's
tenant-writable device_id). The answer itself comes from the compute metadata service.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)
MAX_HEADER = 16384

# (kind, id, source ip) -> instance uuid or None
Resolver = Callable[[str, str, str], Awaitable[str | None]]
# (instance uuid, path, headers) -> (status, content type, body)
Answer = Callable[[str, str, dict[str, str]], Awaitable[tuple[int, str, bytes]]]
REASONS = {200: "OK", 300: "Multiple Choices", 400: "Bad Request", 404: "Not Found",
           405: "Method Not Allowed", 500: "Internal Server Error"}


class MetadataProxy:
    def __init__(self, kind: str, ident: str, resolve: Resolver, answer: Answer) -> None:
        self.kind, self.ident = kind, ident
        self.resolve, self.answer = resolve, answer
        self.server: asyncio.Server | None = None

    async def start(self, sock: socket.socket) -> None:
        self.server = await asyncio.start_server(self._handle, sock=sock)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 2)
            self.server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                      ) -> None:
        try:
            peer = writer.get_extra_info("peername")
            src = str(peer[0]) if peer else ""
            status, ctype, body = await asyncio.wait_for(self._serve(reader, src), 30)
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError, ValueError):
            status, ctype, body = 400, "text/plain", b"Bad Request\n"
        except Exception:
            log.exception("metadata proxy %s %s failed", self.kind, self.ident)
            status, ctype, body = 500, "text/plain", b"Internal Server Error\n"
        head = (f"HTTP/1.1 {status} {REASONS.get(status, 'Unknown')}\r\n"
                f"Content-Type: {ctype}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n")
        with contextlib.suppress(ConnectionError):
            writer.write(head.encode() + body)
            await writer.drain()
        writer.close()

    async def _serve(self, reader: asyncio.StreamReader, src: str) -> tuple[int, str, bytes]:
        raw = await reader.readuntil(b"\r\n\r\n")
        if len(raw) > MAX_HEADER:
            raise ValueError("headers too long")
        lines = raw.decode("latin-1").split("\r\n")
        method, path, _version = lines[0].split(" ", 2)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if ":" in line:
                key, value = line.split(":", 1)
                headers[key.strip().lower()] = value.strip()
        if method not in ("GET", "HEAD"):
            return 405, "text/plain", b"Method Not Allowed\n"
        instance = await self.resolve(self.kind, self.ident, src)
        if instance is None:
            log.info("metadata: no instance at %s on %s %s", src, self.kind, self.ident)
            return 404, "text/plain", b"Not Found\n"
        headers["x-forwarded-for"] = src
        headers["x-instance-id"] = instance
        headers[f"x-{'neutron-network' if self.kind == 'network' else 'neutron-router'}-id"] \
            = self.ident
        status, ctype, body = await self.answer(instance, path, headers)
        return status, ctype, b"" if method == "HEAD" else body
