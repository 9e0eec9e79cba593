"""Glance v2 through the real openstacksdk: data, patches, visibility, members, errors."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import openstack
import pytest
from openstack import exceptions as exc

from tests.api.conftest import unique
from tests.support.server import RunningCloud

QCOW2_HEADER = b"QFI\xfb" + bytes(508)


def _api(cloud: RunningCloud, who: str = "admin") -> tuple[str, dict[str, str]]:
    return f"{cloud.base_url}/image/v2", {"X-Auth-Token": cloud.token(who)}


def _patch_headers(headers: dict[str, str]) -> dict[str, str]:
    return {**headers, "Content-Type": "application/openstack-images-v2.1-json-patch"}


def _wait_active(conn: openstack.connection.Connection, image_id: str) -> Any:
    deadline = time.monotonic() + 30
    while True:
        img = conn.image.get_image(image_id)
        if img.status == "active" or time.monotonic() > deadline:
            return img
        time.sleep(0.1)


def test_version_discovery(cloud: RunningCloud) -> None:
    r = httpx.get(f"{cloud.base_url}/image")
    assert r.status_code == 300
    current = [v for v in r.json()["versions"] if v["status"] == "CURRENT"]
    assert current and current[0]["links"][0]["href"].endswith("/image/v2/")
    assert httpx.get(f"{cloud.base_url}/image/versions").status_code == 200


def test_upload_download_streamed_with_md5(admin: openstack.connection.Connection,
                                           tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    path = tmp_path / "disk.raw"
    path.write_bytes(data)
    img = admin.image.create_image(unique("img"), filename=str(path), disk_format="raw",
                                   container_format="bare", wait=True)
    try:
        got = admin.image.get_image(img.id)
        assert got.status == "active"
        assert got.size == len(data)
        assert got.checksum == hashlib.md5(data).hexdigest()
        assert got.hash_algo == "sha512"
        assert got.hash_value == hashlib.sha512(data).hexdigest()
        assert got.virtual_size == len(data)
        resp = admin.image.download_image(got, stream=True)
        assert resp.headers["Content-MD5"] == got.checksum
        body = b"".join(resp.iter_content(65536))
        assert hashlib.md5(body).hexdigest() == got.checksum
    finally:
        admin.image.delete_image(img)


def test_range_download_and_empty_image(cloud: RunningCloud) -> None:
    url, headers = _api(cloud)
    img = httpx.post(f"{url}/images", json={"name": unique("r"), "disk_format": "raw",
                                            "container_format": "bare"}, headers=headers).json()
    assert httpx.get(f"{url}/images/{img['id']}/file", headers=headers).status_code == 204
    data = bytes(range(256)) * 40
    r = httpx.put(f"{url}/images/{img['id']}/file", content=data,
                  headers={**headers, "Content-Type": "application/octet-stream"})
    assert r.status_code == 204
    r = httpx.get(f"{url}/images/{img['id']}/file", headers={**headers, "Range": "bytes=100-199"})
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert r.content == data[100:200]
    r = httpx.get(f"{url}/images/{img['id']}/file", headers={**headers, "Range": "bytes=-10"})
    assert r.status_code == 206 and r.content == data[-10:]
    r = httpx.get(f"{url}/images/{img['id']}/file",
                  headers={**headers, "Range": f"bytes={len(data)}-"})
    assert r.status_code == 416
    again = httpx.put(f"{url}/images/{img['id']}/file", content=b"x",
                      headers={**headers, "Content-Type": "application/octet-stream"})
    assert again.status_code == 409
    httpx.delete(f"{url}/images/{img['id']}", headers=headers)


def test_bad_disk_format_content_is_400(cloud: RunningCloud) -> None:
    url, headers = _api(cloud)
    up = {**headers, "Content-Type": "application/octet-stream"}
    img = httpx.post(f"{url}/images", json={"name": unique("q"), "disk_format": "qcow2",
                                            "container_format": "bare"}, headers=headers).json()
    r = httpx.put(f"{url}/images/{img['id']}/file", content=os.urandom(4096), headers=up)
    assert r.status_code == 400
    assert "disk_format" in r.json()["message"]
    assert httpx.get(f"{url}/images/{img['id']}", headers=headers).json()["status"] == "queued"
    iso = httpx.post(f"{url}/images", json={"name": unique("i"), "disk_format": "iso",
                                            "container_format": "bare"}, headers=headers).json()
    assert httpx.put(f"{url}/images/{iso['id']}/file", content=QCOW2_HEADER,
                     headers=up).status_code == 400
    good = bytearray(0x9000)
    good[0x8001:0x8006] = b"CD001"
    assert httpx.put(f"{url}/images/{iso['id']}/file", content=bytes(good),
                     headers=up).status_code == 204
    raw = httpx.post(f"{url}/images", json={"name": unique("w"), "disk_format": "raw",
                                            "container_format": "bare"}, headers=headers).json()
    assert httpx.put(f"{url}/images/{raw['id']}/file", content=QCOW2_HEADER,
                     headers=up).status_code == 400
    no_format = httpx.post(f"{url}/images", json={"name": unique("n")}, headers=headers).json()
    assert httpx.put(f"{url}/images/{no_format['id']}/file", content=b"x",
                     headers=up).status_code == 400
    for i in (img, iso, raw, no_format):
        httpx.delete(f"{url}/images/{i['id']}", headers=headers)


def test_create_validation(cloud: RunningCloud) -> None:
    url, headers = _api(cloud)
    bad = [({"container_format": "wrong", "disk_format": "raw"}, 400),
           ({"container_format": "bare", "disk_format": "wrong"}, 400),
           ({"status": "active"}, 403), ({"size": 5}, 403), ({"os_glance_foo": "x"}, 403),
           ({"foo": 5}, 400), ({"min_ram": -1}, 400), ({"visibility": "everyone"}, 400),
           ({"id": "not-a-uuid"}, 400), ({"name": "n" * 256}, 400)]
    for body, status in bad:
        r = httpx.post(f"{url}/images", json=body, headers=headers)
        assert r.status_code == status, (body, r.text)
        assert r.json()["code"] == status
    fixed = "11111111-2222-3333-4444-" + os.urandom(6).hex()
    r = httpx.post(f"{url}/images", json={"id": fixed}, headers=headers)
    assert r.status_code == 201 and r.json()["id"] == fixed
    assert httpx.post(f"{url}/images", json={"id": fixed}, headers=headers).status_code == 409
    httpx.delete(f"{url}/images/{fixed}", headers=headers)


def test_json_patch_updates(admin: openstack.connection.Connection,
                            cloud: RunningCloud) -> None:
    img = admin.image.create_image(unique("p"), disk_format="raw", container_format="bare",
                                   properties={"flavor": "vanilla"})
    try:
        admin.image.update_image(img, name="renamed", min_ram=128, os_distro="debian")
        got = admin.image.get_image(img.id)
        assert got.name == "renamed" and got.min_ram == 128
        assert got.os_distro == "debian" and got.properties["flavor"] == "vanilla"
        url, headers = _api(cloud)
        ops = [{"op": "remove", "path": "/flavor"}, {"op": "add", "path": "/tags",
                                                     "value": ["x", "y"]},
               {"op": "replace", "path": "/os_distro", "value": "ubuntu"}]
        r = httpx.patch(f"{url}/images/{img.id}", json=ops, headers=_patch_headers(headers))
        assert r.status_code == 200, r.text
        body = r.json()
        assert "flavor" not in body and body["os_distro"] == "ubuntu"
        assert sorted(body["tags"]) == ["x", "y"]
        for op, status in [({"op": "replace", "path": "/status", "value": "active"}, 403),
                           ({"op": "replace", "path": "/checksum", "value": "x"}, 403),
                           ({"op": "remove", "path": "/name"}, 403),
                           ({"op": "remove", "path": "/nothing"}, 409),
                           ({"op": "replace", "path": "/nothing", "value": "x"}, 409),
                           ({"op": "replace", "path": "/visibility", "value": "x"}, 400),
                           ({"op": "move", "path": "/name", "value": "x"}, 400),
                           ({"op": "add", "path": "/" + "k" * 256, "value": "x"}, 400),
                           ({"op": "add", "path": "/k", "value": 5}, 400)]:
            r = httpx.patch(f"{url}/images/{img.id}", json=[op],
                            headers=_patch_headers(headers))
            assert r.status_code == status, (op, r.text)
        old = {**headers, "Content-Type": "application/openstack-images-v2.0-json-patch"}
        r = httpx.patch(f"{url}/images/{img.id}", json=[{"replace": "/name", "value": "v20"}],
                        headers=old)
        assert r.status_code == 200 and r.json()["name"] == "v20"
        r = httpx.patch(f"{url}/images/{img.id}", json=[], headers=headers)
        assert r.status_code == 415
    finally:
        admin.image.delete_image(img)


def test_visibility_and_two_project_isolation(admin: openstack.connection.Connection,
                                              demo: openstack.connection.Connection) -> None:
    private = admin.image.create_image(unique("priv"), disk_format="raw",
                                       container_format="bare", visibility="private")
    public = admin.image.create_image(unique("pub"), disk_format="raw",
                                      container_format="bare", visibility="public")
    community = admin.image.create_image(unique("comm"), disk_format="raw",
                                         container_format="bare", visibility="community")
    mine = demo.image.create_image(unique("demo"), disk_format="raw", container_format="bare")
    try:
        with pytest.raises(exc.NotFoundException):
            demo.image.get_image(private.id)
        with pytest.raises(exc.NotFoundException):
            demo.image.delete_image(private, ignore_missing=False)
        assert demo.image.get_image(public.id).visibility == "public"
        assert demo.image.get_image(community.id).id == community.id
        listed = {i.id for i in demo.image.images()}
        assert public.id in listed and mine.id in listed
        assert private.id not in listed and community.id not in listed
        assert community.id in {i.id for i in demo.image.images(visibility="community")}
        with pytest.raises(exc.ForbiddenException):
            demo.image.update_image(public, name="stolen")
        with pytest.raises(exc.ForbiddenException):
            demo.image.delete_image(public, ignore_missing=False)
        with pytest.raises(exc.ForbiddenException):
            demo.image.update_image(mine, visibility="public")
        everything = {i.id for i in admin.image.images()}
        assert {private.id, public.id, mine.id} <= everything
        hidden = demo.image.create_image(unique("hid"), disk_format="raw",
                                         container_format="bare")
        demo.image.update_image(hidden, is_hidden=True)
        assert hidden.id not in {i.id for i in demo.image.images()}
        assert hidden.id in {i.id for i in demo.image.images(is_hidden=True)}
        demo.image.delete_image(hidden)
    finally:
        for img in (private, public, community):
            admin.image.delete_image(img)
        demo.image.delete_image(mine)


def test_members_sharing(admin: openstack.connection.Connection,
                         demo: openstack.connection.Connection,
                         cloud: RunningCloud) -> None:
    demo_project = cloud.accounts["demo"].project_id
    private = admin.image.create_image(unique("p"), disk_format="raw", container_format="bare",
                                       visibility="private")
    shared = admin.image.create_image(unique("s"), disk_format="raw", container_format="bare",
                                      visibility="shared")
    try:
        with pytest.raises(exc.ForbiddenException):
            admin.image.add_member(private, member_id=demo_project)
        member = admin.image.add_member(shared, member_id=demo_project)
        assert member.status == "pending"
        with pytest.raises(exc.ConflictException):
            admin.image.add_member(shared, member_id=demo_project)
        assert shared.id not in {i.id for i in demo.image.images()}
        pending = {i.id for i in demo.image.images(visibility="shared", member_status="pending")}
        assert pending == {shared.id}
        assert demo.image.get_image(shared.id).id == shared.id
        with pytest.raises(exc.ForbiddenException):
            admin.image.update_member(member, shared, status="accepted")
        demo.image.update_member(demo_project, shared, status="accepted")
        assert shared.id in {i.id for i in demo.image.images()}
        assert [m.status for m in admin.image.members(shared)] == ["accepted"]
        assert demo.image.get_member(demo_project, shared).status == "accepted"
        with pytest.raises(exc.ForbiddenException):
            demo.image.update_image(shared, name="nope")
        with pytest.raises(exc.ForbiddenException):
            demo.image.remove_member(demo_project, shared, ignore_missing=False)
        admin.image.remove_member(demo_project, shared)
        with pytest.raises(exc.NotFoundException):
            demo.image.get_image(shared.id)
        url, headers = _api(cloud)
        assert httpx.get(f"{url}/schemas/members", headers=headers).json()["name"] == "members"
    finally:
        admin.image.delete_image(private)
        admin.image.delete_image(shared)


def test_protected_delete_and_deactivate(admin: openstack.connection.Connection,
                                         cloud: RunningCloud) -> None:
    img = admin.image.create_image(unique("prot"), disk_format="raw", container_format="bare",
                                   is_protected=True)
    with pytest.raises(exc.ForbiddenException):
        admin.image.delete_image(img, ignore_missing=False)
    admin.image.update_image(img, is_protected=False)
    admin.image.delete_image(img, ignore_missing=False)
    with pytest.raises(exc.NotFoundException):
        admin.image.get_image(img.id)

    url, headers = _api(cloud, "demo")
    img2 = httpx.post(f"{url}/images", json={"name": unique("d"), "disk_format": "raw",
                                             "container_format": "bare"}, headers=headers).json()
    r = httpx.post(f"{url}/images/{img2['id']}/actions/deactivate", headers=headers)
    assert r.status_code == 403  # queued images cannot be deactivated
    httpx.put(f"{url}/images/{img2['id']}/file", content=b"payload",
              headers={**headers, "Content-Type": "application/octet-stream"})
    r = httpx.post(f"{url}/images/{img2['id']}/actions/deactivate", headers=headers)
    assert r.status_code == 204
    assert httpx.get(f"{url}/images/{img2['id']}", headers=headers).json()["status"] == \
        "deactivated"
    assert httpx.get(f"{url}/images/{img2['id']}/file", headers=headers).status_code == 403
    assert httpx.post(f"{url}/images/{img2['id']}/actions/reactivate",
                      headers=headers).status_code == 204
    r = httpx.get(f"{url}/images/{img2['id']}/file", headers=headers)
    assert r.status_code == 200 and r.content == b"payload"
    httpx.delete(f"{url}/images/{img2['id']}", headers=headers)


def test_tags_and_listing(cloud: RunningCloud) -> None:
    url, headers = _api(cloud)
    tag = unique("tag")
    ids = []
    for size in (10, 20, 30):
        img = httpx.post(f"{url}/images", json={"name": unique("l"), "disk_format": "raw",
                                                "container_format": "bare"},
                         headers=headers).json()
        ids.append(img["id"])
        assert httpx.put(f"{url}/images/{img['id']}/tags/{tag}",
                         headers=headers).status_code == 204
        httpx.put(f"{url}/images/{img['id']}/file", content=b"x" * size,
                  headers={**headers, "Content-Type": "application/octet-stream"})
    r = httpx.get(f"{url}/images", params={"tag": tag, "sort": "size:asc"}, headers=headers)
    assert [i["size"] for i in r.json()["images"]] == [10, 20, 30]
    r = httpx.get(f"{url}/images", params={"tag": tag, "sort_key": "size", "sort_dir": "desc",
                                           "limit": 2}, headers=headers)
    page = r.json()
    assert [i["size"] for i in page["images"]] == [30, 20]
    assert page["next"].startswith("/v2/images?")
    nxt = httpx.get(f"{cloud.base_url}/image{page['next']}", headers=headers).json()
    assert [i["size"] for i in nxt["images"]] == [10] and "next" not in nxt
    r = httpx.get(f"{url}/images", params={"tag": tag, "size_min": 15, "size_max": 25},
                  headers=headers)
    assert [i["size"] for i in r.json()["images"]] == [20]
    r = httpx.get(f"{url}/images", params={"tag": tag, "created_at": "gte:2000-01-01T00:00:00Z",
                                           "id": f"in:{ids[0]},{ids[1]}"}, headers=headers)
    assert len(r.json()["images"]) == 2
    for params in ({"sort_key": "bogus"}, {"limit": "-1"}, {"size_min": "x"},
                   {"created_at": "gt:yesterday"}, {"marker": "missing"},
                   {"visibility": "weird"}, {"size_max": str(2**70)},
                   {"min_ram": str(2**40)}):
        assert httpx.get(f"{url}/images", params=params, headers=headers).status_code == 400
    assert httpx.delete(f"{url}/images/{ids[0]}/tags/absent", headers=headers).status_code == 404
    assert httpx.delete(f"{url}/images/{ids[0]}/tags/{tag}", headers=headers).status_code == 204
    for image_id in ids:
        httpx.delete(f"{url}/images/{image_id}", headers=headers)


def test_glance_direct_import(cloud: RunningCloud, admin: openstack.connection.Connection
                              ) -> None:
    url, headers = _api(cloud)
    info = httpx.get(f"{url}/info/import", headers=headers).json()
    assert info["import-methods"]["value"] == ["glance-direct"]
    assert httpx.get(f"{url}/info/stores", headers=headers).json()["stores"][0]["id"] == "file"
    img = httpx.post(f"{url}/images", json={"name": unique("imp"), "disk_format": "raw",
                                            "container_format": "bare"}, headers=headers).json()
    body = {"method": {"name": "glance-direct"}}
    assert httpx.post(f"{url}/images/{img['id']}/import", json=body,
                      headers=headers).status_code == 409
    data = os.urandom(5000)
    r = httpx.put(f"{url}/images/{img['id']}/stage", content=data,
                  headers={**headers, "Content-Type": "application/octet-stream"})
    assert r.status_code == 204
    assert httpx.get(f"{url}/images/{img['id']}", headers=headers).json()["status"] == \
        "uploading"
    web = {"method": {"name": "web-download", "uri": "http://example.com/x.img"}}
    r = httpx.post(f"{url}/images/{img['id']}/import", json=web, headers=headers)
    assert r.status_code == 400 and "web-download" in r.json()["message"]
    assert httpx.post(f"{url}/images/{img['id']}/import", json=body,
                      headers=headers).status_code == 202
    got = _wait_active(admin, img["id"])
    assert got.status == "active" and got.checksum == hashlib.md5(data).hexdigest()
    admin.image.delete_image(got)


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img is not installed")
def test_qcow2_virtual_size_and_backing_file(cloud: RunningCloud, tmp_path: Path) -> None:
    url, headers = _api(cloud)
    up = {**headers, "Content-Type": "application/octet-stream"}
    disk, child = tmp_path / "disk.qcow2", tmp_path / "child.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(disk),
                    str(child)], check=True)
    ids = []
    for path, status in ((disk, 204), (child, 400)):
        img = httpx.post(f"{url}/images", json={"name": unique("qc"), "disk_format": "qcow2",
                                                "container_format": "bare"},
                         headers=headers).json()
        ids.append(img["id"])
        r = httpx.put(f"{url}/images/{img['id']}/file", content=path.read_bytes(), headers=up)
        assert r.status_code == status, r.text
    got = httpx.get(f"{url}/images/{ids[0]}", headers=headers).json()
    assert got["virtual_size"] == 64 * 1024 * 1024
    assert got["size"] == disk.stat().st_size
    for image_id in ids:
        httpx.delete(f"{url}/images/{image_id}", headers=headers)
