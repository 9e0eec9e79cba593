"""Unified limits (registered limits, project limits, the flat model) through the real
`openstack` CLI and raw HTTP with real tokens."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.api.conftest import Cli, unique
from tests.support.server import RunningCloud


def _service(cloud: RunningCloud, admin: dict[str, str], kind: str) -> str:
    services = httpx.get(f"{cloud.auth_url}/services", headers=admin,
                         params={"type": kind}).json()["services"]
    return str(services[0]["id"])


def test_limits_crud_scoping_and_errors(cloud: RunningCloud) -> None:
    url, admin = cloud.auth_url, {"X-Auth-Token": cloud.admin_token()}
    demo = {"X-Auth-Token": cloud.token("demo")}
    compute = _service(cloud, admin, "compute")
    name = unique("cores")
    r = httpx.post(f"{url}/registered_limits", headers=admin, json={"registered_limits": [
        {"service_id": compute, "resource_name": name, "default_limit": 10,
         "description": "vCPUs"}]})
    assert r.status_code == 201, r.text
    reg = r.json()["registered_limits"][0]
    assert reg["region_id"] is None and reg["default_limit"] == 10
    assert reg["links"]["self"].endswith(f"/v3/registered_limits/{reg['id']}")
    again = httpx.post(f"{url}/registered_limits", headers=admin, json={"registered_limits": [
        {"service_id": compute, "resource_name": name, "default_limit": 1}]})
    assert again.status_code == 409, again.text
    # everyone reads the defaults; only the admin writes
    got = httpx.get(f"{url}/registered_limits", headers=demo, params={"resource_name": name})
    assert [x["id"] for x in got.json()["registered_limits"]] == [reg["id"]]
    r = httpx.patch(f"{url}/registered_limits/{reg['id']}", headers=demo,
                    json={"registered_limit": {"default_limit": 99}})
    assert r.status_code == 403, r.text
    demo_project = cloud.accounts["demo"].project_id
    admin_project = cloud.accounts["admin"].project_id
    r = httpx.post(f"{url}/limits", headers=admin, json={"limits": [
        {"service_id": compute, "project_id": demo_project, "resource_name": name,
         "resource_limit": 20},
        {"service_id": compute, "project_id": admin_project, "resource_name": name,
         "resource_limit": 30}]})
    assert r.status_code == 201, r.text
    mine, theirs = r.json()["limits"]
    assert mine["project_id"] == demo_project and mine["domain_id"] is None
    # a project sees its own limits only
    seen = httpx.get(f"{url}/limits", headers=demo, params={"resource_name": name})
    assert [x["id"] for x in seen.json()["limits"]] == [mine["id"]]
    assert httpx.get(f"{url}/limits/{mine['id']}", headers=demo).status_code == 200
    assert httpx.get(f"{url}/limits/{theirs['id']}", headers=demo).status_code == 403
    assert httpx.patch(f"{url}/limits/{mine['id']}", headers=demo,
                       json={"limit": {"resource_limit": 99}}).status_code == 403
    r = httpx.patch(f"{url}/limits/{mine['id']}", headers=admin,
                    json={"limit": {"resource_limit": 25}})
    assert r.status_code == 200 and r.json()["limit"]["resource_limit"] == 25
    # a registered limit in use keeps its identity and stays
    r = httpx.delete(f"{url}/registered_limits/{reg['id']}", headers=admin)
    assert r.status_code == 403, r.text
    r = httpx.patch(f"{url}/registered_limits/{reg['id']}", headers=admin,
                    json={"registered_limit": {"resource_name": unique("x")}})
    assert r.status_code == 403, r.text
    model = httpx.get(f"{url}/limits/model", headers=demo).json()["model"]
    assert model["name"] == "flat"
    # bad input: 400 naming the field; no limit without a registered limit (403)
    for body, word in (
            ({"limits": [{"service_id": compute, "project_id": demo_project,
                          "resource_name": name, "resource_limit": "lots"}]}, "resource_limit"),
            ({"limits": [{"service_id": compute, "resource_name": name,
                          "resource_limit": 1}]}, "project_id"),
            ({"limits": [{"service_id": compute, "project_id": "nope",
                          "resource_name": name, "resource_limit": 1}]}, "project_id"),
            ({"limits": []}, "limits")):
        r = httpx.post(f"{url}/limits", headers=admin, json=body)
        assert r.status_code == 400 and word in r.json()["error"]["message"], r.text
    r = httpx.post(f"{url}/registered_limits", headers=admin, json={"registered_limits": [
        {"service_id": "nope", "resource_name": "x", "default_limit": 1}]})
    assert r.status_code == 400 and "service_id" in r.text, r.text
    r = httpx.post(f"{url}/limits", headers=admin, json={"limits": [
        {"service_id": compute, "project_id": demo_project, "resource_name": unique("u"),
         "resource_limit": 1}]})
    assert r.status_code == 403, r.text
    for lid in (mine["id"], theirs["id"]):
        assert httpx.delete(f"{url}/limits/{lid}", headers=admin).status_code == 204
    assert httpx.delete(f"{url}/registered_limits/{reg['id']}",
                        headers=admin).status_code == 204


def test_cli_limits(cloud: RunningCloud, request: pytest.FixtureRequest) -> None:
    """`openstack registered limit create` and `openstack limit create` (SQLite: the
    HTTP test above runs on both backends)."""
    if "postgresql" in request.node.name:
        pytest.skip("the CLI path is the same on PostgreSQL; the HTTP test covers it there")
    cli = Cli(cloud)
    name = unique("ram")
    made = cli.run("registered", "limit", "create", "--service", "compute",
                   "--default-limit", "64", name, "-f", "json")
    reg = json.loads(made.stdout)
    assert reg["default_limit"] == 64 and reg["resource_name"] == name
    made = cli.run("limit", "create", "--project", "demo", "--service", "compute",
                   "--resource-limit", "128", name, "-f", "json")
    limit = json.loads(made.stdout)
    assert limit["resource_limit"] == 128
    assert limit["project_id"] == cloud.accounts["demo"].project_id
    url, admin = cloud.auth_url, {"X-Auth-Token": cloud.admin_token()}
    assert httpx.delete(f"{url}/limits/{limit['id']}", headers=admin).status_code == 204
    assert httpx.delete(f"{url}/registered_limits/{reg['id']}",
                        headers=admin).status_code == 204
