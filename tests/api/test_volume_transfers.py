"""Cinder volume transfers between two projects, through openstacksdk (``/volume-transfers``
at 3.55), raw HTTP on both paths (``/os-volume-transfer`` at 3.0, 3.55 and 3.57 shapes) and
the `openstack volume transfer request` CLI: the auth key shown once, the volume
``awaiting-transfer`` then moved with its snapshots to the accepting project and user; a
wrong key, another project's lookups, bad bodies and the accepting project's quota refused
with Cinder's errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import openstack
import pytest

from tests.api.conftest import Cli, connect, unique
from tests.api.test_volume import _delete, _volume, _wait
from tests.support.server import RunningCloud

ALT_PASSWORD = "alt-secret-pw-1"


def _http(cloud: RunningCloud, token: str, version: str = "3.57"
          ) -> tuple[str, dict[str, str]]:
    return (f"{cloud.base_url}/volume/v3",
            {"X-Auth-Token": token, "OpenStack-API-Version": f"volume {version}"})


@pytest.fixture
def alt(cloud: RunningCloud, admin: openstack.connection.Connection
        ) -> Iterator[openstack.connection.Connection]:
    """A member of a third project (neither admin's nor demo's)."""
    project = admin.identity.create_project(name=unique("alt"), domain_id="default")
    user = admin.identity.create_user(name=unique("alt"), password=ALT_PASSWORD,
                                      default_project_id=project.id, domain_id="default")
    member = admin.identity.find_role("member")
    admin.identity.assign_project_role_to_user(project, user, member)
    yield connect(cloud, "demo", username=user.name, password=ALT_PASSWORD,
                  project_name=project.name)
    for vol in admin.block_storage.volumes(all_projects=True, project_id=project.id):
        for snap in admin.block_storage.snapshots(all_projects=True, volume_id=vol.id):
            admin.block_storage.delete_snapshot(snap)
        _delete(admin, vol)
    admin.identity.delete_user(user)
    admin.identity.delete_project(project)


def test_transfer_to_another_project(cloud: RunningCloud,
                                     admin: openstack.connection.Connection,
                                     demo: openstack.connection.Connection,
                                     alt: openstack.connection.Connection) -> None:
    vol = _volume(demo)
    snap = demo.block_storage.create_snapshot(volume_id=vol.id, name=unique("snap"))
    _wait(lambda: demo.block_storage.get_snapshot(snap.id), "available")
    name = unique("xfer")
    t = demo.block_storage.create_transfer(volume_id=vol.id, name=name)
    assert len(t.auth_key) == 16 and t.volume_id == vol.id and t.no_snapshots is False
    assert demo.block_storage.get_volume(vol.id).status == "awaiting-transfer"

    url, demo_hdr = _http(cloud, demo.session.get_token())
    _, alt_hdr = _http(cloud, alt.session.get_token())
    # the source project sees it (3.57 shape, no key); another project does not
    r = httpx.get(f"{url}/volume-transfers/{t.id}", headers=demo_hdr)
    assert r.status_code == 200, r.text
    shown = r.json()["transfer"]
    assert set(shown) == {"id", "name", "volume_id", "links", "created_at", "no_snapshots",
                          "source_project_id", "destination_project_id", "accepted"}
    assert (shown["source_project_id"], shown["accepted"]) == (vol.project_id, False)
    r = httpx.get(f"{url}/os-volume-transfer/detail", headers={**demo_hdr,
                  "OpenStack-API-Version": "volume 3.0"})
    assert [set(x) for x in r.json()["transfers"] if x["id"] == t.id] == [
        {"id", "name", "volume_id", "links", "created_at"}]
    r = httpx.get(f"{url}/os-volume-transfer", headers=demo_hdr)
    assert [(x["id"], x["name"]) for x in r.json()["transfers"]] == [(t.id, name)]
    assert httpx.get(f"{url}/volume-transfers/{t.id}", headers=alt_hdr).status_code == 404
    assert httpx.get(f"{url}/volume-transfers", headers=alt_hdr).json() == {"transfers": []}
    assert httpx.delete(f"{url}/volume-transfers/{t.id}", headers=alt_hdr).status_code == 404

    # a wrong key is refused; nothing moved
    r = httpx.post(f"{url}/volume-transfers/{t.id}/accept", headers=alt_hdr,
                   json={"accept": {"auth_key": "0" * 16}})
    assert r.status_code == 400 and r.json()["badRequest"]["message"] == (
        f"Invalid auth key: Attempt to transfer {t.id} with invalid auth key."), r.text
    # the accepting project's quota is checked: 413, nothing moved
    alt_project = alt.current_project_id
    q = f"{url}/os-quota-sets/{alt_project}"
    _, admin_hdr = _http(cloud, cloud.admin_token())
    assert httpx.put(q, headers=admin_hdr, json={"quota_set": {"snapshots": 0}}
                     ).status_code == 200
    r = httpx.post(f"{url}/volume-transfers/{t.id}/accept", headers=alt_hdr,
                   json={"accept": {"auth_key": t.auth_key}})
    assert r.status_code == 413 and "SnapshotLimitExceeded" in r.text, r.text
    assert demo.block_storage.get_volume(vol.id).status == "awaiting-transfer"
    httpx.delete(q, headers=admin_hdr)

    # accepted: the volume and its snapshot are alt's, the transfer gone
    accepted = alt.block_storage.accept_transfer(t.id, t.auth_key)
    assert (accepted.id, accepted.volume_id) == (t.id, vol.id)
    moved = _wait(lambda: alt.block_storage.get_volume(vol.id), "available")
    assert moved.project_id == alt_project and moved.user_id == alt.current_user_id
    assert [s.id for s in alt.block_storage.snapshots(volume_id=vol.id)] == [snap.id]
    r = httpx.get(f"{url}/volumes/{vol.id}", headers=demo_hdr)
    assert r.status_code == 404 and r.json()["itemNotFound"]["code"] == 404
    assert httpx.get(f"{url}/volume-transfers/{t.id}", headers=demo_hdr).status_code == 404
    r = httpx.post(f"{url}/volume-transfers/{t.id}/accept", headers=alt_hdr,
                   json={"accept": {"auth_key": t.auth_key}})
    assert r.status_code == 404 and f"Transfer {t.id} could not be found" in r.text


def test_transfer_errors_and_delete(cloud: RunningCloud,
                                    demo: openstack.connection.Connection,
                                    admin: openstack.connection.Connection) -> None:
    vol = _volume(demo)
    url, hdr = _http(cloud, demo.session.get_token(), "3.0")
    mine = _volume(admin)
    for body, field in (({"transfer": {}}, "volume_id"),
                        ({"transfer": {"volume_id": 5}}, "volume_id"),
                        ({"transfer": {"volume_id": vol.id, "name": ["x"]}}, "name"),
                        ({"transfer": {"volume_id": vol.id, "no_snapshots": True}},
                         "no_snapshots"),  # not on the old path
                        ({"transfer": {"volume_id": vol.id, "x": 1}}, "x"),
                        ({"tranfser": {}}, "transfer")):
        r = httpx.post(f"{url}/os-volume-transfer", headers=hdr, json=body)
        assert r.status_code == 400 and field in r.json()["badRequest"]["message"], (
            body, r.text)
    r = httpx.post(f"{url}/os-volume-transfer", headers=hdr,
                   json={"transfer": {"volume_id": mine.id}})
    assert r.status_code == 404 and f"Volume {mine.id} could not be found" in r.text
    # volume-transfers is 3.55+; there no_snapshots is a boolean
    r = httpx.post(f"{url}/volume-transfers", headers=hdr,
                   json={"transfer": {"volume_id": vol.id}})
    assert r.status_code == 404, r.text
    hdr55 = {**hdr, "OpenStack-API-Version": "volume 3.55"}
    r = httpx.post(f"{url}/volume-transfers", headers=hdr55,
                   json={"transfer": {"volume_id": vol.id, "no_snapshots": "maybe"}})
    assert r.status_code == 400 and "no_snapshots" in r.text
    r = httpx.post(f"{url}/volume-transfers", headers=hdr55,
                   json={"transfer": {"volume_id": vol.id, "no_snapshots": True}})
    assert r.status_code == 202, r.text
    t = r.json()["transfer"]
    assert set(t) == {"id", "name", "volume_id", "links", "created_at", "auth_key",
                      "no_snapshots"} and t["no_snapshots"] is True
    # an awaiting volume is not offered twice, nor deleted
    r = httpx.post(f"{url}/os-volume-transfer", headers=hdr,
                   json={"transfer": {"volume_id": vol.id}})
    assert r.status_code == 400 and "awaiting-transfer" in r.text
    r = httpx.delete(f"{url}/volumes/{vol.id}", headers=hdr)
    assert r.status_code == 400, r.text
    r = httpx.post(f"{url}/os-volume-transfer/{t['id']}/accept", headers=hdr,
                   json={"accept": {}})
    assert r.status_code == 400 and "auth_key" in r.text
    # deleted: the volume is available again in its project
    r = httpx.delete(f"{url}/os-volume-transfer/{t['id']}", headers=hdr)
    assert r.status_code == 202, r.text
    assert demo.block_storage.get_volume(vol.id).status == "available"
    r = httpx.get(f"{url}/os-volume-transfer/{t['id']}", headers=hdr)
    assert r.status_code == 404 and r.json()["itemNotFound"]["code"] == 404
    _delete(demo, vol)
    _delete(admin, mine)


@pytest.mark.sqlite_only
def test_cli_transfer_request(cloud: RunningCloud, cli: Cli,
                              admin: openstack.connection.Connection,
                              demo: openstack.connection.Connection) -> None:
    vol = _volume(demo)

    def run(*args: str, who: str) -> Any:
        return json.loads(cli.run("volume", "transfer", "request", *args, "-f", "json",
                                  cloud=who).stdout)

    made = run("create", "--name", unique("clixfer"), vol.id, who="onestack-demo")
    assert made["volume_id"] == vol.id and len(made["auth_key"]) == 16
    listed = run("list", who="onestack-demo")
    assert [x["ID"] for x in listed] == [made["id"]]
    taken = run("accept", "--auth-key", made["auth_key"], made["id"], who="onestack")
    assert taken["volume_id"] == vol.id
    moved = admin.block_storage.get_volume(vol.id)
    assert (moved.project_id, moved.status) == (admin.current_project_id, "available")
    _delete(admin, vol)
