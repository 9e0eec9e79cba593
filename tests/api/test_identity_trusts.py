"""OS-TRUST through the real `openstack` CLI and raw HTTP with real tokens: a trustee acts for
the trustor within the delegated roles and no further."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from dataclasses import dataclass
from typing import Any

import httpx
import openstack
import pytest

from tests.api.conftest import Cli, unique
from tests.support.server import RunningCloud

PASSWORD = "Trust-pass-1"


@dataclass
class User:
    id: str
    name: str


@dataclass
class World:
    cloud: RunningCloud
    admin: dict[str, str]
    project: str
    trustor: User
    trustee: User
    stranger: User
    roles: dict[str, str]

    @property
    def url(self) -> str:
        return self.cloud.auth_url

    def token(self, user: User, scope: dict[str, Any] | None = None) -> httpx.Response:
        auth: dict[str, Any] = {"identity": {"methods": ["password"], "password": {"user": {
            "id": user.id, "password": PASSWORD}}}}
        if scope is not None:
            auth["scope"] = scope
        return httpx.post(f"{self.url}/auth/tokens", json={"auth": auth})

    def headers(self, user: User, scoped: bool = True) -> dict[str, str]:
        r = self.token(user, {"project": {"id": self.project}} if scoped else None)
        assert r.status_code == 201, r.text
        return {"X-Auth-Token": r.headers["X-Subject-Token"]}

    def trust_token(self, user: User, trust_id: str) -> httpx.Response:
        return self.token(user, {"OS-TRUST:trust": {"id": trust_id}})

    def trust(self, by: dict[str, str], **fields: Any) -> httpx.Response:
        body = {"trustor_user_id": self.trustor.id, "trustee_user_id": self.trustee.id,
                "project_id": self.project, "impersonation": False,
                "roles": [{"name": "member"}], **fields}
        return httpx.post(f"{self.url}/OS-TRUST/trusts", json={"trust": body}, headers=by)

    def made(self, by: dict[str, str], **fields: Any) -> dict[str, Any]:
        r = self.trust(by, **fields)
        assert r.status_code == 201, r.text
        return dict(r.json()["trust"])

    def validate(self, token: str) -> httpx.Response:
        return httpx.get(f"{self.url}/auth/tokens",
                         headers={**self.admin, "X-Subject-Token": token})


@pytest.fixture(scope="module")
def world(cloud: RunningCloud) -> World:
    admin = {"X-Auth-Token": cloud.admin_token()}
    url = cloud.auth_url

    def post(path: str, body: dict[str, Any]) -> dict[str, Any]:
        r = httpx.post(f"{url}{path}", json=body, headers=admin)
        assert r.status_code == 201, r.text
        return dict(r.json())

    project = post("/projects", {"project": {"name": unique("trust")}})["project"]["id"]
    users = [User(u["id"], u["name"]) for u in (
        post("/users", {"user": {"name": unique(n), "password": PASSWORD}})["user"]
        for n in ("trustor", "trustee", "stranger"))]
    roles = {r["name"]: r["id"] for r in httpx.get(f"{url}/roles", headers=admin).json()["roles"]}
    r = httpx.put(f"{url}/projects/{project}/users/{users[0].id}/roles/{roles['member']}",
                  headers=admin)
    assert r.status_code == 204, r.text
    return World(cloud, admin, project, users[0], users[1], users[2], roles)


def _cli_env(w: World, user: User, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update({"OS_AUTH_URL": w.url, "OS_USERNAME": user.name, "OS_PASSWORD": PASSWORD,
                "OS_USER_DOMAIN_NAME": "Default", "OS_IDENTITY_API_VERSION": "3",
                "OS_REGION_NAME": "RegionOne", **extra})
    return env


def test_cli_trust_delegates_reader_and_no_more(world: World, cloud: RunningCloud,
                                                request: pytest.FixtureRequest) -> None:
    """The trustor makes a reader-only trust with the CLI; the trustee, scoped to it with
    --os-trust-id, cannot create a volume (403) and the trustor deletes the trust with the
    CLI, after which the trustee cannot use it (404). (The CLI runs on SQLite only: the
    database parts are the HTTP tests' below, on both backends.)"""
    if "postgresql" in request.node.name:
        pytest.skip("the CLI path is the same on PostgreSQL; the HTTP tests cover it there")
    cli = Cli(cloud)
    w = world
    trustor_env = _cli_env(w, w.trustor, OS_PROJECT_ID=w.project)
    made = cli.raw("trust", "create", "--project", w.project, "--role", "reader",
                   w.trustor.id, w.trustee.id, "-f", "json", env=trustor_env)
    assert made.returncode == 0, made.stderr
    trust = json.loads(made.stdout)
    assert trust["trustor_user_id"] == w.trustor.id and trust["project_id"] == w.project
    assert "'name': 'reader'" in str(trust["roles"]) and trust["is_impersonation"] is False
    trustee_env = _cli_env(w, w.trustee, OS_TRUST_ID=trust["id"])
    refused = cli.raw("volume", "create", "--size", "1", unique("v"), env=trustee_env)
    assert refused.returncode != 0 and "403" in refused.stderr, refused.stderr
    token = w.trust_token(w.trustee, trust["id"])
    assert token.status_code == 201
    reads = httpx.get(f"{w.cloud.base_url}/volume/v3/{w.project}/volumes",
                      headers={"X-Auth-Token": token.headers["X-Subject-Token"]})
    assert reads.status_code == 200, reads.text
    # the trust is the trustor's to remove; the trustee's tokens stop there
    assert cli.raw("trust", "delete", trust["id"], env=trustor_env).returncode == 0
    assert w.validate(token.headers["X-Subject-Token"]).status_code == 404
    assert w.trust_token(w.trustee, trust["id"]).status_code == 404


def test_member_trust_creates_in_the_trustors_project(world: World) -> None:
    """A member trust: the trustee's trust-scoped token creates a volume in the trustor's
    project; the token shows the trustee (no impersonation), the delegated role and the
    roles it implies, and the OS-TRUST:trust section."""
    w = world
    trust = w.made(w.headers(w.trustor))
    assert [r["name"] for r in trust["roles"]] == ["member"]
    assert trust["roles_links"]["self"].endswith(f"/OS-TRUST/trusts/{trust['id']}/roles")
    assert trust["remaining_uses"] is None and trust["expires_at"] is None
    r = w.trust_token(w.trustee, trust["id"])
    assert r.status_code == 201, r.text
    body = r.json()["token"]
    assert body["user"]["id"] == w.trustee.id and body["project"]["id"] == w.project
    assert {x["name"] for x in body["roles"]} == {"member", "reader"}
    assert body["OS-TRUST:trust"] == {"id": trust["id"], "impersonation": False,
                                      "trustee_user": {"id": w.trustee.id},
                                      "trustor_user": {"id": w.trustor.id}}
    token = {"X-Auth-Token": r.headers["X-Subject-Token"]}
    vol = httpx.post(f"{w.cloud.base_url}/volume/v3/{w.project}/volumes", headers=token,
                     json={"volume": {"size": 1, "name": unique("tv")}})
    assert vol.status_code == 202, vol.text
    # no further than the trust: not the admin API, not another scope from this token
    roles = httpx.put(f"{w.url}/projects/{w.project}/users/{w.trustee.id}/roles/"
                      f"{w.roles['member']}", headers=token)
    assert roles.status_code == 403, roles.text
    rescope = httpx.post(f"{w.url}/auth/tokens", json={"auth": {"identity": {
        "methods": ["token"], "token": {"id": token["X-Auth-Token"]}},
        "scope": {"project": {"id": w.project}}}})
    assert rescope.status_code == 403, rescope.text
    # someone who is not the trustee cannot use it
    other = w.trust_token(w.stranger, trust["id"])
    assert other.status_code == 403 and "trustee" in other.json()["error"]["message"]


def test_impersonation_shows_the_trustor(world: World) -> None:
    w = world
    trust = w.made(w.headers(w.trustor), impersonation=True, roles=[
        {"id": w.roles["reader"]}])
    r = w.trust_token(w.trustee, trust["id"])
    assert r.status_code == 201, r.text
    body = r.json()["token"]
    assert body["user"]["id"] == w.trustor.id
    assert body["OS-TRUST:trust"]["impersonation"] is True
    assert [x["name"] for x in body["roles"]] == ["reader"]
    # acting as the trustor, still nothing that outlives the trust
    token = {"X-Auth-Token": r.headers["X-Subject-Token"]}
    for path, payload in (
            (f"/users/{w.trustor.id}/application_credentials",
             {"application_credential": {"name": unique("ac")}}),
            (f"/users/{w.trustor.id}/credentials/OS-EC2", {"tenant_id": w.project})):
        made = httpx.post(f"{w.url}{path}", json=payload, headers=token)
        assert made.status_code == 403 and "trust-scoped" in made.text, made.text


def test_trustor_losing_the_role_or_deleting_the_trust_revokes(world: World) -> None:
    w = world
    trustor = w.headers(w.trustor)
    # a second project where the trustor's role is taken away again
    p2 = httpx.post(f"{w.url}/projects", headers=w.admin, json={"project": {
        "name": unique("trust2")}}).json()["project"]["id"]
    grant = f"{w.url}/projects/{p2}/users/{w.trustor.id}/roles/{w.roles['member']}"
    assert httpx.put(grant, headers=w.admin).status_code == 204
    trust = w.made(trustor, project_id=p2)
    token = w.trust_token(w.trustee, trust["id"]).headers["X-Subject-Token"]
    assert w.validate(token).status_code == 200
    assert httpx.delete(grant, headers=w.admin).status_code == 204
    assert w.validate(token).status_code == 404
    refused = w.trust_token(w.trustee, trust["id"])
    assert refused.status_code == 403, refused.text
    # the project's deletion ends its trusts
    assert httpx.delete(f"{w.url}/projects/{p2}", headers=w.admin).status_code == 204
    assert httpx.get(f"{w.url}/OS-TRUST/trusts/{trust['id']}",
                     headers=w.admin).status_code == 404
    # deleting: the trust's tokens stop validating at once
    trust = w.made(trustor)
    token = w.trust_token(w.trustee, trust["id"]).headers["X-Subject-Token"]
    assert w.validate(token).status_code == 200
    r = httpx.delete(f"{w.url}/OS-TRUST/trusts/{trust['id']}", headers=trustor)
    assert r.status_code == 204
    assert w.validate(token).status_code == 404
    assert httpx.get(f"{w.url}/OS-TRUST/trusts/{trust['id']}",
                     headers=trustor).status_code == 404


def test_remaining_uses_and_expiry(world: World) -> None:
    w = world
    trustor = w.headers(w.trustor)
    trust = w.made(trustor, remaining_uses=2)
    assert w.trust_token(w.trustee, trust["id"]).status_code == 201
    first = w.trust_token(w.trustee, trust["id"])
    assert first.status_code == 201
    used_up = w.trust_token(w.trustee, trust["id"])
    assert used_up.status_code == 404, used_up.text
    assert w.validate(first.headers["X-Subject-Token"]).status_code == 200  # issued: kept
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2.5)  # room for a loaded machine
    trust = w.made(trustor, expires_at=soon.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    assert trust["expires_at"] == soon.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    r = w.trust_token(w.trustee, trust["id"])
    assert r.status_code == 201
    assert r.json()["token"]["expires_at"] <= trust["expires_at"]
    time.sleep(max(0.0, (soon - dt.datetime.now(dt.UTC)).total_seconds()) + 0.1)
    assert w.trust_token(w.trustee, trust["id"]).status_code == 404
    assert w.validate(r.headers["X-Subject-Token"]).status_code == 404


def test_redelegation_chain_limits(world: World) -> None:
    """trustor -> trustee (redelegation_count 1) -> stranger, who can go no further;
    a redelegation cannot widen the roles, add remaining_uses or change the count."""
    w = world
    trust = w.made(w.headers(w.trustor), allow_redelegation=True, redelegation_count=1)
    assert trust["redelegation_count"] == 1
    as_trustee = {"X-Auth-Token": w.trust_token(w.trustee, trust["id"]).headers[
        "X-Subject-Token"]}
    body = {"trustor_user_id": w.trustee.id, "trustee_user_id": w.stranger.id}
    for extra, status in (({"roles": [{"name": "admin"}]}, 403),
                          ({"remaining_uses": 1}, 403),
                          ({"allow_redelegation": True, "redelegation_count": 3}, 403)):
        r = w.trust(as_trustee, **body, **extra)
        assert r.status_code == status, (extra, r.text)
    child = w.made(as_trustee, **body)
    assert child["redelegated_trust_id"] == trust["id"] and child["redelegation_count"] == 0
    r = w.trust_token(w.stranger, child["id"])
    assert r.status_code == 201, r.text
    assert {x["name"] for x in r.json()["token"]["roles"]} == {"member", "reader"}
    as_stranger = {"X-Auth-Token": r.headers["X-Subject-Token"]}
    deeper = w.trust(as_stranger, trustor_user_id=w.stranger.id,
                     trustee_user_id=w.trustee.id)
    assert deeper.status_code == 403 and "redelegation" in deeper.text, deeper.text
    # over Keystone's max_redelegation_count at the start, and removing the parent
    too_deep = w.trust(w.headers(w.trustor), allow_redelegation=True, redelegation_count=4)
    assert too_deep.status_code == 403, too_deep.text
    assert httpx.delete(f"{w.url}/OS-TRUST/trusts/{trust['id']}",
                        headers=w.headers(w.trustor)).status_code == 204
    assert w.validate(as_stranger["X-Auth-Token"]).status_code == 404


def test_errors_and_who_sees_what(world: World) -> None:
    w = world
    trustor, stranger = w.headers(w.trustor), w.headers(w.stranger, scoped=False)
    r = w.trust(stranger)  # the caller is not the trustor
    assert r.status_code == 403 and r.json()["error"]["code"] == 403
    for fields, word in (({"expires_at": "tomorrow"}, "expires_at"),
                         ({"expires_at": "2001-01-01T00:00:00Z"}, "expires_at"),
                         ({"expires_at": "9999-12-31T23:59:59-01:00"}, "expires_at"),
                         ({"expires_at": "0001-01-01T00:00:00+01:00"}, "expires_at"),
                         ({"remaining_uses": 0}, "remaining_uses"),
                         ({"impersonation": "yes"}, "impersonation"),
                         ({"roles": [{"name": "member", "id": "x"}]}, "roles")):
        r = w.trust(trustor, **fields)
        assert r.status_code == 400 and word in r.json()["error"]["message"], (fields, r.text)
    assert w.trust(trustor, roles=[{"name": "admin"}]).status_code == 404  # not held
    assert w.trust(trustor, trustee_user_id="nobody").status_code == 404
    assert w.trust_token(w.trustee, "no-such-trust").status_code == 404
    trust = w.made(trustor)
    one = f"{w.url}/OS-TRUST/trusts/{trust['id']}"
    assert httpx.get(one, headers=stranger).status_code == 403
    assert httpx.delete(one, headers=stranger).status_code == 403
    assert httpx.get(f"{w.url}/OS-TRUST/trusts", headers=trustor).status_code == 403
    mine = httpx.get(f"{w.url}/OS-TRUST/trusts", headers=trustor,
                     params={"trustor_user_id": w.trustor.id}).json()["trusts"]
    assert trust["id"] in {t["id"] for t in mine} and "roles" not in mine[0]
    theirs = httpx.get(f"{w.url}/OS-TRUST/trusts", headers=w.headers(w.trustee, scoped=False),
                       params={"trustee_user_id": w.trustee.id})
    assert theirs.status_code == 200 and trust["id"] in theirs.text
    roles = httpx.get(f"{one}/roles", headers=trustor).json()["roles"]
    assert [x["name"] for x in roles] == ["member"]
    assert httpx.get(f"{one}/roles/{w.roles['member']}", headers=trustor).status_code == 200
    assert httpx.get(f"{one}/roles/{w.roles['admin']}", headers=trustor).status_code == 404
    listed = httpx.get(f"{w.url}/OS-TRUST/trusts", headers=w.admin).json()["trusts"]
    assert trust["id"] in {t["id"] for t in listed}
    # a user's deletion ends the trusts it is trustee (or trustor) of
    gone = httpx.post(f"{w.url}/users", headers=w.admin, json={"user": {
        "name": unique("gone")}}).json()["user"]["id"]
    doomed = w.made(trustor, trustee_user_id=gone)
    assert httpx.delete(f"{w.url}/users/{gone}", headers=w.admin).status_code == 204
    assert httpx.get(f"{w.url}/OS-TRUST/trusts/{doomed['id']}",
                     headers=w.admin).status_code == 404


def test_openstacksdk_trust_and_trust_scoped_connection(world: World) -> None:
    """openstacksdk: the trustor creates, reads and lists the trust; the trustee connects
    with trust_id (keystoneauth's trust scope) and creates a volume in the trustor's
    project; the trustor deletes the trust."""
    w = world
    trustor = openstack.connect(auth={
        "auth_url": w.url, "user_id": w.trustor.id, "password": PASSWORD,
        "project_id": w.project}, region_name="RegionOne", identity_api_version="3")
    trust = trustor.identity.create_trust(
        trustor_user_id=w.trustor.id, trustee_user_id=w.trustee.id, project_id=w.project,
        impersonation=False, roles=[{"name": "member"}])
    assert trustor.identity.get_trust(trust.id).trustee_user_id == w.trustee.id
    assert trust.id in {t.id for t in trustor.identity.trusts(trustor_user_id=w.trustor.id)}
    trustee = openstack.connect(auth={
        "auth_url": w.url, "user_id": w.trustee.id, "password": PASSWORD,
        "trust_id": trust.id}, region_name="RegionOne", identity_api_version="3")
    vol = trustee.block_storage.create_volume(size=1, name=unique("sdk-trust"))
    assert trustee.current_project_id == w.project
    assert trustor.block_storage.get_volume(vol.id).name == vol.name  # the trustor's project
    trustor.identity.delete_trust(trust)
    with pytest.raises(openstack.exceptions.NotFoundException):
        trustor.identity.get_trust(trust.id)
