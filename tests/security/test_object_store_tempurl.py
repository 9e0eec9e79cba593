"""Temp URLs reach only what Swift's tempurl middleware lets them: the signing key's account
(its container, for a container key), never another account's objects through a copy, and
never a pointer (X-Object-Manifest, X-Symlink-Target) or a manifest write or delete."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator

import httpx
import pytest

from onestack.core.object_store.tempurl import sign
from tests.api.conftest import cloud, pg_server, unique  # noqa: F401  (the API suite's clouds)
from tests.support.server import RunningCloud

KEY = "demo-tempurl-key"


def _swift(c: RunningCloud, who: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{c.base_url}/object-storage/v1/AUTH_{c.accounts[who].project_id}",
        headers={"X-Auth-Token": c.token(who)}, timeout=60)


@pytest.fixture
def demo(cloud: RunningCloud) -> Iterator[httpx.Client]:  # noqa: F811
    with _swift(cloud, "demo") as client:
        assert client.post("", headers={"X-Account-Meta-Temp-URL-Key": KEY}).status_code == 204
        yield client


@pytest.fixture
def victim(cloud: RunningCloud) -> Iterator[tuple[str, str]]:  # noqa: F811
    """Another project's (admin's) private object: (account, 'container/object')."""
    with _swift(cloud, "admin") as admin:
        c = unique("secret")
        admin.put(f"/{c}")
        assert admin.put(f"/{c}/backup.tar", content=b"the victim's bytes").status_code == 201
        yield f"AUTH_{cloud.accounts['admin'].project_id}", f"{c}/backup.tar"
        admin.delete(f"/{c}/backup.tar")
        admin.delete(f"/{c}")


def _signed(client: httpx.Client, method: str, path: str, key: str = KEY) -> dict[str, str]:
    expires = int(time.time()) + 300
    full = client.base_url.path.rstrip("/").removeprefix("/object-storage") + path
    return {"temp_url_sig": sign(key, method, expires, full), "temp_url_expires": str(expires)}


def _refused_400(r: httpx.Response, header: str) -> None:
    assert r.status_code == 400, r.text
    assert r.text == f"The header {header!r} is not allowed in this tempurl"


def test_put_temp_url_cannot_copy_from_another_account(
        demo: httpx.Client, victim: tuple[str, str]) -> None:
    account, source = victim
    c = unique("loot")
    demo.put(f"/{c}")
    path = f"/{c}/stolen"
    anon = httpx.Client(base_url=demo.base_url, timeout=60)
    r = anon.put(path, params=_signed(demo, "PUT", path), content=b"",
                 headers={"X-Copy-From": source, "X-Copy-From-Account": account})
    _refused_400(r, "X-Copy-From")
    r = anon.put(path, params=_signed(demo, "PUT", path), content=b"",
                 headers={"X-Copy-From-Account": account})
    _refused_400(r, "X-Copy-From-Account")
    assert demo.get(path).status_code == 404  # nothing was copied
    # and a plain PUT with the same temp URL still works
    assert anon.put(path, params=_signed(demo, "PUT", path), content=b"ok").status_code == 201
    demo.delete(path)
    demo.delete(f"/{c}")


def test_put_temp_url_cannot_plant_pointers(demo: httpx.Client,
                                            victim: tuple[str, str]) -> None:
    c = unique("ptr")
    demo.put(f"/{c}")
    path = f"/{c}/ptr"
    anon = httpx.Client(base_url=demo.base_url, timeout=60)
    for header, value in (("X-Object-Manifest", f"{c}/seg"),
                          ("X-Symlink-Target", victim[1])):
        r = anon.put(path, params=_signed(demo, "PUT", path), content=b"",
                     headers={header: value})
        _refused_400(r, header)
    r = anon.put(path, params={**_signed(demo, "PUT", path), "multipart-manifest": "put"},
                 content=b"[]")
    assert r.status_code == 400 and "multipart-manifest" in r.text
    assert demo.get(path).status_code == 404
    demo.delete(f"/{c}")


def test_container_key_reaches_only_its_container(demo: httpx.Client) -> None:
    """An SLO whose segment lives in another container: the account key's temp URL reads it
    (Swift: same account), a container key's temp URL is refused the other container."""
    mine, other = unique("mine"), unique("other")
    demo.put(f"/{mine}", headers={"X-Container-Meta-Temp-URL-Key": "ckey"})
    demo.put(f"/{other}")
    seg = b"segment bytes outside the container"
    demo.put(f"/{other}/seg", content=seg)
    manifest = [{"path": f"/{other}/seg", "etag": hashlib.md5(seg).hexdigest(),
                 "size_bytes": len(seg)}]
    r = demo.put(f"/{mine}/big", params={"multipart-manifest": "put"},
                 content=json.dumps(manifest))
    assert r.status_code == 201, r.text
    anon = httpx.Client(base_url=demo.base_url, timeout=60)
    path = f"/{mine}/big"
    assert anon.get(path, params=_signed(demo, "GET", path)).content == seg
    r = anon.get(path, params=_signed(demo, "GET", path, key="ckey"))
    assert r.status_code == 401
    # a DELETE temp URL may delete the manifest, not the segments it names
    r = anon.delete(path, params={**_signed(demo, "DELETE", path),
                                  "multipart-manifest": "delete"})
    assert r.status_code == 400 and "multipart-manifest" in r.text
    assert demo.head(f"/{other}/seg").status_code == 200
    for p in (f"/{mine}/big", f"/{other}/seg", f"/{mine}", f"/{other}"):
        demo.delete(p, params={"multipart-manifest": "delete"} if p.endswith("big") else {})
