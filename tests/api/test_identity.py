"""Keystone v3 through the real openstacksdk: the happy paths and the bad ones."""

from __future__ import annotations

import httpx
import openstack
import pytest
from keystoneauth1 import exceptions as ksa_exc
from openstack import exceptions as exc

from tests.api.conftest import connect, unique
from tests.support.server import RunningCloud, password_token


def test_token_issue_carries_catalog_and_roles(cloud: RunningCloud) -> None:
    token = cloud.admin_token()
    r = httpx.get(f"{cloud.auth_url}/auth/tokens",
                  headers={"X-Auth-Token": token, "X-Subject-Token": token})
    assert r.status_code == 200
    body = r.json()["token"]
    assert body["user"]["name"] == "admin"
    assert body["project"]["name"] == "admin"
    assert {"admin", "member", "reader"} <= {role["name"] for role in body["roles"]}
    types = {entry["type"] for entry in body["catalog"]}
    assert "identity" in types
    assert body["methods"] == ["password"]
    assert body["expires_at"] > body["issued_at"]
    nocat = httpx.get(f"{cloud.auth_url}/auth/tokens?nocatalog",
                      headers={"X-Auth-Token": token, "X-Subject-Token": token})
    assert "catalog" not in nocat.json()["token"]


def test_version_discovery(cloud: RunningCloud) -> None:
    r = httpx.get(f"{cloud.base_url}/identity")
    assert r.status_code == 300
    assert r.json()["versions"]["values"][0]["id"].startswith("v3")
    r = httpx.get(f"{cloud.base_url}/identity/v3")
    assert r.json()["version"]["media-types"][0]["type"] == (
        "application/vnd.openstack.identity-v3+json")


def test_bad_password_is_401_with_keystone_error(cloud: RunningCloud) -> None:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": "admin", "domain": {"id": "default"}, "password": "wrong"}}}}}
    r = httpx.post(f"{cloud.auth_url}/auth/tokens", json=body)
    assert r.status_code == 401
    err = r.json()["error"]
    assert err["code"] == 401 and err["title"] == "Unauthorized"
    assert "x-openstack-request-id" in r.headers
    with pytest.raises(ksa_exc.Unauthorized):
        connect(cloud, password="wrong").session.get_token()


def test_project_crud_and_duplicate_is_409(admin: openstack.connection.Connection) -> None:
    name = unique("proj")
    proj = admin.identity.create_project(name=name, description="d", tags=["a", "b"])
    assert proj.name == name and proj.domain_id == "default"
    fetched = admin.identity.get_project(proj.id)
    assert sorted(fetched.tags) == ["a", "b"]
    with pytest.raises(exc.ConflictException):
        admin.identity.create_project(name=name)
    admin.identity.update_project(proj, description="changed", is_enabled=False)
    assert admin.identity.get_project(proj.id).description == "changed"
    listed = [p.name for p in admin.identity.projects(tags="a")]
    assert name in listed
    admin.identity.delete_project(proj)
    with pytest.raises(exc.NotFoundException):
        admin.identity.get_project(proj.id)


def test_unknown_ids_are_404(admin: openstack.connection.Connection) -> None:
    for getter in (admin.identity.get_project, admin.identity.get_user,
                   admin.identity.get_role, admin.identity.get_group,
                   admin.identity.get_domain):
        with pytest.raises(exc.NotFoundException):
            getter("does-not-exist")


def test_malformed_bodies_are_400(cloud: RunningCloud) -> None:
    headers = {"X-Auth-Token": cloud.admin_token(), "Content-Type": "application/json"}
    cases = [
        ("/projects", b"{not json"),
        ("/projects", b'{"project": {"name": ""}}'),
        ("/projects", b'{"project": {"name": 5}}'),
        ("/users", b'{"user": {}}'),
        ("/roles", b'{"nope": {}}'),
        ("/auth/tokens", b'{"auth": {"identity": {"methods": "password"}}}'),
    ]
    for path, body in cases:
        r = httpx.post(f"{cloud.auth_url}{path}", content=body, headers=headers)
        assert r.status_code == 400, (path, body, r.text)
        assert r.json()["error"]["code"] == 400
        assert r.json()["error"]["message"]


def test_member_acting_as_admin_is_403(demo: openstack.connection.Connection) -> None:
    with pytest.raises(exc.ForbiddenException):
        demo.identity.create_project(name=unique("nope"))
    with pytest.raises(exc.ForbiddenException):
        list(demo.identity.users())
    with pytest.raises(exc.ForbiddenException):
        demo.identity.create_user(name=unique("nope"), password="x")


def test_user_role_assignment_and_login(cloud: RunningCloud,
                                        admin: openstack.connection.Connection) -> None:
    proj = admin.identity.create_project(name=unique("p"))
    name = unique("u")
    user = admin.identity.create_user(name=name, password="pw-1", email="u@example.com")
    assert user.email == "u@example.com"
    member = admin.identity.find_role("member")
    # No role yet: a scoped token is refused.
    with pytest.raises(httpx.HTTPStatusError) as info:
        password_token(cloud.auth_url, name, "pw-1", proj.name)
    assert info.value.response.status_code == 401
    admin.identity.assign_project_role_to_user(proj, user, member)
    assert admin.identity.validate_user_has_project_role(proj, user, member)
    token = password_token(cloud.auth_url, name, "pw-1", proj.name)
    r = httpx.get(f"{cloud.auth_url}/auth/tokens",
                  headers={"X-Auth-Token": token, "X-Subject-Token": token})
    assert {r_["name"] for r_ in r.json()["token"]["roles"]} == {"member", "reader"}
    assignments = list(admin.identity.role_assignments(user_id=user.id))
    assert any(a.scope["project"]["id"] == proj.id for a in assignments)
    admin.identity.unassign_project_role_from_user(proj, user, member)
    r = httpx.get(f"{cloud.auth_url}/auth/tokens",
                  headers={"X-Auth-Token": cloud.admin_token(), "X-Subject-Token": token})
    assert r.status_code == 404  # the role is gone, so is the token's scope


def test_groups_give_roles(cloud: RunningCloud, admin: openstack.connection.Connection) -> None:
    proj = admin.identity.create_project(name=unique("p"))
    user = admin.identity.create_user(name=unique("u"), password="pw")
    group = admin.identity.create_group(name=unique("g"))
    admin.identity.add_user_to_group(user, group)
    assert admin.identity.check_user_in_group(user, group)
    reader = admin.identity.find_role("reader")
    admin.identity.assign_project_role_to_group(proj, group, reader)
    token = password_token(cloud.auth_url, user.name, "pw", proj.name)
    assert token
    effective = list(admin.identity.role_assignments(user_id=user.id, effective=True))
    assert [a.role["id"] for a in effective] == [reader.id]
    admin.identity.remove_user_from_group(user, group)
    with pytest.raises(httpx.HTTPStatusError):
        password_token(cloud.auth_url, user.name, "pw", proj.name)


def test_revoked_token_and_disabled_user(cloud: RunningCloud,
                                         admin: openstack.connection.Connection) -> None:
    user = admin.identity.create_user(name=unique("u"), password="pw",
                                      default_project_id=cloud.accounts["demo"].project_id)
    admin.identity.assign_project_role_to_user(cloud.accounts["demo"].project_id, user,
                                               admin.identity.find_role("member"))
    token = password_token(cloud.auth_url, user.name, "pw", "demo")
    headers = {"X-Auth-Token": cloud.admin_token(), "X-Subject-Token": token}
    assert httpx.head(f"{cloud.auth_url}/auth/tokens", headers=headers).status_code == 200
    assert httpx.delete(f"{cloud.auth_url}/auth/tokens", headers=headers).status_code == 204
    assert httpx.get(f"{cloud.auth_url}/auth/tokens", headers=headers).status_code == 404
    token2 = password_token(cloud.auth_url, user.name, "pw", "demo")
    r = httpx.get(f"{cloud.auth_url}/users/{user.id}", headers={"X-Auth-Token": token2})
    assert r.status_code == 200
    admin.identity.update_user(user, is_enabled=False)
    r = httpx.get(f"{cloud.auth_url}/users/{user.id}", headers={"X-Auth-Token": token2})
    assert r.status_code == 401


def test_two_project_isolation(cloud: RunningCloud,
                               admin: openstack.connection.Connection) -> None:
    """A member of one project cannot read another project, nor other users."""
    other = admin.identity.create_project(name=unique("other"))
    demo_token = cloud.token("demo")
    h = {"X-Auth-Token": demo_token}
    own = cloud.accounts["demo"].project_id
    assert httpx.get(f"{cloud.auth_url}/projects/{own}", headers=h).status_code == 200
    assert httpx.get(f"{cloud.auth_url}/projects/{other.id}", headers=h).status_code == 403
    admin_user = cloud.accounts["admin"].user_id
    assert httpx.get(f"{cloud.auth_url}/users/{admin_user}", headers=h).status_code == 403
    r = httpx.get(f"{cloud.auth_url}/auth/projects", headers=h)
    assert [p["id"] for p in r.json()["projects"]] == [own]
    # The demo user cannot scope to a project it has no role on.
    with pytest.raises(httpx.HTTPStatusError):
        password_token(cloud.auth_url, "demo", cloud.accounts["demo"].password, other.name)


def test_application_credential_auth(cloud: RunningCloud,
                                     admin: openstack.connection.Connection) -> None:
    user_id = cloud.accounts["admin"].user_id
    cred = admin.identity.create_application_credential(user=user_id, name=unique("ac"),
                                                        roles=[{"name": "reader"}])
    assert cred.secret
    conn = openstack.connect(auth_type="v3applicationcredential", auth={
        "auth_url": cloud.auth_url, "application_credential_id": cred.id,
        "application_credential_secret": cred.secret})
    token = conn.session.get_token()
    r = httpx.get(f"{cloud.auth_url}/auth/tokens",
                  headers={"X-Auth-Token": token, "X-Subject-Token": token})
    body = r.json()["token"]
    assert [role["name"] for role in body["roles"]] == ["reader"]
    assert body["application_credential"]["id"] == cred.id
    # Restricted to reader: creating a project is refused.
    r = httpx.post(f"{cloud.auth_url}/projects", json={"project": {"name": unique("x")}},
                   headers={"X-Auth-Token": token})
    assert r.status_code == 403
    admin.identity.delete_application_credential(user_id, cred.id)
    r = httpx.get(f"{cloud.auth_url}/auth/tokens",
                  headers={"X-Auth-Token": cloud.admin_token(), "X-Subject-Token": token})
    assert r.status_code == 404
    bad = {"auth": {"identity": {"methods": ["application_credential"],
                                 "application_credential": {"id": cred.id, "secret": "x"}}}}
    assert httpx.post(f"{cloud.auth_url}/auth/tokens", json=bad).status_code == 401


def test_password_history_and_lockout(cloud: RunningCloud,
                                      admin: openstack.connection.Connection) -> None:
    import time

    name = unique("sec")
    user = admin.identity.create_user(name=name, password="first-pw")
    url = f"{cloud.auth_url}/users/{user.id}/password"
    r = httpx.post(url, json={"user": {"original_password": "first-pw", "password": "second"}})
    assert r.status_code == 204
    r = httpx.post(url, json={"user": {"original_password": "second", "password": "first-pw"}})
    assert r.status_code == 400 and "previous password" in r.json()["error"]["message"]
    r = httpx.post(url, json={"user": {"original_password": "wrong", "password": "third"}})
    assert r.status_code == 401
    # lockout after 3 failures (test config), for 2 seconds
    for _ in range(3):
        with pytest.raises(httpx.HTTPStatusError):
            password_token(cloud.auth_url, name, "bad")
    with pytest.raises(httpx.HTTPStatusError) as info:
        password_token(cloud.auth_url, name, "second")
    assert "locked" in info.value.response.json()["error"]["message"]
    time.sleep(2.5)
    assert password_token(cloud.auth_url, name, "second")


def test_ec2_credentials(cloud: RunningCloud, admin: openstack.connection.Connection) -> None:
    uid = cloud.accounts["admin"].user_id
    h = {"X-Auth-Token": cloud.admin_token()}
    r = httpx.post(f"{cloud.auth_url}/users/{uid}/credentials/OS-EC2",
                   json={"tenant_id": cloud.accounts["admin"].project_id}, headers=h)
    assert r.status_code == 201
    access = r.json()["credential"]["access"]
    listed = httpx.get(f"{cloud.auth_url}/users/{uid}/credentials/OS-EC2", headers=h).json()
    assert access in [c["access"] for c in listed["credentials"]]
    creds = list(admin.identity.credentials(type="ec2"))
    assert any(access in c.blob for c in creds)
    r = httpx.delete(f"{cloud.auth_url}/users/{uid}/credentials/OS-EC2/{access}", headers=h)
    assert r.status_code == 204


def test_catalog_services_endpoints_regions(admin: openstack.connection.Connection) -> None:
    svc = admin.identity.create_service(type=unique("type"), name="svc")
    ep = admin.identity.create_endpoint(service_id=svc.id, interface="public",
                                        url="http://example.invalid/x", region_id="RegionOne")
    assert admin.identity.get_endpoint(ep.id).url == "http://example.invalid/x"
    region = admin.identity.create_region(id=unique("region"))
    assert admin.identity.get_region(region.id)
    admin.identity.delete_endpoint(ep)
    admin.identity.delete_service(svc)
    admin.identity.delete_region(region)
    assert "identity" in {s.type for s in admin.identity.services()}


def test_domains_and_implied_roles(cloud: RunningCloud,
                                   admin: openstack.connection.Connection) -> None:
    dom = admin.identity.create_domain(name=unique("dom"))
    with pytest.raises(exc.ForbiddenException):
        admin.identity.delete_domain(dom)  # enabled domains cannot be deleted
    admin.identity.update_domain(dom, is_enabled=False)
    admin.identity.delete_domain(dom)
    a = admin.identity.create_role(name=unique("ra"))
    b = admin.identity.create_role(name=unique("rb"))
    h = {"X-Auth-Token": cloud.admin_token()}
    r = httpx.put(f"{cloud.auth_url}/roles/{a.id}/implies/{b.id}", headers=h)
    assert r.status_code == 201
    assert r.json()["role_inference"]["implies"]["id"] == b.id
    r = httpx.put(f"{cloud.auth_url}/roles/{b.id}/implies/{a.id}", headers=h)
    assert r.status_code == 403  # no cycles
    rules = httpx.get(f"{cloud.auth_url}/role_inferences", headers=h).json()
    assert any(rule["prior_role"]["id"] == a.id for rule in rules["role_inferences"])


def test_nul_characters_are_refused_not_500(cloud: RunningCloud) -> None:
    h = {"X-Auth-Token": cloud.admin_token()}
    assert httpx.get(f"{cloud.auth_url}/domains/%00", headers=h).status_code == 404
    assert httpx.get(f"{cloud.auth_url}/projects?name=a%00b", headers=h).status_code == 400
    r = httpx.post(f"{cloud.auth_url}/projects", json={"project": {"name": "a\u0000b"}},
                   headers=h)
    assert r.status_code == 400 and "NUL" in r.json()["error"]["message"]
