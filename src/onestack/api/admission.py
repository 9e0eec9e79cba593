"""Admission: a bound on the requests the one event loop works on at once.

Every request in progress takes turns on the event loop; with hundreds of clients, one turn
(every ready request's next step) grows long, and a SQLite write transaction, which holds the
process's one writer lock across its awaits, holds it for several long turns: writers queued
for tens of seconds and reads behind them. Past a few dozen requests in progress the loop
gets no more done, so the rest wait here, in arrival order, costing nothing per turn.

Reads (GET, HEAD, OPTIONS) and writes have separate bounds, so that reads never wait behind
writes queued for the database. A place is held until the response starts: a download
streamed to a slow client holds none. Long-lived requests (websockets, agents' work streams
under ``/internal/``, the server-sent event stream) and uploads of large or unknown size
(their time goes to the network, not to the loop) are never held back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_READS = 64
MAX_WRITES = 16
UNBOUNDED_PREFIXES = ("/internal/", "/operator/v1/events")
LARGE_BODY = 1 << 20


def long_lived(scope: Scope) -> bool:
    """Requests that may stay open for minutes: they must not hold a place."""
    if scope["type"] != "http" or scope["path"].startswith(UNBOUNDED_PREFIXES):
        return True
    for name, value in scope.get("headers", ()):
        if name == b"accept" and b"text/event-stream" in value:
            return True
        if name == b"transfer-encoding" and b"chunked" in value.lower():
            return True
        if name == b"content-length" and value.isdigit() and int(value) > LARGE_BODY:
            return True
    return False


class Admission:
    """ASGI middleware: at most ``max_reads`` reads and ``max_writes`` writes in progress."""

    def __init__(self, app: App, max_reads: int = MAX_READS,
                 max_writes: int = MAX_WRITES) -> None:
        self.app = app
        self.max_reads, self.max_writes = max_reads, max_writes
        self._reads: asyncio.Semaphore | None = None
        self._writes: asyncio.Semaphore | None = None

    def _bound(self, method: str) -> asyncio.Semaphore:
        # Made on first use, inside the loop that serves.
        if self._reads is None or self._writes is None:
            self._reads = asyncio.Semaphore(self.max_reads)
            self._writes = asyncio.Semaphore(self.max_writes)
        return self._reads if method in READ_METHODS else self._writes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if long_lived(scope):
            await self.app(scope, receive, send)
            return
        bound = self._bound(scope["method"])
        await bound.acquire()
        held = True

        async def send_and_release(message: MutableMapping[str, Any]) -> None:
            nonlocal held
            if held and message["type"] == "http.response.start":
                held = False
                bound.release()
            await send(message)

        try:
            await self.app(scope, receive, send_and_release)
        finally:
            if held:
                bound.release()
