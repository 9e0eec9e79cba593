"""Host selection for the compute scheduler: candidates, filters, weighers, and a reason
for every host that was turned down."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from onestack.scheduler.candidates import (
    Candidate,
    CandidateQuery,
    Candidates,
    RequestGroup,
)
from onestack.scheduler.errors import NoValidHost
from onestack.scheduler.providers import MemberOf


class HostState:
    """What a filter sees of a host (the root provider of a tree). ``capacity`` and
    ``used`` are worked out when first read: most filters read the uuid alone, and a
    decision makes one of these for every host."""

    __slots__ = ("_capacity", "_caps", "_root", "_usage", "_used", "name", "traits", "uuid")

    def __init__(self, uuid: str, name: str, traits: set[str], root: int,
                 caps: dict[str, int], usage: dict[tuple[int, str], int]) -> None:
        self.uuid, self.name, self.traits = uuid, name, traits
        self._root, self._caps, self._usage = root, caps, usage  # the decision's, shared
        self._capacity: dict[str, int] | None = None
        self._used: dict[str, int] | None = None

    @property
    def capacity(self) -> dict[str, int]:
        if self._capacity is None:
            self._capacity = dict(self._caps)
        return self._capacity

    @property
    def used(self) -> dict[str, int]:
        if self._used is None:
            root, usage = self._root, self._usage
            self._used = {rc: usage.get((root, rc), 0) for rc in self._caps}
        return self._used

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


def weigh(state: HostState, request: dict[str, int], weigher: str) -> float:
    """Spread: the larger share left free after the claim wins; pack: the smaller."""
    capacity, usage, root = state._caps, state._usage, state._root
    total, counted = 0.0, 0
    for rc, n in request.items():  # a loop, not free(): this runs for every host
        cap = capacity.get(rc, 0)
        if cap > 0:
            total += (cap - usage.get((root, rc), 0) - n) / cap
            counted += 1
    free = total / counted if counted else 0.0
    return free if weigher == "spread" else -free


async def select_hosts(candidates: Candidates, req: HostRequest) -> HostSelection:
    if req.weigher not in ("spread", "pack"):
        raise ValueError(f"unknown weigher {req.weigher!r}")
    group = RequestGroup("", dict(req.resources), [[t] for t in req.required_traits],
                         list(req.forbidden_traits), [MemberOf(list(m)) for m in req.member_of])
    result = await candidates.find(CandidateQuery([group]), explain=True)
    rejected = {result.providers[root].name: why for root, why in result.rejected.items()}
    providers, filters = result.providers, list(req.filters.items())
    caps, usage, traits = result.caps, result.used, result.traits
    best: dict[int, tuple[float, HostState, Candidate]] = {}
    for cand in result.candidates:  # once per host: kept lean
        root = providers[next(iter(cand.allocations))].root_id
        p = providers[root]
        state = HostState(p.uuid, p.name, traits.get(root, set()), root,
                          caps.get(root, {}), usage)
        for name, host_filter in filters:
            if (why := host_filter(state)) is not None:
                rejected[state.name] = f"{name}: {why}"
                break
        else:
            weight = weigh(state, req.resources, req.weigher)
            if root not in best or weight > best[root][0]:
                best[root] = (weight, state, cand)
    order = sorted(best.values(), key=lambda e: (-e[0], e[1].name))
    if req.limit is not None:
        order = order[:req.limit]
    ranked = [RankedHost(state.uuid, state.name, weight,
                         {providers[rp].uuid: dict(res) for rp, res in cand.allocations.items()})
              for weight, state, cand in order]
    if not ranked:
        wanted = ", ".join(f"{rc}={n}" for rc, n in sorted(req.resources.items()))
        if rejected:
            detail = "; ".join(f"{name}: {why}" for name, why in sorted(rejected.items()))
        else:
            detail = "no resource provider has inventory of the requested classes"
        raise NoValidHost(f"No valid host was found for {wanted}. {detail}.", rejected)
    return HostSelection(ranked, rejected)
