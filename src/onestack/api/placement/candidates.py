"""GET /allocation_candidates (1.10+): parse the request groups, render each version."""

from __future__ import annotations

import re
from typing import Any

from starlette.responses import Response

from onestack.api.common.jsonbody import dumps
from onestack.api.common.microversions import req_version
from onestack.api.common.request import ApiRequest
from onestack.api.placement import query, views
from onestack.scheduler.candidates import (
    Candidate,
    CandidateQuery,
    CandidateResult,
    RequestGroup,
)
from onestack.scheduler.errors import BadQuery

Version = tuple[int, int]
GROUP_KEYS = ("resources", "required", "member_of", "in_tree")


def _suffix_pattern(v: Version) -> str:
    return r"[a-zA-Z0-9_-]{1,64}" if v >= (1, 33) else r"[1-9][0-9]*"


def _allowed(v: Version) -> set[str]:
    keys = {"resources"}
    for key, since in (("limit", (1, 16)), ("required", (1, 17)), ("member_of", (1, 21)),
                       ("group_policy", (1, 25)), ("in_tree", (1, 31)),
                       ("root_required", (1, 35)), ("same_subtree", (1, 36))):
        if v >= since:
            keys.add(key)
    return keys


def parse(req: ApiRequest) -> CandidateQuery:
    v = req_version(req)
    granular = (rf"({'|'.join(GROUP_KEYS)})({_suffix_pattern(v)})"
                if v >= (1, 25) else None)
    query.check_known(req, _allowed(v), granular)
    groups: dict[str, RequestGroup] = {}
    for key in req.query:
        m = re.fullmatch(rf"({'|'.join(GROUP_KEYS)})(.*)", key)
        if m is None:
            continue
        kind, suffix = m.group(1), m.group(2)
        g = groups.setdefault(suffix, RequestGroup(suffix))
        values = req.query.getlist(key)
        if kind == "resources":
            g.resources = query.resources(query.single(req, key) or "", key)
        elif kind == "required":
            g.required, g.forbidden = query.traits(values, v, key)
        elif kind == "member_of":
            g.member_of = query.member_of(values, v, key)
        else:
            g.in_tree = query.check_uuid(query.single(req, key) or "", key)
    for suffix, g in groups.items():
        if not g.resources:
            raise BadQuery(f"All request groups must specify resources: 'resources{suffix}' "
                           "is missing." if suffix else
                           "Unexpected empty resources: 'resources' is required when "
                           "'required', 'member_of' or 'in_tree' is given.")
    if not groups:
        raise BadQuery("Invalid query string parameters: 'resources' is a required property.")
    q = CandidateQuery(list(groups.values()))
    granular_groups = [g for g in q.groups if g.suffix]
    q.group_policy = query.single(req, "group_policy")
    if q.group_policy not in (None, "none", "isolate"):
        raise BadQuery(f"Invalid group_policy {q.group_policy!r}: expected none or isolate.")
    if len(granular_groups) > 1 and q.group_policy is None:
        raise BadQuery("The \"group_policy\" parameter is required when specifying more than "
                       "one \"resources{N}\" parameter.")
    if (limit := query.single(req, "limit")) is not None:
        if not limit.isdigit() or int(limit) < 1:
            raise BadQuery(f"Invalid query string parameters: limit must be a positive "
                           f"integer, got {limit!r}.")
        q.limit = int(limit)
    if values := req.query.getlist("root_required"):
        q.root_required, q.root_forbidden = query.traits(values, v, "root_required")
    for value in req.query.getlist("same_subtree"):
        suffixes = [s.strip() for s in value.split(",")]
        for s in suffixes:
            if s not in groups or not s:
                raise BadQuery(f"Real suffixes should be specified in same_subtree: {s!r} "
                               "is not a suffix of a request group.")
        q.same_subtree.append(suffixes)
    return q


async def _validate_names(req: ApiRequest, q: CandidateQuery) -> None:
    catalog = req.runtime.placement.catalog
    for g in q.groups:
        for rc in g.resources:
            if not await catalog.class_exists(rc):
                raise BadQuery(f"Invalid resource class in resources parameter: No such "
                               f"resource class {rc}.")
        names = [t for any_of in g.required for t in any_of] + g.forbidden
        for any_of in q.root_required:
            names += any_of
        for name in names + q.root_forbidden:
            if not await catalog.trait_exists(name):
                raise BadQuery(f"Invalid query string parameters: No such trait(s): {name}.")


async def listing(req: ApiRequest) -> Response:
    q = parse(req)
    await _validate_names(req, q)
    result = await req.runtime.placement.candidates.find(q)
    return views.respond_json(encode(req_version(req), q, result))


def encode(v: Version, q: CandidateQuery, result: CandidateResult) -> bytes:
    """The response body, JSON as ``dumps`` writes it, assembled from encoded parts: one
    allocation request per candidate, and each provider summary encoded once per provider
    generation and kept with the decision's usage (``Usage.rendered``)."""
    uuids = _quoted_uuids(result)
    requests = _requests(v, result.candidates, uuids)
    if v >= (1, 29):
        ids = result.summary_ids()
    else:
        ids = sorted({rp for c in result.candidates for rp in c.allocations})
    wanted = None if v >= (1, 27) else frozenset(rc for g in q.groups for rc in g.resources)
    flavour = (wanted, v >= (1, 17), v >= (1, 29))
    usage = result.usage
    cache, generations = usage.rendered, usage.generations
    summaries = []
    for rp in ids:
        gen = generations.get(rp, -1)
        hit = cache.get((rp, flavour))
        if hit is None or hit[0] != gen:
            hit = cache[(rp, flavour)] = (gen, uuids[rp] + b":" + dumps(
                _summary(result, rp, wanted, flavour[1], flavour[2])))
        summaries.append(hit[1])
    return b"".join((b'{"allocation_requests":[', b",".join(requests),
                     b'],"provider_summaries":{', b",".join(summaries), b"}}"))


def _quoted_uuids(result: CandidateResult) -> dict[int, bytes]:
    """Provider id -> its uuid as a JSON string, made once per snapshot."""
    cache = result.usage.rendered
    quoted: dict[int, bytes] | None = cache.get("uuids")
    if quoted is None:
        quoted = cache["uuids"] = {rp: dumps(p.uuid) for rp, p in result.providers.items()}
    return quoted


def _requests(v: Version, candidates: list[Candidate], uuids: dict[int, bytes]
              ) -> list[bytes]:
    if v < (1, 12):
        return [dumps({"allocations": [
            {"resource_provider": {"uuid": uuids[rp][1:-1].decode()}, "resources": res}
            for rp, res in cand.allocations.items()]}) for cand in candidates]
    out = []
    last: Any = None  # the resources and suffix of the last one-provider candidate, encoded
    with_mappings = v >= (1, 34)
    for cand in candidates:
        allocs, maps = cand.allocations, cand.mappings
        if len(allocs) == 1 and len(maps) == 1:  # one provider: most candidates
            (rp, res), = allocs.items()
            (suffix, rps), = maps.items()
            if rps == [rp]:
                if last is None or last[0] is not res or last[1] != suffix:
                    last = (res, suffix, dumps(res), dumps(suffix))
                u = uuids[rp]
                out.append(b'{"allocations":{%s:{"resources":%s}},"mappings":{%s:[%s]}}'
                           % (u, last[2], last[3], u) if with_mappings else
                           b'{"allocations":{%s:{"resources":%s}}}' % (u, last[2]))
                continue
        body = b'{"allocations":{' + b",".join(
            uuids[rp] + b':{"resources":' + dumps(res) + b"}" for rp, res in allocs.items())
        if with_mappings:
            body += b'},"mappings":{' + b",".join(
                dumps(suffix) + b":[" + b",".join(uuids[rp] for rp in rps) + b"]"
                for suffix, rps in maps.items())
        out.append(body + b"}}")
    return out


def _summary(result: CandidateResult, rp: int, wanted: frozenset[str] | None, traits: bool,
             tree: bool) -> dict[str, Any]:
    used = result.usage.used
    caps = result.caps.get(rp, {})
    summary: dict[str, Any] = {"resources": {
        rc: {"capacity": cap, "used": used.get((rp, rc), 0)} for rc, cap in caps.items()
        if wanted is None or rc in wanted}}
    if traits:
        summary["traits"] = sorted(result.traits.get(rp, ()))
    if tree:
        p = result.providers[rp]
        parent = result.providers.get(p.parent_id) if p.parent_id else None
        summary["parent_provider_uuid"] = parent.uuid if parent else None
        summary["root_provider_uuid"] = result.providers[p.root_id].uuid
    return summary
