"""Shared plumbing: transactions, provider look-ups, generation checks, capacity."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from onestack.db.engine import Database
from onestack.db.models.placement import (
    Allocation,
    Inventory,
    PlacementRevision,
    ResourceProvider,
)
from onestack.scheduler.errors import ConcurrentUpdate, ProviderNotFound

RP = ResourceProvider
MAX_INT = 2147483647


@dataclass
class Provider:
    id: int
    uuid: str
    name: str
    generation: int
    parent_uuid: str | None
    root_uuid: str | None
    parent_id: int | None = None
    root_id: int | None = None


def capacity(total: int, reserved: int, ratio: float) -> int:
    """What a provider can hand out of one class: (total - reserved) * allocation_ratio."""
    return int((total - reserved) * ratio)


def fits(inv: Any, used: int, amount: int) -> str | None:
    """Why `amount` more cannot be allocated from an inventory row (None: it fits)."""
    return unit_problem(inv, amount) or over_capacity(inv, used, amount)


def unit_problem(inv: Any, amount: int) -> str | None:
    """One allocation's amount against min_unit, max_unit and step_size."""
    if amount < inv.min_unit:
        return f"{amount} is below min_unit {inv.min_unit}"
    if amount > inv.max_unit:
        return f"{amount} is above max_unit {inv.max_unit}"
    if amount % inv.step_size:
        return f"{amount} is not a multiple of step_size {inv.step_size}"
    return None


def over_capacity(inv: Any, used: int, amount: int) -> str | None:
    cap = capacity(inv.total, inv.reserved, inv.allocation_ratio)
    if used + amount > cap:
        return f"needs {amount}, {max(cap - used, 0)} free of {cap}"
    return None


def provider_query() -> Any:
    parent, root = aliased(RP), aliased(RP)
    return (select(RP.id, RP.uuid, RP.name, RP.generation, parent.uuid, root.uuid,
                   RP.parent_provider_id, RP.root_provider_id)
            .outerjoin(parent, parent.id == RP.parent_provider_id)
            .outerjoin(root, root.id == RP.root_provider_id))


def to_provider(row: Any) -> Provider:
    return Provider(row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7])


class Store:
    # Writes of this store change what the candidate snapshot caches (providers, trees,
    # inventories, traits, aggregates): they bump the placement revision.
    STATIC: ClassVar[bool] = False

    def __init__(self, db: Database) -> None:
        self.db = db

    @asynccontextmanager
    async def write(self, conflict: str = "") -> AsyncIterator[AsyncSession]:
        try:
            async with self.db.write() as s:
                yield s
                await s.flush()
                if self.STATIC:
                    await s.execute(update(PlacementRevision).where(PlacementRevision.id == 1)
                                    .values(value=PlacementRevision.value + 1))
        except IntegrityError as exc:
            raise ConcurrentUpdate(conflict or "Another request changed the same data at the "
                                   "same time; please retry.") from exc

    def read(self) -> Any:
        return self.db.read()

    async def provider(self, s: AsyncSession, uuid: str, *, lock: bool = False) -> Provider:
        q = provider_query().where(RP.uuid == uuid)
        row = (await s.execute(q)).first()
        if row is None:
            raise ProviderNotFound(f"No resource provider with uuid {uuid} found.")
        if lock:
            await lock_providers(s, [row[0]])
        return to_provider(row)


async def lock_providers(s: AsyncSession, ids: Iterable[int]) -> dict[int, int]:
    """Row-lock providers in id order (no deadlocks); returns their current generations.

    On PostgreSQL this serialises every writer of the same providers; on SQLite writers are
    serialised already (one writer at a time), and FOR UPDATE is left out.
    """
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    return {row[0]: row[1] for row in await s.execute(lock_query(wanted))}


def lock_query(ids: list[int]) -> Any:
    return select(RP.id, RP.generation).where(RP.id.in_(ids)).order_by(RP.id).with_for_update()


async def bump(s: AsyncSession, rp_id: int, expected: int | None = None) -> int:
    """generation + 1, compare-and-swap against `expected` when given; the new generation."""
    q = update(RP).where(RP.id == rp_id)
    if expected is not None:
        q = q.where(RP.generation == expected)
    result = await s.execute(q.values(generation=RP.generation + 1)
                             .execution_options(synchronize_session=False))
    if getattr(result, "rowcount", 1) == 0:
        raise ConcurrentUpdate(
            "resource provider generation conflict: the provider was changed by another "
            "request; re-read it and retry.")
    gen = (await s.execute(select(RP.generation).where(RP.id == rp_id))).scalar_one()
    return int(gen)


def check_generation(provider: Provider, given: int) -> None:
    if provider.generation != given:
        raise ConcurrentUpdate(
            f"resource provider generation conflict: the request says {given}, the provider "
            f"{provider.uuid} is at {provider.generation}. Re-read it and retry.")


async def usage_by_class(s: AsyncSession, rp_ids: Iterable[int]) -> dict[tuple[int, str], int]:
    ids = list(set(rp_ids))
    if not ids:
        return {}
    return {(r[0], r[1]): int(r[2]) for r in await s.execute(usage_query(ids))}


def usage_query(ids: list[int]) -> Any:
    """(provider, class, amount allocated) of the providers ``ids``."""
    return (select(Allocation.resource_provider_id, Allocation.resource_class,
                   func.sum(Allocation.used))
            .where(Allocation.resource_provider_id.in_(ids))
            .group_by(Allocation.resource_provider_id, Allocation.resource_class))


async def inventories_of(s: AsyncSession, rp_ids: Iterable[int]) -> dict[tuple[int, str], Any]:
    ids = list(set(rp_ids))
    if not ids:
        return {}
    q = select(Inventory).where(Inventory.resource_provider_id.in_(ids))
    return {(i.resource_provider_id, i.resource_class): i for i in (await s.execute(q)).scalars()}
