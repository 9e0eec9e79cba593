"""Hypothesis-generated requests against access rules, domain configuration, policy blobs,
is_domain projects and OAuth1 consumers: never a 5xx, always Keystone's error body (25
examples per backend in CI; 40 per backend ran clean)."""

from __future__ import annotations

import re
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from onestack.api.identity.routes import ROUTES
from tests.api.test_identity_fuzz_beyond import _token, json_values, segment
from tests.support.server import RunningCloud

# (project routes: only the create, where is_domain is new; a fuzzed PATCH of the project
# "default" would disable the default domain under the rest of the session)
NEW = [r for r in ROUTES if r.path.startswith((
    "/v3/policies", "/v3/OS-OAUTH1", "/v3/domains/config", "/v3/domains/{domain_id}/config",
    "/v3/users/{user_id}/access_rules", "/v3/users/{user_id}/application_credentials"))
    or (r.path == "/v3/projects" and r.method == "POST")]
KEYS = ["access_rules", "name", "type", "blob", "description", "secret", "is_domain",
        "domain_id", "parent_id", "identity", "ldap", "driver", "url", "password",
        "service", "method", "path", "id", "enabled"]
keyed = st.dictionaries(st.sampled_from(KEYS), json_values, max_size=5)
rules = st.lists(st.dictionaries(st.sampled_from(["service", "method", "path", "id"]),
                                 st.one_of(st.sampled_from(["GET", "compute", "/v2.1/*",
                                                            "/**", "x"]), json_values),
                                 max_size=4), max_size=3)
WRAPPERS = ["policy", "consumer", "config", "project", "application_credential"]
bodies = st.one_of(
    json_values, st.builds(lambda k, v: {k: v}, st.sampled_from(WRAPPERS), keyed),
    st.builds(lambda n, r: {"application_credential": {"name": n, "access_rules": r}},
              st.text(min_size=1, max_size=10), rules),
    st.builds(lambda g, v: {"config": {g: v}}, st.sampled_from(["identity", "ldap", "x"]),
              keyed),
    st.binary(max_size=32))


def _fill(path: str, values: list[str], cloud: RunningCloud) -> str:
    it = iter(values)

    def one(m: re.Match[str]) -> str:
        if m.group(0) == "{user_id}":
            return cloud.accounts["demo"].user_id
        return next(it, "default" if m.group(0) == "{domain_id}" else "x")
    return re.sub(r"{\w+}", one, path)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(route=st.sampled_from(NEW), body=bodies, parts=st.lists(segment, max_size=3),
       as_admin=st.booleans())
def test_admin_extras_never_500(cloud: RunningCloud, route: Any, body: Any,
                                parts: list[str], as_admin: bool) -> None:
    url = cloud.base_url + "/identity" + _fill(route.path, parts, cloud)
    headers = {"X-Auth-Token": _token(cloud, "admin" if as_admin else "demo")}
    if route.method in ("GET", "DELETE"):
        r = httpx.request(route.method, url, headers=headers)
    elif isinstance(body, bytes):
        r = httpx.request(route.method, url, content=body,
                          headers={**headers, "Content-Type": "application/json"})
    else:
        r = httpx.request(route.method, url, json=body, headers=headers)
    assert r.status_code < 500, (route.method, url, body, r.text)
    if r.status_code >= 400:
        assert r.json()["error"]["code"] == r.status_code
