"""Host filters made from aggregates, as Nova's AvailabilityZoneFilter and
AggregateInstanceExtraSpecsFilter: the caller passes how a host is named and what its
aggregates say (zone, metadata); these stay free of the compute tables."""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping

from onestack.scheduler.hosts import HostFilter, HostState

AGGREGATE_SCOPE = "aggregate_instance_extra_specs"

HostName = Callable[[HostState], str]


def zone_filter(zone: str, host_zone: Callable[[str], str], name: HostName) -> HostFilter:
    """Hosts of the requested availability zone only."""

    def check(state: HostState) -> str | None:
        here = host_zone(name(state))
        return None if here == zone else f"the host is in availability zone {here!r}, " \
                                         f"not {zone!r}"
    return check


def host_filter(host: str, name: HostName) -> HostFilter:
    """The one host asked for (``zone:host``, an admin's forced host)."""
    return lambda state: None if name(state) == host else f"not the requested host {host}"


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


_NUM_OPS: dict[str, Callable[[float, float], bool]] = {
    "=": operator.ge, "==": operator.eq, "!=": operator.ne, ">=": operator.ge,
    "<=": operator.le}
_STR_OPS: dict[str, Callable[[str, str], bool]] = {
    "s==": operator.eq, "s!=": operator.ne, "s<": operator.lt, "s<=": operator.le,
    "s>": operator.gt, "s>=": operator.ge}


def spec_matches(value: str, req: str) -> bool:
    """Nova's extra_specs_ops: ``req`` is a literal, or an operator and its operand(s):
    ``= n`` (at least n), ``== n``, ``!= n``, ``>= n``, ``<= n``, ``s== t`` and the other
    string comparisons, ``<in> t`` (substring), ``<or> a <or> b``, ``<all-in> a b``."""
    words = req.split()
    if not words:
        return value == req
    op, args = words[0], words[1:]
    if op == "<or>":
        return value in [w for w in words[1:] if w != "<or>"]
    if op == "<in>":
        return bool(args) and args[0] in value
    if op == "<all-in>":
        return all(a in value.split() for a in args)
    if op in _STR_OPS and len(args) == 1:
        return _STR_OPS[op](value, args[0])
    if op in _NUM_OPS and len(args) == 1:
        left, right = _number(value), _number(args[0])
        return left is not None and right is not None and _NUM_OPS[op](left, right)
    return value == req


def aggregate_specs(extra_specs: Mapping[str, str]) -> dict[str, str]:
    """The flavor's ``aggregate_instance_extra_specs:<key>`` specs, by key."""
    prefix = AGGREGATE_SCOPE + ":"
    return {k[len(prefix):]: str(v) for k, v in extra_specs.items() if k.startswith(prefix)}


def aggregate_specs_filter(specs: Mapping[str, str],
                           host_metadata: Callable[[str], Mapping[str, set[str]]],
                           name: HostName) -> HostFilter:
    """Hosts whose aggregates' metadata satisfy every spec (a value of any of the host's
    aggregates will do, as in Nova)."""

    def check(state: HostState) -> str | None:
        meta = host_metadata(name(state))
        for key, req in sorted(specs.items()):
            values = meta.get(key)
            if not values:
                return f"no aggregate of the host has metadata {key!r}"
            if not any(spec_matches(v, req) for v in values):
                return f"aggregate metadata {key}={sorted(values)} does not match {req!r}"
        return None
    return check
