"""Allocation candidates: which providers (or trees of providers) can satisfy a request.

Four queries load what the decision needs for the trees that hold any requested resource
class (providers, inventories with their usage, traits, aggregates); the rest is Python over
those rows: per tree, the options of each request group, combined under group_policy.

Usage is kept per provider with the provider generation it was read at: every claim bumps
the generation of each provider it touches, so a decision reads the generations (one small
query) and the usage of the providers whose generation moved, not every allocation.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
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
from onestack.scheduler.base import Store, capacity, fits, over_capacity
from onestack.scheduler.providers import MemberOf

RP = ResourceProvider
MAX_PER_TREE = 1000  # combinations considered per tree (nested trees can explode)


@dataclass
class RequestGroup:
    suffix: str = ""  # "" is the unsuffixed group: its resources may spread over a tree
    resources: dict[str, int] = field(default_factory=dict)
    required: list[list[str]] = field(default_factory=list)  # all of; any of each inner list
    forbidden: list[str] = field(default_factory=list)
    member_of: list[MemberOf] = field(default_factory=list)
    in_tree: str | None = None


@dataclass
class CandidateQuery:
    groups: list[RequestGroup]
    group_policy: str | None = None  # "isolate" or "none"
    limit: int | None = None
    root_required: list[list[str]] = field(default_factory=list)
    root_forbidden: list[str] = field(default_factory=list)
    same_subtree: list[list[str]] = field(default_factory=list)


@dataclass
class ProviderRow:
    id: int
    uuid: str
    name: str
    generation: int
    parent_id: int | None
    root_id: int


@dataclass
class Candidate:
    allocations: dict[int, dict[str, int]]  # provider id -> class -> amount
    mappings: dict[str, list[int]]  # group suffix -> providers satisfying it


@dataclass
class CandidateResult:
    candidates: list[Candidate]
    providers: dict[int, ProviderRow]
    traits: dict[int, set[str]]
    rejected: dict[int, str]  # root provider id -> why its tree offers no candidate
    caps: dict[int, dict[str, int]]  # provider -> class -> capacity (the snapshot's)
    # (provider, class) -> allocated, as the decision read: the cached usage itself, which
    # the next decision may refresh: read it (and ``inventory``) before awaiting anything
    used: dict[tuple[int, str], int]

    def summary_ids(self) -> list[int]:
        roots = {self.providers[rp].root_id for c in self.candidates for rp in c.allocations}
        return [p.id for p in self.providers.values() if p.root_id in roots]

    @cached_property
    def inventory(self) -> dict[int, dict[str, tuple[int, int]]]:
        """Provider -> class -> (capacity, used), of the providers summaries show (every
        provider of a tree with a candidate, and the rejected)."""
        shown = set(self.summary_ids()) | set(self.rejected)
        used = self.used
        return {rp: {rc: (cap, used.get((rp, rc), 0)) for rc, cap in caps.items()}
                for rp in shown if (caps := self.caps.get(rp)) is not None}


class Inv(NamedTuple):
    total: int
    reserved: int
    min_unit: int
    max_unit: int
    step_size: int
    allocation_ratio: float


class Snapshot:
    """Providers, trees, inventories, traits and aggregates at one placement revision.

    Cached per process and reloaded when the revision row changes (any write to them, by
    any process); usage is never cached: it is read fresh for every decision.
    """

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
    """Allocated amounts per (provider, class), each provider's at the generation read."""

    def __init__(self, revision: int) -> None:
        self.revision = revision  # of the snapshot: providers created or deleted since: anew
        self.generations: dict[int, int] = {}
        self.classes: dict[int, list[str]] = {}
        self.used: dict[tuple[int, str], int] = {}

    def read(self, s: Session) -> _UsageRead:
        """What moved since this usage was read (reads only: ``apply`` changes it)."""
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
        return _UsageRead(gens, stale, gone, fresh)

    def apply(self, read: _UsageRead) -> None:
        for rp in (*read.stale, *read.gone):
            for rc in self.classes.pop(rp, ()):
                del self.used[(rp, rc)]
            self.generations.pop(rp, None)
        for rp in read.stale:
            self.generations[rp] = read.gens[rp]
            self.classes[rp] = list(read.fresh.get(rp, ()))
            for rc, n in read.fresh.get(rp, {}).items():
                self.used[(rp, rc)] = n


class _UsageRead(NamedTuple):
    gens: dict[int, int]
    stale: list[int]
    gone: list[int]
    fresh: dict[int, dict[str, int]]


class _Data:
    """One decision: the snapshot, plus the usage read for it."""

    def __init__(self, snap: Snapshot, used: dict[tuple[int, str], int],
                 trees: dict[int, list[int]]) -> None:
        self.providers = snap.providers
        self.inv = snap.inv
        self.traits = snap.traits
        self.aggs = snap.aggs
        self.by_class = snap.by_class
        self.caps = snap.caps
        self.trees = trees
        self.used = used


class Candidates(Store):
    def __init__(self, db: Any) -> None:
        super().__init__(db)
        self._snapshot: Snapshot | None = None
        self._usage: Usage | None = None
        self._reading = asyncio.Lock()

    async def find(self, q: CandidateQuery, *, explain: bool = False) -> CandidateResult:
        # The reads run in one worker-thread hand-off on SQLite (Database.run_read); what
        # they found is applied here, on the event loop, one decision's reads at a time, so
        # the usage a decision reads changes only between decisions.
        async with self._reading:
            known, usage = self._snapshot, self._usage
            snap, read = await self.db.run_read(lambda s: self._read(s, known, usage))
            self._snapshot = snap
            if usage is None or usage.revision != snap.revision:
                usage = self._usage = Usage(snap.revision)  # what _read read against
            usage.apply(read)
        # decide() runs without awaiting: no other refresh changes this dict meanwhile
        used = usage.used
        trees = snap.trees
        wanted_trees = {u for g in q.groups if (u := g.in_tree)}
        if wanted_trees:
            roots = {snap.providers[i].root_id for u in wanted_trees
                     if (i := snap.by_uuid.get(u)) is not None}
            trees = {r: m for r, m in snap.trees.items() if r in roots}
        return decide(q, _Data(snap, used, trees), explain)

    @staticmethod
    def _read(s: Session, known: Snapshot | None, usage: Usage | None
              ) -> tuple[Snapshot, _UsageRead]:
        snap = load_snapshot(s, known)
        if usage is None or usage.revision != snap.revision:
            usage = Usage(snap.revision)
        return snap, usage.read(s)


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


def traits_ok(have: set[str], required: list[list[str]], forbidden: Iterable[str]) -> str | None:
    for any_of in required:
        if not have.intersection(any_of):
            return f"lacks required trait {' or '.join(any_of)}"
    bad = have.intersection(forbidden)
    if bad:
        return f"has forbidden trait {', '.join(sorted(bad))}"
    return None


def member_ok(aggs: set[str], terms: list[MemberOf]) -> str | None:
    for term in terms:
        inside = bool(aggs.intersection(term.aggregates))
        if term.negated and inside:
            return f"is in forbidden aggregate {', '.join(sorted(term.aggregates))}"
        if not term.negated and not inside:
            return f"is not in aggregate {' or '.join(term.aggregates)}"
    return None


def decide(q: CandidateQuery, data: _Data, explain: bool) -> CandidateResult:
    out: list[Candidate] = []
    rejected: dict[int, str] = {}
    fitting = _fitting(q, data)
    g0 = q.groups[0]
    simple = (len(q.groups) == 1 and not q.same_subtree and not q.root_required
              and not q.root_forbidden)
    checks = bool(g0.required or g0.forbidden or g0.member_of)
    fit0 = fitting[0]
    for root, members in data.trees.items():
        if q.limit is not None and len(out) >= q.limit:
            break
        if simple and len(members) == 1 and root in fit0 and (not checks or (
                traits_ok(data.traits.get(root, set()), g0.required, g0.forbidden) is None
                and member_ok(data.aggs.get(root, set()), g0.member_of) is None)):
            out.append(Candidate({root: g0.resources}, {g0.suffix: [root]}))
            continue
        if len(members) == 1 and not q.same_subtree:
            one = _single(q, data, root, fitting)
            if one is not None:
                out.append(one)
                continue
            if not explain:
                continue
        why = traits_ok(data.traits.get(root, set()), q.root_required, q.root_forbidden)
        if why is None:
            found, why = _tree(q, data, root, members)
            out += found
        if why is not None and explain:
            rejected[root] = why
    if q.limit is not None:
        out = out[:q.limit]
    return CandidateResult(out, data.providers, data.traits, rejected, data.caps, data.used)


def _fitting(q: CandidateQuery, data: _Data) -> list[set[int]]:
    """Per group, the providers that alone have room for every resource of the group."""
    out = []
    used = data.used
    for g in q.groups:
        ok: set[int] | None = None
        for rc, amount in g.resources.items():
            here = {rp for rp, inv, cap in data.by_class.get(rc, ())
                    if inv.min_unit <= amount <= inv.max_unit and amount % inv.step_size == 0
                    and used.get((rp, rc), 0) + amount <= cap}
            ok = here if ok is None else ok & here
        out.append(ok or set())
    return out


def _single(q: CandidateQuery, data: _Data, rp: int, fitting: list[set[int]]
            ) -> Candidate | None:
    """The common case, a tree of one provider: a candidate or None (without a reason)."""
    traits = data.traits.get(rp, set())
    if (q.root_required or q.root_forbidden) and traits_ok(traits, q.root_required,
                                                          q.root_forbidden):
        return None
    merged: dict[str, int] = {}
    for g, ok in zip(q.groups, fitting, strict=True):
        if rp not in ok:
            return None
        if (g.required or g.forbidden) and traits_ok(traits, g.required, g.forbidden):
            return None
        if g.member_of and member_ok(data.aggs.get(rp, set()), g.member_of):
            return None
        for rc, amount in g.resources.items():
            merged[rc] = merged.get(rc, 0) + amount
    if len(q.groups) > 1:
        if q.group_policy == "isolate" and sum(1 for g in q.groups if g.suffix) > 1:
            return None
        for rc, amount in merged.items():
            if over_capacity(data.inv[rp][rc], data.used.get((rp, rc), 0), amount):
                return None
    return Candidate({rp: merged}, {g.suffix: [rp] for g in q.groups})


def _tree(q: CandidateQuery, data: _Data, root: int, members: list[int]
          ) -> tuple[list[Candidate], str | None]:
    options: list[list[tuple[dict[int, dict[str, int]], list[int]]]] = []
    for g in q.groups:
        opts, why = _group_options(g, data, root, members)
        if not opts:
            label = f"group {g.suffix}: " if g.suffix else ""
            return [], label + (why or "no provider fits")
        options.append(opts)
    found: list[Candidate] = []
    seen: set[Any] = set()
    isolate = q.group_policy == "isolate"
    for combo in itertools.islice(itertools.product(*options), MAX_PER_TREE):
        merged: dict[int, dict[str, int]] = defaultdict(dict)
        mappings: dict[str, list[int]] = {}
        used_by: dict[int, str] = {}
        ok = True
        for g, (alloc, rps) in zip(q.groups, combo, strict=True):
            mappings[g.suffix] = rps
            for rp, res in alloc.items():
                if isolate and g.suffix and used_by.setdefault(rp, g.suffix) != g.suffix:
                    ok = False
                for rc, amount in res.items():
                    merged[rp][rc] = merged[rp].get(rc, 0) + amount
        if not ok or not _merged_fits(q, data, combo, merged):
            continue
        if q.same_subtree and not _same_subtree(q, data, mappings):
            continue
        key = (frozenset((rp, frozenset(r.items())) for rp, r in merged.items()),
               frozenset((k, tuple(v)) for k, v in mappings.items()))
        if key not in seen:
            seen.add(key)
            found.append(Candidate(dict(merged), mappings))
    if not found:
        return [], "no combination of its providers satisfies every group together"
    return found, None


def _merged_fits(q: CandidateQuery, data: _Data, combo: Any,
                 merged: dict[int, dict[str, int]]) -> bool:
    if len(combo) == 1:
        return True
    for rp, res in merged.items():
        for rc, amount in res.items():
            if over_capacity(data.inv[rp][rc], data.used.get((rp, rc), 0), amount) is not None:
                return False
    return True


def _group_options(g: RequestGroup, data: _Data, root: int, members: list[int]
                   ) -> tuple[list[tuple[dict[int, dict[str, int]], list[int]]], str | None]:
    """Ways one group can be satisfied inside a tree; else why not."""
    why: str | None = None
    per_class: dict[str, list[int]] = {}
    for rc, amount in g.resources.items():
        fitting = []
        for rp in members:
            inv = data.inv.get(rp, {}).get(rc)
            if inv is None:
                continue
            reason = fits(inv, data.used.get((rp, rc), 0), amount)
            if reason is None and g.member_of:
                reason = member_ok(data.aggs.get(rp, set()), g.member_of)
            if reason is None and g.suffix:
                reason = traits_ok(data.traits.get(rp, set()), g.required, g.forbidden)
            if reason is None:
                fitting.append(rp)
            elif why is None or len(members) == 1:
                why = f"{rc}: {reason}"
        if not fitting:
            return [], why or f"no {rc} inventory"
        per_class[rc] = fitting
    if g.suffix:
        common = set(members)
        for rps in per_class.values():
            common &= set(rps)
        if not common:
            return [], "no single provider has all of the group's resources"
        return [({rp: dict(g.resources)}, [rp]) for rp in members if rp in common], None
    opts = []
    classes = list(per_class)
    for choice in itertools.islice(itertools.product(*(per_class[c] for c in classes)),
                                   MAX_PER_TREE):
        alloc: dict[int, dict[str, int]] = defaultdict(dict)
        for rc, rp in zip(classes, choice, strict=True):
            alloc[rp][rc] = g.resources[rc]
        have: set[str] = set()
        for rp in alloc:
            have |= data.traits.get(rp, set())
        reason = traits_ok(have, g.required, g.forbidden)
        if reason is None:
            opts.append((dict(alloc), sorted(alloc)))
        else:
            why = reason
    return opts, why


def _same_subtree(q: CandidateQuery, data: _Data, mappings: dict[str, list[int]]) -> bool:
    for suffixes in q.same_subtree:
        chosen = {rp for s in suffixes for rp in mappings.get(s, [])}
        if not any(all(_under(data, rp, top) for rp in chosen) for top in chosen):
            return False
    return True


def _under(data: _Data, rp: int | None, top: int) -> bool:
    while rp is not None:
        if rp == top:
            return True
        rp = data.providers[rp].parent_id
    return False
