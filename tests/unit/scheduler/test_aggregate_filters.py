"""The aggregate filters' matching rules (Nova's extra_specs_ops) and the zone/spec filters
over host states, without a database."""

from __future__ import annotations

import pytest

from onestack.scheduler.filters import (
    aggregate_specs,
    aggregate_specs_filter,
    spec_matches,
    zone_filter,
)
from onestack.scheduler.hosts import HostState


@pytest.mark.parametrize(("value", "req", "ok"), [
    ("true", "true", True), ("true", "false", False),
    ("8", "= 4", True), ("2", "= 4", False), ("4", "== 4", True), ("4.0", "== 4", True),
    ("5", "!= 4", True), ("3", "<= 4", True), ("5", ">= 4", True), ("x", ">= 4", False),
    ("abc", "s== abc", True), ("abd", "s> abc", True), ("abc", "s!= abc", False),
    ("gold", "<or> gold <or> silver", True), ("bronze", "<or> gold <or> silver", False),
    ("avx avx2 sse", "<all-in> avx2 sse", True), ("avx", "<all-in> avx2", False),
    ("haswell-x86", "<in> x86", True), ("arm", "<in> x86", False),
])
def test_spec_matches(value: str, req: str, ok: bool) -> None:
    assert spec_matches(value, req) is ok


def _state(name: str) -> HostState:
    return HostState(f"uuid-{name}", name, set(), 1, {}, {})


def name(state: HostState) -> str:
    return state.name


def test_zone_and_spec_filters() -> None:
    zones = {"h1": "az1"}
    meta = {"h1": {"ssd": {"true"}}, "h2": {"ssd": {"false", "true"}}}
    in_az1 = zone_filter("az1", lambda h: zones.get(h, "nova"), name)
    assert in_az1(_state("h1")) is None and "nova" in (in_az1(_state("h2")) or "")
    specs = aggregate_specs({"aggregate_instance_extra_specs:ssd": "true", "hw:cpu": "x"})
    assert specs == {"ssd": "true"}
    ssd = aggregate_specs_filter(specs, lambda h: meta.get(h, {}), name)
    assert ssd(_state("h1")) is None and ssd(_state("h2")) is None  # any aggregate's value
    assert "no aggregate" in (ssd(_state("h3")) or "")
