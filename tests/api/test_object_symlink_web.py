"""Swift's symlink, staticweb and crossdomain middlewares, through openstacksdk and raw HTTP
with real tokens: links followed (across containers and accounts the caller may read, up to
two links), shown with ?symlink=get, listed with symlink_path; static links; a container's
web index, listings and error pages for anonymous readers; /crossdomain.xml; all in /info."""

from __future__ import annotations

import hashlib

import httpx
import openstack.connection

from tests.api.conftest import unique
from tests.api.test_object_store import swift_url
from tests.support.server import RunningCloud

LINK = {"Content-Type": "application/symlink"}


def test_symlinks(admin: openstack.connection.Connection, cloud: RunningCloud) -> None:
    store = admin.object_store
    src, dst = unique("sym-src"), unique("sym-dst")
    store.create_container(name=src)
    store.create_container(name=dst)
    store.create_object(src, "file.txt", data=b"hello links")
    h = {"X-Auth-Token": cloud.admin_token()}
    url = swift_url(cloud)

    def put(path: str, headers: dict[str, str], body: bytes = b"") -> httpx.Response:
        return httpx.put(f"{url}/{path}", headers={**h, **headers}, content=body)

    assert put(f"{dst}/link", {**LINK, "X-Symlink-Target": f"{src}/file.txt"}
               ).status_code == 201
    assert store.download_object("link", dst) == b"hello links"
    got = httpx.get(f"{url}/{dst}/link", headers=h)
    assert got.headers["Content-Location"].endswith(f"/{src}/file.txt")
    raw = httpx.get(f"{url}/{dst}/link", params={"symlink": "get"}, headers=h)
    assert raw.content == b"" and raw.headers["X-Symlink-Target"] == f"{src}/file.txt"
    listed = httpx.get(f"{url}/{dst}", params={"format": "json"}, headers=h).json()
    entry = next(o for o in listed if o["name"] == "link")
    assert entry["content_type"] == "application/symlink"
    assert entry["symlink_path"].endswith(f"/{src}/file.txt")
    # a link to a link is followed; a third hop is too many (409)
    assert put(f"{dst}/l2", {"X-Symlink-Target": f"{dst}/link"}).status_code == 201
    assert httpx.get(f"{url}/{dst}/l2", headers=h).content == b"hello links"
    assert put(f"{dst}/l3", {"X-Symlink-Target": f"{dst}/l2"}).status_code == 201
    assert httpx.get(f"{url}/{dst}/l3", headers=h).status_code == 409
    # a copy of a link holds the target's bytes
    copied = httpx.request("COPY", f"{url}/{dst}/link",
                           headers={**h, "Destination": f"{dst}/copy"})
    assert copied.status_code == 201, copied.text
    assert store.download_object("copy", dst) == b"hello links"
    linked = httpx.request("COPY", f"{url}/{dst}/link", params={"symlink": "get"},
                           headers={**h, "Destination": f"{dst}/link-copy"})
    assert linked.status_code == 201, linked.text
    assert httpx.get(f"{url}/{dst}/link-copy", params={"symlink": "get"}, headers=h
                     ).headers["X-Symlink-Target"] == f"{src}/file.txt"
    # POST to a link: its metadata, and a 307 to the target
    posted = httpx.post(f"{url}/{dst}/link", headers={**h, "X-Object-Meta-A": "1"})
    assert posted.status_code == 307 and posted.headers["Location"].endswith(
        f"/{src}/file.txt")
    # static link: the ETag must match now and later
    etag = hashlib.md5(b"hello links", usedforsecurity=False).hexdigest()
    assert put(f"{dst}/static", {"X-Symlink-Target": f"{src}/file.txt",
                                 "X-Symlink-Target-Etag": etag}).status_code == 201
    assert put(f"{dst}/bad", {"X-Symlink-Target": f"{src}/file.txt",
                              "X-Symlink-Target-Etag": "0" * 32}).status_code == 409
    store.create_object(src, "file.txt", data=b"changed")
    assert httpx.get(f"{url}/{dst}/static", headers=h).status_code == 409
    assert httpx.get(f"{url}/{dst}/link", headers=h).content == b"changed"
    # bad input: Swift's 4xx naming what is wrong; nothing made
    for headers, body, code, word in (
            ({"X-Symlink-Target": "no-slash"}, b"", 412, "X-Symlink-Target"),
            ({"X-Symlink-Target": f"{src}/file.txt"}, b"data", 400, "zero byte"),
            ({"X-Symlink-Target-Account": "AUTH_x"}, b"", 400, "X-Symlink-Target"),
            ({"X-Symlink-Target": f"{src}/{'o' * 2000}"}, b"", 400, "name length")):
        r = put(f"{dst}/broken", headers, body)
        assert r.status_code == code and word in r.text, (headers, r.status_code, r.text)
    assert httpx.head(f"{url}/{dst}/broken", headers=h).status_code == 404
    # broken link: made, then 404 on read; deleting the target breaks a link
    assert put(f"{dst}/dangling", {"X-Symlink-Target": f"{src}/missing"}).status_code == 201
    assert httpx.get(f"{url}/{dst}/dangling", headers=h).status_code == 404
    # another project reaches neither the link nor, through its own link, the target
    demo = {"X-Auth-Token": cloud.token("demo")}
    assert httpx.get(f"{url}/{dst}/link", headers=demo).status_code == 403
    demo_url = swift_url(cloud, "demo")
    mine = unique("demo-links")
    assert httpx.put(f"{demo_url}/{mine}", headers=demo).status_code == 201
    sneaky = httpx.put(f"{demo_url}/{mine}/peek", headers={
        **demo, "X-Symlink-Target": f"{src}/file.txt",
        "X-Symlink-Target-Account": f"AUTH_{cloud.accounts['admin'].project_id}"})
    assert sneaky.status_code == 201
    assert httpx.get(f"{demo_url}/{mine}/peek", headers=demo).status_code == 403
    assert "symlink" in httpx.get(f"{cloud.base_url}/object-storage/info").json()


def test_staticweb_and_crossdomain(admin: openstack.connection.Connection,
                                   cloud: RunningCloud) -> None:
    store = admin.object_store
    site = unique("site")
    store.create_container(name=site)
    store.create_object(site, "index.html", data=b"<h1>home</h1>")
    store.create_object(site, "docs/a.txt", data=b"a")
    store.create_object(site, "404error.html", data=b"<p>gone</p>")
    h = {"X-Auth-Token": cloud.admin_token()}
    url = f"{swift_url(cloud)}/{site}"
    anon = httpx.Client(follow_redirects=False)
    # private: staticweb changes nothing for anonymous readers
    httpx.post(url, headers={**h, "X-Container-Meta-Web-Index": "index.html"})
    assert anon.get(url + "/").status_code == 401
    httpx.post(url, headers={**h, "X-Container-Read": ".r:*,.rlistings",
                             "X-Container-Meta-Web-Listings": "true",
                             "X-Container-Meta-Web-Listings-Css": "listings.css",
                             "X-Container-Meta-Web-Error": "error.html"})
    redirect = anon.get(url)
    assert redirect.status_code == 301 and redirect.headers["Location"].endswith(f"/{site}/")
    assert anon.get(url + "/").content == b"<h1>home</h1>"
    listing = anon.get(url + "/docs/")
    assert listing.status_code == 200 and 'href="a.txt"' in listing.text
    assert '<link rel="stylesheet" type="text/css" href="../listings.css" />' in listing.text
    missing = anon.get(url + "/nothing-here")
    assert missing.status_code == 404 and missing.content == b"<p>gone</p>"
    # the owner, with a token, still gets the API
    assert httpx.get(url, headers=h).text.split() == ["404error.html", "docs/a.txt",
                                                      "index.html"]
    store.delete_object("index.html", container=site)
    top = anon.get(url + "/")
    assert top.status_code == 200 and 'href="docs/"' in top.text
    # crossdomain.xml
    cd = anon.get(f"{cloud.base_url}/object-storage/crossdomain.xml")
    assert cd.status_code == 200 and cd.text.startswith('<?xml version="1.0"?>')
    assert cd.text.endswith("</cross-domain-policy>")
    info = anon.get(f"{cloud.base_url}/object-storage/info").json()
    assert "staticweb" in info and "crossdomain" in info
