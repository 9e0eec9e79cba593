"""Cinder's admin views and volume image metadata actions, through raw HTTP with real
tokens: /capabilities/{host} matching the pools view, /os-hosts/{host} usage, the default
quota class (new projects' defaults follow it), os-set/unset/show_image_metadata (a reader
may show, not set; another project gets 404); members get 403 on the admin views."""

from __future__ import annotations

from typing import Any

import httpx
import openstack

from tests.api.conftest import unique
from tests.api.test_volume import _delete, _volume
from tests.api.test_volume_backends import _other
from tests.support.server import RunningCloud


def _api(cloud: RunningCloud, who: str = "admin") -> tuple[str, dict[str, str]]:
    return (f"{cloud.base_url}/volume/v3/{cloud.accounts[who].project_id}",
            {"X-Auth-Token": cloud.token(who)})


def test_capabilities_hosts_and_quota_class(cloud: RunningCloud) -> None:
    base, h = _api(cloud)
    pool = httpx.get(f"{base}/scheduler-stats/get_pools", headers=h,
                     params={"detail": "true"}).json()["pools"][0]
    service_host = pool["name"].split("#")[0]
    caps = httpx.get(f"{base}/capabilities/{service_host}", headers=h)
    assert caps.status_code == 200, caps.text
    got = caps.json()
    for key in ("vendor_name", "volume_backend_name", "storage_protocol"):
        assert got[key] == pool["capabilities"][key]
    assert got["namespace"] == f"OS::Storage::Capabilities::{service_host}"
    assert httpx.get(f"{base}/capabilities/nowhere@x", headers=h).status_code == 404
    shown = httpx.get(f"{base}/os-hosts/{service_host}", headers=h)
    assert shown.status_code == 200, shown.text
    total = shown.json()["host"][0]["resource"]
    assert total["project"] == "(total)" and total["volume_count"].isdigit()
    assert httpx.get(f"{base}/os-hosts/nowhere", headers=h).status_code == 404
    url = f"{base}/os-quota-class-sets/default"
    before = httpx.get(url, headers=h).json()["quota_class_set"]
    assert before["id"] == "default" and isinstance(before["volumes"], int)
    try:
        r = httpx.put(url, headers=h, json={"quota_class_set": {
            "volumes": before["volumes"] + 1, "snapshots": before["snapshots"] + 1}})
        assert r.status_code == 200, r.text
        assert r.json()["quota_class_set"]["volumes"] == before["volumes"] + 1
        assert "id" not in r.json()["quota_class_set"]
        other = "0" * 31 + "1"  # a project without limits of its own takes the class's
        defaults = httpx.get(f"{base}/os-quota-sets/{other}/defaults",
                             headers=h).json()["quota_set"]
        assert defaults["volumes"] == before["volumes"] + 1
        bad = httpx.put(url, headers=h, json={"quota_class_set": {"volumes": "many"}})
        assert bad.status_code == 400 and "volumes" in bad.json()["badRequest"]["message"]
        bad = httpx.put(url, headers=h, json={"quota_class_set": {"nonsense": 1}})
        assert bad.status_code == 400 and "nonsense" in bad.json()["badRequest"]["message"]
    finally:
        httpx.put(url, headers=h, json={"quota_class_set": {
            "volumes": before["volumes"], "snapshots": before["snapshots"]}})
    demo, dh = _api(cloud, "demo")
    for path in (f"/capabilities/{service_host}", f"/os-hosts/{service_host}",
                 "/os-quota-class-sets/default"):
        assert httpx.get(demo + path, headers=dh).status_code == 403, path
    assert httpx.put(f"{demo}/os-quota-class-sets/default", headers=dh,
                     json={"quota_class_set": {"volumes": 1}}).status_code == 403


def _reader_token(cloud: RunningCloud, admin: openstack.connection.Connection) -> str:
    password = unique("pw")
    user = admin.identity.create_user(name=unique("vreader"), password=password,
                                      domain_id="default")
    admin.identity.assign_project_role_to_user(cloud.accounts["demo"].project_id, user,
                                               admin.identity.find_role("reader"))
    r = httpx.post(f"{cloud.base_url}/identity/v3/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "id": user.id, "password": password}}},
        "scope": {"project": {"id": cloud.accounts["demo"].project_id}}}})
    assert r.status_code == 201, r.text
    return r.headers["X-Subject-Token"]


def test_volume_image_metadata_actions(cloud: RunningCloud,
                                       admin: openstack.connection.Connection,
                                       demo: openstack.connection.Connection) -> None:
    vol = _volume(demo)
    base, h = _api(cloud, "demo")
    url = f"{base}/volumes/{vol.id}/action"

    def act(body: dict[str, Any], headers: dict[str, str] = h) -> httpx.Response:
        return httpx.post(url, headers=headers, json=body)

    try:
        meta = {"image_name": "image", "kernel_id": "k1", "ramdisk_id": "r1"}
        r = act({"os-set_image_metadata": {"metadata": meta}})
        assert r.status_code == 200, r.text
        assert r.json() == {"metadata": meta}
        shown = demo.block_storage.get_volume(vol.id)
        assert meta.items() <= shown.volume_image_metadata.items()
        assert act({"os-unset_image_metadata": {"key": "ramdisk_id"}}).status_code == 200
        assert act({"os-unset_image_metadata": {"key": "ramdisk_id"}}).status_code == 404
        reader = {"X-Auth-Token": _reader_token(cloud, admin)}
        r = act({"os-show_image_metadata": {}}, reader)
        assert r.status_code == 200, r.text
        assert r.json() == {"metadata": {"image_name": "image", "kernel_id": "k1"}}
        assert act({"os-set_image_metadata": {"metadata": {"a": "b"}}},
                   reader).status_code == 403
        assert act({"os-extend": {"new_size": 2}}, reader).status_code == 403
        bad = act({"os-set_image_metadata": {"metadata": {"a": 1}}})
        assert bad.status_code == 400 and "'a'" in bad.json()["badRequest"]["message"]
        bad = act({"os-set_image_metadata": {}})
        assert bad.status_code == 400 and "metadata" in bad.json()["badRequest"]["message"]
        other = _other(admin, cloud)
        r = other.block_storage.post(f"/volumes/{vol.id}/action",
                                     json={"os-show_image_metadata": {}})
        assert r.status_code == 404
    finally:
        _delete(demo, vol)
