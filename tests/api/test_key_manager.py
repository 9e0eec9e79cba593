"""The key manager (Barbican v1) through openstacksdk's key_manager proxy and raw HTTP with
real tokens, on SQLite and PostgreSQL: secrets one- and two-step, Accept negotiation,
filters and paging, containers, orders, consumers, ACLs across projects, quotas, and
Barbican's 4xx for bad input (never echoing a payload)."""

from __future__ import annotations

import base64
import datetime as dt
import logging
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import openstack
import pytest

from tests.api.conftest import connect, unique
from tests.support.server import RunningCloud, password_token

Conn = openstack.connection.Connection


@dataclass
class User:
    token: str
    user_id: str
    project_id: str
    name: str
    password: str
    project: str

    def h(self, **extra: str) -> dict[str, str]:
        return {"X-Auth-Token": self.token, **extra}


def km(cloud: RunningCloud) -> str:
    return f"{cloud.base_url}/key-manager/v1"


def make_user(cloud: RunningCloud, admin: Conn, role: str = "member") -> User:
    """A user with ``role`` on a project of its own."""
    project = admin.identity.create_project(name=unique("km"), domain_id="default")
    password = uuid.uuid4().hex
    user = admin.identity.create_user(name=unique("km-user"), password=password,
                                      domain_id="default", default_project_id=project.id)
    role_id = next(r.id for r in admin.identity.roles() if r.name == role)
    admin.identity.assign_project_role_to_user(project, user, role_id)
    token = password_token(cloud.auth_url, user.name, password, project.name)
    return User(token, user.id, project.id, user.name, password, project.name)


_PEOPLE: dict[str, dict[str, User]] = {}  # per cloud: the three key manager test modules


@pytest.fixture
def people(cloud: RunningCloud) -> dict[str, User]:
    """Two members of two new projects, and the admin; made once per cloud."""
    if cloud.base_url not in _PEOPLE:
        admin = connect(cloud)
        _PEOPLE[cloud.base_url] = {
            "a": make_user(cloud, admin), "b": make_user(cloud, admin),
            "admin": User(cloud.admin_token(), "", admin.current_project_id, "", "", "")}
    return _PEOPLE[cloud.base_url]


def store(cloud: RunningCloud, who: User, **body: Any) -> str:
    r = httpx.post(f"{km(cloud)}/secrets", headers=who.h(), json=body)
    assert r.status_code == 201, r.text
    assert r.headers["location"] == r.json()["secret_ref"]
    return str(r.json()["secret_ref"])


def fault(r: httpx.Response, status: int, *words: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["code"] == status and body["title"], body
    for word in words:
        assert word in body["description"], body
    return str(body["description"])


def test_version_document(cloud: RunningCloud) -> None:
    root = httpx.get(f"{cloud.base_url}/key-manager/")
    assert root.status_code == 300
    (v1,) = root.json()["versions"]["values"]
    assert v1["id"] == "v1" and v1["max_version"] == "1.1"
    assert httpx.get(f"{cloud.base_url}/key-manager/v1").json()["version"]["id"] == "v1"


def test_sdk_secret_lifecycle(cloud: RunningCloud, people: dict[str, User]) -> None:
    a = people["a"]
    conn = openstack.connect(auth={
        "auth_url": cloud.auth_url, "username": a.name, "password": a.password,
        "project_name": a.project, "user_domain_name": "Default",
        "project_domain_name": "Default"}, region_name="RegionOne")
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    made = conn.key_manager.create_secret(
        name="db-password", payload="correct horse", payload_content_type="text/plain",
        secret_type="passphrase", expiration=later)
    got = conn.key_manager.get_secret(made.secret_id)
    assert got.name == "db-password" and got.secret_type == "passphrase"
    assert got.payload == "correct horse" and got.content_types == {"default": "text/plain"}
    raw = bytes(range(256))
    binary = conn.key_manager.create_secret(
        name="aes", payload=base64.b64encode(raw).decode(),
        payload_content_type="application/octet-stream", payload_content_encoding="base64",
        algorithm="aes", bit_length=256, mode="cbc", secret_type="symmetric")
    assert conn.key_manager.get_secret(binary.secret_id).payload == raw
    names = [s.name for s in conn.key_manager.secrets(name="db-password")]
    assert names == ["db-password"]
    container = conn.key_manager.create_container(
        name="bundle", type="generic",
        secret_refs=[{"name": "pw", "secret_ref": made.secret_ref}])
    shown = conn.key_manager.get_container(container.container_id)
    assert shown.secret_refs == [{"name": "pw", "secret_ref": made.secret_ref}]
    order = conn.key_manager.create_order(type="key", meta={
        "name": "gen", "algorithm": "aes", "bit_length": 256,
        "payload_content_type": "application/octet-stream"})
    order = conn.key_manager.get_order(order.order_id)
    assert order.status == "ACTIVE"
    key = conn.key_manager.get_secret(order.secret_id)
    assert key.secret_type == "symmetric" and len(key.payload) == 32
    conn.key_manager.delete_container(container.container_id)
    for secret in (made, binary):  # by id: the SDK's created object has the ref as its id
        conn.key_manager.delete_secret(secret.secret_id, ignore_missing=False)
    # (the SDK's Secret.fetch reads any answer as a secret: look with plain HTTP)
    fault(httpx.get(made.secret_ref, headers=a.h()), 404, "Secret not found")


def test_two_step_upload_and_accept(cloud: RunningCloud, people: dict[str, User]) -> None:
    a = people["a"]
    ref = store(cloud, a, name="later")
    meta = httpx.get(ref, headers=a.h()).json()
    assert "content_types" not in meta and meta["status"] == "ACTIVE"
    fault(httpx.get(f"{ref}/payload", headers=a.h()), 404, "payload")
    fault(httpx.put(ref, headers=a.h(**{"Content-Type": "application/json"}), content=b"{}"),
          415, "not supported")
    r = httpx.put(ref, headers=a.h(**{"Content-Type": "application/octet-stream",
                                      "Content-Encoding": "base64"}),
                  content=base64.b64encode(b"\x00\x01binary"))
    assert r.status_code == 204, r.text
    fault(httpx.put(ref, headers=a.h(**{"Content-Type": "text/plain"}), content=b"again"),
          409, "already has data")
    r = httpx.get(f"{ref}/payload", headers=a.h(Accept="application/octet-stream"))
    assert r.content == b"\x00\x01binary"
    assert r.headers["content-type"].startswith("application/octet-stream")
    fault(httpx.get(f"{ref}/payload", headers=a.h(Accept="text/plain")), 406,
          "application/octet-stream")
    legacy = httpx.get(ref, headers=a.h(Accept="application/octet-stream"))
    assert legacy.content == b"\x00\x01binary"  # the older way: GET with a payload Accept


def test_bad_input_gets_barbicans_400s(cloud: RunningCloud, people: dict[str, User],
                                       caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    a, url = people["a"], f"{km(cloud)}/secrets"
    marker = "MARKER-not-base64!!"
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"payload": marker, "payload_content_type": "application/octet-stream",
          "payload_content_encoding": "base64"}, 400, "'payload'"),
        ({"payload": marker, "payload_content_type": "image/png"}, 400,
         "'payload_content_type'"),
        ({"payload": marker, "payload_content_type": "text/plain",
          "payload_content_encoding": "base64"}, 400, "'payload_content_encoding'"),
        ({"payload": marker}, 400, "'payload_content_type'"),
        ({"payload": "", "payload_content_type": "text/plain"}, 400, "non empty"),
        ({"payload_content_type": "text/plain"}, 400, "payload must be provided"),
        ({"secret_type": "magic"}, 400, "'secret_type'"),
        ({"bit_length": "big"}, 400, "'bit_length'"),
        ({"expiration": "2001-01-01T00:00:00Z"}, 400, "before current time"),
        ({"expiration": "tomorrow"}, 400, "Invalid date"),
        ({"payload": "x" * 20001, "payload_content_type": "text/plain"}, 413, "20000"),
    ]
    for body, status, word in cases:
        r = httpx.post(url, headers=a.h(), json=body)
        text = fault(r, status, word)
        assert marker not in text and "x" * 100 not in text
    fault(httpx.post(url, headers=a.h(**{"Content-Type": "text/plain"}), content=b"x"), 415)
    fault(httpx.get(f"{url}?sort=color:up", headers=a.h()), 400, "query string")
    fault(httpx.get(f"{url}/{uuid.uuid4()}", headers=a.h()), 404, "Secret not found")
    before = httpx.get(url, headers=a.h(), params={"limit": 100}).json()["total"]
    assert before == httpx.get(url, headers=a.h()).json()["total"]  # nothing half-made
    ref = store(cloud, a, payload=marker, payload_content_type="text/plain")
    assert httpx.get(f"{ref}/payload", headers=a.h()).text == marker
    assert httpx.delete(ref, headers=a.h()).status_code == 204
    assert marker not in caplog.text  # nor in any log line, access log included


def test_expired_secret_is_gone(cloud: RunningCloud, people: dict[str, User]) -> None:
    a = people["a"]
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1.2)).isoformat()
    ref = store(cloud, a, name="brief", payload="p", payload_content_type="text/plain",
                expiration=soon)
    assert httpx.get(ref, headers=a.h()).status_code == 200
    time.sleep(1.3)
    fault(httpx.get(ref, headers=a.h()), 404, "Secret not found")
    fault(httpx.get(f"{ref}/payload", headers=a.h()), 404)
    listed = httpx.get(f"{km(cloud)}/secrets", headers=a.h(), params={"name": "brief"})
    assert listed.json()["secrets"] == []


def test_other_project_needs_an_acl(cloud: RunningCloud, people: dict[str, User]) -> None:
    a, b = people["a"], people["b"]
    ref = store(cloud, a, name="shared-later", payload="for b",
                payload_content_type="text/plain")
    sid = ref.rsplit("/", 1)[-1]
    consumer = {"service": "image", "resource_type": "image", "resource_id": "img-1"}
    for method, path, body in (("GET", "", None), ("GET", "/payload", None),
                               ("GET", "/metadata", None), ("DELETE", "", None),
                               ("POST", "/consumers", consumer),
                               ("PUT", "/acl", {"read": {"users": [b.user_id]}})):
        r = httpx.request(method, ref + path, headers=b.h(), json=body)
        fault(r, 403)
    listed = httpx.get(f"{km(cloud)}/secrets", headers=b.h(), params={"limit": 100}).json()
    assert sid not in str(listed)
    admin = people["admin"]  # a cloud admin sees it and could delete it, never reads it
    assert httpx.get(ref, headers=admin.h()).json()["name"] == "shared-later"
    fault(httpx.get(f"{ref}/payload", headers=admin.h()), 403)
    order = httpx.post(f"{km(cloud)}/orders", headers=a.h(), json={"type": "key", "meta": {
        "algorithm": "aes", "bit_length": 128}}).json()["order_ref"]
    fault(httpx.get(order, headers=b.h()), 404, "Order not found")  # found by project
    box = httpx.post(f"{km(cloud)}/containers", headers=b.h(), json={
        "type": "generic", "secret_refs": [{"name": "x", "secret_ref": ref}]})
    fault(box, 404, "doesn't exist")  # b cannot wrap a's secret in a container
    # a's ACL: b reads it; project access off: a's project readers do not
    r = httpx.put(f"{ref}/acl", headers=a.h(), json={"read": {"users": [b.user_id],
                                                              "project-access": False}})
    assert r.status_code == 200 and r.json()["acl_ref"] == f"{ref}/acl"
    acl = httpx.get(f"{ref}/acl", headers=a.h()).json()["read"]
    assert acl["users"] == [b.user_id] and acl["project-access"] is False
    assert httpx.get(f"{ref}/payload", headers=b.h()).text == "for b"
    assert httpx.get(ref, headers=b.h()).json()["name"] == "shared-later"
    assert httpx.post(f"{ref}/consumers", headers=b.h(), json=consumer).status_code == 200
    only = httpx.get(f"{km(cloud)}/secrets", headers=b.h(), params={"acl_only": "true"}).json()
    assert [s["secret_ref"] for s in only["secrets"]] == [ref]
    fault(httpx.delete(ref, headers=b.h()), 403)  # reading is all the ACL gives
    # the ACL removed: b is out again
    gone = httpx.delete(f"{ref}/acl", headers=a.h())
    assert gone.status_code == 200 and gone.json() is None  # Barbican's JSON null
    assert httpx.get(f"{ref}/acl", headers=a.h()).json() == {"read": {"project-access": True}}
    fault(httpx.get(f"{ref}/payload", headers=b.h()), 403)
    assert httpx.delete(ref, headers=a.h()).status_code == 204
    assert httpx.delete(order, headers=a.h()).status_code == 204
