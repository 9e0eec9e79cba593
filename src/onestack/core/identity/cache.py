"""Cross-process cache coherence for identity data.

Every identity write bumps the ``identity`` revision row in the same transaction. Each API
process keeps validated tokens and revocation events in memory, tagged with the revision it
saw; a local write bumps it at once, and other processes notice at most ``sync_interval``
seconds later (one indexed single-row read, never per request). With several API processes
on PostgreSQL (``connect``) a write also signals the others on the event bus, which forget
at once (a revoked token, a removed role or a disabled project is refused by every process
within milliseconds); the revision read stays as the backstop for a lost notification.
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.events.bus import EventBus, LocalTransport, Signal
from onestack.db.engine import Database
from onestack.db.models import Revision

NAME = "identity"
SIGNAL = "identity"  # the event bus signal of an identity write


async def bump(session: AsyncSession) -> None:
    """Call inside every identity write transaction."""
    result = await session.execute(
        update(Revision).where(Revision.name == NAME).values(value=Revision.value + 1)
    )
    if getattr(result, "rowcount", 1) == 0:
        session.add(Revision(name=NAME, value=1))
    session.info["identity_changed"] = True


class Coherence:
    def __init__(self, db: Database, sync_interval: float = 1.0, max_tokens: int = 20000) -> None:
        self.db = db
        self.sync_interval = sync_interval
        self.generation = 0  # local counter; changes whenever cached data may be stale
        self._remote = -1
        self._checked = 0.0
        self.max_tokens = max_tokens
        self.tokens: dict[str, tuple[int, Any]] = {}
        self.memos: dict[Hashable, tuple[int, Any]] = {}
        self.bus: EventBus | None = None

    def connect(self, bus: EventBus) -> None:
        """Tell the other API processes of each identity write (nothing to do with one)."""
        if isinstance(bus.transport, LocalTransport):
            return
        self.bus = bus
        bus.signal_handlers.append(self.signalled)

    def local_change(self) -> None:
        """This process wrote identity data: forget, and tell the others."""
        self._forget()
        if self.bus is not None:
            self.bus.signal({"k": SIGNAL})

    def signalled(self, signal: Signal) -> None:
        if signal.get("k") == SIGNAL:
            self._forget()

    def _forget(self) -> None:
        self.generation += 1
        self.tokens.clear()
        self.memos.clear()

    async def refresh(self) -> int:
        now = time.monotonic()
        if now - self._checked >= self.sync_interval:
            self._checked = now
            async with self.db.read() as s:
                value = (
                    await s.execute(select(Revision.value).where(Revision.name == NAME))
                ).scalar_one_or_none() or 0
            if value != self._remote:
                self._remote = value
                self._forget()
        return self.generation

    def recall(self, key: Hashable) -> Any | None:
        """A read result remembered since the last identity write (call refresh() first)."""
        hit = self.memos.get(key)
        if hit is not None and hit[0] == self.generation:
            return hit[1]
        return None

    def remember(self, key: Hashable, value: Any) -> None:
        if len(self.memos) >= self.max_tokens:
            self.memos.clear()
        self.memos[key] = (self.generation, value)

    def get_token(self, token: str) -> Any | None:
        hit = self.tokens.get(token)
        if hit is not None and hit[0] == self.generation:
            return hit[1]
        return None

    def put_token(self, token: str, data: Any) -> None:
        if len(self.tokens) >= self.max_tokens:
            self.tokens.clear()
        self.tokens[token] = (self.generation, data)
