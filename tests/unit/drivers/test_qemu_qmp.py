"""The QMP client against a fake QMP server on a unix socket: greeting and capabilities,
commands matched to answers by id, errors, events, timeouts, a server that goes away."""

from __future__ import annotations

import asyncio
import json
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from onestack.drivers.virt.qemu.qmp import QmpClient, QmpClosed, QmpError, qmp_command

GREETING = {"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7},
                                "package": "test"}, "capabilities": ["oob"]}}

Handler = Callable[[dict[str, Any], asyncio.StreamWriter], Any]


class FakeQmp:
    """Speaks QMP: ``handlers`` answer commands; ``received`` records what came in."""

    def __init__(self, path: Path, greeting: bytes | None = None) -> None:
        self.path = path
        self.greeting = greeting if greeting is not None else json.dumps(GREETING).encode()
        self.received: list[dict[str, Any]] = []
        self.handlers: dict[str, Handler] = {}
        self.negotiated = False
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> FakeQmp:
        self.server = await asyncio.start_unix_server(self._client, str(self.path))
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(self.greeting + b"\r\n")
        await writer.drain()
        try:
            while line := await reader.readline():
                request = json.loads(line)
                self.received.append(request)
                command = request["execute"]
                if not self.negotiated and command != "qmp_capabilities":
                    await send(writer, {"error": {"class": "CommandNotFound",
                                                  "desc": "Expecting capabilities negotiation"},
                                        "id": request.get("id")})
                    continue
                if command == "qmp_capabilities":
                    self.negotiated = True
                    await send(writer, {"return": {}, "id": request.get("id")})
                elif command in self.handlers:
                    await self.handlers[command](request, writer)
                else:
                    await send(writer, {"error": {"class": "CommandNotFound",
                                                  "desc": f"The command {command} has not been "
                                                          "found"}, "id": request.get("id")})
        finally:
            writer.close()


async def send(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    writer.write(json.dumps(message).encode() + b"\r\n")
    await writer.drain()


@pytest.fixture
async def server() -> AsyncIterator[FakeQmp]:
    # A short directory: unix socket paths must fit in 108 bytes.
    with tempfile.TemporaryDirectory(prefix="qmp-") as tmp:
        fake = await FakeQmp(Path(tmp) / "qmp.sock").start()
        yield fake
        await fake.stop()


async def test_negotiates_and_executes(server: FakeQmp) -> None:
    async def status(req: dict[str, Any], w: asyncio.StreamWriter) -> None:
        await send(w, {"return": {"status": "running", "running": True}, "id": req["id"]})

    server.handlers["query-status"] = status
    async with QmpClient(server.path) as qmp:
        assert qmp.version == (7, 2, 22)
        assert await qmp.execute("query-status") == {"status": "running", "running": True}
    assert [r["execute"] for r in server.received] == ["qmp_capabilities", "query-status"]
    assert len({r["id"] for r in server.received}) == 2


async def test_arguments_are_sent(server: FakeQmp) -> None:
    async def migrate(req: dict[str, Any], w: asyncio.StreamWriter) -> None:
        await send(w, {"return": {}, "id": req["id"]})

    server.handlers["migrate"] = migrate
    assert await qmp_command(server.path, "migrate", {"uri": "exec:cat > x"}) == {}
    assert server.received[-1]["arguments"] == {"uri": "exec:cat > x"}
    assert "arguments" not in server.received[0]


async def test_answers_matched_by_id_with_events_between(server: FakeQmp) -> None:
    held: list[tuple[dict[str, Any], asyncio.StreamWriter]] = []

    async def slow(req: dict[str, Any], w: asyncio.StreamWriter) -> None:
        held.append((req, w))

    async def fast(req: dict[str, Any], w: asyncio.StreamWriter) -> None:
        await send(w, {"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 0}})
        await send(w, {"return": "fast", "id": req["id"]})
        slow_req, slow_w = held.pop()
        await send(slow_w, {"return": "slow", "id": slow_req["id"]})

    server.handlers.update({"slow": slow, "fast": fast})
    async with QmpClient(server.path) as qmp:
        slow_task = asyncio.create_task(qmp.execute("slow"))
        await asyncio.sleep(0.05)
        assert await qmp.execute("fast") == "fast"
        assert await slow_task == "slow"
        event = await qmp.wait_event("STOP", timeout=1)
        assert event["event"] == "STOP"
        assert [e["event"] for e in qmp.events] == ["STOP"]


async def test_wait_event_arriving_later(server: FakeQmp) -> None:
    async def powerdown(req: dict[str, Any], w: asyncio.StreamWriter) -> None:
        await send(w, {"return": {}, "id": req["id"]})
        await asyncio.sleep(0.1)
        await send(w, {"event": "SHUTDOWN", "data": {"guest": True}})

    server.handlers["system_powerdown"] = powerdown
    async with QmpClient(server.path) as qmp:
        await qmp.execute("system_powerdown")
        event = await qmp.wait_event("SHUTDOWN", timeout=2)
        assert event["data"] == {"guest": True}
        with pytest.raises(QmpError, match="no QMP RESET event"):
            await qmp.wait_event("RESET", timeout=0.1)


async def test_error_reply(server: FakeQmp) -> None:
    async with QmpClient(server.path) as qmp:
        with pytest.raises(QmpError, match="has not been found") as info:
            await qmp.execute("nope")
        assert info.value.error_class == "CommandNotFound"
        # The connection is still usable after an error.
        with pytest.raises(QmpError):
            await qmp.execute("nope")


async def test_timeout_on_silent_command(server: FakeQmp) -> None:
    async def silent(req: dict[str, Any], w: asyncio.StreamWriter) -> None:
        return None

    server.handlers["silent"] = silent
    async with QmpClient(server.path, timeout=0.2) as qmp:
        with pytest.raises(QmpError, match=r"no answer after 0\.2s"):
            await qmp.execute("silent")


async def test_server_closing_fails_pending_commands(server: FakeQmp) -> None:
    async def quit_(req: dict[str, Any], w: asyncio.StreamWriter) -> None:
        w.close()

    server.handlers["quit"] = quit_
    async with QmpClient(server.path) as qmp:
        with pytest.raises(QmpClosed):
            await qmp.execute("quit")
        with pytest.raises(QmpClosed):
            await qmp.execute("query-status")
        with pytest.raises(QmpClosed):
            await qmp.wait_event("SHUTDOWN", timeout=1)


async def test_no_server() -> None:
    with tempfile.TemporaryDirectory(prefix="qmp-") as tmp, pytest.raises(QmpClosed):
        await qmp_command(Path(tmp) / "missing.sock", "query-status")


async def test_bad_greeting() -> None:
    with tempfile.TemporaryDirectory(prefix="qmp-") as tmp:
        fake = await FakeQmp(Path(tmp) / "q.sock", greeting=b'{"hello": 1}').start()
        try:
            with pytest.raises(QmpError, match="not a QMP greeting"):
                await qmp_command(fake.path, "query-status")
        finally:
            await fake.stop()


async def test_no_greeting_times_out() -> None:
    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(1)
        writer.close()

    with tempfile.TemporaryDirectory(prefix="qmp-") as tmp:
        path = Path(tmp) / "q.sock"
        srv = await asyncio.start_unix_server(mute, str(path))
        try:
            with pytest.raises(QmpError, match="no greeting"):
                await QmpClient(path, timeout=0.2).connect()
        finally:
            srv.close()
            await srv.wait_closed()
