"""The admission bound: reads and writes in progress are each bounded, separately."""

from __future__ import annotations

import asyncio
from typing import Any

from onestack.api.admission import Admission, long_lived


class Gate:
    """An ASGI app whose requests stay in progress until released."""

    def __init__(self) -> None:
        self.inside: dict[str, int] = {"GET": 0, "POST": 0}
        self.most: dict[str, int] = {"GET": 0, "POST": 0}
        self.open = asyncio.Event()
        self.done = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        method = scope["method"]
        self.inside[method] += 1
        self.most[method] = max(self.most[method], self.inside[method])
        await self.open.wait()
        self.inside[method] -= 1
        self.done += 1


def http(method: str, path: str = "/compute/v2.1/servers", **extra: Any) -> dict[str, Any]:
    return {"type": "http", "method": method, "path": path, "headers": [], **extra}


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def test_reads_and_writes_are_bounded_apart() -> None:
    async def run() -> None:
        gate = Gate()
        app = Admission(gate, max_reads=3, max_writes=2)
        tasks = [asyncio.create_task(app(http("POST"), None, None)) for _ in range(6)]
        tasks += [asyncio.create_task(app(http("GET"), None, None)) for _ in range(7)]
        await settle()
        # Writes fill their places; reads still get theirs beside them.
        assert gate.inside == {"GET": 3, "POST": 2}
        gate.open.set()
        await asyncio.gather(*tasks)
        assert gate.done == 13
        assert gate.most == {"GET": 3, "POST": 2}

    asyncio.run(run())


def test_long_lived_requests_hold_no_place() -> None:
    assert long_lived({"type": "websocket", "path": "/console/x"})
    assert long_lived({"type": "lifespan"})
    assert long_lived(http("GET", "/internal/agent/v1/work"))
    assert long_lived(http("GET", "/operator/v1/events",
                           headers=[(b"accept", b"text/event-stream")]))
    assert not long_lived(http("GET"))

    async def run() -> None:
        gate = Gate()
        app = Admission(gate, max_reads=1, max_writes=1)
        streams = [asyncio.create_task(app(http("GET", "/internal/agent/v1/work"), None, None))
                   for _ in range(3)]
        await settle()
        assert gate.inside["GET"] == 3  # none waited for a place
        gate.open.set()
        await asyncio.gather(*streams)

    asyncio.run(run())


def test_a_place_is_freed_when_the_response_starts() -> None:
    async def run() -> None:
        streaming = asyncio.Event()
        done = asyncio.Event()

        async def app(scope: Any, receive: Any, send: Any) -> None:
            if scope["path"] == "/download":
                await send({"type": "http.response.start", "status": 200, "headers": []})
                streaming.set()
                await done.wait()  # a slow client still reading the body
            await send({"type": "http.response.body", "body": b""})

        async def send(message: Any) -> None:
            pass

        admission = Admission(app, max_reads=1, max_writes=1)
        download = asyncio.create_task(admission(http("GET", "/download"), None, send))
        await streaming.wait()
        # The download holds no place: the next read goes through at once.
        await asyncio.wait_for(admission(http("GET"), None, send), 5)
        done.set()
        await download

    asyncio.run(run())


def test_large_or_chunked_uploads_hold_no_place() -> None:
    big = http("PUT", headers=[(b"content-length", str(2 << 20).encode())])
    chunked = http("PUT", headers=[(b"transfer-encoding", b"chunked")])
    small = http("PUT", headers=[(b"content-length", b"1024")])
    assert long_lived(big) and long_lived(chunked)
    assert not long_lived(small)
