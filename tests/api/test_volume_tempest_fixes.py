"""Cinder behaviour tempest's volume API tests check, fixed after the whole-suite run
(docs/interop.md "volume: not passed"): the services view by plain host and the enable and
disable answers, snapshot progress, a detach of an available volume, the scheduler's
capabilities match (a type no backend meets puts the volume in error with a user message),
the backup update answer and the volume metadata a restore brings back. Raw HTTP with real
tokens and openstacksdk against the in-process cloud."""

from __future__ import annotations

import base64
import json
import time
import uuid
from typing import Any

import httpx
import openstack

from tests.api.conftest import unique
from tests.api.test_volume import _delete, _volume, _wait
from tests.api.test_volume_backends import _other
from tests.support.server import RunningCloud


def _api(cloud: RunningCloud, who: str = "admin", mv: str = "3.60"
         ) -> tuple[str, dict[str, str]]:
    return (f"{cloud.base_url}/volume/v3/{cloud.accounts[who].project_id}",
            {"X-Auth-Token": cloud.token(who), "OpenStack-API-Version": f"volume {mv}"})


def test_services_by_plain_host_and_enable_disable_answers(cloud: RunningCloud) -> None:
    base, h = _api(cloud)
    volume = httpx.get(f"{base}/os-services", headers=h,
                       params={"binary": "cinder-volume"}).json()["services"][0]
    full = volume["host"]
    plain = full.split("@")[0]
    assert "@" in full
    by_plain = httpx.get(f"{base}/os-services", headers=h, params={"host": plain}).json()
    assert {"cinder-volume", "cinder-scheduler"} <= {s["binary"] for s in
                                                     by_plain["services"]}
    assert httpx.get(f"{base}/os-services", headers=h,
                     params={"host": plain[:-1]}).json()["services"] == []
    body = {"host": full, "binary": "cinder-volume"}
    try:
        r = httpx.put(f"{base}/os-services/disable", json=body, headers=h)
        assert r.status_code == 200, r.text
        assert r.json() == {"host": full, "binary": "cinder-volume", "service": "cinder-volume",
                            "status": "disabled", "disabled": True}
        r = httpx.put(f"{base}/os-services/disable-log-reason", headers=h,
                      json={**body, "disabled_reason": "maintenance"})
        assert r.json()["service"] == "cinder-volume"
        assert r.json()["disabled_reason"] == "maintenance"
    finally:
        r = httpx.put(f"{base}/os-services/enable", json=body, headers=h)
    assert r.status_code == 200
    assert r.json()["disabled_reason"] is None and r.json()["service"] == "cinder-volume"


def test_snapshot_status_progress_and_detach_of_available(
        cloud: RunningCloud, demo: openstack.connection.Connection) -> None:
    vol = _volume(demo)
    base, h = _api(cloud, "demo")
    admin_base, ah = _api(cloud)
    try:
        snap = demo.block_storage.create_snapshot(volume_id=vol.id, name=unique("snap"))
        _wait(lambda: demo.block_storage.get_snapshot(snap.id), "available")
        r = httpx.post(f"{admin_base}/snapshots/{snap.id}/action", headers=ah,
                       json={"os-reset_status": {"status": "creating"}})
        assert r.status_code == 202
        r = httpx.post(f"{base}/snapshots/{snap.id}/action", headers=h, json={
            "os-update_snapshot_status": {"status": "error", "progress": "80%"}})
        assert r.status_code == 202, r.text
        shown = httpx.get(f"{admin_base}/snapshots/{snap.id}", headers=ah).json()["snapshot"]
        assert shown["status"] == "error"
        assert shown["os-extended-snapshot-attributes:progress"] == "80%"
        bad = httpx.post(f"{base}/snapshots/{snap.id}/action", headers=h, json={
            "os-update_snapshot_status": {"status": "error", "progress": 80}})
        assert bad.status_code == 400 and "progress" in bad.json()["badRequest"]["message"]
        demo.block_storage.delete_snapshot(snap.id)
        # os-detach of an available volume with nothing attached: accepted, nothing changes
        r = httpx.post(f"{base}/volumes/{vol.id}/action", headers=h, json={"os-detach": {}})
        assert r.status_code == 202, r.text
        assert demo.block_storage.get_volume(vol.id).status == "available"
        r = httpx.post(f"{base}/volumes/{vol.id}/action", headers=h,
                       json={"os-detach": {"attachment_id": "nope"}})
        assert r.status_code == 400  # naming an attachment it does not have
    finally:
        _delete(demo, vol)


def _messages(cloud: RunningCloud, who: str) -> list[dict[str, Any]]:
    base, h = _api(cloud, who, "3.3")
    out: list[dict[str, Any]] = httpx.get(f"{base}/messages", headers=h).json()["messages"]
    return out


def test_a_type_no_backend_meets_puts_the_volume_in_error_with_a_message(
        cloud: RunningCloud, admin: openstack.connection.Connection,
        demo: openstack.connection.Connection) -> None:
    base, h = _api(cloud)
    pools = httpx.get(f"{base}/scheduler-stats/get_pools", headers=h,
                      params={"detail": "true"}).json()["pools"]
    caps = pools[0]["capabilities"]
    bogus = admin.block_storage.create_type(name=unique("bogus"), extra_specs={
        "storage_protocol": "nonsense", "vendor_name": caps["vendor_name"]})
    good = admin.block_storage.create_type(name=unique("good"), extra_specs={
        "storage_protocol": caps["storage_protocol"], "vendor_name": caps["vendor_name"],
        "vendor:anything": "ignored"})
    try:
        bad = demo.block_storage.create_volume(size=1, volume_type=bogus.name,
                                               name=unique("bad"))
        _wait(lambda: demo.block_storage.get_volume(bad.id), "error")
        msg = next(m for m in _messages(cloud, "demo") if m["resource_uuid"] == bad.id)
        assert "extra specs" in msg["user_message"]
        other = _other(admin, cloud)
        listed = other.block_storage.get("/messages", microversion="3.3").json()["messages"]
        assert all(m["resource_uuid"] != bad.id for m in listed)
        ok = _volume(demo, volume_type=good.name)
        assert ok.status == "available"
        _delete(demo, ok)
        _delete(demo, bad)
    finally:
        admin.block_storage.delete_type(bogus)
        admin.block_storage.delete_type(good)


def test_backup_update_answer_and_restore_brings_the_volume_metadata(
        cloud: RunningCloud, demo: openstack.connection.Connection) -> None:
    vol = _volume(demo, metadata={"k1": "v1", "k2": "v2"})
    base, h = _api(cloud, "demo")
    restored = None
    try:
        r = httpx.post(f"{base}/backups", headers=h,
                       json={"backup": {"volume_id": vol.id, "name": unique("bk")}})
        assert r.status_code == 202, r.text
        bid = r.json()["backup"]["id"]
        _wait(lambda: demo.block_storage.get_backup(bid), "available")
        r = httpx.put(f"{base}/backups/{bid}", headers=h,
                      json={"backup": {"name": "renamed", "description": "d"}})
        assert r.status_code == 200, r.text
        assert set(r.json()["backup"]) == {"id", "name", "links"}
        assert r.json()["backup"]["name"] == "renamed"
        r = httpx.post(f"{base}/backups/{bid}/restore", headers=h, json={"restore": {}})
        assert r.status_code == 202, r.text
        restored = r.json()["restore"]["volume_id"]
        got = _wait(lambda: demo.block_storage.get_volume(restored), "available")
        assert {"k1": "v1", "k2": "v2"}.items() <= got.metadata.items()
        _wait(lambda: demo.block_storage.get_backup(bid), "available")
        demo.block_storage.delete_backup(bid)
    finally:
        if restored:
            _delete(demo, demo.block_storage.get_volume(restored))
        _delete(demo, vol)


def test_an_imported_backup_lands_in_the_importers_project(
        cloud: RunningCloud, demo: openstack.connection.Connection) -> None:
    """Cinder's import_record: the backup is the importing admin's; its bytes stay where
    they are (tempest imports a record with a new id and restores it)."""
    vol = _volume(demo)
    base, h = _api(cloud, "demo")
    admin_base, ah = _api(cloud)
    restored = bid = new_id = None
    try:
        r = httpx.post(f"{base}/backups", headers=h, json={"backup": {"volume_id": vol.id}})
        bid = r.json()["backup"]["id"]
        _wait(lambda: demo.block_storage.get_backup(bid), "available")
        rec = httpx.get(f"{admin_base}/backups/{bid}/export_record",
                        headers=ah).json()["backup-record"]
        fields = json.loads(base64.b64decode(rec["backup_url"]))
        new_id = str(uuid.uuid4())
        fields["id"] = new_id
        rec["backup_url"] = base64.b64encode(json.dumps(fields).encode()).decode()
        r = httpx.post(f"{admin_base}/backups/import_record", headers=ah,
                       json={"backup-record": rec})
        assert r.status_code == 201, r.text
        assert r.json()["backup"]["id"] == new_id
        listed = httpx.get(f"{admin_base}/backups", headers=ah).json()["backups"]
        assert new_id in [b["id"] for b in listed]
        assert httpx.get(f"{base}/backups/{new_id}", headers=h).status_code == 404
        r = httpx.post(f"{admin_base}/backups/{new_id}/restore", headers=ah,
                       json={"restore": {}})
        assert r.status_code == 202, r.text
        restored = r.json()["restore"]["volume_id"]
        deadline = time.monotonic() + 60
        while (status := httpx.get(f"{admin_base}/volumes/{restored}", headers=ah).json()[
                "volume"]["status"]) != "available":
            assert status not in ("error", "error_restoring") and time.monotonic() < deadline
            time.sleep(0.2)
        again = httpx.get(f"{admin_base}/backups/{new_id}/export_record", headers=ah)
        assert json.loads(base64.b64decode(again.json()["backup-record"]["backup_url"]))[
            "project_id"] == cloud.accounts["demo"].project_id
    finally:
        if restored:
            httpx.delete(f"{admin_base}/volumes/{restored}", headers=ah)
        for backup in (new_id, bid):  # the imported one takes the shared objects along
            if backup:
                httpx.delete(f"{admin_base}/backups/{backup}", headers=ah)
        _delete(demo, vol)
