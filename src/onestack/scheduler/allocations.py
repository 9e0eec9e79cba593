"""Consumers' allocations: atomic claims against capacity, reads, and usages.

A claim (PUT or POST of allocations) runs in ONE transaction: it row-locks the consumers and
every provider it touches (in id order), checks consumer generations, drops the consumers'
old allocations, checks every (provider, class) against capacity with the usage read under
the lock, writes the new allocations and bumps every touched provider's generation. Two
concurrent claims on the same provider therefore run one after the other, and the second
sees the first's usage: no overcommit, on SQLite (one writer at a time) as on PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from onestack.db.models.placement import Allocation, Consumer, Inventory, ResourceProvider
from onestack.errors import BadRequest, NotFound
from onestack.scheduler.base import (
    Provider,
    Store,
    lock_query,
    over_capacity,
    unit_problem,
    usage_query,
)
from onestack.scheduler.errors import CapacityExceeded, ConcurrentUpdate

RP = ResourceProvider
UNCHECKED = -1  # consumer generation not given (before microversion 1.28): no check
INCOMPLETE = "00000000-0000-0000-0000-000000000000"  # project/user before 1.8


@dataclass
class Claim:
    """What one consumer should hold afterwards ({} releases everything)."""

    consumer: str
    allocations: dict[str, dict[str, int]]  # provider uuid -> class -> amount
    project_id: str = INCOMPLETE
    user_id: str = INCOMPLETE
    generation: int | None = UNCHECKED  # None: the consumer must be new


@dataclass
class ConsumerAllocations:
    consumer: str
    project_id: str | None = None
    user_id: str | None = None
    generation: int | None = None
    # provider uuid -> (provider generation, class -> amount)
    providers: dict[str, tuple[int, dict[str, int]]] = field(default_factory=dict)


class Allocations(Store):
    CONFLICT = ("consumer generation conflict: another request created or changed the same "
                "consumer; re-read it and retry.")

    async def claim(self, claims: Sequence[Claim]) -> None:
        await self._run(lambda s: self._claim(s, claims))

    async def delete(self, consumer: str) -> None:
        def run(s: Session) -> None:
            found = s.execute(select(Allocation.id).where(
                Allocation.consumer_id == consumer).limit(1)).first()
            if found is None:
                raise NotFound(f"No allocations for consumer '{consumer}'")
            self._claim(s, [Claim(consumer, {})])

        await self._run(run)

    async def _run(self, fn: Callable[[Session], None]) -> None:
        """``fn`` in one write transaction: on SQLite one worker-thread hand-off for every
        statement of a claim (Database.run_write), not one or more per statement."""
        try:
            await self.db.run_write(fn)
        except IntegrityError as exc:
            raise ConcurrentUpdate(self.CONFLICT) from exc

    def _claim(self, s: Session, claims: Sequence[Claim]) -> None:
        uuids = {u for c in claims for u in c.allocations}
        by_uuid: dict[str, int] = {}
        if uuids:
            found = s.execute(select(RP.uuid, RP.id).where(RP.uuid.in_(uuids)))
            by_uuid = {r[0]: r[1] for r in found}
        for u in sorted(uuids - set(by_uuid)):
            raise BadRequest(f"Allocation for resource provider '{u}' that does not exist.")
        names = [c.consumer for c in claims]
        consumers = {c.uuid: c for c in s.execute(
            select(Consumer).where(Consumer.uuid.in_(names)).with_for_update()).scalars()}
        for c in claims:
            check_consumer_generation(c, consumers.get(c.consumer))
        old = set(s.execute(select(Allocation.resource_provider_id).where(
            Allocation.consumer_id.in_(names)).distinct()).scalars())
        touched = old | set(by_uuid.values())
        if touched:
            s.execute(lock_query(sorted(touched))).all()
        s.execute(delete(Allocation).where(Allocation.consumer_id.in_(names)))
        wanted: dict[tuple[int, str], list[int]] = defaultdict(list)
        for c in claims:
            for u, resources in c.allocations.items():
                for rc, amount in resources.items():
                    wanted[(by_uuid[u], rc)].append(amount)
        self._check_capacity(s, wanted, {v: k for k, v in by_uuid.items()})
        rows = [{"resource_provider_id": by_uuid[u], "consumer_id": c.consumer,
                 "resource_class": rc, "used": amount}
                for c in claims for u, res in c.allocations.items() for rc, amount in res.items()]
        if rows:
            s.execute(insert(Allocation), rows)
        if touched:
            s.execute(update(RP).where(RP.id.in_(sorted(touched)))
                      .values(generation=RP.generation + 1)
                      .execution_options(synchronize_session=False))
        for c in claims:
            self._save_consumer(s, c, consumers.get(c.consumer))
        s.flush()

    @staticmethod
    def _check_capacity(s: Session, wanted: dict[tuple[int, str], list[int]],
                        uuid_of: dict[int, str]) -> None:
        if not wanted:
            return
        rp_ids = list({rp for rp, _rc in wanted})
        cols = (Inventory.resource_provider_id, Inventory.resource_class, Inventory.total,
                Inventory.reserved, Inventory.min_unit, Inventory.max_unit,
                Inventory.step_size, Inventory.allocation_ratio)
        invs = {(i.resource_provider_id, i.resource_class): i for i in s.execute(
            select(*cols).where(Inventory.resource_provider_id.in_(rp_ids)))}
        used = {(r[0], r[1]): int(r[2]) for r in s.execute(usage_query(rp_ids))}
        for (rp, rc), amounts in sorted(wanted.items()):
            inv = invs.get((rp, rc))
            if inv is None:
                raise CapacityExceeded(f"Unable to allocate inventory: Inventory for '{rc}' on "
                                       f"resource provider '{uuid_of[rp]}' invalid.")
            why = next(filter(None, (unit_problem(inv, n) for n in amounts)), None)
            if why is None:
                why = over_capacity(inv, used.get((rp, rc), 0), sum(amounts))
            if why is not None:
                raise CapacityExceeded(
                    f"Unable to allocate inventory: Unable to create allocation for '{rc}' on "
                    f"resource provider '{uuid_of[rp]}'. The requested amount would exceed "
                    f"the capacity or violate its constraints ({why}).")

    @staticmethod
    def _save_consumer(s: Session, c: Claim, row: Consumer | None) -> None:
        if not c.allocations:
            if row is not None:
                s.delete(row)
            return
        if row is None:
            s.add(Consumer(uuid=c.consumer, project_id=c.project_id, user_id=c.user_id,
                           generation=1))
            return
        row.generation += 1
        if c.project_id != INCOMPLETE:
            row.project_id, row.user_id = c.project_id, c.user_id

    async def of_consumer(self, consumer: str) -> ConsumerAllocations:
        async with self.read() as s:
            q = (select(RP.uuid, RP.generation, Allocation.resource_class, Allocation.used)
                 .join(RP, RP.id == Allocation.resource_provider_id)
                 .where(Allocation.consumer_id == consumer))
            out = ConsumerAllocations(consumer)
            for u, gen, rc, used in await s.execute(q):
                out.providers.setdefault(u, (gen, {}))[1][rc] = used
            row = await s.get(Consumer, consumer)
            if row is not None and out.providers:
                out.project_id, out.user_id = row.project_id, row.user_id
                out.generation = row.generation
            return out

    async def of_provider(self, uuid: str) -> tuple[Provider, dict[str, dict[str, int]]]:
        async with self.read() as s:
            rp = await self.provider(s, uuid)
            q = (select(Allocation.consumer_id, Allocation.resource_class, Allocation.used)
                 .where(Allocation.resource_provider_id == rp.id))
            out: dict[str, dict[str, int]] = {}
            for consumer, rc, used in await s.execute(q):
                out.setdefault(consumer, {})[rc] = used
            return rp, out

    async def usages(self, project_id: str, user_id: str | None = None) -> dict[str, int]:
        q = (select(Allocation.resource_class, func.sum(Allocation.used))
             .join(Consumer, Consumer.uuid == Allocation.consumer_id)
             .where(Consumer.project_id == project_id)
             .group_by(Allocation.resource_class))
        if user_id is not None:
            q = q.where(Consumer.user_id == user_id)
        async with self.read() as s:
            return {rc: int(n) for rc, n in await s.execute(q)}


def check_consumer_generation(c: Claim, row: Consumer | None) -> None:
    if c.generation == UNCHECKED:
        return
    if c.generation is None and row is not None:
        raise ConcurrentUpdate(f"consumer generation conflict - expected null but got "
                               f"{row.generation}")
    if c.generation is not None and (row is None or row.generation != c.generation):
        got = "null" if row is None else str(row.generation)
        raise ConcurrentUpdate(f"consumer generation conflict - expected {c.generation} but "
                               f"got {got}")


