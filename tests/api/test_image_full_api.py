"""Glance behaviour tempest's whole API suite checks beyond the guideline (the fixes of
docs/interop.md "Whole tempest API suite"), through raw HTTP with real tokens."""

from __future__ import annotations

import uuid

import httpx

from tests.api.conftest import unique
from tests.support.server import RunningCloud


def test_image_tasks_list(cloud: RunningCloud) -> None:
    """GET /v2/images/{id}/tasks lists the image's import tasks: none here (tempest waits
    on it after a server snapshot); an image the caller cannot see is 404."""
    base = f"{cloud.base_url}/image/v2/images"
    admin = {"X-Auth-Token": cloud.token("admin")}
    r = httpx.post(base, json={"name": unique("img"), "visibility": "private",
                               "disk_format": "raw", "container_format": "bare"},
                   headers=admin)
    assert r.status_code == 201, r.text
    image = r.json()["id"]
    try:
        r = httpx.get(f"{base}/{image}/tasks", headers=admin)
        assert r.status_code == 200 and r.json() == {"tasks": []}
        demo = {"X-Auth-Token": cloud.token("demo")}
        assert httpx.get(f"{base}/{image}/tasks", headers=demo).status_code == 404
        assert httpx.get(f"{base}/{uuid.uuid4()}/tasks", headers=admin).status_code == 404
    finally:
        assert httpx.delete(f"{base}/{image}", headers=admin).status_code == 204
