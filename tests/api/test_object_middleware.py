"""Swift's middleware features: DLO, SLO, temp URLs, versioning, bulk delete and
extract-archive, and the real `openstack container/object` CLI."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import Cli, unique
from tests.support.server import RunningCloud


@pytest.fixture
def http(cloud: RunningCloud) -> Iterator[httpx.Client]:
    base = f"{cloud.base_url}/object-storage/v1/AUTH_{cloud.accounts['admin'].project_id}"
    with httpx.Client(base_url=base, headers={"X-Auth-Token": cloud.admin_token()},
                      timeout=60) as client:
        yield client


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def test_dynamic_large_object(http: httpx.Client) -> None:
    c = unique("dlo")
    http.put(f"/{c}")
    parts = [b"one-", b"two-", b"three"]
    for i, part in enumerate(parts):
        http.put(f"/{c}/seg/{i:03d}", content=part)
    r = http.put(f"/{c}/big", content=b"", headers={"X-Object-Manifest": f"{c}/seg/"})
    assert r.status_code == 201
    got = http.get(f"/{c}/big")
    assert got.content == b"".join(parts)
    assert got.headers["etag"] == '"' + md5("".join(md5(p) for p in parts).encode()) + '"'
    assert got.headers["x-object-manifest"] == f"{c}/seg/"
    assert http.get(f"/{c}/big", headers={"Range": "bytes=2-6"}).content == b"e-two"
    bad = http.put(f"/{c}/bad", content=b"", headers={"X-Object-Manifest": "nocontainer"})
    assert bad.status_code == 400


def test_static_large_object(http: httpx.Client) -> None:
    c = unique("slo")
    http.put(f"/{c}")
    a, b = b"a" * 1000, b"b" * 500
    http.put(f"/{c}/s1", content=a)
    http.put(f"/{c}/s2", content=b)
    manifest = [{"path": f"/{c}/s1", "etag": md5(a), "size_bytes": 1000},
                {"path": f"/{c}/s2", "etag": None, "size_bytes": None}]
    r = http.put(f"/{c}/big", params={"multipart-manifest": "put"},
                 content=json.dumps(manifest))
    assert r.status_code == 201, r.text
    slo_etag = md5((md5(a) + md5(b)).encode())
    assert r.headers["etag"] == f'"{slo_etag}"'
    head = http.head(f"/{c}/big")
    assert head.headers["x-static-large-object"] == "True"
    assert head.headers["content-length"] == "1500"
    assert http.get(f"/{c}/big").content == a + b
    assert http.get(f"/{c}/big", headers={"Range": "bytes=998-1001"}).content == b"aabb"
    raw = http.get(f"/{c}/big", params={"multipart-manifest": "get"}).json()
    assert [s["name"] for s in raw] == [f"/{c}/s1", f"/{c}/s2"]
    bad = [{"path": f"/{c}/s1", "etag": "0" * 32, "size_bytes": 1000},
           {"path": f"/{c}/missing"}]
    r = http.put(f"/{c}/bad", params={"multipart-manifest": "put"}, content=json.dumps(bad))
    assert r.status_code == 400 and "Etag Mismatch" in r.text and "404 Not Found" in r.text
    assert http.put(f"/{c}/bad", params={"multipart-manifest": "put"},
                    content=b"{not json").status_code == 400
    assert http.put(f"/{c}/bad", params={"multipart-manifest": "put"},
                    content=b"[]").status_code == 400
    listed = http.get(f"/{c}", params={"format": "json"}).json()
    assert {o["name"]: o["bytes"] for o in listed}["big"] == 1500
    d = http.delete(f"/{c}/big", params={"multipart-manifest": "delete"},
                    headers={"Accept": "application/json"})
    assert d.status_code == 200 and d.json()["Number Deleted"] == 3
    assert http.head(f"/{c}").headers["x-container-object-count"] == "0"


def test_temp_urls(cloud: RunningCloud, http: httpx.Client) -> None:
    import hmac

    c = unique("tmp")
    http.put(f"/{c}")
    http.put(f"/{c}/o.txt", content=b"temp")
    http.post("", headers={"X-Account-Meta-Temp-URL-Key": "secret"})
    path = f"/object-storage/v1/AUTH_{cloud.accounts['admin'].project_id}/{c}/o.txt"
    expires = int(time.time()) + 60

    def sig(method: str, key: str = "secret", digest: str = "sha256",
            signed: str = path, when: int = expires) -> str:
        return hmac.new(key.encode(), f"{method}\n{when}\n{signed}".encode(),
                        getattr(hashlib, digest)).hexdigest()

    url = f"{cloud.base_url}{path}"
    for digest in ("sha1", "sha256", "sha512"):
        r = httpx.get(url, params={"temp_url_sig": sig("GET", digest=digest),
                                   "temp_url_expires": expires})
        assert r.status_code == 200 and r.content == b"temp", digest
        assert r.headers["content-disposition"].startswith("attachment")
    short = path.removeprefix("/object-storage")
    assert httpx.get(url, params={"temp_url_sig": sig("GET", signed=short),
                                  "temp_url_expires": expires}).status_code == 200
    inline = httpx.get(url, params={"temp_url_sig": sig("GET"), "temp_url_expires": expires,
                                    "inline": ""})
    assert inline.headers["content-disposition"] == "inline"
    assert httpx.head(url, params={"temp_url_sig": sig("GET"),
                                   "temp_url_expires": expires}).status_code == 200
    assert httpx.get(url, params={"temp_url_sig": sig("GET", key="wrong"),
                                  "temp_url_expires": expires}).status_code == 401
    old = int(time.time()) - 10
    assert httpx.get(url, params={"temp_url_sig": sig("GET", when=old),
                                  "temp_url_expires": old}).status_code == 401
    put = httpx.put(url, content=b"new", params={"temp_url_sig": sig("PUT"),
                                                 "temp_url_expires": expires})
    assert put.status_code == 201
    assert httpx.put(url, content=b"x", params={"temp_url_sig": sig("GET"),
                                                "temp_url_expires": expires}).status_code == 401
    http.post(f"/{c}", headers={"X-Container-Meta-Temp-URL-Key": "ckey"})
    r = httpx.get(url, params={"temp_url_sig": sig("GET", key="ckey"),
                               "temp_url_expires": expires})
    assert r.content == b"new"


def test_versioning(http: httpx.Client) -> None:
    versions, base = unique("vers"), unique("base")
    http.put(f"/{versions}")
    http.put(f"/{base}", headers={"X-Versions-Location": versions})
    assert http.head(f"/{base}").headers["x-versions-location"] == versions
    http.put(f"/{base}/o", content=b"v1")
    http.put(f"/{base}/o", content=b"v2")
    http.put(f"/{base}/o", content=b"v3")
    assert http.head(f"/{versions}").headers["x-container-object-count"] == "2"
    http.delete(f"/{base}/o")
    assert http.get(f"/{base}/o").content == b"v2"
    http.delete(f"/{base}/o")
    assert http.get(f"/{base}/o").content == b"v1"
    http.delete(f"/{base}/o")
    assert http.get(f"/{base}/o").status_code == 404
    assert http.head(f"/{versions}").headers["x-container-object-count"] == "0"
    history, hbase = unique("hist"), unique("hbase")
    http.put(f"/{history}")
    http.put(f"/{hbase}", headers={"X-History-Location": history})
    http.put(f"/{hbase}/o", content=b"h1")
    http.put(f"/{hbase}/o", content=b"h2")
    http.delete(f"/{hbase}/o")
    assert http.get(f"/{hbase}/o").status_code == 404
    assert len(http.get(f"/{history}").text.split()) == 2


def test_bulk_extract_and_delete(http: httpx.Client) -> None:
    c = unique("bulk")
    for fmt, mode in (("tar", "w"), ("tar.gz", "w:gz"), ("tar.bz2", "w:bz2")):
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode=mode) as tar:  # type: ignore[call-overload]
            for name, data in ((f"{c}/a.txt", b"A"), (f"{c}/d/b.txt", b"BB")):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
        r = http.put("", params={"extract-archive": fmt}, content=buf.getvalue(),
                     headers={"Accept": "application/json"})
        assert r.status_code == 200 and r.json()["Number Files Created"] == 2, (fmt, r.text)
    assert http.get(f"/{c}").text.split() == ["a.txt", "d/b.txt"]
    assert http.get(f"/{c}/d/b.txt").content == b"BB"
    bad = http.put("", params={"extract-archive": "tar"}, content=b"not a tar",
                   headers={"Accept": "application/json"})
    assert bad.status_code == 400
    body = f"{c}/a.txt\n{c}/d/b.txt\n{c}/nope\n{c}\n"
    r = http.post("", params={"bulk-delete": ""}, content=body,
                  headers={"Accept": "application/json", "Content-Type": "text/plain"})
    assert r.status_code == 200
    assert r.json()["Number Deleted"] == 3 and r.json()["Number Not Found"] == 1
    assert http.head(f"/{c}").status_code == 404


@pytest.mark.sqlite_only
def test_cli_container_and_object(cli: Cli, tmp_path: Path) -> None:
    name = unique("clic")
    out = json.loads(cli.run("container", "create", name, "-f", "json").stdout)
    assert out[0]["container"] == name
    src = tmp_path / "hello.txt"
    src.write_bytes(b"hello from the cli\n")
    cli.run("object", "create", name, str(src), "--name", "dir/hello.txt")
    listed = json.loads(cli.run("object", "list", name, "-f", "json").stdout)
    assert [o["Name"] for o in listed] == ["dir/hello.txt"]
    shown = json.loads(cli.run("object", "show", name, "dir/hello.txt", "-f", "json").stdout)
    assert shown["etag"] == md5(b"hello from the cli\n")
    dest = tmp_path / "back.txt"
    cli.run("object", "save", name, "dir/hello.txt", "--file", str(dest))
    assert dest.read_bytes() == b"hello from the cli\n"
    cli.run("container", "set", name, "--property", "color=red")
    shown = json.loads(cli.run("container", "show", name, "-f", "json").stdout)
    assert "color" in str(shown["properties"]).lower()
    assert name in cli.run("container", "list", "-f", "value").stdout
    failed = cli.run("container", "delete", name, check=False)
    assert failed.returncode != 0
    cli.run("container", "delete", "--recursive", name)
    assert name not in cli.run("container", "list", "-f", "value").stdout
