"""Cinder v3 through the real openstacksdk (and raw HTTP for fault bodies): volumes,
snapshots, data through image -> volume -> snapshot -> volume -> image, types, quotas,
attachments, second-project isolation and bad input."""

from __future__ import annotations

import os
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

MV = {"OpenStack-API-Version": "volume 3.60"}


def _api(cloud: RunningCloud, who: str = "admin") -> tuple[str, dict[str, str]]:
    return f"{cloud.base_url}/volume/v3", {"X-Auth-Token": cloud.token(who)}


def _wait(get: Any, status: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        obj = get()
        if obj.status == status:
            return obj
        assert obj.status not in ("error", "error_deleting") or status.startswith("error"), \
            f"{obj.id} went to {obj.status}"
        assert time.monotonic() < deadline, f"{obj.id} stuck in {obj.status}"
        time.sleep(0.1)


def _wait_gone(get: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            get()
        except exc.NotFoundException:
            return
        time.sleep(0.1)
    raise AssertionError("not deleted in time")


def _volume(conn: openstack.connection.Connection, **kw: Any) -> Any:
    if "snapshot_id" not in kw and "source_volume_id" not in kw:
        kw.setdefault("size", 1)
    vol = conn.block_storage.create_volume(name=kw.pop("name", unique("vol")), **kw)
    return _wait(lambda: conn.block_storage.get_volume(vol.id), "available")


def _delete(conn: openstack.connection.Connection, vol: Any) -> None:
    conn.block_storage.delete_volume(vol, ignore_missing=True, cascade=True)
    _wait_gone(lambda: conn.block_storage.get_volume(vol.id))


def test_version_discovery_and_catalog(cloud: RunningCloud,
                                       admin: openstack.connection.Connection) -> None:
    r = httpx.get(f"{cloud.base_url}/volume")
    assert r.status_code == 300
    v3 = r.json()["versions"][0]
    assert v3["id"] == "v3.0" and v3["min_version"] == "3.0"
    assert tuple(int(x) for x in v3["version"].split(".")) >= (3, 60)
    assert httpx.get(f"{cloud.base_url}/volume/v3/").json()["versions"][0]["id"] == "v3.0"
    url, headers = _api(cloud)
    r = httpx.get(f"{url}/volumes", headers={**headers, **MV})
    assert r.headers["OpenStack-API-Version"] == "volume 3.60"
    r = httpx.get(f"{url}/volumes", headers={**headers, "OpenStack-API-Version": "volume 3.99"})
    assert r.status_code == 406
    types = {s["type"] for s in admin.service_catalog}
    assert {"block-storage", "volumev3"} <= types
    endpoint = admin.block_storage.get_endpoint()
    assert endpoint.rstrip("/").endswith(f"/volume/v3/{admin.current_project_id}")


def test_volume_lifecycle(admin: openstack.connection.Connection, cloud: RunningCloud) -> None:
    name = unique("vol")
    vol = _volume(admin, name=name, description="d", metadata={"k": "v"})
    try:
        assert vol.size == 1 and vol.is_bootable is False and vol.metadata == {"k": "v"}
        assert vol.volume_type == "__DEFAULT__" and vol.availability_zone == "nova"
        assert vol.host and "@" in vol.host and "#" in vol.host
        path = Path(cloud.settings.data_dir) / "volumes" / f"volume-{vol.id}.qcow2"
        assert path.exists()
        admin.block_storage.update_volume(vol, name=name + "-x", description="e")
        got = admin.block_storage.get_volume(vol.id)
        assert (got.name, got.description) == (name + "-x", "e")
        found = list(admin.block_storage.volumes(name=name + "-x"))
        assert [v.id for v in found] == [vol.id]
        admin.block_storage.set_volume_metadata(vol, a="b")
        assert admin.block_storage.get_volume_metadata(vol).metadata == {"k": "v", "a": "b"}
        admin.block_storage.delete_volume_metadata(vol, keys=["k"])
        assert admin.block_storage.get_volume(vol.id).metadata == {"a": "b"}
        admin.block_storage.extend_volume(vol, 2)
        got = _wait(lambda: admin.block_storage.get_volume(vol.id), "available")
        assert got.size == 2
        admin.block_storage.set_volume_bootable_status(vol, True)
        assert admin.block_storage.get_volume(vol.id).is_bootable is True
        admin.block_storage.set_volume_readonly(vol, True)
        assert admin.block_storage.get_volume(vol.id).metadata["readonly"] == "True"
    finally:
        _delete(admin, vol)
    assert not path.exists()


def test_data_survives_image_volume_snapshot_volume_image(
        admin: openstack.connection.Connection, tmp_path: Path) -> None:
    data = os.urandom(1024 * 1024) + b"onestack" * 1000
    src = tmp_path / "disk.raw"
    src.write_bytes(data)
    image = admin.image.create_image(unique("img"), filename=str(src), disk_format="raw",
                                     container_format="bare", wait=True)
    vols: list[Any] = []
    try:
        v1 = _volume(admin, image_id=image.id)
        vols.append(v1)
        assert v1.is_bootable is True
        assert v1.volume_image_metadata["image_id"] == image.id
        snap = admin.block_storage.create_snapshot(volume_id=v1.id, name=unique("snap"))
        snap = _wait(lambda: admin.block_storage.get_snapshot(snap.id), "available")
        v2 = _volume(admin, snapshot_id=snap.id, size=2)
        vols.append(v2)
        v3 = _volume(admin, source_volume_id=v2.id)
        vols.append(v3)
        assert (v2.size, v3.size, v2.snapshot_id, v3.source_volume_id) == (2, 2, snap.id, v2.id)
        out = admin.block_storage.upload_volume_to_image(v3, unique("up"),
                                                         disk_format="qcow2")
        up = _wait(lambda: admin.image.get_image(out["image_id"]), "active")
        _wait(lambda: admin.block_storage.get_volume(v3.id), "available")
        qcow = tmp_path / "up.qcow2"
        qcow.write_bytes(b"".join(admin.image.download_image(up, stream=True)
                                  .iter_content(65536)))
        raw = tmp_path / "up.raw"
        subprocess.run(["qemu-img", "convert", "-f", "qcow2", "-O", "raw", str(qcow),
                        str(raw)], check=True)
        assert raw.stat().st_size == 2 * 1024**3
        with raw.open("rb") as fh:
            assert fh.read(len(data)) == data
        admin.image.delete_image(up)
        with pytest.raises(exc.BadRequestException):
            admin.block_storage.delete_volume(v1)  # it has a snapshot
        admin.block_storage.delete_snapshot(snap)
        _wait_gone(lambda: admin.block_storage.get_snapshot(snap.id))
    finally:
        for vol in reversed(vols):
            _delete(admin, vol)
        admin.image.delete_image(image)


def test_second_project_is_isolated(admin: openstack.connection.Connection,
                                    demo: openstack.connection.Connection,
                                    cloud: RunningCloud) -> None:
    vol = _volume(admin)
    try:
        with pytest.raises(exc.NotFoundException):
            demo.block_storage.get_volume(vol.id)
        assert vol.id not in {v.id for v in demo.block_storage.volumes()}
        with pytest.raises(exc.NotFoundException):
            demo.block_storage.delete_volume(vol, ignore_missing=False)
        url, headers = _api(cloud, "demo")
        r = httpx.post(f"{url}/snapshots", json={"snapshot": {"volume_id": vol.id}},
                       headers=headers)
        assert r.status_code == 404 and r.json()["itemNotFound"]["code"] == 404
        r = httpx.post(f"{url}/volumes/{vol.id}/action", headers=headers,
                       json={"os-reset_status": {"status": "error"}})
        assert r.status_code == 404
        assert admin.block_storage.get_volume(vol.id).status == "available"
        r = httpx.get(f"{url}/volumes?all_tenants=1", headers=headers)
        assert vol.id not in {v["id"] for v in r.json()["volumes"]}
        admin_url, admin_headers = _api(cloud)
        r = httpx.get(f"{admin_url}/volumes/detail?all_tenants=1", headers=admin_headers)
        assert vol.id in {v["id"] for v in r.json()["volumes"]}
    finally:
        _delete(admin, vol)


def test_bad_input_gets_cinder_faults(cloud: RunningCloud,
                                      admin: openstack.connection.Connection) -> None:
    url, headers = _api(cloud)

    def post(path: str, body: Any) -> httpx.Response:
        return httpx.post(f"{url}{path}", json=body, headers=headers)

    for size in (0, -1, "x", None, 1.5, True):
        r = post("/volumes", {"volume": {"size": size}})
        assert r.status_code == 400, size
        assert r.json()["badRequest"]["code"] == 400
    assert post("/volumes", {"volume": {}}).status_code == 400
    assert post("/volumes", {"nope": {}}).status_code == 400
    r = post("/volumes", {"volume": {"size": 100000}})
    assert r.status_code == 413 and "overLimit" in r.json()
    for key in ("snapshot_id", "source_volid", "volume_type", "imageRef"):
        r = post("/volumes", {"volume": {"size": 1, key: "00000000-0000-0000-0000-0"}})
        assert r.status_code == 404, key
        assert r.json()["itemNotFound"]["code"] == 404
    r = post("/snapshots", {"snapshot": {"volume_id": "00000000-0000-0000-0000-000000000000"}})
    assert r.status_code == 404
    assert post("/snapshots", {"snapshot": {}}).status_code == 404
    missing = "00000000-0000-0000-0000-000000000000"
    assert httpx.get(f"{url}/volumes/{missing}", headers=headers).status_code == 404
    assert httpx.get(f"{url}/volumes/", headers=headers).status_code == 404
    assert httpx.put(f"{url}/volumes/", json={"volume": {}}, headers=headers
                     ).status_code == 404
    assert httpx.delete(f"{url}/volumes/", headers=headers).status_code == 404
    r = httpx.get(f"{url}/volumes?status=bogus", headers=headers)
    assert r.status_code == 200 and r.json()["volumes"] == []
    assert httpx.get(f"{url}/volumes?sort=bogus:asc", headers=headers).status_code == 400
    assert httpx.get(f"{url}/volumes?marker={missing}", headers=headers).status_code == 404

    vol = _volume(admin)
    try:
        vpath = f"/volumes/{vol.id}/action"
        assert post(vpath, {"os-extend": {"new_size": 1}}).status_code == 400
        assert post(vpath, {"os-extend": {"new_size": "a"}}).status_code == 400
        assert post(vpath, {"os-extend": {}}).status_code == 400
        assert post(vpath, {"os-nope": {}}).status_code == 400
        assert post(vpath, {"os-attach": {"instance_uuid": missing, "mountpoint": "/dev/vdb"}
                            }).status_code == 202
        assert admin.block_storage.get_volume(vol.id).status == "in-use"
        r = post(vpath, {"os-attach": {"instance_uuid": "1" * 32, "mountpoint": "/dev/vdc"}})
        assert r.status_code == 400  # attached twice
        r = httpx.delete(f"{url}/volumes/{vol.id}", headers=headers)
        assert r.status_code == 400 and "badRequest" in r.json()
        got = admin.block_storage.get_volume(vol.id)
        assert got.attachments[0]["server_id"] == missing
        assert got.attachments[0]["device"] == "/dev/vdb"
        assert post(vpath, {"os-detach": {}}).status_code == 202
        assert admin.block_storage.get_volume(vol.id).status == "available"
        assert post(vpath, {"os-reserve": None}).status_code == 202
        assert admin.block_storage.get_volume(vol.id).status == "attaching"
        assert post(vpath, {"os-unreserve": None}).status_code == 202
        assert admin.block_storage.get_volume(vol.id).status == "available"
        r = post(vpath, {"os-reset_status": {"status": "bogus"}})
        assert r.status_code == 400
        r = httpx.put(f"{url}/volumes/{vol.id}/metadata/a", headers=headers,
                      json={"meta": {"b": "c"}})
        assert r.status_code == 400
        r = httpx.put(f"{url}/volumes/{vol.id}/metadata", headers=headers,
                      json={"metadata": {"k": "x" * 256}})
        assert r.status_code == 400
    finally:
        _delete(admin, vol)


def test_quotas_are_enforced_per_project(cloud: RunningCloud,
                                         admin: openstack.connection.Connection,
                                         demo: openstack.connection.Connection) -> None:
    project = demo.current_project_id
    url, headers = _api(cloud)
    demo_url, demo_headers = _api(cloud, "demo")
    r = httpx.put(f"{url}/os-quota-sets/{project}", headers=headers,
                  json={"quota_set": {"volumes": 1, "gigabytes": 3, "snapshots": 1}})
    assert r.status_code == 200 and r.json()["quota_set"]["volumes"] == 1
    r = httpx.put(f"{demo_url}/os-quota-sets/{project}", headers=demo_headers,
                  json={"quota_set": {"volumes": 100}})
    assert r.status_code == 403
    vol = _volume(demo, size=2)
    try:
        r = httpx.post(f"{demo_url}/volumes", json={"volume": {"size": 1}},
                       headers=demo_headers)
        assert r.status_code == 413 and r.json()["overLimit"]["code"] == 413
        r = httpx.post(f"{demo_url}/snapshots", json={"snapshot": {"volume_id": vol.id}},
                       headers=demo_headers)
        assert r.status_code == 413  # 2 + 2 GB > 3
        r = httpx.get(f"{demo_url}/os-quota-sets/{project}?usage=true", headers=demo_headers)
        usage = r.json()["quota_set"]
        assert usage["volumes"] == {"limit": 1, "in_use": 1, "reserved": 0, "allocated": 0}
        assert usage["gigabytes"]["in_use"] == 2
        limits = demo.block_storage.get_limits().absolute
        assert (limits.max_total_volumes, limits.total_volumes_used) == (1, 1)
    finally:
        _delete(demo, vol)
        httpx.delete(f"{url}/os-quota-sets/{project}", headers=headers)


def test_types_extra_specs_and_access(cloud: RunningCloud,
                                      admin: openstack.connection.Connection,
                                      demo: openstack.connection.Connection) -> None:
    url, headers = _api(cloud)
    demo_url, demo_headers = _api(cloud, "demo")
    public = admin.block_storage.create_type(name=unique("t"), extra_specs={"a": "1"})
    private = admin.block_storage.create_type(name=unique("p"), is_public=False)
    try:
        assert admin.block_storage.get_type(public.id).extra_specs == {"a": "1"}
        admin.block_storage.update_type_extra_specs(public, b="2")
        assert admin.block_storage.get_type(public.id).extra_specs == {"a": "1", "b": "2"}
        names = {t.name for t in demo.block_storage.types()}
        assert public.name in names and private.name not in names
        r = httpx.post(f"{demo_url}/volumes", headers=demo_headers,
                       json={"volume": {"size": 1, "volume_type": private.name}})
        assert r.status_code == 404
        admin.block_storage.add_type_access(private, demo.current_project_id)
        assert private.name in {t.name for t in demo.block_storage.types()}
        vol = _volume(demo, volume_type=private.name)
        try:
            assert vol.volume_type == private.name
            r = httpx.delete(f"{url}/types/{private.id}", headers=headers)
            assert r.status_code == 400  # in use
        finally:
            _delete(demo, vol)
        r = httpx.post(f"{demo_url}/types", json={"volume_type": {"name": "x"}},
                       headers=demo_headers)
        assert r.status_code == 403 and r.json()["forbidden"]["code"] == 403
        default = httpx.get(f"{demo_url}/types/default", headers=demo_headers).json()
        assert default["volume_type"]["name"] == "__DEFAULT__"
    finally:
        admin.block_storage.delete_type(public)
        admin.block_storage.delete_type(private)


def test_attachments_api(cloud: RunningCloud, admin: openstack.connection.Connection) -> None:
    url, headers = _api(cloud)
    mv = {**headers, "OpenStack-API-Version": "volume 3.54"}
    vol = _volume(admin)
    server = "11111111-2222-3333-4444-555555555555"
    try:
        r = httpx.post(f"{url}/attachments", headers=headers,
                       json={"attachment": {"volume_uuid": vol.id, "instance_uuid": server}})
        assert r.status_code == 406  # the attachments API is 3.27+
        r = httpx.post(f"{url}/attachments", headers=mv,
                       json={"attachment": {"volume_uuid": vol.id, "instance_uuid": server}})
        att = r.json()["attachment"]
        assert r.status_code == 200 and att["status"] == "reserved"
        assert admin.block_storage.get_volume(vol.id).status == "reserved"
        r = httpx.put(f"{url}/attachments/{att['id']}", headers=mv, json={"attachment": {
            "connector": {"host": "compute-test", "mountpoint": "/dev/vdb"}}})
        info = r.json()["attachment"]["connection_info"]
        assert info["driver_volume_type"] == "file"
        assert info["data"]["path"].endswith(f"volume-{vol.id}.qcow2")
        assert info["data"]["format"] == "qcow2" and Path(info["data"]["path"]).exists()
        r = httpx.post(f"{url}/attachments/{att['id']}/action", headers=mv,
                       json={"os-complete": None})
        assert r.status_code == 204
        got = admin.block_storage.get_volume(vol.id)
        assert got.status == "in-use" and got.attachments[0]["server_id"] == server
        listed = httpx.get(f"{url}/attachments?instance_id={server}", headers=mv).json()
        assert [a["id"] for a in listed["attachments"]] == [att["id"]]
        r = httpx.post(f"{url}/attachments", headers=mv,
                       json={"attachment": {"volume_uuid": vol.id, "instance_uuid": server}})
        assert r.status_code == 400  # not multiattach
        assert httpx.delete(f"{url}/attachments/{att['id']}", headers=mv).status_code == 200
        assert admin.block_storage.get_volume(vol.id).status == "available"
    finally:
        _delete(admin, vol)


def test_listing_sorts_and_pages(cloud: RunningCloud,
                                 admin: openstack.connection.Connection) -> None:
    tag = unique("page")
    vols = [_volume(admin, name=f"{tag}-{i}", metadata={"tag": tag}) for i in range(3)]
    try:
        url, headers = _api(cloud)
        meta = str({"tag": tag})
        r = httpx.get(f"{url}/volumes/detail", headers=headers,
                      params={"metadata": meta, "sort": "name:asc", "limit": 2})
        body = r.json()
        assert [v["name"] for v in body["volumes"]] == [f"{tag}-0", f"{tag}-1"]
        nxt = body["volumes_links"][0]["href"]
        assert "/volume/v3/" in nxt
        rest = httpx.get(nxt, headers=headers).json()
        assert [v["name"] for v in rest["volumes"]] == [f"{tag}-2"]
        assert "volumes_links" not in rest
        r = httpx.get(f"{url}/volumes", headers=headers,
                      params={"metadata": meta, "sort_key": "name", "sort_dir": "desc",
                              "offset": 1})
        assert [v["name"] for v in r.json()["volumes"]] == [f"{tag}-1", f"{tag}-0"]
        r = httpx.get(f"{url}/volumes", headers=headers, params={"metadata": meta, "limit": 0})
        assert r.json()["volumes"] == []
    finally:
        for vol in vols:
            _delete(admin, vol)


def test_misc_endpoints(cloud: RunningCloud, admin: openstack.connection.Connection,
                        demo: openstack.connection.Connection) -> None:
    zones = list(admin.block_storage.availability_zones())
    assert [z.name for z in zones] == ["nova"]
    assert "os-volume-actions" in {e.alias for e in admin.block_storage.extensions()}
    services = list(admin.block_storage.services())
    assert {s.binary for s in services} == {"cinder-scheduler", "cinder-volume"}
    assert all(s.state == "up" for s in services)
    with pytest.raises(exc.ForbiddenException):
        list(demo.block_storage.services())
    url, headers = _api(cloud)
    hosts = httpx.get(f"{url}/os-hosts", headers=headers).json()["hosts"]
    assert {h["service"] for h in hosts} == {"cinder-scheduler", "cinder-volume"}
    assert "Hosts" in {e.name for e in admin.block_storage.extensions()}
    demo_url, demo_headers = _api(cloud, "demo")
    assert httpx.get(f"{demo_url}/os-hosts", headers=demo_headers).status_code == 403
