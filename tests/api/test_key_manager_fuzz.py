"""Hypothesis-generated requests against every key manager route (secrets, their payloads,
metadata and consumers, containers, orders, ACLs, quotas, secret stores): never a 5xx,
always Barbican's fault body (code, title, description) on a 4xx."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onestack.api.key_manager.routes import ROUTES
from tests.support.server import RunningCloud

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(-2**40, 2**40),
                         st.floats(allow_nan=False, allow_infinity=False),
                         st.text(max_size=40),
                         st.sampled_from(["aGVsbG8=", "base64", "text/plain",
                                          "application/octet-stream", "aes", "rsa", "cbc",
                                          "symmetric", "opaque", "passphrase", "private",
                                          "certificate", "generic", "key", "read",
                                          "2000-01-01T00:00:00", "2999-01-01T00:00:00Z"]))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)),
    max_leaves=12)
KEYS = ["name", "payload", "payload_content_type", "payload_content_encoding", "algorithm",
        "bit_length", "mode", "secret_type", "expiration", "secret_refs", "secret_ref", "type",
        "meta", "read", "users", "project-access", "service", "resource_type", "resource_id",
        "URL", "project_quotas", "secrets", "orders", "containers", "consumers", "cas",
        "metadata", "key", "value", "request_type", "subject_dn"]
keyed = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=6)
nested = st.dictionaries(st.sampled_from(["read", "meta", "project_quotas", "metadata"]),
                         st.one_of(keyed, json_values), min_size=1, max_size=2)
bodies = st.one_of(json_values, keyed, nested, st.binary(max_size=64))
segment = st.one_of(st.sampled_from(["x", "0", "%00", "..", "a" * 300, "default",
                                     "global-default", "payload",
                                     "00000000-0000-0000-0000-000000000000"]),
                    st.text(alphabet="abcdef0123456789-_", min_size=1, max_size=40))
CONTENT_TYPES = ["application/json", "text/plain", "application/octet-stream", "x/y", ""]
ACCEPTS = [None, "application/json", "text/plain", "application/octet-stream", "*/*", "x/y"]
QUERY_KEYS = ["name", "alg", "mode", "bits", "secret_type", "limit", "offset", "created",
              "updated", "expiration", "sort", "acl_only", "meta", "type", "service",
              "resource_type", "resource_id", "foo"]

WRITE_ROUTES = [r for r in ROUTES if r.method in ("POST", "PUT", "PATCH", "DELETE")]
READ_ROUTES = [r for r in ROUTES if r.method == "GET"]


def fill(path: str, values: list[str]) -> str:
    it = iter(values)
    return re.sub(r"{\w+}", lambda _m: next(it, "x"), path)


@pytest.fixture(scope="module")
def tokens(cloud: RunningCloud) -> dict[str, str]:
    return {"admin": cloud.admin_token(), "demo": cloud.token("demo")}


def project_of(cloud: RunningCloud, token: str) -> str:
    r = httpx.get(f"{cloud.auth_url}/auth/tokens",
                  headers={"X-Auth-Token": token, "X-Subject-Token": token})
    return str(r.json()["token"]["project"]["id"])


@pytest.fixture(scope="module")
def real_ids(cloud: RunningCloud, tokens: dict[str, str]) -> dict[str, str]:
    """A secret, a container and an order of the demo project, for the fuzzed requests
    to reach the handlers past their lookups."""
    base, headers = cloud.base_url + "/key-manager/v1", {"X-Auth-Token": tokens["demo"]}
    secret = httpx.post(f"{base}/secrets", headers=headers, json={
        "name": "fuzz", "payload": "c2VjcmV0", "payload_content_type": "application/octet-stream",
        "payload_content_encoding": "base64"})
    assert secret.status_code == 201, secret.text
    secret_ref = secret.json()["secret_ref"]
    container = httpx.post(f"{base}/containers", headers=headers, json={
        "type": "generic", "name": "fuzz",
        "secret_refs": [{"name": "one", "secret_ref": secret_ref}]})
    assert container.status_code == 201, container.text
    order = httpx.post(f"{base}/orders", headers=headers, json={
        "type": "key", "meta": {"algorithm": "aes", "bit_length": 256, "mode": "cbc",
                                "payload_content_type": "application/octet-stream"}})
    assert order.status_code == 202, order.text
    return {"secret_id": secret_ref.rsplit("/", 1)[1],
            "container_id": container.json()["container_ref"].rsplit("/", 1)[1],
            "order_id": order.json()["order_ref"].rsplit("/", 1)[1],
            "project_id": project_of(cloud, tokens["demo"])}


def url_of(cloud: RunningCloud, route: Any, parts: list[str], ids: dict[str, str] | None
           ) -> str:
    path = route.path
    for name, value in (ids or {}).items():
        path = path.replace("{" + name + "}", value)
    return cloud.base_url + "/key-manager" + fill(path, parts)


def _check(r: httpx.Response, what: Any) -> None:
    assert r.status_code < 500, (what, r.status_code, r.text)
    if r.status_code >= 400 and r.status_code != 405:
        body = r.json()
        assert body["code"] == r.status_code and body["title"], (what, body)


@settings(max_examples=50, deadline=None, suppress_health_check=list(HealthCheck))
@given(route=st.sampled_from(WRITE_ROUTES), body=bodies, parts=st.lists(segment, max_size=3),
       who=st.sampled_from(["admin", "demo", None]), real=st.booleans(),
       content_type=st.sampled_from(CONTENT_TYPES))
def test_write_routes_never_500(cloud: RunningCloud, tokens: dict[str, str],
                                real_ids: dict[str, str], route: Any, body: Any,
                                parts: list[str], who: str | None, real: bool,
                                content_type: str) -> None:
    if route.method == "DELETE" and route.path.count("/") <= 3:
        real = False  # keep the shared secret, container and order
    url = url_of(cloud, route, parts, real_ids if real else None)
    headers = {"Content-Type": content_type} if content_type else {}
    if who:
        headers["X-Auth-Token"] = tokens[who]
    content = body if isinstance(body, bytes) else httpx.Request("POST", url, json=body).content
    r = httpx.request(route.method, url, content=content, headers=headers)
    _check(r, (route.method, url, body, content_type))


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
@given(route=st.sampled_from(READ_ROUTES), parts=st.lists(segment, max_size=3),
       query=st.dictionaries(st.sampled_from(QUERY_KEYS), st.text(max_size=12), max_size=4),
       who=st.sampled_from(["admin", "demo"]), real=st.booleans(),
       accept=st.sampled_from(ACCEPTS))
def test_read_routes_never_500(cloud: RunningCloud, tokens: dict[str, str],
                               real_ids: dict[str, str], route: Any, parts: list[str],
                               query: dict[str, str], who: str, real: bool,
                               accept: str | None) -> None:
    url = url_of(cloud, route, parts, real_ids if real else None)
    headers = {"X-Auth-Token": tokens[who]}
    if accept:
        headers["Accept"] = accept
    r = httpx.get(url, params=query, headers=headers)
    _check(r, (url, query, accept))
