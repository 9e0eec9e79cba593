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
