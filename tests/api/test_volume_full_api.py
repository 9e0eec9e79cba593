"""Cinder behaviour tempest's whole API suite checks beyond the guideline (the fixes of
docs/interop.md "Whole tempest API suite"), through raw HTTP with real tokens."""

from __future__ import annotations

import httpx

from tests.api.conftest import unique
from tests.support.server import RunningCloud


def test_volume_type_answers_have_cinders_keys(cloud: RunningCloud) -> None:
    """Create answers without qos_specs_id, update without it and without the type-access
    extension's is_public, show and list with both (tempest's volume type schemas are
    additionalProperties: false)."""
    base = f"{cloud.base_url}/volume/v3/{cloud.accounts['admin'].project_id}/types"
    h = {"X-Auth-Token": cloud.token("admin")}
    common = {"id", "name", "description", "is_public", "extra_specs"}
    r = httpx.post(base, json={"volume_type": {"name": unique("vt")}}, headers=h)
    assert r.status_code == 200, r.text
    made = r.json()["volume_type"]
    try:
        assert set(made) == common | {"os-volume-type-access:is_public"}
        r = httpx.put(f"{base}/{made['id']}", json={"volume_type": {"description": "d"}},
                      headers=h)
        assert r.status_code == 200, r.text
        assert set(r.json()["volume_type"]) == common
        shown = httpx.get(f"{base}/{made['id']}", headers=h).json()["volume_type"]
        assert set(shown) == common | {"os-volume-type-access:is_public", "qos_specs_id"}
        listed = httpx.get(base, headers=h).json()["volume_types"]
        assert "qos_specs_id" in next(t for t in listed if t["id"] == made["id"])
    finally:
        assert httpx.delete(f"{base}/{made['id']}", headers=h).status_code == 202


def test_service_freeze_thaw_and_disable_reason(cloud: RunningCloud) -> None:
    """os-services/freeze and /thaw: 200 for a volume host, 400 for any other (tempest's
    test_freeze/thaw_host_with_invalid_host); disable-log-reason needs a reason (400)."""
    base = f"{cloud.base_url}/volume/v3/{cloud.accounts['admin'].project_id}/os-services"
    h = {"X-Auth-Token": cloud.token("admin")}
    services = httpx.get(base, headers=h, params={"binary": "cinder-volume"}).json()
    host = services["services"][0]["host"]
    for action in ("freeze", "thaw"):
        assert httpx.put(f"{base}/{action}", json={"host": host}, headers=h).status_code == 200
        bad = httpx.put(f"{base}/{action}", json={"host": "invalid_host"}, headers=h)
        assert bad.status_code == 400 and "invalid_host" in bad.json()["badRequest"]["message"]
    r = httpx.put(f"{base}/disable-log-reason", headers=h, json={
        "host": host, "binary": "cinder-volume", "disabled_reason": None})
    assert r.status_code == 400 and "reason" in r.json()["badRequest"]["message"]
    listed = httpx.get(base, headers=h, params={"binary": "cinder-volume"}).json()
    assert listed["services"][0]["status"] == "enabled"  # the refused call changed nothing
    demo = {"X-Auth-Token": cloud.token("demo")}
    own = f"{cloud.base_url}/volume/v3/{cloud.accounts['demo'].project_id}/os-services"
    assert httpx.put(f"{own}/freeze", json={"host": host}, headers=demo).status_code == 403
