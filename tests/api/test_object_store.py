"""Swift v1 through the real openstacksdk and raw HTTP: objects, listings, isolation, ACLs,
ranges, conditionals, ETags, quotas, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import openstack
import pytest
from openstack import exceptions as exc

from tests.api.conftest import unique
from tests.support.server import RunningCloud


def swift_url(cloud: RunningCloud, who: str = "admin") -> str:
    return f"{cloud.base_url}/object-storage/v1/AUTH_{cloud.accounts[who].project_id}"


@pytest.fixture
def admin_http(cloud: RunningCloud) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=swift_url(cloud), headers={"X-Auth-Token": cloud.admin_token()},
                      timeout=60) as client:
        yield client


def test_catalog_and_info(admin: openstack.connection.Connection, cloud: RunningCloud) -> None:
    endpoint = admin.object_store.get_endpoint()
    assert endpoint.rstrip("/") == swift_url(cloud)
    info = admin.object_store.get_info()
    assert info.swift["max_file_size"] > 0 and info.slo["max_manifest_segments"] > 0
    raw = httpx.get(f"{cloud.base_url}/object-storage/info").json()
    for feature in ("slo", "dlo", "bulk_delete", "bulk_upload", "tempurl", "account_quotas",
                    "container_quotas", "versioned_writes"):
        assert feature in raw, feature


def test_upload_download_streamed_md5(admin: openstack.connection.Connection,
                                      tmp_path: Path, admin_http: httpx.Client) -> None:
    store = admin.object_store
    container = unique("files")
    store.create_container(name=container)
    data = os.urandom(3 * 1024 * 1024 + 17)
    source = tmp_path / "blob.bin"
    source.write_bytes(data)
    store.create_object(container, "blob.bin", filename=str(source))
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    meta = store.get_object_metadata("blob.bin", container)
    assert meta.etag == md5 and int(meta.content_length) == len(data)
    digest = hashlib.md5(usedforsecurity=False)
    for chunk in store.stream_object("blob.bin", container, chunk_size=65536):
        digest.update(chunk)
    assert digest.hexdigest() == md5

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(data), 1 << 20):
            yield data[start:start + (1 << 20)]

    r = admin_http.put(f"/{container}/chunked.bin", content=chunks())
    assert r.status_code == 201 and r.headers["etag"] == md5
    with admin_http.stream("GET", f"/{container}/chunked.bin") as resp:
        got = hashlib.md5(usedforsecurity=False)
        for chunk in resp.iter_bytes():
            got.update(chunk)
    assert got.hexdigest() == md5
    head = admin_http.head(f"/{container}/chunked.bin")
    assert head.headers["content-type"] == "application/octet-stream"
    assert head.headers["x-timestamp"] and head.headers["last-modified"]
    usage = admin_http.head(f"/{container}")
    assert usage.headers["x-container-object-count"] == "2"
    assert usage.headers["x-container-bytes-used"] == str(2 * len(data))


def test_listings(admin_http: httpx.Client, admin: openstack.connection.Connection) -> None:
    container = unique("list")
    assert admin_http.put(f"/{container}").status_code == 201
    assert admin_http.put(f"/{container}").status_code == 202
    names = ["a/1", "a/2", "b/1", "c", "d.txt", "e/f/g"]
    for name in names:
        assert admin_http.put(f"/{container}/{name}", content=name.encode()).status_code == 201
    plain = admin_http.get(f"/{container}")
    assert plain.text.splitlines() == names
    assert plain.headers["x-container-object-count"] == str(len(names))

    def listing(**params: str) -> list[str]:
        r = admin_http.get(f"/{container}", params={"format": "json", **params})
        assert r.status_code == 200, r.text
        return [e.get("name", e.get("subdir")) for e in r.json()]

    assert listing(delimiter="/") == ["a/", "b/", "c", "d.txt", "e/"]
    assert listing(prefix="a/") == ["a/1", "a/2"]
    assert listing(prefix="e/", delimiter="/") == ["e/f/"]
    assert listing(marker="b/1") == ["c", "d.txt", "e/f/g"]
    assert listing(end_marker="b/1") == ["a/1", "a/2"]
    assert listing(marker="a/1", end_marker="d.txt", limit="2") == ["a/2", "b/1"]
    assert listing(reverse="true") == list(reversed(names))
    assert listing(reverse="true", marker="c", delimiter="/") == ["b/", "a/"]
    assert listing(path="a") == ["a/1", "a/2"]
    xml = admin_http.get(f"/{container}", params={"format": "xml"})
    assert xml.headers["content-type"].startswith("application/xml")
    assert "<name>d.txt</name>" in xml.text
    assert admin_http.get(f"/{container}", params={"limit": "10001"}).status_code == 412
    sdk_names = [o.name for o in admin.object_store.objects(container, prefix="a/")]
    assert sdk_names == ["a/1", "a/2"]
    accounts = admin_http.get("", params={"format": "json", "prefix": container})
    assert [c["name"] for c in accounts.json()] == [container]
    assert accounts.json()[0]["count"] == len(names)
    assert admin_http.delete(f"/{container}").status_code == 409
    for name in names:
        assert admin_http.delete(f"/{container}/{name}").status_code == 204
    assert admin_http.get(f"/{container}").status_code == 204
    assert admin_http.delete(f"/{container}").status_code == 204
    missing = admin_http.get(f"/{container}")
    assert missing.status_code == 404
    assert missing.text == ("<html><h1>Not Found</h1><p>The resource could not be found."
                            "</p></html>")
    assert missing.headers["x-trans-id"].startswith("tx")
    assert missing.headers["x-openstack-request-id"] == missing.headers["x-trans-id"]


def test_projects_are_isolated_until_an_acl_allows(cloud: RunningCloud,
                                                  admin_http: httpx.Client,
                                                  demo: openstack.connection.Connection
                                                  ) -> None:
    container = unique("private")
    admin_http.put(f"/{container}")
    admin_http.put(f"/{container}/doc", content=b"secret")
    url = f"{swift_url(cloud)}/{container}/doc"
    demo_token = cloud.token("demo")
    assert httpx.get(url, headers={"X-Auth-Token": demo_token}).status_code == 403
    assert httpx.get(url).status_code == 401
    assert httpx.get(swift_url(cloud), headers={"X-Auth-Token": demo_token}).status_code == 403
    assert container not in [c.name for c in demo.object_store.containers()]
    with pytest.raises(exc.NotFoundException):  # demo's own account has no such container
        demo.object_store.download_object("doc", container=container)
    demo_project = cloud.accounts["demo"].project_id
    r = admin_http.post(f"/{container}", headers={"X-Container-Read": f"{demo_project}:*"})
    assert r.status_code == 204
    assert httpx.get(url, headers={"X-Auth-Token": demo_token}).content == b"secret"
    assert httpx.get(url).status_code == 401
    put = httpx.put(url, content=b"x", headers={"X-Auth-Token": demo_token})
    assert put.status_code == 403
    admin_http.post(f"/{container}", headers={"X-Container-Write": f"{demo_project}:*"})
    put = httpx.put(f"{swift_url(cloud)}/{container}/from-demo", content=b"hi",
                    headers={"X-Auth-Token": demo_token})
    assert put.status_code == 201
    admin_http.post(f"/{container}", headers={"X-Container-Read": ".r:*"})
    assert httpx.get(url).content == b"secret"
    assert httpx.get(f"{swift_url(cloud)}/{container}").status_code == 401
    admin_http.post(f"/{container}", headers={"X-Container-Read": ".r:*,.rlistings"})
    assert httpx.get(f"{swift_url(cloud)}/{container}").text.split() == ["doc", "from-demo"]
    bad = admin_http.post(f"/{container}", headers={"X-Container-Read": ".bogus:x"})
    assert bad.status_code == 400


def test_ranged_and_conditional_get(admin_http: httpx.Client) -> None:
    container = unique("ranges")
    admin_http.put(f"/{container}")
    data = bytes(range(256)) * 4
    etag = admin_http.put(f"/{container}/o", content=data).headers["etag"]
    r = admin_http.get(f"/{container}/o", headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == data[10:20]
    assert r.headers["content-range"] == f"bytes 10-19/{len(data)}"
    assert admin_http.get(f"/{container}/o", headers={"Range": "bytes=-5"}).content == data[-5:]
    assert admin_http.get(f"/{container}/o", headers={"Range": "bytes=1000-"}).content == \
        data[1000:]
    multi = admin_http.get(f"/{container}/o", headers={"Range": "bytes=0-1,5-6"})
    assert multi.status_code == 206
    assert multi.headers["content-type"].startswith("multipart/byteranges")
    assert int(multi.headers["content-length"]) == len(multi.content)
    unsat = admin_http.get(f"/{container}/o", headers={"Range": "bytes=5000-"})
    assert unsat.status_code == 416 and unsat.headers["content-range"] == f"bytes */{len(data)}"
    assert admin_http.get(f"/{container}/o", headers={"Range": "junk"}).status_code == 200
    assert admin_http.get(f"/{container}/o", headers={"If-None-Match": etag}).status_code == 304
    assert admin_http.get(f"/{container}/o", headers={"If-Match": etag}).status_code == 200
    assert admin_http.get(f"/{container}/o", headers={"If-Match": '"nope"'}).status_code == 412
    last = admin_http.head(f"/{container}/o").headers["last-modified"]
    assert admin_http.get(f"/{container}/o",
                          headers={"If-Modified-Since": last}).status_code == 304
    assert admin_http.get(f"/{container}/o", headers={
        "If-Unmodified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"}).status_code == 412
    again = admin_http.put(f"/{container}/o", content=b"x", headers={"If-None-Match": "*"})
    assert again.status_code == 412


def test_etag_mismatch_is_422_and_nothing_is_stored(admin_http: httpx.Client) -> None:
    container = unique("etag")
    admin_http.put(f"/{container}")
    r = admin_http.put(f"/{container}/o", content=b"abc", headers={"ETag": "0" * 32})
    assert r.status_code == 422
    assert admin_http.head(f"/{container}/o").status_code == 404
    assert admin_http.head(f"/{container}").headers["x-container-bytes-used"] == "0"
    good = hashlib.md5(b"abc", usedforsecurity=False).hexdigest()
    assert admin_http.put(f"/{container}/o", content=b"abc",
                          headers={"ETag": good}).status_code == 201


def test_container_quotas_413(admin_http: httpx.Client) -> None:
    container = unique("quota")
    admin_http.put(f"/{container}", headers={"X-Container-Meta-Quota-Bytes": "10",
                                             "X-Container-Meta-Quota-Count": "2"})
    assert admin_http.put(f"/{container}/a", content=b"12345").status_code == 201
    assert admin_http.put(f"/{container}/b", content=b"123456").status_code == 413
    assert admin_http.put(f"/{container}/b", content=b"12345").status_code == 201
    assert admin_http.put(f"/{container}/c", content=b"").status_code == 413
    usage = admin_http.head(f"/{container}").headers
    assert usage["x-container-object-count"] == "2"
    assert usage["x-container-bytes-used"] == "10"
    bad = admin_http.post(f"/{container}", headers={"X-Container-Meta-Quota-Bytes": "x"})
    assert bad.status_code == 400


def test_account_quota_only_reseller_sets_it(cloud: RunningCloud,
                                            admin: openstack.connection.Connection) -> None:
    ident = admin.identity
    project = ident.create_project(name=unique("qp"), domain_id="default")
    owner = ident.create_user(name=unique("qo"), password="pw-owner-1", domain_id="default")
    reseller = ident.create_user(name=unique("qr"), password="pw-res-1", domain_id="default")
    ident.assign_project_role_to_user(project, owner, ident.find_role("member"))
    ident.assign_project_role_to_user(project, reseller, ident.find_role("ResellerAdmin"))
    from tests.support.server import password_token

    owner_tok = password_token(cloud.auth_url, owner.name, "pw-owner-1", project.name)
    res_tok = password_token(cloud.auth_url, reseller.name, "pw-res-1", project.name)
    base = f"{cloud.base_url}/object-storage/v1/AUTH_{project.id}"
    own = {"X-Auth-Token": owner_tok}
    r = httpx.post(base, headers={**own, "X-Account-Meta-Quota-Bytes": "100"})
    assert r.status_code == 403
    r = httpx.post(base, headers={"X-Auth-Token": res_tok, "X-Account-Meta-Quota-Bytes": "8"})
    assert r.status_code == 204
    httpx.put(f"{base}/c", headers=own)
    assert httpx.put(f"{base}/c/a", content=b"12345678", headers=own).status_code == 201
    assert httpx.put(f"{base}/c/b", content=b"1", headers=own).status_code == 413
    r = httpx.post(base, headers={"X-Auth-Token": res_tok,
                                  "X-Remove-Account-Meta-Quota-Bytes": "x"})
    assert r.status_code == 204
    assert httpx.put(f"{base}/c/b", content=b"1", headers=own).status_code == 201


def test_metadata_copy_post_and_expiry(admin_http: httpx.Client) -> None:
    container = unique("meta")
    admin_http.put(f"/{container}")
    r = admin_http.put(f"/{container}/src.txt", content=b"source", headers={
        "X-Object-Meta-Color": "blue", "Content-Disposition": "attachment; filename=x",
        "Content-Encoding": "identity"})
    assert r.status_code == 201
    head = admin_http.head(f"/{container}/src.txt").headers
    assert head["content-type"] == "text/plain"
    assert head["x-object-meta-color"] == "blue"
    assert head["content-disposition"] == "attachment; filename=x"
    assert head["content-encoding"] == "identity"
    copied = admin_http.put(f"/{container}/dst", headers={
        "X-Copy-From": f"{container}/src.txt", "X-Object-Meta-Size": "big"})
    assert copied.status_code == 201
    assert copied.headers["x-copied-from"] == f"{container}/src.txt"
    dst = admin_http.get(f"/{container}/dst")
    assert dst.content == b"source" and dst.headers["x-object-meta-color"] == "blue"
    assert dst.headers["x-object-meta-size"] == "big"
    copy2 = admin_http.request("COPY", f"/{container}/src.txt",
                               headers={"Destination": f"{container}/dst2"})
    assert copy2.status_code == 201
    assert admin_http.get(f"/{container}/dst2").content == b"source"
    assert admin_http.post(f"/{container}/dst", headers={
        "X-Object-Meta-Only": "this"}).status_code == 202
    after = admin_http.head(f"/{container}/dst").headers
    assert after["x-object-meta-only"] == "this" and "x-object-meta-color" not in after
    r = admin_http.post(f"/{container}/dst", headers={"X-Delete-After": "0"})
    assert r.status_code == 202
    assert admin_http.get(f"/{container}/dst").status_code == 404
    assert admin_http.post(f"/{container}/dst2", headers={
        "X-Delete-At": "1"}).status_code == 400
    acct = admin_http.post("", headers={"X-Account-Meta-Owner": "me"})
    assert acct.status_code == 204
    assert admin_http.head("").headers["x-account-meta-owner"] == "me"
    admin_http.post("", headers={"X-Remove-Account-Meta-Owner": "x"})
    assert "x-account-meta-owner" not in admin_http.head("").headers
