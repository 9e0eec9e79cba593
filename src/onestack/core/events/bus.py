"""The event bus of one API process: resource state changes, as committed, to subscribers.

``publish`` takes what a committed transaction changed (from ``capture``; it may be called
from a worker thread) and hands it to the event loop; there each event gets the next
sequence number of this process, goes into a bounded ring (for ``Last-Event-ID`` resume) and
into the queue of every subscriber whose filter takes it. A subscriber whose queue is full is
dropped (its stream ends, the client resumes from the ring), never waited for: writers never
block on readers.

Across API processes a ``Transport`` carries events: ``LocalTransport`` (one process, the
default on SQLite), ``FakeChannel`` (several buses in one process, for tests) and
``core.events.pg.PgNotifyTransport`` (PostgreSQL LISTEN/NOTIFY). An event reaches its own
process's subscribers directly and the others' through the transport; each process numbers
what it receives itself, so an event id is only meaningful to the process that sent it
(``<boot>-<seq>``; a resume against another process starts afresh with a ``reset``).

The same transport carries signals: small JSON notices for the other processes that are not
resource changes (``signal``; e.g. "host h has new work", so that the process holding that
host's agent's long poll wakes it). A process does not receive its own signals.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import itertools
import logging
import threading
import uuid
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger(__name__)

RING_SIZE = 1000  # events kept for resume, per process
QUEUE_SIZE = 256  # events a subscriber may fall behind by before it is dropped

# The request id of the API request being served (set by the API middleware); a change made
# by an agent or a background loop carries None.
request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "onestack_request_id", default=None)


@dataclass(slots=True)
class Event:
    type: str  # server, volume, snapshot, backup, image, network, subnet, port, router, ...
    resource_id: str
    project_id: str | None
    action: str  # create, update, delete
    old_status: str | None
    new_status: str | None
    name: str | None
    timestamp: str  # ISO 8601 UTC with Z: when the change was committed
    request_id: str | None
    seq: int = 0  # this process's number, set once when the event enters the ring

    def view(self) -> dict[str, Any]:
        return {"type": self.type, "resource_id": self.resource_id,
                "project_id": self.project_id, "action": self.action,
                "old_status": self.old_status, "new_status": self.new_status,
                "name": self.name, "timestamp": self.timestamp, "request_id": self.request_id}

    @classmethod
    def from_view(cls, data: dict[str, Any]) -> Event:
        def opt(key: str) -> str | None:
            value = data.get(key)
            return None if value is None else str(value)

        return cls(str(data["type"]), str(data["resource_id"]), opt("project_id"),
                   str(data["action"]), opt("old_status"), opt("new_status"), opt("name"),
                   str(data["timestamp"]), opt("request_id"))


@dataclass(frozen=True)
class Filter:
    project_id: str | None  # None: every project (an admin's all_projects)
    types: frozenset[str] = frozenset()  # empty: every type
    resource_id: str | None = None

    def matches(self, event: Event) -> bool:
        return ((self.project_id is None or event.project_id == self.project_id)
                and (not self.types or event.type in self.types)
                and (self.resource_id is None or event.resource_id == self.resource_id))


class Subscription:
    def __init__(self, bus: EventBus, flt: Filter, backlog: int = 0) -> None:
        self.bus = bus
        self.filter = flt
        self.queue: asyncio.Queue[Event] = asyncio.Queue(QUEUE_SIZE + backlog)
        self.dropped = asyncio.Event()  # set when it fell too far behind

    def offer(self, event: Event) -> None:
        if self.dropped.is_set() or not self.filter.matches(event):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped.set()
            self.bus.unsubscribe(self)

    async def next(self, timeout: float) -> Event | None:
        """The next event, or None after ``timeout`` seconds or once dropped."""
        if not self.queue.empty():
            return self.queue.get_nowait()
        if self.dropped.is_set():
            return None
        get = asyncio.ensure_future(self.queue.get())
        drop = asyncio.ensure_future(self.dropped.wait())
        done, _ = await asyncio.wait((get, drop), timeout=timeout,
                                     return_when=asyncio.FIRST_COMPLETED)
        drop.cancel()
        if get in done:
            return get.result()
        get.cancel()
        return None

    def close(self) -> None:
        self.bus.unsubscribe(self)


Deliver = Callable[[list[Event]], None]
Signal = dict[str, Any]
Signalled = Callable[[Signal], None]


class Transport(Protocol):
    """How events reach the other API processes of the cloud."""

    async def start(self, origin: str, deliver: Deliver, signalled: Signalled) -> None:
        """Begin receiving: ``deliver`` gets the events other processes sent, ``signalled``
        their signals."""

    def send(self, origin: str, events: list[Event]) -> None:
        """Pass this process's events on (without blocking; called on the event loop)."""

    def send_signal(self, origin: str, signal: Signal) -> None:
        """Pass a signal on (without blocking; called on the event loop)."""

    async def stop(self) -> None: ...


class LocalTransport:
    """One process: nothing to carry."""

    async def start(self, origin: str, deliver: Deliver, signalled: Signalled) -> None:
        return None

    def send(self, origin: str, events: list[Event]) -> None:
        return None

    def send_signal(self, origin: str, signal: Signal) -> None:
        return None

    async def stop(self) -> None:
        return None


class FakeChannel:
    """Several buses in one process as if they were API processes: what one sends, every
    other one receives (on the event loop, later, as a real transport would)."""

    def __init__(self) -> None:
        self.members: dict[str, tuple[Deliver, Signalled]] = {}

    def transport(self) -> Transport:
        return _FakeMember(self)


class _FakeMember:
    def __init__(self, channel: FakeChannel) -> None:
        self.channel = channel
        self.origin = ""

    async def start(self, origin: str, deliver: Deliver, signalled: Signalled) -> None:
        self.origin = origin
        self.channel.members[origin] = (deliver, signalled)

    def send(self, origin: str, events: list[Event]) -> None:
        loop = asyncio.get_running_loop()
        for member, (deliver, _) in self.channel.members.items():
            if member != origin:  # copies, as a real transport's would be
                loop.call_soon(deliver, [dataclasses.replace(e) for e in events])

    def send_signal(self, origin: str, signal: Signal) -> None:
        loop = asyncio.get_running_loop()
        for member, (_, signalled) in self.channel.members.items():
            if member != origin:
                loop.call_soon(signalled, dict(signal))

    async def stop(self) -> None:
        self.channel.members.pop(self.origin, None)


class EventBus:
    def __init__(self, transport: Transport | None = None, ring_size: int = RING_SIZE
                 ) -> None:
        self.boot = uuid.uuid4().hex[:12]  # this process's run, for event ids
        self.transport = transport or LocalTransport()
        self.ring: deque[Event] = deque(maxlen=ring_size)
        self._seq = itertools.count(1)
        self._subscribers: set[Subscription] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: int | None = None
        self.signal_handlers: list[Signalled] = []  # called with other processes' signals

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()
        await self.transport.start(self.boot, self._receive, self._signalled)

    async def stop(self) -> None:
        await self.transport.stop()
        for sub in list(self._subscribers):
            sub.dropped.set()
        self._subscribers.clear()

    # --- producing -----------------------------------------------------------------------
    def publish(self, events: Iterable[Event]) -> None:
        """Committed changes of this process; safe from any thread. Before ``start`` (a
        command-line tool, a migration) there is no one to tell."""
        batch = list(events)
        if not batch or self._loop is None:
            return
        if threading.get_ident() == self._thread:
            self._local(batch)
        else:
            self._loop.call_soon_threadsafe(self._local, batch)

    def _local(self, events: list[Event]) -> None:
        self._deliver(events)
        self.transport.send(self.boot, events)

    def _receive(self, events: list[Event]) -> None:
        self._deliver(events)

    # --- signals -------------------------------------------------------------------------
    def signal(self, signal: Signal) -> None:
        """Tell the other API processes (safe from any thread; before ``start`` there is
        no one to tell)."""
        if self._loop is None:
            return
        if threading.get_ident() == self._thread:
            self.transport.send_signal(self.boot, signal)
        else:
            self._loop.call_soon_threadsafe(self.transport.send_signal, self.boot, signal)

    def _signalled(self, signal: Signal) -> None:
        for handler in list(self.signal_handlers):
            try:
                handler(signal)
            except Exception:  # one bad handler or notice must not stop the others
                log.exception("events: a signal handler failed on %r", signal)

    def _deliver(self, events: list[Event]) -> None:
        for event in events:  # fresh objects: from capture, or parsed from another process
            event.seq = next(self._seq)
            self.ring.append(event)
            for sub in list(self._subscribers):
                sub.offer(event)

    # --- consuming -----------------------------------------------------------------------
    def event_id(self, event: Event) -> str:
        return f"{self.boot}-{event.seq}"

    def subscribe(self, flt: Filter, last_event_id: str | None = None
                  ) -> tuple[Subscription, bool]:
        """A new subscription, with the ring's events after ``last_event_id`` already in its
        queue. The flag is False when that id cannot be resumed from (another process's, or
        older than the ring): the client has to list again."""
        sub = Subscription(self, flt, backlog=len(self.ring) if last_event_id else 0)
        resumed = True
        if last_event_id:
            boot, _, seq = last_event_id.rpartition("-")
            oldest = self.ring[0].seq if self.ring else 1
            if boot != self.boot or not seq.isdigit() or int(seq) < oldest - 1:
                resumed = False
            else:
                for event in self.ring:
                    if event.seq > int(seq):
                        sub.offer(event)
        self._subscribers.add(sub)
        return sub, resumed

    def unsubscribe(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

