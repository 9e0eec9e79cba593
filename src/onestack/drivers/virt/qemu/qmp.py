"""A small asyncio QMP (QEMU Machine Protocol) client.

One connection: read the greeting, negotiate capabilities, then execute commands (each with an
``id``, its answer matched by it) while a reader task collects asynchronous events. Every step
is bounded by a timeout and fails with ``QmpError`` (a ``VirtError``).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import itertools
import json
import socket
from pathlib import Path
from typing import Any

from onestack.drivers.virt.base import VirtError

LINE_LIMIT = 4 * 1024 * 1024


class QmpError(VirtError):
    """The QMP connection failed, timed out, or a command returned an error."""

    def __init__(self, message: str, error_class: str | None = None) -> None:
        super().__init__(message)
        self.error_class = error_class


class QmpClosed(QmpError):
    """QEMU closed the connection (it exited, or quit)."""


class QmpClient:
    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        self.path = path
        self.timeout = timeout
        self.greeting: dict[str, Any] = {}
        self.events: list[dict[str, Any]] = []
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._sock: socket.socket | None = None  # the stream's socket, for passing fds
        self._task: asyncio.Task[None] | None = None
        self._pending: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._ids = itertools.count(1)
        self._event_added = asyncio.Event()
        self._closed_reason: str | None = None

    async def __aenter__(self) -> QmpClient:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def connect(self) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.setblocking(False)
                try:
                    await asyncio.get_running_loop().sock_connect(sock, str(self.path))
                except BaseException:
                    sock.close()
                    raise
                self._sock = sock
                self._reader, self._writer = await asyncio.open_unix_connection(
                    sock=sock, limit=LINE_LIMIT)
                line = await self._reader.readline()
        except TimeoutError as exc:
            await self.close()
            raise QmpError(f"QMP {self.path}: no greeting after {self.timeout}s") from exc
        except OSError as exc:
            await self.close()
            raise QmpClosed(f"QMP {self.path}: cannot connect: {exc}") from exc
        if not line:
            await self.close()
            raise QmpClosed(f"QMP {self.path}: closed before its greeting")
        try:
            message = json.loads(line)
        except ValueError as exc:
            await self.close()
            raise QmpError(f"QMP {self.path}: bad greeting {line[:200]!r}") from exc
        if not isinstance(message, dict) or "QMP" not in message:
            await self.close()
            raise QmpError(f"QMP {self.path}: not a QMP greeting: {line[:200]!r}")
        self.greeting = message["QMP"]
        self._task = asyncio.get_running_loop().create_task(self._read_loop())
        await self.execute("qmp_capabilities")

    @property
    def version(self) -> tuple[int, int, int]:
        q = self.greeting.get("version", {}).get("qemu", {})
        return int(q.get("major", 0)), int(q.get("minor", 0)), int(q.get("micro", 0))

    async def _read_loop(self) -> None:
        assert self._reader is not None
        reason = "QEMU closed the QMP connection"
        try:
            while True:
                line = await self._reader.readline()
                if not line:
                    break
                try:
                    message = json.loads(line)
                except ValueError:
                    continue  # not ours to crash on; QEMU only sends JSON objects
                if not isinstance(message, dict):
                    continue
                if "event" in message:
                    self.events.append(message)
                    self._event_added.set()
                    continue
                future = self._pending.pop(str(message.get("id")), None)
                if future is not None and not future.done():
                    future.set_result(message)
        except (OSError, ValueError) as exc:  # ValueError: a line over LINE_LIMIT
            reason = f"QMP read failed: {exc}"
        finally:
            self._closed_reason = reason
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(QmpClosed(reason))
            self._pending.clear()
            self._event_added.set()

    async def execute(self, command: str, arguments: dict[str, Any] | None = None,
                      timeout: float | None = None, fds: tuple[int, ...] = ()) -> Any:
        """Run ``command``; its ``return`` value, or QmpError with QEMU's error class.
        ``fds`` go with the command (SCM_RIGHTS), as ``getfd`` wants them."""
        if self._writer is None or self._closed_reason is not None:
            raise QmpClosed(self._closed_reason or f"QMP {self.path}: not connected")
        ident = str(next(self._ids))
        request: dict[str, Any] = {"execute": command, "id": ident}
        if arguments:
            request["arguments"] = arguments
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        try:
            line = json.dumps(request).encode() + b"\n"
            if fds:
                await self._writer.drain()  # nothing queued before the fds' message
                assert self._sock is not None
                sent = self._sock.sendmsg([line], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                                    array.array("i", fds))])
                if sent != len(line):
                    raise OSError(f"sent {sent} of {len(line)} bytes with the fds")
            else:
                self._writer.write(line)
                await self._writer.drain()
            async with asyncio.timeout(timeout or self.timeout):
                reply = await future
        except TimeoutError as exc:
            raise QmpError(f"QMP {command}: no answer after {timeout or self.timeout}s") from exc
        except OSError as exc:
            raise QmpClosed(f"QMP {command}: {exc}") from exc
        finally:
            self._pending.pop(ident, None)
        if "error" in reply:
            err = reply["error"] if isinstance(reply["error"], dict) else {}
            raise QmpError(f"QMP {command}: {err.get('desc', reply['error'])}",
                           err.get("class"))
        return reply.get("return")

    async def wait_event(self, name: str, timeout: float | None = None,
                         since: int = 0) -> dict[str, Any]:
        """The first event called ``name`` received (from index ``since`` of ``events``)."""
        try:
            async with asyncio.timeout(timeout or self.timeout):
                while True:
                    for event in self.events[since:]:
                        if event.get("event") == name:
                            return event
                    if self._closed_reason is not None:
                        raise QmpClosed(f"no {name} event: {self._closed_reason}")
                    self._event_added.clear()
                    await self._event_added.wait()
        except TimeoutError as exc:
            raise QmpError(f"no QMP {name} event after {timeout or self.timeout}s") from exc

    async def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._writer = self._reader = self._task = None
        self._sock = None


async def qmp_command(path: Path, command: str, arguments: dict[str, Any] | None = None,
                      timeout: float = 10.0) -> Any:
    """Connect, run one command, disconnect."""
    async with QmpClient(path, timeout) as qmp:
        return await qmp.execute(command, arguments)
