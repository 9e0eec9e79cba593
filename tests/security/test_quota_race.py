"""Quota checks hold under concurrent creates: with a quota of N, 3N creates fired at once
make exactly N, and the rest get the service's own over-quota fault (Nova 403, Cinder 413),
on SQLite and on PostgreSQL (where the count and the insert of two requests interleave
unless the project's quota lock serializes them)."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.api.conftest import cloud, pg_server  # noqa: F401  (fixtures)
from tests.support.server import RunningCloud, password_token

N = 4


@dataclass
class Tenant:
    project_id: str
    token: str


@pytest.fixture
def tenant(cloud: RunningCloud) -> Iterator[Tenant]:  # noqa: F811
    """A project of its own with one member user: nothing else counts against its quota."""
    base = f"{cloud.auth_url}"
    admin = {"X-Auth-Token": cloud.admin_token()}
    name = f"race-{uuid.uuid4().hex[:8]}"
    project = httpx.post(f"{base}/projects", headers=admin, json={
        "project": {"name": name, "domain_id": "default"}}).json()["project"]
    user = httpx.post(f"{base}/users", headers=admin, json={
        "user": {"name": name, "password": "pw-" + name, "domain_id": "default",
                 "default_project_id": project["id"]}}).json()["user"]
    role = httpx.get(f"{base}/roles?name=member", headers=admin).json()["roles"][0]
    r = httpx.put(f"{base}/projects/{project['id']}/users/{user['id']}/roles/{role['id']}",
                  headers=admin)
    assert r.status_code == 204, r.text
    yield Tenant(project["id"], password_token(cloud.auth_url, name, "pw-" + name, name))
    httpx.delete(f"{base}/users/{user['id']}", headers=admin)
    httpx.delete(f"{base}/projects/{project['id']}", headers=admin)


def _fire(requests: list[tuple[str, str, dict[str, Any]]], headers: dict[str, str]
          ) -> list[httpx.Response]:
    """Send all requests at once (one thread each, released together)."""
    start = threading.Barrier(len(requests))

    def send(req: tuple[str, str, dict[str, Any]]) -> httpx.Response:
        method, url, body = req
        with httpx.Client(timeout=60) as client:
            client.get(url.rsplit("/", 1)[0] + "/", headers=headers)  # connected, warm
            start.wait()
            return client.request(method, url, json=body, headers=headers)

    with ThreadPoolExecutor(len(requests)) as pool:
        return list(pool.map(send, requests))


def _gone(get: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while get().status_code != 404:
        assert time.monotonic() < deadline, "not deleted in time"
        time.sleep(0.1)


def test_concurrent_server_creates_stop_at_the_instance_quota(
        cloud: RunningCloud, tenant: Tenant) -> None:  # noqa: F811
    admin = {"X-Auth-Token": cloud.admin_token(), "OpenStack-API-Version": "compute 2.79"}
    nova = f"{cloud.base_url}/compute/v2.1"
    r = httpx.put(f"{nova}/os-quota-sets/{tenant.project_id}", headers=admin,
                  json={"quota_set": {"instances": N}})
    assert r.status_code == 200, r.text
    image = httpx.post(f"{cloud.base_url}/image/v2/images", headers=admin, json={
        "name": "race", "disk_format": "raw", "container_format": "bare",
        "visibility": "public"}).json()
    httpx.put(f"{cloud.base_url}/image/v2/images/{image['id']}/file", content=b"\0" * 4096,
              headers={**admin, "Content-Type": "application/octet-stream"})
    headers = {"X-Auth-Token": tenant.token, "OpenStack-API-Version": "compute 2.79"}
    body = {"server": {"name": "racer", "imageRef": image["id"], "flavorRef": "42",
                       "networks": "none"}}
    replies = _fire([("POST", f"{nova}/servers", body)] * (3 * N), headers)
    made = [r.json()["server"]["id"] for r in replies if r.status_code == 202]
    try:
        refused = [r for r in replies if r.status_code != 202]
        assert len(made) == N, [(r.status_code, r.text) for r in replies]
        for r in refused:
            assert r.status_code == 403, r.text
            msg = r.json()["forbidden"]["message"]
            assert f"Quota exceeded for instances: Requested 1, but already used {N} of {N}" \
                in msg, msg
        listed = httpx.get(f"{nova}/servers", headers=headers).json()["servers"]
        assert len(listed) == N
    finally:
        for sid in made:
            httpx.delete(f"{nova}/servers/{sid}", headers=admin)
        for sid in made:
            _gone(lambda sid=sid: httpx.get(f"{nova}/servers/{sid}", headers=admin))
        httpx.delete(f"{cloud.base_url}/image/v2/images/{image['id']}", headers=admin)
        httpx.delete(f"{nova}/os-quota-sets/{tenant.project_id}", headers=admin)


def test_concurrent_volume_and_snapshot_creates_stop_at_the_quota(
        cloud: RunningCloud, tenant: Tenant) -> None:  # noqa: F811
    admin = {"X-Auth-Token": cloud.admin_token()}
    cinder = f"{cloud.base_url}/volume/v3"
    quota = f"{cinder}/os-quota-sets/{tenant.project_id}"
    r = httpx.put(quota, headers=admin, json={"quota_set": {
        "volumes": N + 1, "snapshots": N, "gigabytes": 1000}})
    assert r.status_code == 200, r.text
    headers = {"X-Auth-Token": tenant.token, "OpenStack-API-Version": "volume 3.60"}
    made: list[str] = []
    snaps: list[str] = []
    try:
        replies = _fire([("POST", f"{cinder}/volumes", {"volume": {"size": 1}})] * (3 * N),
                        headers)
        made = [r.json()["volume"]["id"] for r in replies if r.status_code == 202]
        assert len(made) == N + 1, [(r.status_code, r.text) for r in replies]
        for r in replies:
            if r.status_code != 202:
                assert r.status_code == 413, r.text
                fault = r.json()["overLimit"]
                assert fault["code"] == 413
                assert f"Maximum number of volumes allowed ({N + 1})" in fault["message"]
        for vid in made:
            deadline = time.monotonic() + 60
            while httpx.get(f"{cinder}/volumes/{vid}", headers=headers).json()[
                    "volume"]["status"] != "available":
                assert time.monotonic() < deadline
                time.sleep(0.1)
        # snapshots of one volume, and gigabytes: a quota of N snapshots
        replies = _fire([("POST", f"{cinder}/snapshots",
                          {"snapshot": {"volume_id": made[i % len(made)]}})
                         for i in range(3 * N)], headers)
        snaps = [r.json()["snapshot"]["id"] for r in replies if r.status_code == 202]
        assert len(snaps) == N, [(r.status_code, r.text) for r in replies]
        for r in replies:
            if r.status_code != 202:
                assert r.status_code == 413, r.text
                assert "SnapshotLimitExceeded" in r.json()["overLimit"]["message"]
        usage = httpx.get(f"{quota}?usage=true", headers=headers).json()["quota_set"]
        assert usage["volumes"]["in_use"] == N + 1
        assert usage["snapshots"]["in_use"] == N
    finally:
        for sid in snaps:
            _wait_then_delete(f"{cinder}/snapshots/{sid}", headers)
        for vid in made:
            _wait_then_delete(f"{cinder}/volumes/{vid}", headers)
        httpx.delete(quota, headers=admin)


def _wait_then_delete(url: str, headers: dict[str, str]) -> None:
    deadline = time.monotonic() + 60
    while httpx.delete(url, headers=headers).status_code not in (202, 404):
        assert time.monotonic() < deadline, f"{url} not deletable"
        time.sleep(0.2)
    _gone(lambda: httpx.get(url, headers=headers))


def test_concurrent_extends_and_snapshots_of_one_volume_never_500(
        cloud: RunningCloud, tenant: Tenant) -> None:  # noqa: F811
    """An extend locks the volume's row, then the quota; a snapshot's insert waits on that
    row: both take them in that order, so PostgreSQL finds no deadlock to break with a 500."""
    cinder = f"{cloud.base_url}/volume/v3"
    headers = {"X-Auth-Token": tenant.token, "OpenStack-API-Version": "volume 3.60"}
    r = httpx.post(f"{cinder}/volumes", json={"volume": {"size": 1}}, headers=headers)
    assert r.status_code == 202, r.text
    vid = r.json()["volume"]["id"]
    snaps: list[str] = []
    try:
        deadline = time.monotonic() + 60
        while httpx.get(f"{cinder}/volumes/{vid}", headers=headers).json()[
                "volume"]["status"] != "available":
            assert time.monotonic() < deadline
            time.sleep(0.1)
        reqs = [("POST", f"{cinder}/volumes/{vid}/action", {"os-extend": {"new_size": 2 + i}})
                if i % 2 else ("POST", f"{cinder}/snapshots", {"snapshot": {"volume_id": vid}})
                for i in range(12)]
        replies = _fire(reqs, headers)
        assert all(r.status_code < 500 for r in replies), [r.text for r in replies]
        snaps = [r.json()["snapshot"]["id"] for r in replies
                 if r.status_code == 202 and r.content and "snapshot" in r.json()]
    finally:
        for sid in snaps:
            _wait_then_delete(f"{cinder}/snapshots/{sid}", headers)
        _wait_then_delete(f"{cinder}/volumes/{vid}", headers)


def test_concurrent_server_group_and_key_pair_creates_stop_at_their_quotas(
        cloud: RunningCloud, tenant: Tenant) -> None:  # noqa: F811
    admin = {"X-Auth-Token": cloud.admin_token(), "OpenStack-API-Version": "compute 2.79"}
    nova = f"{cloud.base_url}/compute/v2.1"
    r = httpx.put(f"{nova}/os-quota-sets/{tenant.project_id}", headers=admin,
                  json={"quota_set": {"server_groups": N, "key_pairs": N}})
    assert r.status_code == 200, r.text
    headers = {"X-Auth-Token": tenant.token, "OpenStack-API-Version": "compute 2.79"}
    groups: list[str] = []
    try:
        replies = _fire([("POST", f"{nova}/os-server-groups",
                          {"server_group": {"name": f"g{i}", "policy": "affinity"}})
                         for i in range(3 * N)], headers)
        groups = [r.json()["server_group"]["id"] for r in replies if r.status_code == 200]
        assert len(groups) == N, [(r.status_code, r.text) for r in replies]
        for r in replies:
            if r.status_code != 200:
                assert r.status_code == 403, r.text
                assert "Quota exceeded, too many server groups." in r.json()[
                    "forbidden"]["message"]
        replies = _fire([("POST", f"{nova}/os-keypairs", {"keypair": {"name": f"k{i}"}})
                         for i in range(3 * N)], headers)
        made = [r for r in replies if r.status_code == 201]
        assert len(made) == N, [(r.status_code, r.text[:200]) for r in replies]
        for r in replies:
            if r.status_code != 201:
                assert r.status_code == 403, r.text
                assert "Quota exceeded, too many key pairs." in r.json()["forbidden"]["message"]
    finally:
        for gid in groups:
            httpx.delete(f"{nova}/os-server-groups/{gid}", headers=headers)
        for i in range(3 * N):
            httpx.delete(f"{nova}/os-keypairs/k{i}", headers=headers)
        httpx.delete(f"{nova}/os-quota-sets/{tenant.project_id}", headers=admin)
