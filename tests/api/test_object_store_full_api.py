"""Swift behaviour tempest's whole API suite checks beyond the guideline (the fixes of
docs/interop.md "Whole tempest API suite"), through raw HTTP with a real token."""

from __future__ import annotations

import httpx

from tests.api.conftest import unique
from tests.api.test_object_store import admin_http
from tests.support.server import RunningCloud

__all__ = ["admin_http"]  # the fixture


def test_object_keeps_empty_metadata_and_copy_answers_with_it(admin_http: httpx.Client) -> None:
    """An object's metadata with an empty value is stored (PUT, POST, copy), while a
    container's empty value removes the key; a copy's 201 carries the copy's metadata
    (tempest's test_*_with_x_object_metakey and test_copy_object_with_x_object_meta)."""
    container = unique("blank")
    assert admin_http.put(f"/{container}", headers={
        "X-Container-Meta-Keep": "1"}).status_code == 201
    r = admin_http.put(f"/{container}/a", content=b"a", headers={
        "X-Object-Meta-Blank": "", "X-Object-Meta-Src": "src"})
    assert r.status_code == 201
    got = admin_http.get(f"/{container}/a")
    assert got.headers["x-object-meta-blank"] == "" and got.content == b"a"
    assert admin_http.post(f"/{container}/a", headers={
        "X-Object-Meta-Other": ""}).status_code == 202
    head = admin_http.head(f"/{container}/a").headers
    assert head["x-object-meta-other"] == "" and "x-object-meta-blank" not in head

    copied = admin_http.put(f"/{container}/b", headers={
        "X-Copy-From": f"{container}/a", "X-Object-Meta-Test": ""})
    assert copied.status_code == 201
    assert copied.headers["x-object-meta-test"] == ""
    assert copied.headers["x-object-meta-other"] == ""
    copy2 = admin_http.request("COPY", f"/{container}/a", headers={
        "Destination": f"{container}/c", "X-Object-Meta-Test": "value"})
    assert copy2.status_code == 201
    assert copy2.headers["x-object-meta-test"] == "value"
    assert copy2.headers["x-copied-from"] == f"{container}/a"
    assert admin_http.head(f"/{container}/c").headers["x-object-meta-test"] == "value"

    assert admin_http.post(f"/{container}", headers={
        "X-Container-Meta-Keep": ""}).status_code == 204
    assert "x-container-meta-keep" not in admin_http.head(f"/{container}").headers


def test_healthcheck(cloud: RunningCloud) -> None:
    """Swift's healthcheck middleware at the proxy's root, no token (tempest's
    test_get_healthcheck)."""
    r = httpx.get(f"{cloud.base_url}/object-storage/healthcheck")
    assert r.status_code == 200 and r.text == "OK"
    assert r.headers["content-type"].startswith("text/plain")
    assert r.headers["x-trans-id"].startswith("tx")
