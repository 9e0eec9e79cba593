"""Keystone's deprecated policy blob store (/v3/policies) and OAuth1 consumers, admin only,
through the real `openstack` CLI and raw HTTP, and projects acting as domains
(is_domain=true) through openstacksdk."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import openstack.connection
import pytest

from tests.api.conftest import Cli, unique
from tests.support.server import RunningCloud


def test_policy_blobs(cloud: RunningCloud, request: pytest.FixtureRequest,
                      tmp_path: Path) -> None:
    url = f"{cloud.auth_url}/policies"
    admin = {"X-Auth-Token": cloud.admin_token()}
    kind = unique("application/x-test")
    if "sqlite" in request.node.name:  # the real CLI once
        blob = tmp_path / "policy.json"
        blob.write_text('{"rule": "role:admin"}')
        made = json.loads(Cli(cloud).run("policy", "create", "--type", kind, str(blob),
                                         "-f", "json").stdout)
        pid = made["id"]
        assert made["type"] == kind
    else:
        r = httpx.post(url, json={"policy": {"type": kind, "blob": '{"rule": "role:admin"}',
                                             "colour": "red"}}, headers=admin)
        assert r.status_code == 201, r.text
        assert r.json()["policy"]["colour"] == "red"
        pid = r.json()["policy"]["id"]
    got = httpx.get(f"{url}/{pid}", headers=admin).json()["policy"]
    assert got["blob"] == '{"rule": "role:admin"}' and got["type"] == kind
    assert [p["id"] for p in httpx.get(url, params={"type": kind}, headers=admin
                                       ).json()["policies"]] == [pid]
    r = httpx.patch(f"{url}/{pid}", json={"policy": {"type": kind + "2"}}, headers=admin)
    assert r.status_code == 200 and r.json()["policy"]["type"] == kind + "2", r.text
    # bad input names the field; nothing half-made
    for body, field in (({"policy": {"type": kind}}, "blob"),
                        ({"policy": {"blob": "x", "type": 7}}, "type")):
        r = httpx.post(url, json=body, headers=admin)
        assert r.status_code == 400 and field in r.json()["error"]["message"], r.text
    # members neither read nor write the store
    demo = {"X-Auth-Token": cloud.token("demo")}
    assert httpx.get(url, headers=demo).status_code == 403
    assert httpx.get(f"{url}/{pid}", headers=demo).status_code == 403
    assert httpx.post(url, json={"policy": {"type": "t", "blob": "b"}},
                      headers=demo).status_code == 403
    assert httpx.delete(f"{url}/{pid}", headers=demo).status_code == 403
    assert httpx.delete(f"{url}/{pid}", headers=admin).status_code == 204
    assert httpx.get(f"{url}/{pid}", headers=admin).status_code == 404


def test_project_acting_as_domain(admin: openstack.connection.Connection,
                                  cloud: RunningCloud) -> None:
    name = unique("isdom")
    proj = admin.identity.create_project(name=name, is_domain=True, description="d")
    assert proj.is_domain is True and proj.domain_id is None and proj.parent_id is None
    # the same entity in both APIs
    assert proj.id in [p.id for p in admin.identity.projects(is_domain=True)]
    assert proj.id not in [p.id for p in admin.identity.projects()]
    dom = admin.identity.get_domain(proj.id)
    assert dom.name == name and dom.description == "d"
    assert admin.identity.get_project(proj.id).is_domain is True
    # a project inside it
    inner = admin.identity.create_project(name=unique("in"), domain_id=proj.id)
    assert inner.domain_id == proj.id
    admin.identity.delete_project(inner)
    # bad input: a domain project under a parent
    r = httpx.post(f"{cloud.auth_url}/projects", headers={"X-Auth-Token": cloud.admin_token()},
                   json={"project": {"name": unique("x"), "is_domain": True,
                                     "parent_id": proj.id}})
    assert r.status_code == 400 and "parent_id" in r.json()["error"]["message"], r.text
    # a member cannot make one
    r = httpx.post(f"{cloud.auth_url}/projects", headers={"X-Auth-Token": cloud.token("demo")},
                   json={"project": {"name": unique("x"), "is_domain": True}})
    assert r.status_code == 403, r.text
    # disabled, then deleted as a project: the domain goes
    admin.identity.update_project(proj.id, enabled=False)
    assert admin.identity.get_domain(proj.id).is_enabled is False
    admin.identity.delete_project(proj.id)
    assert admin.identity.find_domain(proj.id) is None


def test_oauth1_consumers(cloud: RunningCloud) -> None:
    url = f"{cloud.auth_url}/OS-OAUTH1/consumers"
    admin = {"X-Auth-Token": cloud.admin_token()}
    # raw HTTP: the CLI's consumer commands need oauthlib, which this venv lacks
    r = httpx.post(url, json={"consumer": {"description": "app one"}}, headers=admin)
    assert r.status_code == 201, r.text
    made = r.json()["consumer"]
    cid = made["id"]
    assert made["secret"] and made["description"] == "app one"
    got = httpx.get(f"{url}/{cid}", headers=admin).json()["consumer"]
    assert "secret" not in got and got["links"]["self"].endswith(f"/OS-OAUTH1/consumers/{cid}")
    assert cid in [c["id"] for c in httpx.get(url, headers=admin).json()["consumers"]]
    r = httpx.patch(f"{url}/{cid}", json={"consumer": {"description": "two"}}, headers=admin)
    assert r.status_code == 200 and r.json()["consumer"]["description"] == "two", r.text
    r = httpx.patch(f"{url}/{cid}", json={"consumer": {"secret": "x"}}, headers=admin)
    assert r.status_code == 400 and "secret" in r.json()["error"]["message"], r.text
    r = httpx.post(url, json={"consumer": {"description": 5}}, headers=admin)
    assert r.status_code == 400 and "description" in r.json()["error"]["message"], r.text
    demo = {"X-Auth-Token": cloud.token("demo")}
    assert httpx.get(url, headers=demo).status_code == 403
    assert httpx.post(url, json={"consumer": {}}, headers=demo).status_code == 403
    assert httpx.delete(f"{url}/{cid}", headers=demo).status_code == 403
    assert httpx.delete(f"{url}/{cid}", headers=admin).status_code == 204
    assert httpx.get(f"{url}/{cid}", headers=admin).status_code == 404
