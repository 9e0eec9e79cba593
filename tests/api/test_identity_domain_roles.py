"""Domain-specific roles as Keystone has them: granted only within their domain, never in a
token themselves, only through the global roles they imply."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.conftest import unique
from tests.support.server import RunningCloud

PASSWORD = "Domain-role-1"


def test_domain_role_counts_through_what_it_implies(cloud: RunningCloud) -> None:
    url, admin = cloud.auth_url, {"X-Auth-Token": cloud.admin_token()}

    def post(path: str, key: str, body: dict[str, Any]) -> str:
        r = httpx.post(f"{url}{path}", json={key: body}, headers=admin)
        assert r.status_code == 201, r.text
        return str(r.json()[key]["id"])

    dom = post("/domains", "domain", {"name": unique("droles")})
    other = post("/domains", "domain", {"name": unique("droles-b")})
    project = post("/projects", "project", {"name": unique("p"), "domain_id": dom})
    foreign = post("/projects", "project", {"name": unique("p"), "domain_id": other})
    user = post("/users", "user", {"name": unique("u"), "password": PASSWORD,
                                   "domain_id": dom})
    operator = post("/roles", "role", {"name": unique("operator"), "domain_id": dom})
    lonely = post("/roles", "role", {"name": unique("lonely"), "domain_id": dom})
    reader = httpx.get(f"{url}/roles", headers=admin,
                       params={"name": "reader"}).json()["roles"][0]["id"]
    assert httpx.put(f"{url}/roles/{operator}/implies/{reader}",
                     headers=admin).status_code == 201
    # a global role cannot imply a domain role
    assert httpx.put(f"{url}/roles/{reader}/implies/{lonely}",
                     headers=admin).status_code == 403

    def grant(target: str, role: str) -> int:
        return httpx.put(f"{url}/{target}/users/{user}/roles/{role}",
                         headers=admin).status_code

    assert grant(f"projects/{foreign}", operator) == 403
    assert grant(f"domains/{other}", operator) == 403
    assert grant(f"projects/{project}", lonely) == 204

    def token() -> httpx.Response:
        return httpx.post(f"{url}/auth/tokens", json={"auth": {"identity": {
            "methods": ["password"], "password": {"user": {"id": user, "password": PASSWORD}}},
            "scope": {"project": {"id": project}}}})

    # a domain role that implies nothing gives no access
    assert token().status_code == 401
    assert grant(f"projects/{project}", operator) == 204
    r = token()
    assert r.status_code == 201, r.text
    assert [x["id"] for x in r.json()["token"]["roles"]] == [reader]
