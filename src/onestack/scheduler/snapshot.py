"""What allocation candidates decide over, cached per process and checked per decision.

The snapshot (providers, trees, inventories, traits, aggregates) is kept while the placement
revision row stands still: every write to those bumps it, from any process. Usage is kept
per provider with the provider generation it was read at: every claim bumps the generation
of each provider it touches, so a decision first reads the sum and count of all
generations (one aggregate row; generations only grow, and a provider created or deleted
moves the revision) and, only when that moved, every generation and the usage of the
providers whose generation moved.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any, NamedTuple

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from onestack.db.models.placement import (
    Allocation,
    Inventory,
    PlacementRevision,
    ProviderAggregate,
    ProviderTrait,
    ResourceProvider,
)
from onestack.scheduler.base import capacity

RP = ResourceProvider


@dataclass
class ProviderRow:
    id: int
    uuid: str
    name: str
    generation: int
    parent_id: int | None
    root_id: int


class Inv(NamedTuple):
    total: int
    reserved: int
    min_unit: int
    max_unit: int
    step_size: int
    allocation_ratio: float


class Snapshot:
    """Providers, trees, inventories, traits and aggregates at one placement revision."""

    def __init__(self, revision: int) -> None:
        self.revision = revision
        self.providers: dict[int, ProviderRow] = {}
        self.trees: dict[int, list[int]] = defaultdict(list)
        self.inv: dict[int, dict[str, Inv]] = defaultdict(dict)
        self.traits: dict[int, set[str]] = defaultdict(set)
        self.aggs: dict[int, set[str]] = defaultdict(set)
        self.by_uuid: dict[str, int] = {}
        self.by_class: dict[str, list[tuple[int, Inv, int]]] = defaultdict(list)
        self.caps: dict[int, dict[str, int]] = defaultdict(dict)  # provider -> class -> cap


class Usage:
    """Allocated amounts per (provider, class), each provider's at the generation read.

    ``rendered`` is where the API layer keeps renderings of this snapshot's providers
    (this Usage is replaced, and its renderings with it, when the revision moves); one of a
    provider's usage is good while its generation in ``generations`` stays the same.
    """

    def __init__(self, revision: int) -> None:
        self.revision = revision  # of the snapshot: providers created or deleted since: anew
        self.token: tuple[int, int] | None = None  # (sum, count) of the generations read
        self.generations: dict[int, int] = {}
        self.classes: dict[int, list[str]] = {}
        self.used: dict[tuple[int, str], int] = {}
        self.rendered: dict[Any, Any] = {}

    def read(self, s: Session) -> UsageRead:
        """What moved since this usage was read (reads only: ``apply`` changes it)."""
        total, count = s.execute(select(func.coalesce(func.sum(RP.generation), 0),
                                        func.count())).one()
        token = (int(total), int(count))
        if token == self.token:
            return UsageRead(token, None, [], [], {})
        gens: dict[int, int] = {rp: g for rp, g in s.execute(select(RP.id, RP.generation))}
        stale = [rp for rp, g in gens.items() if self.generations.get(rp) != g]
        gone = [rp for rp in self.generations if rp not in gens]
        fresh: dict[int, dict[str, int]] = defaultdict(dict)
        if stale:
            q = (select(Allocation.resource_provider_id, Allocation.resource_class,
                        func.sum(Allocation.used))
                 .group_by(Allocation.resource_provider_id, Allocation.resource_class))
            if len(stale) <= 100:
                q = q.where(Allocation.resource_provider_id.in_(stale))
            for rp, rc, n in s.execute(q):
                fresh[rp][rc] = int(n)
        return UsageRead(token, gens, stale, gone, fresh)

    def apply(self, read: UsageRead) -> None:
        if read.gens is None:  # nothing moved
            return
        for rp in (*read.stale, *read.gone):
            for rc in self.classes.pop(rp, ()):
                del self.used[(rp, rc)]
            self.generations.pop(rp, None)
        for rp in read.stale:
            self.generations[rp] = read.gens[rp]
            self.classes[rp] = list(read.fresh.get(rp, ()))
            for rc, n in read.fresh.get(rp, {}).items():
                self.used[(rp, rc)] = n
        self.token = read.token


class UsageRead(NamedTuple):
    token: tuple[int, int]
    gens: dict[int, int] | None  # None: the token did not move, nothing else was read
    stale: list[int]
    gone: list[int]
    fresh: dict[int, dict[str, int]]


def load_snapshot(s: Session, known: Snapshot | None) -> Snapshot:
    """``known`` while the placement revision has not moved, else a new snapshot."""
    revision = s.execute(select(PlacementRevision.value)
                         .where(PlacementRevision.id == 1)).scalar() or 0
    if known is not None and known.revision == revision:
        return known
    snap = Snapshot(revision)
    rows = s.execute(select(RP.id, RP.uuid, RP.name, RP.generation, RP.parent_provider_id,
                            RP.root_provider_id).order_by(RP.id))
    for r in rows:
        root = r[5] if r[5] is not None else r[0]
        snap.providers[r[0]] = ProviderRow(r[0], r[1], r[2], r[3], r[4], root)
        snap.trees[root].append(r[0])
        snap.by_uuid[r[1]] = r[0]
    cols = (Inventory.resource_provider_id, Inventory.resource_class, Inventory.total,
            Inventory.reserved, Inventory.min_unit, Inventory.max_unit, Inventory.step_size,
            Inventory.allocation_ratio)
    for i in s.execute(select(*cols)):
        inv = Inv(i[2], i[3], i[4], i[5], i[6], i[7])
        snap.inv[i[0]][i[1]] = inv
        cap = capacity(inv.total, inv.reserved, inv.allocation_ratio)
        snap.by_class[i[1]].append((i[0], inv, cap))
        snap.caps[i[0]][i[1]] = cap
    for rp, trait in s.execute(select(ProviderTrait.resource_provider_id,
                                      ProviderTrait.trait)):
        snap.traits[rp].add(trait)
    for rp, agg in s.execute(select(ProviderAggregate.resource_provider_id,
                                    ProviderAggregate.aggregate_uuid)):
        snap.aggs[rp].add(agg)
    return snap
