"""Shared pieces of the compute core: who is asking, transactions, work notifications."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

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


class RemoteHost:
    """A host whose agent runs on another machine (``onestack agent``): it long-polls for
    work, and ``wake`` ends its wait at once. Its console is not reachable from here."""

    def __init__(self, host: str) -> None:
        self.host = host
        self._work = asyncio.Event()

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

    async def console_output(self, uuid: str, length: int | None) -> str:
        raise Conflict(f"The console of instance {uuid} is on host {self.host}, whose "
                       "agent runs on another machine; not reachable from here yet.")


class Links:
    """The agents this process can reach, by host name."""

    def __init__(self) -> None:
        self.hosts: dict[str, HostLink] = {}

    def remote(self, host: str) -> RemoteHost | None:
        """The host as a remote one (made on first use); None when its agent runs in this
        process."""
        link = self.hosts.setdefault(host, RemoteHost(host))
        return link if isinstance(link, RemoteHost) else None

    def wake(self, host: str | None) -> None:
        link = self.hosts.get(host or "")
        if link is not None:
            link.wake()

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
