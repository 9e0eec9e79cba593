"""Access rules on application credentials: made with the credential (the real `openstack`
CLI), listed, shown and deleted under /v3/users/{id}/access_rules, and enforced: a token
from such a credential makes only the calls its rules list."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.api.conftest import Cli, unique
from tests.support.server import RunningCloud

RULES = [{"service": "compute", "method": "GET", "path": "/v2.1/servers"},
         {"service": "compute", "method": "GET", "path": "/v2.1/servers/*/ips"}]


def _call(c: RunningCloud, method: str, path: str, token: str, body: Any = None
          ) -> httpx.Response:
    return httpx.request(method, f"{c.base_url}{path}", json=body,
                         headers={"X-Auth-Token": token})


def _create(c: RunningCloud, body: dict[str, Any], who: str = "demo") -> httpx.Response:
    user = c.accounts[who].user_id
    return _call(c, "POST", f"/identity/v3/users/{user}/application_credentials",
                 c.token(who), {"application_credential": body})


def _token(c: RunningCloud, cred: dict[str, Any]) -> str:
    r = httpx.post(f"{c.auth_url}/auth/tokens", json={"auth": {"identity": {
        "methods": ["application_credential"],
        "application_credential": {"id": cred["id"], "secret": cred["secret"]}}}})
    assert r.status_code == 201, r.text
    return r.headers["X-Subject-Token"]


def test_access_rules_limit_the_token(cloud: RunningCloud,
                                      request: pytest.FixtureRequest) -> None:
    demo = cloud.accounts["demo"].user_id
    rules_url = f"/identity/v3/users/{demo}/access_rules"
    if "sqlite" in request.node.name:  # the real CLI once; raw HTTP on PostgreSQL
        out = Cli(cloud).run("application", "credential", "create", "--access-rules",
                             json.dumps(RULES), "-f", "json", unique("ar"),
                             cloud="onestack-demo")
        cred = {k.lower().replace(" ", "_"): v for k, v in json.loads(out.stdout).items()}
    else:
        r = _create(cloud, {"name": unique("ar"), "access_rules": RULES})
        assert r.status_code == 201, r.text
        cred = r.json()["application_credential"]
    assert [{k: v for k, v in a.items() if k != "id"} for a in cred["access_rules"]] == RULES
    ids = [a["id"] for a in cred["access_rules"]]
    # the same rule again is the same stored rule; one named by id is reused
    again = _create(cloud, {"name": unique("ar"), "access_rules": [RULES[0], {"id": ids[1]}]})
    assert again.status_code == 201, again.text
    assert [a["id"] for a in again.json()["application_credential"]["access_rules"]] == ids

    token = _token(cloud, cred)
    assert _call(cloud, "GET", "/compute/v2.1/servers", token).status_code == 200
    for method, path in (("GET", "/compute/v2.1/flavors"), ("POST", "/compute/v2.1/servers"),
                         ("GET", "/image/v2/images"), ("GET", rules_url),
                         ("GET", "/compute/v2.1/servers/detail")):
        refused = _call(cloud, method, path, token)
        assert refused.status_code == 401, (method, path, refused.text)
    # a token it derives keeps the rules
    r = httpx.post(f"{cloud.auth_url}/auth/tokens", json={"auth": {"identity": {
        "methods": ["token"], "token": {"id": token}}}})
    if r.status_code == 201:
        derived = r.headers["X-Subject-Token"]
        assert _call(cloud, "GET", "/compute/v2.1/flavors", derived).status_code == 401

    listed = _call(cloud, "GET", rules_url, cloud.token("demo")).json()["access_rules"]
    assert set(ids) <= {a["id"] for a in listed}
    shown = _call(cloud, "GET", f"{rules_url}/{ids[0]}", cloud.token("demo"))
    assert shown.status_code == 200 and shown.json()["access_rule"]["path"] == "/v2.1/servers"
    # another user (the admin is not demo) sees none of demo's rules in its own list
    admin_user = cloud.accounts["admin"].user_id
    admin_rules = _call(cloud, "GET", f"/identity/v3/users/{admin_user}/access_rules/{ids[0]}",
                        cloud.admin_token())
    assert admin_rules.status_code == 404, admin_rules.text
    # in use: 403; after the credentials go, the rule stays until it is deleted
    assert _call(cloud, "DELETE", f"{rules_url}/{ids[0]}",
                 cloud.token("demo")).status_code == 403
    for c in (cred, again.json()["application_credential"]):
        assert _call(cloud, "DELETE", f"/identity/v3/users/{demo}/application_credentials/"
                     f"{c['id']}", cloud.token("demo")).status_code == 204
    assert _call(cloud, "DELETE", f"{rules_url}/{ids[0]}",
                 cloud.token("demo")).status_code == 204
    assert _call(cloud, "GET", f"{rules_url}/{ids[0]}", cloud.token("demo")).status_code == 404


BAD = [({"service": "compute", "method": "FETCH", "path": "/v2.1/servers"}, "method"),
       ({"service": "compute", "method": "GET", "path": "v2.1/servers"}, "path"),
       ({"service": "compute", "method": "GET", "path": "/x", "colour": "red"}, "colour"),
       ({"method": "GET", "path": "/x"}, "service")]


def test_bad_access_rules(cloud: RunningCloud) -> None:
    names = []
    for rule, field in BAD:
        names.append(unique("bad"))
        r = _create(cloud, {"name": names[-1], "access_rules": [rule]})
        assert r.status_code == 400, r.text
        assert field in r.json()["error"]["message"], (field, r.text)
    missing = _create(cloud, {"name": unique("bad"), "access_rules": [{"id": "nope"}]})
    assert missing.status_code == 404, missing.text
    # nothing half-made
    demo = cloud.accounts["demo"].user_id
    listed = [c["name"] for c in _call(
        cloud, "GET", f"/identity/v3/users/{demo}/application_credentials",
        cloud.token("demo")).json()["application_credentials"]]
    assert not set(names) & set(listed)
