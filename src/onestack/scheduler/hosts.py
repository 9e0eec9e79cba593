"""Host selection for the compute scheduler: candidates, filters, weighers, and a reason
for every host that was turned down."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from onestack.scheduler.candidates import CandidateQuery, CandidateResult, Candidates, RequestGroup
from onestack.scheduler.errors import NoValidHost
from onestack.scheduler.providers import MemberOf


@dataclass
class HostState:
    """What a filter sees of a host (the root provider of a tree)."""

    uuid: str
    name: str
    traits: set[str]
    capacity: dict[str, int]
    used: dict[str, int]

    def free(self, rc: str) -> int:
        return self.capacity.get(rc, 0) - self.used.get(rc, 0)


HostFilter = Callable[[HostState], str | None]  # None: passes; else why the host is refused


@dataclass
class HostRequest:
    resources: dict[str, int]
    required_traits: list[str] = field(default_factory=list)
    forbidden_traits: list[str] = field(default_factory=list)
    member_of: list[list[str]] = field(default_factory=list)
    filters: dict[str, HostFilter] = field(default_factory=dict)
    weigher: str = "spread"  # or "pack"
    limit: int | None = None


@dataclass
class RankedHost:
    uuid: str
    name: str
    weight: float
    allocations: dict[str, dict[str, int]]  # provider uuid -> class -> amount


@dataclass
class HostSelection:
    hosts: list[RankedHost]
    rejected: dict[str, str]  # host name -> why


def _state(result: CandidateResult, root: int) -> HostState:
    p = result.providers[root]
    inv = result.inventory.get(root, {})
    return HostState(p.uuid, p.name, result.traits.get(root, set()),
                     {rc: cap for rc, (cap, _u) in inv.items()},
                     {rc: used for rc, (_c, used) in inv.items()})


def weigh(state: HostState, request: dict[str, int], weigher: str) -> float:
    """Spread: the larger share left free after the claim wins; pack: the smaller."""
    shares = [(state.free(rc) - n) / cap for rc, n in request.items()
              if (cap := state.capacity.get(rc, 0)) > 0]
    free = sum(shares) / len(shares) if shares else 0.0
    return free if weigher == "spread" else -free


async def select_hosts(candidates: Candidates, req: HostRequest) -> HostSelection:
    if req.weigher not in ("spread", "pack"):
        raise ValueError(f"unknown weigher {req.weigher!r}")
    group = RequestGroup("", dict(req.resources), [[t] for t in req.required_traits],
                         list(req.forbidden_traits), [MemberOf(list(m)) for m in req.member_of])
    result = await candidates.find(CandidateQuery([group]), explain=True)
    rejected = {result.providers[root].name: why for root, why in result.rejected.items()}
    ranked: list[RankedHost] = []
    best: dict[int, RankedHost] = {}
    for cand in result.candidates:
        root = result.providers[next(iter(cand.allocations))].root_id
        state = _state(result, root)
        why = next((f"{name}: {r}" for name, f in req.filters.items()
                    if (r := f(state)) is not None), None)
        if why is not None:
            rejected[state.name] = why
            continue
        host = RankedHost(state.uuid, state.name, weigh(state, req.resources, req.weigher),
                          {result.providers[rp].uuid: dict(res)
                           for rp, res in cand.allocations.items()})
        if root not in best or host.weight > best[root].weight:
            best[root] = host
    ranked = sorted(best.values(), key=lambda h: (-h.weight, h.name))
    if req.limit is not None:
        ranked = ranked[:req.limit]
    if not ranked:
        wanted = ", ".join(f"{rc}={n}" for rc, n in sorted(req.resources.items()))
        if rejected:
            detail = "; ".join(f"{name}: {why}" for name, why in sorted(rejected.items()))
        else:
            detail = "no resource provider has inventory of the requested classes"
        raise NoValidHost(f"No valid host was found for {wanted}. {detail}.", rejected)
    return HostSelection(ranked, rejected)
