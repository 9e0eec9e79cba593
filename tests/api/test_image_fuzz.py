"""Hypothesis-generated requests against every image route: never a 5xx."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onestack.api.image.routes import ROUTES
from tests.support.server import RunningCloud

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40),
                         st.floats(allow_nan=False, allow_infinity=False),
                         st.text(max_size=40))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12)
KEYS = ["name", "id", "visibility", "protected", "os_hidden", "disk_format",
        "container_format", "min_disk", "min_ram", "tags", "owner", "status", "size",
        "kernel_id", "member", "method", "stores", "all_stores", "op", "path", "value",
        "os_glance_x", "locations", "extra"]
keyed = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=5)
patch_ops = st.lists(st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "replace", "remove", "test", "x"]),
     "path": st.sampled_from(["/name", "/tags", "/foo", "/status", "/visibility", "/min_ram",
                              "/locations/0", "/", "name", "/os_glance_a", "/protected"])},
    optional={"value": json_values}), max_size=4)
bodies = st.one_of(json_values, keyed, patch_ops, st.binary(max_size=64))
segment = st.one_of(st.sampled_from(["x", "0", "%00", "..", "a" * 300,
                                     "00000000-0000-0000-0000-000000000000"]),
                    st.text(alphabet="abcdef0123456789-_", min_size=1, max_size=40))
CONTENT_TYPES = ["application/json", "application/openstack-images-v2.1-json-patch",
                 "application/openstack-images-v2.0-json-patch", "application/octet-stream",
                 "text/plain"]
QUERY_KEYS = ["name", "status", "visibility", "owner", "tag", "member_status", "disk_format",
              "container_format", "size_min", "size_max", "protected", "os_hidden",
              "created_at", "updated_at", "sort", "sort_key", "sort_dir", "limit", "marker",
              "id", "foo"]

WRITE_ROUTES = [r for r in ROUTES if r.method in ("POST", "PATCH", "PUT", "DELETE")]
READ_ROUTES = [r for r in ROUTES if r.method == "GET"]


def fill(path: str, values: list[str]) -> str:
    it = iter(values)
    return re.sub(r"{\w+}", lambda _m: next(it, "x"), path)


@pytest.fixture(scope="module")
def tokens(cloud: RunningCloud) -> dict[str, str]:
    return {"admin": cloud.admin_token(), "demo": cloud.token("demo")}


@pytest.fixture(scope="module")
def image_id(cloud: RunningCloud, tokens: dict[str, str]) -> str:
    r = httpx.post(f"{cloud.base_url}/image/v2/images", json={"name": "fuzz"},
                   headers={"X-Auth-Token": tokens["admin"]})
    return str(r.json()["id"])


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(route=st.sampled_from(WRITE_ROUTES), body=bodies, parts=st.lists(segment, max_size=3),
       who=st.sampled_from(["admin", "demo", None]), ctype=st.sampled_from(CONTENT_TYPES),
       real=st.booleans())
def test_write_routes_never_500(cloud: RunningCloud, tokens: dict[str, str], image_id: str,
                                route: Any, body: Any, parts: list[str], who: str | None,
                                ctype: str, real: bool) -> None:
    if real and "{image_id}" in route.path:
        parts = [image_id, *parts]
    url = cloud.base_url + "/image" + fill(route.path, parts)
    headers = {"Content-Type": ctype}
    if who:
        headers["X-Auth-Token"] = tokens[who]
    content = body if isinstance(body, bytes) else httpx.Request(
        "POST", url, json=body).content
    if route.method == "DELETE" and real and route.path.endswith("{image_id}"):
        return  # keep the shared image alive
    r = httpx.request(route.method, url, content=content, headers=headers)
    assert r.status_code < 500, (route.method, url, body, r.text)
    if r.status_code >= 400:
        assert r.json()["code"] == r.status_code


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(route=st.sampled_from(READ_ROUTES), parts=st.lists(segment, max_size=3),
       query=st.dictionaries(st.sampled_from(QUERY_KEYS), st.text(max_size=12), max_size=4),
       who=st.sampled_from(["admin", "demo"]), range_header=st.one_of(
           st.none(), st.text(alphabet="bytes=-,0123456789 x", max_size=12),
           st.sampled_from(["bytes=0-1", "bytes=-5",
                                                             "bytes=9-2"])))
def test_read_routes_never_500(cloud: RunningCloud, tokens: dict[str, str], image_id: str,
                               route: Any, parts: list[str], query: dict[str, str],
                               who: str, range_header: str | None) -> None:
    url = cloud.base_url + "/image" + fill(route.path, [image_id, *parts])
    headers = {"X-Auth-Token": tokens[who]}
    if range_header and range_header.strip() == range_header:  # httpx refuses padded values
        headers["Range"] = range_header
    r = httpx.get(url, params=query, headers=headers)
    assert r.status_code < 500, (url, query, r.text)
