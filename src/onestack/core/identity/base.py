"""Shared plumbing for the identity core: write transactions that keep caches coherent."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.identity import cache
from onestack.db.engine import Database
from onestack.db.models.identity import Trust, TrustRole
from onestack.errors import Conflict, NotFound

T = TypeVar("T")


class Store:
    def __init__(self, db: Database, coherence: cache.Coherence) -> None:
        self.db = db
        self.coherence = coherence

    @asynccontextmanager
    async def write(self, conflict: str = "") -> AsyncIterator[AsyncSession]:
        """A write transaction that bumps the identity revision.

        ``conflict`` is the message for a unique-constraint violation (409).
        """
        try:
            async with self.db.write() as s:
                yield s
                await s.flush()
                await cache.bump(s)
        except IntegrityError as exc:
            self.coherence.local_change()
            raise Conflict(conflict or "Conflict occurred attempting to store data.") from exc
        self.coherence.local_change()

    def read(self) -> Any:
        return self.db.read()


async def get_or_404(s: AsyncSession, model: type[T], ident: str | None, kind: str) -> T:
    obj = await s.get(model, ident) if ident else None
    if obj is None:
        raise NotFound(f"Could not find {kind}: {ident}.")
    return obj


async def drop_trusts(s: AsyncSession, where: ColumnElement[bool]) -> None:
    """Delete the trusts matching ``where`` and every trust redelegated from them (a user's
    or a project's deletion ends its trusts, as in Keystone)."""
    doomed = list((await s.execute(select(Trust.id).where(where))).scalars())
    frontier = doomed
    while frontier:
        frontier = list((await s.execute(select(Trust.id).where(
            Trust.redelegated_trust_id.in_(frontier)))).scalars())
        doomed.extend(frontier)
    if doomed:
        await s.execute(delete(TrustRole).where(TrustRole.trust_id.in_(doomed)))
        await s.execute(delete(Trust).where(Trust.id.in_(doomed)))
