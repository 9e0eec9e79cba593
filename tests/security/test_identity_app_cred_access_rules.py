"""Application-credential access rules fail closed: a token from a credential with rules
makes only the listed calls, on every service (Swift's optional-token routes included, where
it counts as no token at all), and tokens it derives keep the limit."""

from __future__ import annotations

import httpx

from tests.api.conftest import cloud, pg_server, unique  # noqa: F401  (the API suite's clouds)
from tests.support.server import RunningCloud

RULES = [{"service": "compute", "method": "GET", "path": "/v2.1/servers"}]


def _create(c: RunningCloud, name: str, **extra: object) -> httpx.Response:
    demo = c.accounts["demo"]
    return httpx.post(f"{c.auth_url}/users/{demo.user_id}/application_credentials",
                      json={"application_credential": {"name": name, **extra}},
                      headers={"X-Auth-Token": c.token("demo")})


def _auth(c: RunningCloud, cred_id: str, secret: str) -> httpx.Response:
    return httpx.post(f"{c.auth_url}/auth/tokens", json={"auth": {"identity": {
        "methods": ["application_credential"],
        "application_credential": {"id": cred_id, "secret": secret}}}})


def test_access_rules_fail_closed(cloud: RunningCloud) -> None:  # noqa: F811
    r = _create(cloud, unique("restricted"), access_rules=RULES)
    assert r.status_code == 201, r.text
    cred = r.json()["application_credential"]
    issued = _auth(cloud, cred["id"], cred["secret"])
    assert issued.status_code == 201, issued.text
    token = issued.headers["X-Subject-Token"]
    project = cloud.accounts["demo"].project_id
    h = {"X-Auth-Token": token}
    base = cloud.base_url
    assert httpx.get(f"{base}/compute/v2.1/servers", headers=h).status_code == 200
    # not listed: refused, with the token's roles never consulted
    assert httpx.get(f"{base}/compute/v2.1/servers/detail", headers=h).status_code == 401
    assert httpx.delete(f"{base}/compute/v2.1/servers", headers=h).status_code in (401, 405)
    # Swift treats the token as absent: the account is not the caller's
    swift = httpx.get(f"{base}/object-storage/v1/AUTH_{project}", headers=h)
    assert swift.status_code in (401, 403), swift.text
    # it cannot mint itself an unrestricted credential or a password-free way out
    demo = cloud.accounts["demo"].user_id
    more = httpx.post(f"{cloud.auth_url}/users/{demo}/application_credentials", headers=h,
                      json={"application_credential": {"name": unique("x")}})
    assert more.status_code == 401, more.text
    # a rescoped token keeps the rules
    derived = httpx.post(f"{cloud.auth_url}/auth/tokens", json={"auth": {"identity": {
        "methods": ["token"], "token": {"id": token}}}})
    if derived.status_code == 201:
        d = {"X-Auth-Token": derived.headers["X-Subject-Token"]}
        assert httpx.get(f"{base}/compute/v2.1/flavors", headers=d).status_code == 401
