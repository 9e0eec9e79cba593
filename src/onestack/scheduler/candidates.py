"""Allocation candidates: which providers (or trees of providers) can satisfy a request.

The decision reads a snapshot of providers, inventories, traits and aggregates and the usage
of each provider (scheduler/snapshot.py: both cached per process and checked against the
database per decision); the rest is Python over those rows: per tree, the options of each
request group, combined under group_policy.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from onestack.scheduler.base import Store, fits, over_capacity
from onestack.scheduler.providers import MemberOf
from onestack.scheduler.snapshot import (
    Inv,
    ProviderRow,
    Snapshot,
    Usage,
    UsageRead,
    load_snapshot,
)

__all__ = ["Inv", "ProviderRow", "Snapshot", "Usage"]
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


@dataclass(slots=True)
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
    # the usage the decision read (its ``used``, ``generations`` and ``rendered``), which
    # the next decision may refresh: read it before awaiting anything
    usage: Usage

    @property
    def used(self) -> dict[tuple[int, str], int]:
        """(provider, class) -> allocated."""
        return self.usage.used

    def summary_ids(self) -> list[int]:
        roots = {self.providers[rp].root_id for c in self.candidates for rp in c.allocations}
        return [p.id for p in self.providers.values() if p.root_id in roots]


class _Data:
    """One decision: the snapshot, plus the usage read for it."""

    def __init__(self, snap: Snapshot, usage: Usage, trees: dict[int, list[int]]) -> None:
        self.providers = snap.providers
        self.inv = snap.inv
        self.traits = snap.traits
        self.aggs = snap.aggs
        self.by_class = snap.by_class
        self.caps = snap.caps
        self.trees = trees
        self.usage = usage
        self.used = usage.used


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
        # decide() runs without awaiting: no other refresh changes the usage meanwhile
        trees = snap.trees
        wanted_trees = {u for g in q.groups if (u := g.in_tree)}
        if wanted_trees:
            roots = {snap.providers[i].root_id for u in wanted_trees
                     if (i := snap.by_uuid.get(u)) is not None}
            trees = {r: m for r, m in snap.trees.items() if r in roots}
        return decide(q, _Data(snap, usage, trees), explain)

    @staticmethod
    def _read(s: Session, known: Snapshot | None, usage: Usage | None
              ) -> tuple[Snapshot, UsageRead]:
        snap = load_snapshot(s, known)
        if usage is None or usage.revision != snap.revision:
            usage = Usage(snap.revision)
        return snap, usage.read(s)


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
    quick = simple and not checks  # a one-provider tree that fits is a candidate as it is
    resources, suffix, limit = g0.resources, g0.suffix, q.limit
    for root, members in data.trees.items():
        if limit is not None and len(out) >= limit:
            break
        if quick and root in fit0 and len(members) == 1:
            out.append(Candidate({root: resources}, {suffix: [root]}))
            continue
        if simple and checks and len(members) == 1 and root in fit0 and (
                traits_ok(data.traits.get(root, set()), g0.required, g0.forbidden) is None
                and member_ok(data.aggs.get(root, set()), g0.member_of) is None):
            out.append(Candidate({root: resources}, {suffix: [root]}))
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
    return CandidateResult(out, data.providers, data.traits, rejected, data.caps,
                           data.usage)


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
