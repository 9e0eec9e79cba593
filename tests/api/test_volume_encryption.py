"""Encrypted volumes through the real openstacksdk, the `openstack` CLI and raw HTTP (file
backend, real qemu-img): volume type encryption specs (admins; bad input 400 naming the
field; a type in use keeps its spec), a volume's key as a secret of its project in the key
manager, the connection's encrypted flag, copies with cloned keys, a volume whose key is
gone refused at attach, the key deleted with the volume; another project sees nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openstack
import pytest
from openstack import exceptions as exc

from tests.api.conftest import Cli, connect, unique
from tests.api.test_compute_volumes import _server
from tests.api.test_key_manager import User, km, people  # noqa: F401  (fixture)
from tests.api.test_volume import _delete, _wait
from tests.support.server import RunningCloud

SPEC = {"provider": "luks", "cipher": "aes-xts-plain64", "key_size": 256,
        "control_location": "front-end"}
MV = {"OpenStack-API-Version": "volume 3.64"}


def _v3(cloud: RunningCloud, token: str, method: str, path: str, body: Any = None
        ) -> httpx.Response:
    return httpx.request(method, f"{cloud.base_url}/volume/v3{path}", json=body,
                         headers={"X-Auth-Token": token, **MV}, timeout=30)


def _secret(cloud: RunningCloud, token: str, key_id: str) -> httpx.Response:
    return httpx.get(f"{km(cloud)}/secrets/{key_id}", headers={"X-Auth-Token": token})


def _payload(cloud: RunningCloud, token: str, key_id: str) -> bytes:
    r = httpx.get(f"{km(cloud)}/secrets/{key_id}/payload",
                  headers={"X-Auth-Token": token, "Accept": "application/octet-stream"})
    assert r.status_code == 200, r.text
    return r.content


def test_encrypted_type_and_volume_lifecycle(cloud: RunningCloud,
                                             admin: openstack.connection.Connection,
                                             people: dict[str, User]) -> None:  # noqa: F811
    token = cloud.admin_token()
    vtype = admin.block_storage.create_type(name=unique("luks"))
    enc = admin.block_storage.create_type_encryption(vtype, **SPEC)
    assert enc.provider == "luks" and enc.key_size == 256
    got = admin.block_storage.get_type_encryption(vtype.id)
    assert (got.cipher, got.control_location) == ("aes-xts-plain64", "front-end")
    assert got.encryption_id
    r = _v3(cloud, token, "GET", f"/types/{vtype.id}/encryption/provider")
    assert r.json() == {"provider": "luks"}
    admin.block_storage.update_type_encryption(volume_type=vtype.id, key_size=512)
    assert admin.block_storage.get_type_encryption(vtype.id).key_size == 512
    admin.block_storage.update_type_encryption(volume_type=vtype.id, key_size=256)
    # bad input: 400 naming the field
    other = admin.block_storage.create_type(name=unique("bad"))
    for bad, field in ((dict(SPEC, provider="plain"), "provider"),
                       (dict(SPEC, provider=7), "provider"),
                       (dict(SPEC, key_size="x"), "key_size"),
                       (dict(SPEC, control_location="middle"), "control_location"),
                       ({"cipher": "aes-xts-plain64"}, "provider"),
                       (dict(SPEC, color="red"), "color")):
        r = _v3(cloud, token, "POST", f"/types/{other.id}/encryption", {"encryption": bad})
        assert r.status_code == 400 and field in r.json()["badRequest"]["message"], r.text
    # what Cinder stores but this cloud cannot open: stored as given (tempest's own test),
    # a volume of the type refused naming the field
    r = _v3(cloud, token, "POST", f"/types/{other.id}/encryption", {"encryption": {
        "provider": "SomeProvider", "key_size": 128, "control_location": "back-end"}})
    assert r.status_code == 200 and set(r.json()["encryption"]) == {
        "volume_type_id", "encryption_id", *SPEC}, r.text
    assert r.json()["encryption"]["provider"] == "SomeProvider"
    r = _v3(cloud, token, "POST", "/volumes", {"volume": {"size": 1,
                                                          "volume_type": other.id}})
    assert r.status_code == 400 and "provider" in r.text, r.text
    for bad, field in ((dict(SPEC, key_size=128), "key_size"),
                       (dict(SPEC, cipher="aes-cbc-essiv"), "cipher"),
                       (dict(SPEC, control_location="back-end"), "control_location")):
        r = _v3(cloud, token, "PUT", f"/types/{other.id}/encryption/provider",
                {"encryption": bad})
        assert r.status_code == 200 and r.json() == {"encryption": bad}, r.text
        r = _v3(cloud, token, "POST", "/volumes", {"volume": {"size": 1,
                                                              "volume_type": other.id}})
        assert r.status_code == 400 and field in r.text, r.text
    admin.block_storage.delete_type(other)
    assert _v3(cloud, token, "POST", f"/types/{vtype.id}/encryption",
               {"encryption": SPEC}).status_code == 400  # already has one
    a, b = people["a"], people["b"]
    assert _v3(cloud, a.token, "POST", f"/types/{vtype.id}/encryption",
               {"encryption": SPEC}).status_code == 403
    assert _v3(cloud, a.token, "GET", f"/types/{vtype.id}/encryption").status_code == 403

    # a member's encrypted volume: its key is a 256-bit secret of its project
    r = _v3(cloud, a.token, "POST", f"/{a.project_id}/volumes",
            {"volume": {"size": 1, "volume_type": vtype.name, "name": unique("enc")}})
    assert r.status_code == 202, r.text
    vol = r.json()["volume"]
    key_id = vol["encryption_key_id"]
    assert vol["encrypted"] is True and key_id
    conn_a = connect(cloud, "admin", username=a.name, password=a.password,
                     project_name=a.project)
    _wait(lambda: conn_a.block_storage.get_volume(vol["id"]), "available", 120)
    secret = _secret(cloud, a.token, key_id).json()
    assert (secret["secret_type"], secret["bit_length"], secret["algorithm"]) == \
        ("symmetric", 256, "aes")
    assert len(_payload(cloud, a.token, key_id)) == 32
    meta = _v3(cloud, a.token, "GET", f"/volumes/{vol['id']}/encryption").json()
    assert meta == {"encryption_key_id": key_id, **SPEC}
    assert _v3(cloud, a.token, "GET", f"/volumes/{vol['id']}/encryption/cipher").json() \
        == "aes-xts-plain64"
    # another project: neither the volume nor its key
    assert _v3(cloud, b.token, "GET", f"/volumes/{vol['id']}/encryption").status_code == 404
    assert _secret(cloud, b.token, key_id).status_code in (403, 404)
    # the type is in use: its spec stays
    for method, body in (("PUT", {"encryption": {"key_size": 512}}), ("DELETE", None)):
        r = _v3(cloud, token, method, f"/types/{vtype.id}/encryption/provider", body)
        assert r.status_code == 400 and "in use" in r.text, r.text
    conn = _v3(cloud, a.token, "POST", f"/volumes/{vol['id']}/action",
               {"os-initialize_connection": {"connector": {"host": "h"}}})
    assert conn.json()["connection_info"]["data"]["encrypted"] is True

    # attached, it is not snapshotted (its ciphertext is copied outside the guest)
    att = _v3(cloud, a.token, "POST", "/attachments", {"attachment": {
        "volume_uuid": vol["id"], "instance_uuid": None, "connector": {"host": "h"}}})
    assert att.status_code == 200, att.text
    att_id = att.json()["attachment"]["id"]
    assert _v3(cloud, a.token, "POST", f"/attachments/{att_id}/action",
               {"os-complete": None}).status_code == 204
    r = _v3(cloud, a.token, "POST", "/snapshots",
            {"snapshot": {"volume_id": vol["id"], "force": True}})
    assert r.status_code == 400 and "detach" in r.text, r.text
    assert _v3(cloud, a.token, "DELETE", f"/attachments/{att_id}").status_code == 200
    _wait(lambda: conn_a.block_storage.get_volume(vol["id"]), "available")
    # a snapshot and a volume from it: a key of its own with the same bytes
    snap = conn_a.block_storage.create_snapshot(volume_id=vol["id"], name=unique("s"))
    _wait(lambda: conn_a.block_storage.get_snapshot(snap.id), "available", 120)
    copy = _v3(cloud, a.token, "POST", "/volumes",
               {"volume": {"snapshot_id": snap.id, "size": 2}}).json()["volume"]
    assert copy["encryption_key_id"] not in (None, key_id)
    copy = _wait(lambda: conn_a.block_storage.get_volume(copy["id"]), "available", 120)
    assert copy.size == 2
    assert _payload(cloud, a.token, copy.encryption_key_id) == \
        _payload(cloud, a.token, key_id)
    r = _v3(cloud, a.token, "POST", "/volumes",
            {"volume": {"source_volid": vol["id"], "volume_type": "__DEFAULT__"}})
    assert r.status_code == 400 and "encrypt" in r.text

    # the key gone: the volume cannot be attached
    assert httpx.delete(f"{km(cloud)}/secrets/{copy.encryption_key_id}",
                        headers=a.h()).status_code == 204
    r = _v3(cloud, a.token, "POST", f"/volumes/{copy.id}/action",
            {"os-initialize_connection": {"connector": {"host": "h"}}})
    assert r.status_code == 400 and "key" in r.json()["badRequest"]["message"], r.text
    r = _v3(cloud, a.token, "POST", "/attachments",
            {"attachment": {"volume_uuid": copy.id, "instance_uuid": None,
                            "connector": {"host": "h"}}})
    assert r.status_code == 400, r.text
    server = _server(conn_a)
    with pytest.raises(exc.BadRequestException, match="key"):
        conn_a.compute.create_volume_attachment(server, volume_id=copy.id)
    assert conn_a.block_storage.get_volume(copy.id).status == "available"
    conn_a.compute.delete_server(server)

    # deleting the volume deletes its key
    _delete(conn_a, copy)
    _delete(conn_a, conn_a.block_storage.get_volume(vol["id"]))
    assert _secret(cloud, a.token, key_id).status_code == 404
    admin.block_storage.delete_type_encryption(volume_type=vtype.id)
    assert admin.block_storage.get_type_encryption(vtype.id).provider is None
    admin.block_storage.delete_type(vtype)


@pytest.mark.sqlite_only
def test_cli_encrypted_volume_type(cli: Cli, cloud: RunningCloud) -> None:
    name = unique("clienc")
    cli.run("volume", "type", "create", "--encryption-provider", "luks",
            "--encryption-cipher", "aes-xts-plain64", "--encryption-key-size", "256",
            "--encryption-control-location", "front-end", name)
    shown = json.loads(cli.run("volume", "type", "show", "--encryption-type", name, "-f",
                               "json").stdout)
    enc = shown["encryption"]
    assert enc["provider"] == "luks" and enc["key_size"] == 256, shown
    bad = cli.run("volume", "type", "set", "--encryption-provider", "plain", name,
                  check=False)
    assert bad.returncode != 0 and "provider" in bad.stderr
    cli.run("volume", "type", "unset", "--encryption-type", name)
    admin = connect(cloud)
    assert admin.block_storage.get_type_encryption(
        admin.block_storage.find_type(name).id).provider is None
    cli.run("volume", "type", "delete", name)
    with pytest.raises(exc.NotFoundException):
        connect(cloud).block_storage.get_type(name)
