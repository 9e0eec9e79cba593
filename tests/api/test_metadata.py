"""The metadata API: what a guest reads about itself, identified by the signed instance id
the network proxy adds (Nova's X-Instance-ID / X-Instance-ID-Signature)."""

from __future__ import annotations

import base64
import json

import httpx
import openstack

from onestack.api.metadata.routes import shared_secret, sign
from tests.api.conftest import connect, unique
from tests.api.test_compute import wait
from tests.api.test_compute_agent import _image
from tests.support.server import RunningCloud

KEY = ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHnO2x8sVbQ0lC1D0KJk7xg3S1s2q8Z2ZHk0E4pV0q1M "
       "guest@test")


def _get(cloud: RunningCloud, uuid: str, path: str, signature: str | None = None,
         tenant: str | None = None) -> httpx.Response:
    """As the network proxy asks: the instance, its signature, and the project of the port
    the guest's request came from (the demo project's unless told)."""
    headers = {"X-Instance-ID": uuid,
               "X-Tenant-ID": tenant if tenant is not None else
               cloud.accounts["demo"].project_id}
    secret = shared_secret(cloud.settings)
    headers["X-Instance-ID-Signature"] = signature if signature is not None else sign(secret,
                                                                                        uuid)
    return httpx.get(f"{cloud.base_url}/metadata/{path}", headers=headers, timeout=10)


def _server(conn: openstack.connection.Connection) -> tuple[str, str]:
    key = unique("key")
    conn.compute.create_keypair(name=key, public_key=KEY)
    script = "#!/bin/sh\necho hello from user data\n"
    server = conn.compute.create_server(
        name=unique("md"), image_id=_image(conn), flavor_id="42", networks="none",
        key_name=key, user_data=base64.b64encode(script.encode()).decode(),
        metadata={"role": "web"})
    wait(conn, server.id, "ACTIVE")
    return str(server.id), key


def test_guest_reads_its_keys_user_data_and_metadata(cloud: RunningCloud) -> None:
    conn = connect(cloud, "demo")
    uuid, key = _server(conn)
    try:
        versions = _get(cloud, uuid, "openstack/")
        assert versions.status_code == 200 and "latest" in versions.text.split()
        listing = _get(cloud, uuid, "openstack/latest/").text.split()
        assert {"meta_data.json", "user_data", "network_data.json"} <= set(listing)

        md = _get(cloud, uuid, "openstack/latest/meta_data.json").json()
        assert md["uuid"] == uuid
        assert "admin_pass" not in md  # config drive of the first build only
        assert md["public_keys"] == {key: KEY}
        assert md["keys"] == [{"name": key, "type": "ssh", "data": KEY}]
        assert md["meta"] == {"role": "web"}
        assert md["hostname"].split(".")[0] == md["name"].lower()
        assert _get(cloud, uuid, "openstack/2013-10-17/meta_data.json").json()["uuid"] == uuid
        user_data = _get(cloud, uuid, "openstack/latest/user_data")
        assert user_data.content == b"#!/bin/sh\necho hello from user data\n"
        assert json.loads(_get(cloud, uuid, "openstack/latest/network_data.json").text) == {
            "links": [], "networks": [], "services": []}

        # EC2 flavour of the same facts
        assert "meta-data/" in _get(cloud, uuid, "latest/").text.split()
        assert _get(cloud, uuid, "latest/meta-data/public-keys/").text == f"0={key}"
        assert _get(cloud, uuid, "latest/meta-data/public-keys/0/").text == "openssh-key"
        assert _get(cloud, uuid, "latest/meta-data/public-keys/0/openssh-key").text == KEY
        assert _get(cloud, uuid, "latest/meta-data/placement/availability-zone").text == "nova"
        assert _get(cloud, uuid, "latest/user-data").content.startswith(b"#!/bin/sh")
        assert _get(cloud, uuid, "latest/meta-data/no-such-thing").status_code == 404
        assert _get(cloud, uuid, "openstack/1999-01-01/meta_data.json").status_code == 404
    finally:
        conn.compute.delete_server(uuid)


def test_unsigned_or_forged_requests_are_refused(cloud: RunningCloud) -> None:
    conn = connect(cloud, "demo")
    uuid, _key = _server(conn)
    try:
        bare = httpx.get(f"{cloud.base_url}/metadata/openstack/latest/meta_data.json")
        assert bare.status_code == 400 and "X-Instance-ID" in bare.text
        forged = _get(cloud, uuid, "openstack/latest/meta_data.json", signature="0" * 64)
        assert forged.status_code == 403
        # a signature for another instance does not open this one
        other = _get(cloud, uuid, "openstack/latest/meta_data.json",
                     signature=sign(shared_secret(cloud.settings), "someone-else"))
        assert other.status_code == 403
        gone = "00000000-0000-0000-0000-000000000000"
        assert _get(cloud, gone, "openstack/latest/meta_data.json").status_code == 404
        # Nova's X-Tenant-ID: required, and another project's port does not open it
        no_tenant = _get(cloud, uuid, "openstack/latest/meta_data.json", tenant="")
        assert no_tenant.status_code == 400 and "X-Tenant-ID" in no_tenant.text
        alien = _get(cloud, uuid, "openstack/latest/meta_data.json",
                     tenant=cloud.accounts["admin"].project_id)
        assert alien.status_code == 404
    finally:
        conn.compute.delete_server(uuid)
