"""Events between API processes on PostgreSQL: ``NOTIFY onestack_events`` with a JSON
payload (the sender's boot id and its events), and a ``LISTEN`` in every process.

Two connections of their own per process, outside the pool: one listens, one sends (after
the commit, from a queue: a slow or lost database never holds up a request). A lost
listening connection is opened again after a second; what was sent meanwhile is missed by
that process (its clients see no gap marker: the event stream is a hint to re-read, the API
stays the truth). A payload stays under PostgreSQL's 8,000-byte limit by sending events in
several notifications. A signal (``bus.signal``) travels on the same channel as
``{"o": origin, "s": {...}}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import psycopg
from sqlalchemy.engine import make_url

from onestack.core.events.bus import Deliver, Event, Signal, Signalled

log = logging.getLogger(__name__)

CHANNEL = "onestack_events"
MAX_PAYLOAD = 7000  # bytes; PostgreSQL refuses 8,000 and more
SEND_QUEUE = 10000  # batches waiting for the sending connection before new ones are dropped
RETRY = 1.0  # seconds before a lost connection is opened again


def conninfo(url: str) -> str:
    """The libpq URL of a SQLAlchemy PostgreSQL URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def payloads(origin: str, events: list[Event]) -> list[str]:
    """``events`` as notification payloads of at most MAX_PAYLOAD bytes each."""
    out: list[str] = []
    batch: list[str] = []
    size = 0
    for ev in events:
        one = json.dumps(ev.view(), separators=(",", ":"))
        if batch and size + len(one.encode()) > MAX_PAYLOAD - 100:
            out.append(_payload(origin, batch))
            batch, size = [], 0
        batch.append(one)
        size += len(one.encode()) + 1
    if batch:
        out.append(_payload(origin, batch))
    return out


def _payload(origin: str, events: list[str]) -> str:
    return f'{{"o":{json.dumps(origin)},"e":[{",".join(events)}]}}'


def signal_payload(origin: str, signal: Signal) -> str:
    return json.dumps({"o": origin, "s": signal}, separators=(",", ":"))


def parse(payload: str) -> tuple[str, list[Event], Signal | None]:
    """The sender, its events, and its signal (None in an events notification)."""
    data = json.loads(payload)
    signal = data.get("s")
    if signal is not None:
        if not isinstance(signal, dict):
            raise TypeError("a signal is an object")
        return str(data["o"]), [], signal
    return str(data["o"]), [Event.from_view(e) for e in data["e"]], None


class PgNotifyTransport:
    def __init__(self, url: str) -> None:
        self.conninfo = conninfo(url)
        self.origin = ""
        self._deliver: Deliver | None = None
        self._signalled: Signalled | None = None
        self._queue: asyncio.Queue[str] = asyncio.Queue(SEND_QUEUE)
        self._tasks: list[asyncio.Task[None]] = []
        self.listening = asyncio.Event()  # set while the LISTEN connection is up

    async def start(self, origin: str, deliver: Deliver, signalled: Signalled) -> None:
        self.origin, self._deliver, self._signalled = origin, deliver, signalled
        self._tasks = [asyncio.create_task(self._listen(), name="events-listen"),
                       asyncio.create_task(self._send(), name="events-notify")]
        with contextlib.suppress(TimeoutError):  # the database may come later: not fatal
            await asyncio.wait_for(self.listening.wait(), 5)

    def send(self, origin: str, events: list[Event]) -> None:
        for payload in payloads(origin, events):
            if not self._put(payload):
                return

    def send_signal(self, origin: str, signal: Signal) -> None:
        payload = signal_payload(origin, signal)
        if len(payload.encode()) > MAX_PAYLOAD:
            log.warning("events: a signal of %d bytes not sent", len(payload.encode()))
            return
        self._put(payload)

    def _put(self, payload: str) -> bool:
        try:
            self._queue.put_nowait(payload)
            return True
        except asyncio.QueueFull:
            log.warning("events: %d notifications waiting; dropping new ones", SEND_QUEUE)
            return False

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []

    async def _listen(self) -> None:
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                        self.conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self.listening.set()
                    async for note in conn.notifies():
                        self._received(note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("events: LISTEN connection lost (%s); retrying", exc)
            self.listening.clear()
            await asyncio.sleep(RETRY)

    def _received(self, payload: str) -> None:
        try:
            origin, events, signal = parse(payload)
        except (ValueError, KeyError, TypeError):
            log.warning("events: ignored a malformed notification")
            return
        if origin == self.origin:
            return
        if signal is not None:
            if self._signalled is not None:
                self._signalled(signal)
        elif self._deliver is not None:
            self._deliver(events)

    async def _send(self) -> None:
        payload: str | None = None
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                        self.conninfo, autocommit=True) as conn:
                    while True:
                        if payload is None:
                            payload = await self._queue.get()
                        await conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, payload))
                        payload = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("events: NOTIFY connection lost (%s); retrying", exc)
            await asyncio.sleep(RETRY)
