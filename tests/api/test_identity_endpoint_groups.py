"""OS-EP-FILTER: a project's catalog limited to its associated endpoints and endpoint
groups, through the real `openstack` CLI and raw HTTP."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tests.api.conftest import Cli, unique
from tests.support.server import RunningCloud

PASSWORD = "Epf-pass-1"


def test_catalog_follows_the_project_associations(cloud: RunningCloud,
                                                  request: pytest.FixtureRequest) -> None:
    url, admin = cloud.auth_url, {"X-Auth-Token": cloud.admin_token()}
    ep = f"{url}/OS-EP-FILTER"

    def ok(method: str, path: str, body: Any = None, status: int = 200) -> Any:
        r = httpx.request(method, path, json=body, headers=admin)
        assert r.status_code == status, r.text
        return r.json() if r.content else None

    project = ok("POST", f"{url}/projects", {"project": {"name": unique("epf")}},
                 201)["project"]["id"]
    user = ok("POST", f"{url}/users", {"user": {"name": unique("epf"), "password": PASSWORD}},
              201)["user"]["id"]
    roles = {r["name"]: r["id"] for r in ok("GET", f"{url}/roles")["roles"]}
    ok("PUT", f"{url}/projects/{project}/users/{user}/roles/{roles['member']}", status=204)

    def catalog() -> dict[str, set[str]]:
        r = httpx.post(f"{url}/auth/tokens", json={"auth": {"identity": {
            "methods": ["password"], "password": {"user": {"id": user, "password": PASSWORD}}},
            "scope": {"project": {"id": project}}}})
        assert r.status_code == 201, r.text
        return {s["type"]: {e["interface"] for e in s["endpoints"]}
                for s in r.json()["token"]["catalog"]}

    everything = catalog()
    assert {"identity", "compute", "volumev3"} <= set(everything)
    endpoints = ok("GET", f"{url}/endpoints")["endpoints"]
    services = {s["id"]: s["type"] for s in ok("GET", f"{url}/services")["services"]}
    identity_public = next(e["id"] for e in endpoints if services[e["service_id"]] ==
                           "identity" and e["interface"] == "public")
    compute = next(k for k, v in services.items() if v == "compute")
    if "postgresql" in request.node.name:
        ok("PUT", f"{ep}/projects/{project}/endpoints/{identity_public}", status=204)
    else:
        added = Cli(cloud).run("endpoint", "add", "project", identity_public, project)
        assert added.returncode == 0
    assert catalog() == {"identity": {"public"}}
    # an endpoint group: compute's public endpoints
    spec = {"endpoint_group": {"name": unique("grp"), "filters": {
        "service_id": compute, "interface": "public"}}}
    group = ok("POST", f"{ep}/endpoint_groups", spec, 201)["endpoint_group"]
    assert group["filters"] == spec["endpoint_group"]["filters"]
    assert group["links"]["self"].endswith(f"/OS-EP-FILTER/endpoint_groups/{group['id']}")
    one = f"{ep}/endpoint_groups/{group['id']}"
    ok("PUT", f"{one}/projects/{project}", status=204)
    assert catalog() == {"identity": {"public"}, "compute": {"public"}}
    assert [e["interface"] for e in ok("GET", f"{one}/endpoints")["endpoints"]] == ["public"]
    assert [p["id"] for p in ok("GET", f"{one}/projects")["projects"]] == [project]
    assert ok("GET", f"{one}/projects/{project}")["project_endpoint_group"][
        "endpoint_group_id"] == group["id"]
    assert [g["id"] for g in ok("GET", f"{ep}/projects/{project}/endpoint_groups")[
        "endpoint_groups"]] == [group["id"]]
    assert len(ok("GET", f"{ep}/projects/{project}/endpoints")["endpoints"]) == 2
    assert [p["id"] for p in ok("GET", f"{ep}/endpoints/{identity_public}/projects")[
        "projects"]] == [project]
    got = ok("PATCH", one, {"endpoint_group": {"description": "compute only"}})
    assert got["endpoint_group"]["description"] == "compute only"
    # errors: the field named, 404s, admins only
    r = httpx.post(f"{ep}/endpoint_groups", headers=admin, json={"endpoint_group": {
        "name": "x", "filters": {"url": "http://x"}}})
    assert r.status_code == 400 and "filters" in r.json()["error"]["message"], r.text
    r = httpx.post(f"{ep}/endpoint_groups", headers=admin, json={"endpoint_group": {
        "name": "x"}})
    assert r.status_code == 400 and "filters" in r.json()["error"]["message"], r.text
    assert httpx.get(f"{ep}/endpoint_groups/nope", headers=admin).status_code == 404
    assert httpx.put(f"{one}/projects/nope", headers=admin).status_code == 404
    demo = {"X-Auth-Token": cloud.token("demo")}
    r = httpx.post(f"{ep}/endpoint_groups", headers=demo, json=spec)
    assert r.status_code == 403, r.text
    assert httpx.delete(f"{one}/projects/{project}", headers=demo).status_code == 403
    # dissociated: the whole catalog again
    ok("DELETE", f"{one}/projects/{project}", status=204)
    ok("DELETE", f"{ep}/projects/{project}/endpoints/{identity_public}", status=204)
    assert httpx.get(f"{ep}/projects/{project}/endpoints/{identity_public}",
                     headers=admin).status_code == 404
    assert catalog() == everything
    ok("DELETE", one, status=204)
    assert json.dumps(ok("GET", f"{ep}/endpoint_groups")).count(group["id"]) == 0
