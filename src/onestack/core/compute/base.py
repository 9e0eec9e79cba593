"""Shared pieces of the compute core: who is asking, transactions, work notifications."""

from __future__ import annotations

import asyncio
import uuid as uuidlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.events.bus import EventBus, LocalTransport, Signal
from onestack.db.engine import Database
from onestack.errors import Conflict

DEFAULT_AZ = "nova"


@dataclass(frozen=True)
class Caller:
    project_id: str
    user_id: str
    is_admin: bool = False
    request_id: str = ""


class HostLink(Protocol):
    """How the control side reaches a host's agent: in-process now, HTTP when multi-node."""

    def wake(self) -> None:
        """New work for this host was written to the database."""

    async def console_output(self, uuid: str, length: int | None) -> str: ...


ASK_TIMEOUT = 15.0  # seconds a remote agent has to answer a question (its console)
EXTENDED = "extended"  # a remote agent's answer: the running guest has the volume's new size

# Tells the cloud's other API processes (True when there are others to tell): an agent may
# long-poll any of them, so a wake, a question for it and its answer go to all.
Tell = Callable[[Signal], bool]


class RemoteHost:
    """A host whose agent runs on another machine (``onestack agent``): it long-polls for
    work, and ``wake`` ends its wait at once. What only the agent can tell (a guest's
    console) is asked the same way: the question goes out with the poll's answer, and the
    agent posts the answer back (``answer``)."""

    def __init__(self, host: str, tell: Tell | None = None) -> None:
        self.host = host
        self._tell: Tell = tell or (lambda signal: False)
        self._work = asyncio.Event()
        self._asks: list[dict[str, Any]] = []
        self._answers: dict[str, asyncio.Future[str]] = {}
        self._elsewhere: set[str] = set()  # ids another process asks and still waits for

    def take_asks(self) -> list[dict[str, Any]]:
        asks, self._asks = self._asks, []
        if asks:  # the other processes have them too: the agent has them now
            self._tell({"k": "taken", "h": self.host, "ids": [a.get("id") for a in asks]})
        return asks

    def ask(self, ask: dict[str, Any]) -> None:
        """A question the agent answers its own way (a console it carries over a websocket
        of its own), sent with its next poll's answer."""
        self.add_ask(ask)
        self._tell({"k": "ask", "h": self.host, "a": ask})

    def add_ask(self, ask: dict[str, Any], elsewhere: bool = False) -> None:
        self._asks.append(ask)
        if elsewhere:  # another process's: an answer posted here goes there
            self._elsewhere.add(str(ask.get("id")))
        self.wake()

    def withdraw(self, ask_id: str) -> None:
        """The asker waits no more (answered, or given up)."""
        self.done({ask_id})
        self._tell({"k": "done", "h": self.host, "ids": [ask_id]})

    def done(self, ids: set[Any]) -> None:
        self.drop_asks(ids)
        self._elsewhere -= ids

    def drop_asks(self, ids: set[Any]) -> None:
        self._asks = [a for a in self._asks if a.get("id") not in ids]

    def answer(self, ask_id: str, output: str | None, error: str | None,
               relay: bool = True) -> bool:
        """The agent's answer; False when nobody waits for it (any more). One that another
        process waits for goes there (``relay``)."""
        future = self._answers.get(ask_id)
        if future is None or future.done():
            if not relay or ask_id not in self._elsewhere:
                return False
            self._elsewhere.discard(ask_id)
            return self._tell({"k": "answer", "h": self.host, "id": ask_id,
                               "output": output, "error": error})
        if error is not None:
            future.set_exception(Conflict(error))
        else:
            future.set_result(output or "")
        return True

    def wake(self) -> None:
        self._work.set()

    async def wait(self, timeout: float) -> bool:
        """True when woken within ``timeout`` seconds (or since the last wait)."""
        try:
            await asyncio.wait_for(self._work.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self._work.clear()

    async def _question(self, kind: str, uuid: str, **fields: Any) -> str:
        """Ask the agent (with its next poll's answer) and wait for its answer; TimeoutError
        after ``ASK_TIMEOUT``."""
        ask_id = uuidlib.uuid4().hex
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._answers[ask_id] = future
        self.ask({"id": ask_id, "kind": kind, "uuid": uuid, **fields})
        try:
            return await asyncio.wait_for(future, ASK_TIMEOUT)
        finally:
            self._answers.pop(ask_id, None)
            self.withdraw(ask_id)

    async def console_output(self, uuid: str, length: int | None) -> str:
        try:
            return await self._question("console", uuid, length=length)
        except TimeoutError as exc:
            raise Conflict(f"Host {self.host} did not send the console of instance {uuid} "
                           f"within {ASK_TIMEOUT:g}s: is its agent up (openstack compute "
                           "service list)?") from exc

    async def extend_volume(self, uuid: str, volume_id: str, size_bytes: int) -> bool:
        """Grow an attached volume in the host's running guest (True), as the in-process
        agent does; False when the guest has no process there or the agent does not answer
        in time (the volume backend grows the volume; the guest sees it at its next
        start)."""
        try:
            return await self._question("extend_volume", uuid, volume_id=volume_id,
                                        size_bytes=size_bytes) == EXTENDED
        except TimeoutError:
            return False


class Links:
    """The agents this process can reach, by host name. With several API processes
    (``connect``: PostgreSQL) a wake and the questions for a remote agent and their answers
    also go to the other processes, as signals of the event bus: the agent's long poll may be
    held by any of them."""

    def __init__(self) -> None:
        self.hosts: dict[str, HostLink] = {}
        self.bus: EventBus | None = None

    def connect(self, bus: EventBus) -> None:
        """Reach the other API processes through ``bus`` (nothing to do with one process)."""
        if isinstance(bus.transport, LocalTransport):
            return
        self.bus = bus
        bus.signal_handlers.append(self.signalled)

    def tell(self, signal: Signal) -> bool:
        if self.bus is None:
            return False
        self.bus.signal(signal)
        return True

    def remote(self, host: str) -> RemoteHost | None:
        """The host as a remote one (made on first use); None when its agent runs in this
        process."""
        link = self.hosts.get(host)
        if link is None:
            link = self.hosts[host] = RemoteHost(host, self.tell)
        return link if isinstance(link, RemoteHost) else None

    def wake(self, host: str | None) -> None:
        self._wake_here(host)
        if host:
            self.tell({"k": "wake", "h": host})

    def _wake_here(self, host: str | None) -> None:
        """Wake the host's agent; a remote one's next poll here returns at once even when
        it has never polled this process before (it may poll any of them next)."""
        if host:
            link = self.hosts.get(host) or self.remote(host)
            if link is not None:
                link.wake()

    def signalled(self, signal: Signal) -> None:
        """Another API process's wake, question or answer for a host's agent."""
        kind, host = signal.get("k"), str(signal.get("h") or "")
        if kind == "wake":
            self._wake_here(host)
            return
        link = self.hosts.get(host)
        if kind == "ask" and isinstance(signal.get("a"), dict):
            remote = self.remote(host)  # its agent may poll here next
            if remote is not None:
                remote.add_ask(signal["a"], elsewhere=True)
        elif kind == "taken" and isinstance(link, RemoteHost):
            link.drop_asks(set(signal.get("ids") or []))
        elif kind == "done" and isinstance(link, RemoteHost):
            link.done(set(signal.get("ids") or []))
        elif kind == "answer" and isinstance(link, RemoteHost):
            link.done({signal.get("id")})
            link.answer(str(signal.get("id")), signal.get("output"), signal.get("error"),
                        relay=False)

    def get(self, host: str | None) -> HostLink | None:
        return self.hosts.get(host or "")


class Store:
    def __init__(self, db: Database) -> None:
        self.db = db

    @asynccontextmanager
    async def write(self, conflict: str = "") -> AsyncIterator[AsyncSession]:
        try:
            async with self.db.write() as s:
                yield s
                await s.flush()
        except IntegrityError as exc:
            raise Conflict(conflict or "Another request changed the same data at the same "
                           "time; please retry.") from exc
