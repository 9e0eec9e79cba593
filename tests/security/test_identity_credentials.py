"""EC2 credentials cannot be moved to another user or to a project their user holds no role
on (Keystone's OSSA-2020-004): a key the holder knows would then sign S3 requests as the
victim."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.api.conftest import cloud, pg_server, unique  # noqa: F401  (the API suite's clouds)
from tests.api.test_s3 import ec2_keys, s3_client
from tests.support.server import CloudThread, RunningCloud

# Keystone's own default for update_credential lets the owner patch their credential; the
# refusal must hold under it too, not only under a stricter local policy.
UPSTREAM_RULE = "rule:admin_required or user_id:%(target.credential.user_id)s"


@pytest.fixture(scope="module")
def owner_may_update(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCloud]:
    policy = Path(tmp_path_factory.mktemp("policy")) / "policy.yaml"
    policy.write_text(json.dumps({"identity:update_credential": UPSTREAM_RULE}))
    thread = CloudThread(policy_file=str(policy))
    yield thread.start()
    thread.stop()


def _patch(c: RunningCloud, who: str, access: str, body: dict[str, str]) -> httpx.Response:
    cred_id = _cred_id(access)
    return httpx.patch(f"{c.auth_url}/credentials/{cred_id}", json={"credential": body},
                       headers={"X-Auth-Token": c.token(who)})


def _cred_id(access: str) -> str:
    return hashlib.sha256(access.encode()).hexdigest()


def _refused(r: httpx.Response) -> str:
    assert r.status_code == 403, r.text
    err = r.json()["error"]
    assert err["code"] == 403 and err["title"] == "Forbidden"
    return str(err["message"])


def _acts_as_demo(c: RunningCloud, access: str, secret: str) -> None:
    """The key still signs as demo: admin's buckets are not in its account, and a bucket
    it creates lands in demo's Swift account."""
    s3 = s3_client(c, access, secret)
    admin_s3 = s3_client(c, *ec2_keys(c, "admin"))
    theirs, mine = unique("admins"), unique("demos")
    admin_s3.create_bucket(Bucket=theirs)
    try:
        assert theirs not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
        with pytest.raises(ClientError) as info:
            s3.list_objects_v2(Bucket=theirs)
        assert info.value.response["Error"]["Code"] == "NoSuchBucket"
        s3.create_bucket(Bucket=mine)
        demo = c.accounts["demo"]
        r = httpx.head(f"{c.base_url}/object-storage/v1/AUTH_{demo.project_id}/{mine}",
                       headers={"X-Auth-Token": c.token("demo")})
        assert r.status_code == 204
        s3.delete_bucket(Bucket=mine)
    finally:
        admin_s3.delete_bucket(Bucket=theirs)


def _attack(c: RunningCloud) -> tuple[str, str]:
    access, secret = ec2_keys(c, "demo")
    admin = c.accounts["admin"]
    msg = _refused(_patch(c, "demo", access, {"user_id": admin.user_id,
                                              "project_id": admin.project_id}))
    assert "update_credential" in msg or "another user" in msg
    msg = _refused(_patch(c, "demo", access, {"project_id": admin.project_id}))
    assert "update_credential" in msg or "holds no role" in msg
    return access, secret


def test_ec2_credential_cannot_move_to_another_user(cloud: RunningCloud) -> None:  # noqa: F811
    access, secret = _attack(cloud)
    _acts_as_demo(cloud, access, secret)


def test_refused_even_where_the_owner_may_update(owner_may_update: RunningCloud) -> None:
    c = owner_may_update
    access, secret = _attack(c)
    demo = c.accounts["demo"]
    # the owner's own changes still go through under this policy
    blob = json.dumps({"access": access, "secret": secret})
    r = _patch(c, "demo", access, {"blob": blob, "project_id": demo.project_id})
    assert r.status_code == 200, r.text
    got = httpx.get(f"{c.auth_url}/credentials/{_cred_id(access)}",
                    headers={"X-Auth-Token": c.admin_token()}).json()["credential"]
    assert (got["user_id"], got["project_id"]) == (demo.user_id, demo.project_id)
    _acts_as_demo(c, access, secret)


def test_an_application_credential_cannot_mint_ec2_keys(cloud: RunningCloud) -> None:  # noqa: F811
    """A reader-only delegation would otherwise mint an S3 key with all of demo's roles."""
    demo = cloud.accounts["demo"]
    h = {"X-Auth-Token": cloud.token("demo")}
    roles = httpx.get(f"{cloud.auth_url}/roles", params={"name": "reader"}, headers=h)
    reader = roles.json()["roles"][0]["id"] if roles.status_code == 200 else None
    body: dict[str, object] = {"name": unique("delegate")}
    if reader is not None:
        body["roles"] = [{"id": reader}]
    r = httpx.post(f"{cloud.auth_url}/users/{demo.user_id}/application_credentials",
                   json={"application_credential": body}, headers=h)
    assert r.status_code == 201, r.text
    cred = r.json()["application_credential"]
    token = httpx.post(f"{cloud.auth_url}/auth/tokens", json={"auth": {"identity": {
        "methods": ["application_credential"],
        "application_credential": {"id": cred["id"], "secret": cred["secret"]}}}}
    ).headers["X-Subject-Token"]
    ac = {"X-Auth-Token": token}
    ec2 = f"{cloud.auth_url}/users/{demo.user_id}/credentials/OS-EC2"
    before = httpx.get(ec2, headers=h).json()["credentials"]
    msg = _refused(httpx.post(ec2, json={"tenant_id": demo.project_id}, headers=ac))
    assert "application credential" in msg
    msg = _refused(httpx.post(f"{cloud.auth_url}/credentials", headers=ac, json={
        "credential": {"type": "ec2", "user_id": demo.user_id, "project_id": demo.project_id,
                       "blob": json.dumps({"access": unique("a"), "secret": "s"})}}))
    assert "application credential" in msg or "create_credential" in msg
    assert httpx.get(ec2, headers=h).json()["credentials"] == before
    httpx.delete(f"{cloud.auth_url}/users/{demo.user_id}/application_credentials/"
                 f"{cred['id']}", headers=h)
