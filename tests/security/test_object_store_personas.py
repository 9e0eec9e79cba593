"""Every Swift and S3 route, tried by a reader-only user, a role-less user and another
project's member against project sec-a's account: readers read (GET/HEAD), nobody else
writes or reads, and each refusal is the service's own error (Swift's 403 page, S3's
AccessDenied/InvalidAccessKeyId/NoSuchBucket)."""

from __future__ import annotations

import io
import tarfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import boto3
import httpx
import pytest
from botocore.client import BaseClient, Config
from botocore.exceptions import ClientError

from onestack.api import registry
from tests.security.conftest import Persona, Personas

SWIFT_FORBIDDEN = "<html><h1>Forbidden</h1><p>Access was denied to this resource.</p></html>"
C, OBJ, EMPTY = "sec-objects", "doc.txt", "sec-empty"
BODY = b"sec-a's bytes"


def _tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(f"{C}/from-tar")
        info.size = 3
        tar.addfile(info, io.BytesIO(b"tar"))
    return buf.getvalue()


@dataclass(frozen=True)
class Call:
    method: str
    path: str  # below the account
    write: bool
    headers: dict[str, str] | None = None
    content: bytes | None = None
    params: dict[str, str] | None = None
    bulk: bool = False  # bulk answers 200 with the outcome in its body


# One or more requests per route of the Swift table (ROUTES' method and path).
SWIFT: dict[tuple[str, str], list[Call]] = {
    ("HEAD", "/v1/{account}"): [Call("HEAD", "", False)],
    ("GET", "/v1/{account}"): [Call("GET", "", False)],
    ("POST", "/v1/{account}"): [
        Call("POST", "", True, {"X-Account-Meta-Owned": "no"}),
        Call("POST", "", True, {"Content-Type": "text/plain", "Accept": "application/json"},
             f"/{C}/{OBJ}\n".encode(), {"bulk-delete": ""}, bulk=True)],
    ("PUT", "/v1/{account}"): [Call("PUT", "", True, {"Accept": "application/json"}, _tar(),
                                    {"extract-archive": "tar"}, bulk=True)],
    ("DELETE", "/v1/{account}"): [
        Call("DELETE", "", True, {"Content-Type": "text/plain", "Accept": "application/json"},
             f"/{C}/{OBJ}\n".encode(), {"bulk-delete": ""}, bulk=True)],
    ("HEAD", "/v1/{account}/{container}"): [Call("HEAD", f"/{C}", False)],
    ("GET", "/v1/{account}/{container}"): [Call("GET", f"/{C}", False)],
    ("PUT", "/v1/{account}/{container}"): [
        Call("PUT", "/sec-new", True),
        Call("PUT", f"/{C}", True, {"X-Container-Read": ".r:*"})],
    ("POST", "/v1/{account}/{container}"): [
        Call("POST", f"/{C}", True, {"X-Container-Read": ".r:*,.rlistings"})],
    ("DELETE", "/v1/{account}/{container}"): [Call("DELETE", f"/{EMPTY}", True)],
    ("GET", "/v1/{account}/{container}/{object:path}"): [
        Call("GET", f"/{C}/{OBJ}", False), Call("HEAD", f"/{C}/{OBJ}", False)],
    ("PUT", "/v1/{account}/{container}/{object:path}"): [
        Call("PUT", f"/{C}/{OBJ}", True, content=b"overwritten"),
        Call("PUT", f"/{C}/copy", True, {"X-Copy-From": f"{C}/{OBJ}"}, b"")],
    ("POST", "/v1/{account}/{container}/{object:path}"): [
        Call("POST", f"/{C}/{OBJ}", True, {"X-Object-Meta-Owned": "no"})],
    ("COPY", "/v1/{account}/{container}/{object:path}"): [
        Call("COPY", f"/{C}/{OBJ}", True, {"Destination": f"{C}/copied"})],
    ("DELETE", "/v1/{account}/{container}/{object:path}"): [
        Call("DELETE", f"/{C}/{OBJ}", True)],
}
ANONYMOUS_ROUTES = {("GET", "/info"), ("GET", "/healthcheck"),  # public in Swift too
                    ("GET", "/crossdomain.xml")}


@pytest.fixture(scope="module")
def account(personas: Personas) -> str:
    """sec-a's account, with a container holding one object and an empty container."""
    owner = personas.owner
    acct = f"AUTH_{owner.project_id}"
    base = f"/object-storage/v1/{acct}"
    for path, content in ((f"/{C}", None), (f"/{EMPTY}", None), (f"/{C}/{OBJ}", BODY)):
        r = owner.call("PUT", base + path, content=content)
        assert r.status_code in (201, 202), r.text
    return acct


def _swift(p: Persona, acct: str, call: Call) -> httpx.Response:
    return p.call(call.method, f"/object-storage/v1/{acct}{call.path}",
                  headers=call.headers, content=call.content, params=call.params)


def _unchanged(personas: Personas, acct: str) -> None:
    owner, base = personas.owner, f"/object-storage/v1/{acct}"
    r = owner.call("GET", f"{base}/{C}/{OBJ}")
    assert (r.status_code, r.content) == (200, BODY)
    assert "x-object-meta-owned" not in r.headers
    assert owner.call("HEAD", f"{base}/{EMPTY}").status_code == 204
    names = [o["name"] for o in owner.ok("GET", f"{base}/{C}", params={"format": "json"})]
    assert names == [OBJ]
    assert sorted(c["name"] for c in owner.ok("GET", base, params={"format": "json"})) == [
        EMPTY, C]
    head = owner.call("HEAD", f"{base}/{C}")
    assert "x-container-read" not in head.headers
    assert "x-account-meta-owned" not in owner.call("HEAD", base).headers


def test_the_swift_table_is_covered() -> None:
    svc = next(s for s in registry.services() if s.name == "object_store")
    assert {(r.method, r.path) for r in svc.routes} == set(SWIFT) | ANONYMOUS_ROUTES


@pytest.mark.parametrize("who", ["reader", "roleless", "other"])
def test_swift_routes(personas: Personas, account: str, who: str) -> None:
    p: Persona = getattr(personas, who)
    for calls in SWIFT.values():
        for call in calls:
            r = _swift(p, account, call)
            what = f"{who}: {call.method} {call.path} {call.params or ''}"
            if who == "reader" and not call.write:
                assert r.status_code in (200, 204), f"{what}: {r.status_code} {r.text}"
                if call.method == "GET" and call.path.endswith(OBJ):
                    assert r.content == BODY
            elif call.bulk:
                body = r.json()
                assert r.status_code in (200, 201), f"{what}: {r.status_code} {r.text}"
                assert body["Response Status"].startswith("4"), f"{what}: {body}"
                assert all(e[1] == "403 Forbidden" for e in body["Errors"]), f"{what}: {body}"
                assert body.get("Number Deleted", body.get("Number Files Created")) == 0
            else:
                assert r.status_code == 403, f"{what}: {r.status_code} {r.text}"
                if call.method != "HEAD":
                    assert r.text == SWIFT_FORBIDDEN, what
    _unchanged(personas, account)


def test_a_reader_sees_no_owner_secrets(personas: Personas, account: str) -> None:
    """Swift's swift_owner headers (ACLs, temp URL keys) are the operators' only."""
    owner, reader, base = personas.owner, personas.reader, f"/object-storage/v1/{account}"
    owner.ok("POST", base, headers={"X-Account-Meta-Temp-URL-Key": "acct-secret"})
    owner.ok("POST", f"{base}/{EMPTY}", headers={"X-Container-Meta-Temp-URL-Key": "c-secret",
                                                 "X-Container-Write": "sec-a:*"})
    try:
        assert "x-account-meta-temp-url-key" in owner.call("HEAD", base).headers
        acct = reader.call("HEAD", base)
        assert acct.status_code == 204 and "x-account-meta-temp-url-key" not in acct.headers
        cont = reader.call("HEAD", f"{base}/{EMPTY}")
        assert cont.status_code == 204
        assert not {"x-container-meta-temp-url-key", "x-container-write"} & set(cont.headers)
    finally:
        owner.ok("POST", base, headers={"X-Remove-Account-Meta-Temp-URL-Key": "x"})
        owner.ok("POST", f"{base}/{EMPTY}", headers={
            "X-Remove-Container-Meta-Temp-URL-Key": "x", "X-Remove-Container-Write": "x"})


# --- S3 --------------------------------------------------------------------------------------
def _ec2(p: Persona, project_id: str) -> tuple[str, str]:
    cred = p.ok("POST", f"/identity/v3/users/{p.user_id}/credentials/OS-EC2",
                {"tenant_id": project_id})["credential"]
    return cred["access"], cred["secret"]


def _s3(p: Persona, keys: tuple[str, str]) -> BaseClient:
    return boto3.client("s3", endpoint_url=f"{p.cloud.base_url}/s3",
                        aws_access_key_id=keys[0], aws_secret_access_key=keys[1],
                        region_name="us-east-1",
                        config=Config(s3={"addressing_style": "path"},
                                      retries={"max_attempts": 1}))


S3Op = Callable[[BaseClient], Any]
# One boto3 operation per route of the S3 table.
S3: dict[tuple[str, str], tuple[bool, S3Op]] = {
    ("GET", "/"): (False, lambda s: s.list_buckets()),
    ("PUT", "/{bucket}"): (True, lambda s: s.create_bucket(Bucket=f"sec-{uuid.uuid4().hex}")),
    ("HEAD", "/{bucket}"): (False, lambda s: s.head_bucket(Bucket=C)),
    ("GET", "/{bucket}"): (False, lambda s: s.list_objects_v2(Bucket=C)),
    ("DELETE", "/{bucket}"): (True, lambda s: s.delete_bucket(Bucket=EMPTY)),
    ("POST", "/{bucket}"): (True, lambda s: s.delete_objects(
        Bucket=C, Delete={"Objects": [{"Key": OBJ}]})),
    ("GET", "/{bucket}/{key:path}"): (False, lambda s: s.get_object(Bucket=C, Key=OBJ)),
    ("PUT", "/{bucket}/{key:path}"): (True, lambda s: s.put_object(Bucket=C, Key=OBJ,
                                                                   Body=b"overwritten")),
    ("POST", "/{bucket}/{key:path}"): (True, lambda s: s.create_multipart_upload(
        Bucket=C, Key="mpu")),
    ("DELETE", "/{bucket}/{key:path}"): (True, lambda s: s.delete_object(Bucket=C, Key=OBJ)),
}


def test_the_s3_table_is_covered() -> None:
    svc = next(s for s in registry.services() if s.name == "s3")
    assert {(r.method, r.path) for r in svc.routes} == set(S3)


def _error(op: S3Op, s3: BaseClient) -> tuple[int, str]:
    """The S3 error of one operation. DeleteObjects answers 200 with an error per key (S3's
    own shape): its one key's error is returned, with the status S3 gives that code."""
    try:
        result = op(s3)
    except ClientError as exc:
        resp = exc.response
        return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"]
    errors = result.get("Errors") or []
    assert not result.get("Deleted") and len(errors) == 1, result
    return {"AccessDenied": 403}.get(errors[0]["Code"], 0), errors[0]["Code"]


def _as_sent(method: str, status: int, code: str) -> tuple[int, str]:
    """A HEAD answer has no body: the client knows only the status."""
    return (status, str(status)) if method == "HEAD" else (status, code)


def test_s3_reader_reads_only(personas: Personas, account: str) -> None:
    reader = personas.reader
    assert reader.project_id is not None
    s3 = _s3(reader, _ec2(reader, reader.project_id))
    for (method, path), (write, op) in S3.items():
        if not write:
            op(s3)
            continue
        assert _error(op, s3) == (403, "AccessDenied"), f"reader: {method} {path}"
    assert s3.get_object(Bucket=C, Key=OBJ)["Body"].read() == BODY
    _unchanged(personas, account)


def test_s3_roleless_key_signs_nothing(personas: Personas, account: str) -> None:
    """A role-less user may make itself a key naming sec-a; the key signs nothing there."""
    roleless, owner = personas.roleless, personas.owner
    assert owner.project_id is not None
    s3 = _s3(roleless, _ec2(roleless, owner.project_id))
    for (method, path), (_write, op) in S3.items():
        assert _error(op, s3) == _as_sent(method, 403, "InvalidAccessKeyId"), \
            f"roleless: {method} {path}"
    _unchanged(personas, account)


def test_s3_other_project_reaches_only_its_own_account(personas: Personas,
                                                        account: str) -> None:
    """Buckets are the signer's own containers: sec-a's names are not found from sec-b, and
    a key naming sec-a (where the signer holds no role) signs nothing."""
    other, owner = personas.other, personas.owner
    assert other.project_id is not None and owner.project_id is not None
    own = _s3(other, _ec2(other, other.project_id))
    assert C not in [b["Name"] for b in own.list_buckets()["Buckets"]]
    for (method, path), (_write, op) in S3.items():
        if path == "/" or (method == "PUT" and path == "/{bucket}"):
            continue  # its own account's listing, a new bucket of its own
        assert _error(op, own) in (_as_sent(method, 404, "NoSuchBucket"),
                                   _as_sent(method, 404, "NoSuchKey")), f"other: {method} {path}"
    foreign_key = _s3(other, _ec2(other, owner.project_id))
    for (method, path), (_write, op) in S3.items():
        assert _error(op, foreign_key) == _as_sent(method, 403, "InvalidAccessKeyId"), \
            f"other with a sec-a key: {method} {path}"
    _unchanged(personas, account)
