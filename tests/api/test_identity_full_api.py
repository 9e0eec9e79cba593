"""Keystone behaviour tempest's whole API suite checks beyond the guideline (the fixes of
docs/interop.md "Whole tempest API suite"), through raw HTTP with real tokens."""

from __future__ import annotations

import httpx
import openstack

from tests.api.conftest import unique
from tests.support.server import RunningCloud, password_token


def test_admin_password_reset_skips_the_history(cloud: RunningCloud,
                                                admin: openstack.connection.Connection) -> None:
    """Keystone checks the password history on the self-service change only; an admin's
    PATCH may set a recent password again (tempest's
    test_password_history_not_enforced_in_admin_reset)."""
    name = unique("reset")
    user = admin.identity.create_user(name=name, password="first-pw")
    h = {"X-Auth-Token": cloud.admin_token()}
    patch = f"{cloud.auth_url}/users/{user.id}"
    for password in ("second-pw", "second-pw", "first-pw"):
        r = httpx.patch(patch, json={"user": {"password": password}}, headers=h)
        assert r.status_code == 200, r.text
        assert password_token(cloud.auth_url, name, password)
    change = f"{cloud.auth_url}/users/{user.id}/password"
    r = httpx.post(change, json={"user": {"original_password": "first-pw",
                                          "password": "second-pw"}})
    assert r.status_code == 400 and "previous password" in r.json()["error"]["message"]


def test_endpoint_update_with_legacy_region_makes_it(cloud: RunningCloud) -> None:
    """PATCH an endpoint with the legacy ``region`` makes a missing region, as its create
    does (Keystone's _validate_endpoint_region); an unknown ``region_id`` is 404."""
    h = {"X-Auth-Token": cloud.admin_token()}
    url = cloud.auth_url
    svc = httpx.post(f"{url}/services", json={"service": {"type": unique("t")}},
                     headers=h).json()["service"]
    ep = httpx.post(f"{url}/endpoints", json={"endpoint": {
        "service_id": svc["id"], "interface": "public", "url": "http://a.invalid/",
        "region": unique("r1")}}, headers=h).json()["endpoint"]
    region = unique("r2")
    assert httpx.get(f"{url}/regions/{region}", headers=h).status_code == 404
    r = httpx.patch(f"{url}/endpoints/{ep['id']}", json={"endpoint": {"region": region}},
                    headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["endpoint"]["region_id"] == region
    assert httpx.get(f"{url}/regions/{region}", headers=h).status_code == 200
    r = httpx.patch(f"{url}/endpoints/{ep['id']}",
                    json={"endpoint": {"region_id": unique("nowhere")}}, headers=h)
    assert r.status_code == 404 and "region" in r.json()["error"]["message"]
    assert httpx.get(f"{url}/endpoints/{ep['id']}", headers=h).json()["endpoint"][
        "region_id"] == region
    assert httpx.delete(f"{url}/endpoints/{ep['id']}", headers=h).status_code == 204
    assert httpx.delete(f"{url}/services/{svc['id']}", headers=h).status_code == 204


def test_effective_assignments_leave_out_domain_roles(cloud: RunningCloud) -> None:
    """GET /role_assignments?effective lists what a token would carry: a domain-specific
    role only through the global roles it implies (tempest's
    test_assignments_for_domain_roles); the plain list shows the grant itself."""
    url, h = cloud.auth_url, {"X-Auth-Token": cloud.admin_token()}

    def post(path: str, key: str, body: dict[str, str]) -> str:
        r = httpx.post(f"{url}{path}", json={key: body}, headers=h)
        assert r.status_code == 201, r.text
        return str(r.json()[key]["id"])

    dom = post("/domains", "domain", {"name": unique("eff")})
    project = post("/projects", "project", {"name": unique("p"), "domain_id": dom})
    user = post("/users", "user", {"name": unique("u"), "domain_id": dom})
    lonely = post("/roles", "role", {"name": unique("lonely"), "domain_id": dom})
    operator = post("/roles", "role", {"name": unique("op"), "domain_id": dom})
    reader = httpx.get(f"{url}/roles", headers=h,
                       params={"name": "reader"}).json()["roles"][0]["id"]
    assert httpx.put(f"{url}/roles/{operator}/implies/{reader}", headers=h).status_code == 201
    for role in (lonely, operator):
        assert httpx.put(f"{url}/projects/{project}/users/{user}/roles/{role}",
                         headers=h).status_code == 204

    def roles(**extra: str) -> set[str]:
        r = httpx.get(f"{url}/role_assignments", headers=h,
                      params={"scope.project.id": project, "user.id": user, **extra})
        assert r.status_code == 200, r.text
        return {a["role"]["id"] for a in r.json()["role_assignments"]}

    assert roles() == {lonely, operator}
    assert roles(effective="") == {reader}
