"""Application-credential access rules are not enforced by this cloud, so asking for them is
refused (400) instead of handing out a credential with its roles' full power; a credential
that holds rules from an older release cannot authenticate."""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from onestack.core.identity.credentials import NO_ACCESS_RULES
from onestack.db.models import ApplicationCredential
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


def test_access_rules_are_refused(cloud: RunningCloud) -> None:  # noqa: F811
    name = unique("restricted")
    r = _create(cloud, name, access_rules=RULES)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == {"code": 400, "title": "Bad Request",
                                 "message": NO_ACCESS_RULES}
    demo = cloud.accounts["demo"]
    listed = httpx.get(f"{cloud.auth_url}/users/{demo.user_id}/application_credentials",
                       headers={"X-Auth-Token": cloud.token("demo")}).json()
    assert name not in [a["name"] for a in listed["application_credentials"]]


def test_stored_access_rules_fail_closed(cloud: RunningCloud) -> None:  # noqa: F811
    r = _create(cloud, unique("legacy"), access_rules=[])
    assert r.status_code == 201, r.text
    cred = r.json()["application_credential"]
    assert cred["access_rules"] == []
    assert _auth(cloud, cred["id"], cred["secret"]).status_code == 201
    # as an older release stored it: rules kept, never enforced
    engine = sa.create_engine(cloud.settings.database_url)
    with engine.begin() as conn:
        conn.execute(sa.update(ApplicationCredential).where(
            ApplicationCredential.id == cred["id"]).values(access_rules=RULES))
    engine.dispose()
    r = _auth(cloud, cred["id"], cred["secret"])
    assert r.status_code == 401, r.text
    assert "has access rules" in r.json()["error"]["message"]
