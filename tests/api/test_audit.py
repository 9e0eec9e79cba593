"""The audit trail: every write by whom, on what, with which result, queryable by admins;
never a password, token or body."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.server import RunningCloud, password_token

NETS = "/networking/v2.0/networks"
AUDIT = "/operator/v1/audit"


_TOKENS: dict[tuple[str, str], str] = {}


def tok(cloud: RunningCloud, who: str) -> str:
    """One token per account and cloud for this module (each issue costs a password hash)."""
    key = (cloud.base_url, who)
    if key not in _TOKENS:
        _TOKENS[key] = cloud.token(who)
    return _TOKENS[key]


@dataclass
class Reader:
    user_id: str
    password: str
    token: str


@pytest.fixture(scope="module")
def reader(cloud: RunningCloud) -> Iterator[Reader]:
    """A user with only the reader role on the demo project."""
    admin = {"X-Auth-Token": tok(cloud, "admin")}
    ident = f"{cloud.base_url}/identity/v3"
    name, password = f"audit-reader-{uuid.uuid4().hex[:8]}", f"pw-{uuid.uuid4().hex}"
    user = httpx.post(f"{ident}/users", headers=admin, json={"user": {
        "name": name, "password": password, "domain_id": "default"}}).json()["user"]
    roles = httpx.get(f"{ident}/roles?name=reader", headers=admin).json()["roles"]
    project = cloud.accounts["demo"].project_id
    r = httpx.put(f"{ident}/projects/{project}/users/{user['id']}/roles/{roles[0]['id']}",
                  headers=admin)
    assert r.status_code == 204, r.text
    token = password_token(ident, name, password, cloud.accounts["demo"].project)
    yield Reader(user["id"], password, token)
    httpx.delete(f"{ident}/users/{user['id']}", headers=admin)


def audit(cloud: RunningCloud, token: str | None = None, **query: str) -> httpx.Response:
    headers = {"X-Auth-Token": token or tok(cloud, "admin")}
    return httpx.get(f"{cloud.base_url}{AUDIT}", params=query, headers=headers)


def record_of(cloud: RunningCloud, request_id: str, **query: str) -> dict[str, Any]:
    r = audit(cloud, limit="1000", **query)
    assert r.status_code == 200, r.text
    found = [x for x in r.json()["records"] if x["request_id"] == request_id]
    assert len(found) == 1, (request_id, r.json())
    return found[0]


def test_write_recorded_with_who_what_result(cloud: RunningCloud) -> None:
    demo = cloud.accounts["demo"]
    headers = {"X-Auth-Token": tok(cloud, "demo")}
    made = httpx.post(f"{cloud.base_url}{NETS}", headers=headers,
                      json={"network": {"name": "audited"}})
    assert made.status_code == 201, made.text
    net_id = made.json()["network"]["id"]
    gone = httpx.delete(f"{cloud.base_url}{NETS}/{net_id}", headers=headers)
    assert gone.status_code == 204
    rec = record_of(cloud, made.headers["x-openstack-request-id"], project_id=demo.project_id)
    assert rec["user_id"] == demo.user_id and rec["user_name"] == demo.username
    assert rec["project_id"] == demo.project_id and rec["domain_id"] == "default"
    assert (rec["service"], rec["method"], rec["route"], rec["status"]) == (
        "network", "POST", "/v2.0/networks", 201)
    assert rec["resource_id"] is None and rec["created_at"].endswith("Z")
    rec = record_of(cloud, gone.headers["x-openstack-request-id"], user_id=demo.user_id)
    assert (rec["method"], rec["route"], rec["resource_id"], rec["status"]) == (
        "DELETE", "/v2.0/networks/{id}", net_id, 204)
    # reads are not audited
    listed = httpx.get(f"{cloud.base_url}{NETS}", headers=headers)
    r = audit(cloud, limit="1000")
    assert listed.headers["x-openstack-request-id"] not in r.text


def test_failed_and_refused_writes_recorded(cloud: RunningCloud, reader: Reader) -> None:
    bad = httpx.post(f"{cloud.base_url}{NETS}", headers={"X-Auth-Token": tok(cloud, "demo")},
                     json={"network": {"admin_state_up": "maybe"}})
    assert bad.status_code == 400
    assert record_of(cloud, bad.headers["x-openstack-request-id"])["status"] == 400
    refused = httpx.post(f"{cloud.base_url}{NETS}", headers={"X-Auth-Token": reader.token},
                         json={"network": {"name": "not-allowed"}})
    assert refused.status_code == 403
    rec = record_of(cloud, refused.headers["x-openstack-request-id"], user_id=reader.user_id)
    assert (rec["status"], rec["route"], rec["user_id"]) == (403, "/v2.0/networks",
                                                             reader.user_id)


def test_query_filters_and_access(cloud: RunningCloud, reader: Reader) -> None:
    assert httpx.get(f"{cloud.base_url}{AUDIT}").status_code == 401
    for token in (tok(cloud, "demo"), reader.token):
        r = audit(cloud, token)
        assert r.status_code == 403 and r.json()["error"]["code"] == 403
    for query, field in (({"limit": "0"}, "limit"), ({"limit": "x"}, "limit"),
                         ({"since": "yesterday"}, "since")):
        r = audit(cloud, **query)
        assert r.status_code == 400 and field in r.json()["error"]["message"], r.text
    r = audit(cloud, since="2999-01-01T00:00:00Z")
    assert r.status_code == 200 and r.json()["records"] == []
    r = audit(cloud, user_id=reader.user_id, limit="2")
    assert len(r.json()["records"]) <= 2
    assert all(x["user_id"] == reader.user_id for x in r.json()["records"])


def test_no_secret_in_records_or_log(cloud: RunningCloud, reader: Reader,
                                     caplog: pytest.LogCaptureFixture) -> None:
    demo = cloud.accounts["demo"]
    with caplog.at_level(logging.INFO, logger="onestack.audit"):
        token = cloud.token("demo")  # a POST with the password in its body
        made = httpx.post(f"{cloud.base_url}{NETS}", headers={"X-Auth-Token": token},
                          json={"network": {"name": "secret-check"}})
        net_id = made.json()["network"]["id"]
        httpx.delete(f"{cloud.base_url}{NETS}/{net_id}", headers={"X-Auth-Token": token})
        records = audit(cloud, limit="1000").json()["records"]
    lines = [r.getMessage() for r in caplog.records if r.name == "onestack.audit"]
    assert any(made.headers["x-openstack-request-id"] in line for line in lines)
    for line in lines:
        assert json.loads(line)["request_id"].startswith("req-")
    text = json.dumps(records) + "\n".join(lines)
    assert "/v3/auth/tokens" in text  # the token issues are writes, recorded...
    for secret in (demo.password, token, reader.password, reader.token, "secret-check"):
        assert secret not in text  # ...without the body, the password or a token
