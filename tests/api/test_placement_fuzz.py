"""Hypothesis-generated requests against every placement route: never a 5xx."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onestack.api.placement.routes import ROUTES
from tests.support.server import RunningCloud

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40),
                         st.floats(allow_nan=False, allow_infinity=False),
                         st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12)
KEYS = ["name", "uuid", "parent_provider_uuid", "inventories", "resource_provider_generation",
        "total", "reserved", "min_unit", "max_unit", "step_size", "allocation_ratio",
        "resource_class", "traits", "aggregates", "allocations", "project_id", "user_id",
        "consumer_generation", "resources", "resource_provider"]
UUIDS = ["6f0e3bc5-4d8a-4f8e-9f1e-1c5b2e3a4d5f", "00000000-0000-0000-0000-000000000000"]
keyed = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6)
nested = st.dictionaries(st.sampled_from(UUIDS), keyed, max_size=2)
bodies = st.one_of(json_values, keyed, nested, st.binary(max_size=64))
segment = st.one_of(st.sampled_from(["VCPU", "CUSTOM_X", "x", "0", "%00", "..", "a" * 300,
                                     *UUIDS]),
                    st.text(alphabet="abcdefABCDEF0123456789-_", min_size=1, max_size=40))
versions = st.one_of(st.none(), st.sampled_from(
    ["1.0", "1.5", "1.10", "1.12", "1.14", "1.19", "1.20", "1.25", "1.28", "1.33", "1.36",
     "latest", "2.0", "x"]))
QUERY_KEYS = ["resources", "required", "member_of", "in_tree", "limit", "group_policy",
              "resources1", "required1", "resources_A", "root_required", "same_subtree",
              "name", "uuid", "project_id", "user_id", "associated"]
query_values = st.one_of(st.sampled_from(
    ["VCPU:1", "VCPU:1,MEMORY_MB:64", "!CUSTOM_X", "in:" + UUIDS[0], "!in:" + UUIDS[0],
     "isolate", "1", "startswith:HW", "in:VCPU", UUIDS[0], "", "_A"]), st.text(max_size=12))

WRITE_ROUTES = [r for r in ROUTES if r.method in ("POST", "PUT", "DELETE")]
READ_ROUTES = [r for r in ROUTES if r.method == "GET"]


def fill(path: str, values: list[str]) -> str:
    it = iter(values)
    return re.sub(r"{\w+}", lambda _m: next(it, "x"), path)


@pytest.fixture(scope="module")
def admin_headers(cloud: RunningCloud) -> dict[str, str]:
    return {"X-Auth-Token": cloud.admin_token()}


def _check(r: httpx.Response, what: Any) -> None:
    assert r.status_code < 500, (what, r.text)
    if r.status_code >= 400:
        assert r.json()["errors"][0]["status"] == r.status_code


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(route=st.sampled_from(WRITE_ROUTES), body=bodies, parts=st.lists(segment, max_size=3),
       version=versions)
def test_write_routes_never_500(cloud: RunningCloud, admin_headers: dict[str, str],
                                route: Any, body: Any, parts: list[str],
                                version: str | None) -> None:
    url = cloud.base_url + "/placement" + fill(route.path, parts)
    headers = dict(admin_headers)
    if version:
        headers["OpenStack-API-Version"] = f"placement {version}"
    if isinstance(body, bytes):
        r = httpx.request(route.method, url, content=body,
                          headers={**headers, "Content-Type": "application/json"})
    else:
        r = httpx.request(route.method, url, json=body, headers=headers)
    _check(r, (route.method, url, body))


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(route=st.sampled_from(READ_ROUTES), parts=st.lists(segment, max_size=3),
       query=st.lists(st.tuples(st.sampled_from(QUERY_KEYS), query_values), max_size=4),
       version=versions)
def test_read_routes_never_500(cloud: RunningCloud, admin_headers: dict[str, str], route: Any,
                               parts: list[str], query: list[tuple[str, str]],
                               version: str | None) -> None:
    url = cloud.base_url + "/placement" + fill(route.path, parts)
    headers = dict(admin_headers)
    if version:
        headers["OpenStack-API-Version"] = f"placement {version}"
    r = httpx.get(url, params=query, headers=headers)
    _check(r, (url, query))
