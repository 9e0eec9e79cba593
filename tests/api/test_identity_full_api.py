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
