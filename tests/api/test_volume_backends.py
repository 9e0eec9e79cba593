"""Several volume backends at once, chosen by volume type (``volume_backend_name``), as
Cinder does: a cloud with the file backend and an rbd backend whose cluster does not answer
(a monitor address nobody listens on). Through the real openstacksdk and raw HTTP:
scheduler-stats/get_pools (admin) lists each backend with its capacity (the dead one
``unknown``, ``backend_state: down``), os-services one cinder-volume per backend, a volume
lands on the backend its type names (a clone stays on its source's), and a volume on the
dead cluster or on a backend that does not exist goes to ``error`` with a user message
(/messages, 3.3) naming the cause, quickly, while the API answers; nothing is left behind.
A second project sees none of another's messages."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openstack
import pytest

from tests.api.conftest import connect, unique
from tests.support.ceph import free_port
from tests.support.server import CloudThread, RunningCloud

Conn = openstack.connection.Connection
MESSAGES = "3.3"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def multi(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
          ) -> Iterator[RunningCloud]:
    url = None
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_server").create_database(
            f"backends_{unique('db').replace('-', '_')[-12:]}")
    thread = CloudThread(database_url=url)
    v = thread.settings.volume
    v.backends = ["file"]
    if shutil.which("rbd"):
        conf = tmp_path_factory.mktemp("dead-ceph") / "ceph.conf"
        conf.write_text(f"[global]\nmon_host = 127.0.0.1:{free_port()}\n")
        v.backends.append("rbd")
        v.rbd_ceph_conf, v.rbd_connect_timeout = str(conf), 1
    thread.start()
    assert thread.cloud is not None
    yield thread.cloud
    thread.stop()


def _type(admin: Conn, backend: str) -> Any:
    return admin.block_storage.create_type(name=unique(f"on-{backend}"),
                                           extra_specs={"volume_backend_name": backend})


def _settled(conn: Conn, volume_id: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        vol = conn.block_storage.get_volume(volume_id)
        if vol.status not in ("creating", "downloading"):
            return vol
        assert time.monotonic() < deadline, f"volume {volume_id} is still {vol.status}"
        time.sleep(0.1)


def _messages(conn: Conn) -> list[dict[str, Any]]:
    r = conn.block_storage.get("/messages", microversion=MESSAGES)
    assert r.status_code == 200, r.text
    return list(r.json()["messages"])


def _message_for(conn: Conn, volume_id: str) -> dict[str, Any]:
    found = [m for m in _messages(conn) if m["resource_uuid"] == volume_id]
    assert len(found) == 1, found
    return found[0]


def test_pools_and_services_list_each_backend(multi: RunningCloud) -> None:
    admin, demo = connect(multi), connect(multi, "demo")
    backends = multi.settings.volume.backends
    r = admin.block_storage.get("/scheduler-stats/get_pools")
    assert r.status_code == 200, r.text
    names = [p["name"] for p in r.json()["pools"]]
    assert [n.split("@", 1)[1] for n in names] == [f"{b}#{b}" for b in backends]
    assert r.json()["pools"][0].keys() == {"name"}
    # in detail, through the SDK
    detail = list(admin.block_storage.backend_pools())
    assert [p.name for p in detail] == names
    pools = {p.capabilities["volume_backend_name"]: p.capabilities for p in detail}
    file = pools["file"]
    assert file["total_capacity_gb"] > 0 and 0 <= file["free_capacity_gb"] <= \
        file["total_capacity_gb"]
    assert file["backend_state"] == "up" and file["storage_protocol"] == "file"
    if "rbd" in pools:  # the cluster does not answer: the API does
        rbd = pools["rbd"]
        assert (rbd["total_capacity_gb"], rbd["backend_state"]) == ("unknown", "down")
        assert rbd["storage_protocol"] == "ceph"
    assert demo.block_storage.get("/scheduler-stats/get_pools").status_code == 403
    hosts = {s.host for s in admin.block_storage.services(binary="cinder-volume")}
    assert {h.split("@", 1)[1] for h in hosts} >= set(backends)


def test_volumes_go_to_the_backend_their_type_names(multi: RunningCloud) -> None:
    admin, demo = connect(multi), connect(multi, "demo")
    on_file = _type(admin, "file")
    vol = demo.block_storage.create_volume(size=1, volume_type=on_file.name,
                                           name=unique("file"))
    assert _settled(demo, vol.id).status == "available"
    assert admin.block_storage.get_volume(vol.id).host.endswith("@file#file")
    # no type naming a backend: the first one; a clone: its source's, whatever its type
    plain = demo.block_storage.create_volume(size=1, name=unique("plain"))
    clone = demo.block_storage.create_volume(source_volume_id=vol.id, name=unique("clone"))
    for v in (plain, clone):
        assert _settled(demo, v.id).status == "available"
        assert admin.block_storage.get_volume(v.id).host.endswith("@file#file")
    files = sorted(p.name for p in Path(multi.settings.volumes_path).rglob("*") if p.is_file())
    assert any(vol.id in f for f in files) and any(clone.id in f for f in files)
    for v in (clone, plain, vol):
        demo.block_storage.delete_volume(v)
    for v in (clone, plain, vol):
        demo.block_storage.wait_for_delete(v, wait=30)
    admin.block_storage.delete_type(on_file)


@pytest.mark.parametrize("backend", ["nowhere", "rbd"])
def test_a_volume_on_a_backend_that_fails_goes_to_error_with_a_message(
        multi: RunningCloud, backend: str) -> None:
    if backend not in ("nowhere", *multi.settings.volume.backends):
        pytest.skip("the rbd CLI is not installed")
    admin, demo = connect(multi), connect(multi, "demo")
    vtype = _type(admin, backend)
    t0 = time.monotonic()
    vol = demo.block_storage.create_volume(size=1, volume_type=vtype.name, name=unique("bad"))
    assert demo.block_storage.get_volume(vol.id).status in ("creating", "error")
    # the API answers while the backend fails
    assert demo.block_storage.get("/volumes").status_code == 200
    assert _settled(demo, vol.id).status == "error"
    assert time.monotonic() - t0 < 20
    msg = _message_for(demo, vol.id)
    cause = "no volume backend named 'nowhere'" if backend == "nowhere" else \
        "the Ceph cluster is unreachable"
    assert cause in msg["user_message"], msg
    assert msg["user_message"].startswith("create volume: ")
    assert (msg["resource_type"], msg["message_level"], msg["event_id"]) == \
        ("VOLUME", "ERROR", "VOLUME_VOLUME_001_003")
    shown = demo.block_storage.get(f"/messages/{msg['id']}", microversion=MESSAGES)
    assert shown.json()["message"] == msg
    # another project sees none of it; before 3.3 there are no messages
    if backend == "nowhere":
        assert all(m["resource_uuid"] != vol.id for m in _messages(_other(admin, multi)))
    assert demo.block_storage.get("/messages", microversion="3.2").status_code == 404
    # nothing half-made: no file; the volume deletes; deleting the message clears it
    assert not [p for p in Path(multi.settings.volumes_path).rglob(f"*{vol.id}*")]
    r = demo.block_storage.delete(f"/messages/{msg['id']}", microversion=MESSAGES)
    assert r.status_code == 204
    assert all(m["resource_uuid"] != vol.id for m in _messages(demo))
    demo.block_storage.delete_volume(vol)
    if backend == "nowhere":  # never made anywhere: deleted at once
        demo.block_storage.wait_for_delete(vol, wait=30)
        admin.block_storage.delete_type(vtype)
        return
    # the cluster still does not answer: Cinder's error_deleting, and the reason
    deadline = time.monotonic() + 20
    while demo.block_storage.get_volume(vol.id).status != "error_deleting":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    msg = _message_for(demo, vol.id)
    assert msg["user_message"].startswith("delete volume: ") and cause in msg["user_message"]


def _other(admin: Conn, cloud: RunningCloud) -> Conn:
    """A member of a project of its own."""
    project = admin.identity.create_project(name=unique("msg-other"), domain_id="default")
    password = unique("pw")
    user = admin.identity.create_user(name=unique("msg-user"), password=password,
                                      domain_id="default", default_project_id=project.id)
    member = admin.identity.find_role("member")
    admin.identity.assign_project_role_to_user(project, user, member)
    return connect(cloud, "admin", username=user.name, password=password,
                   project_name=project.name)
