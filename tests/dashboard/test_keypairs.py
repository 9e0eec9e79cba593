"""Key pairs through the dashboard: generate (private key downloaded once), import, delete."""

from __future__ import annotations

import uuid

import httpx

from tests.dashboard.conftest import DashCloud, csrf_of, login

PUBLIC = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGxjWOfCUvfbY1tEG7jxZ8y4NpjmVmzqhoDbVq4wDvKc "
          "dash@test")


def test_generate_downloads_the_private_key_once_then_import_and_delete(
        dash: DashCloud) -> None:
    with httpx.Client(follow_redirects=False, timeout=30) as http:
        home = login(http, dash, "other")
        page = http.get(home + "keypairs")
        csrf = csrf_of(page.text)
        made = f"gen-{uuid.uuid4().hex[:6]}"
        r = http.post(home + "keypairs", data={"name": made, "csrf_token": csrf})
        assert r.status_code == 200, r.text
        assert r.headers["content-disposition"] == f'attachment; filename="{made}.pem"'
        assert "PRIVATE KEY" in r.text
        listing = http.get(home + "keypairs").text
        assert made in listing and "PRIVATE KEY" not in listing
        r = http.post(home + "keypairs", data={"name": "imported", "public_key": PUBLIC,
                                               "csrf_token": csrf})
        assert r.status_code == 303
        assert "imported" in http.get(home + "keypairs").text
        r = http.post(home + "keypairs", data={"name": "imported", "public_key": PUBLIC,
                                               "csrf_token": csrf})
        assert r.status_code == 409 and "imported" in r.text  # Nova's own conflict message
        r = http.post(home + f"keypairs/{made}/delete", data={"csrf_token": csrf})
        assert r.status_code == 303
        assert made not in http.get(home + "keypairs").text
        r = http.post(home + "keypairs/imported/delete", data={})
        assert r.status_code == 403  # no CSRF token
