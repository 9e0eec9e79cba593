"""Cold migration of servers with volumes on shared storage, across real agent processes
(fake virt driver). The volume backend is the fake one made to answer Cinder's ``rbd``
connection info, so to the cloud its volumes are on storage every host opens itself; the
fake hypervisor opens nothing. A server booted from such a volume, with a second one
attached, moves to another host with both: each gets a new attachment naming the target
(the old one deleted, the volumes in-use all along), nothing is uploaded. When the target
fails to start it, the server goes back to its source with its volumes and claim. A server
with a volume on the controller's disk is refused (409)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import BACKENDS, connect, unique
from tests.api.test_agent_http import Agent, hosts_up, run_controller, running_agents, until
from tests.api.test_evacuate import allocation_hosts
from tests.api.test_migrate import migrate
from tests.support.server import RunningCloud

HOSTS = ("mvol-a", "mvol-b", "mvol-c")


@pytest.fixture(scope="module", params=BACKENDS)
def controller(request: pytest.FixtureRequest) -> Iterator[RunningCloud]:
    yield from run_controller(request, "migvol")


@pytest.fixture
def agents(controller: RunningCloud, tmp_path: Path) -> Iterator[dict[str, Agent]]:
    with running_agents(controller, tmp_path, HOSTS, show_logs=False) as started:
        yield started


def pause(agent: Agent, on: bool) -> None:
    """Stop (SIGSTOP) or continue an agent process: it neither works nor heartbeats."""
    assert agent.proc is not None
    os.killpg(agent.proc.pid, signal.SIGSTOP if on else signal.SIGCONT)


def as_rbd(controller: RunningCloud, monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on the fake volume backend's attachments are Cinder's rbd ones."""
    driver = controller.runtime.volume.worker.driver

    def connection_info(volume_id: str) -> dict[str, Any]:
        return {"driver_volume_type": "rbd", "data": {
            "name": f"volumes/volume-{volume_id}", "hosts": ["192.0.2.1"], "ports": ["6789"],
            "cluster_name": "ceph", "auth_enabled": True, "auth_username": "onestack",
            "secret_type": "ceph", "secret_uuid": None, "volume_id": volume_id}}

    monkeypatch.setattr(driver, "connection_info", connection_info)


def attachments(controller: RunningCloud, token: str, server_id: str
                ) -> dict[str, tuple[str, str, str]]:
    """volume id -> (attachment id, host, status), from Cinder's attachments API."""
    r = httpx.get(f"{controller.base_url}/volume/v3/attachments/detail?all_tenants=1"
                  f"&instance_id={server_id}",
                  headers={"X-Auth-Token": token, "OpenStack-API-Version": "volume 3.27"})
    assert r.status_code == 200, r.text
    return {a["volume_id"]: (a["id"], a["connection_info"].get("driver_volume_type"),
                             a["status"]) for a in r.json()["attachments"]}


def test_cold_migration_with_rbd_volumes(controller: RunningCloud, agents: dict[str, Agent],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    conn = connect(controller)
    token = controller.admin_token()
    until(lambda: hosts_up(conn, HOSTS), 30, "three agents up")
    image = conn.image.create_image(name=unique("img"), data=b"\0" * 1024,
                                    disk_format="raw", container_format="bare")

    # A volume on the controller's disk (the fake backend as it is): 409.
    local = conn.compute.create_server(name=unique("vm"), image_id=image.id, flavor_id="42",
                                       networks="none")
    local = conn.compute.wait_for_server(local, status="ACTIVE", wait=30, interval=0.2)
    vol = conn.block_storage.create_volume(size=1, name=unique("vol"))
    conn.block_storage.wait_for_status(vol, "available", wait=30, interval=0.2)
    conn.compute.create_volume_attachment(local, volume_id=vol.id)
    conn.block_storage.wait_for_status(vol, "in-use", wait=30, interval=0.2)
    r = migrate(controller, token, local.id, None)
    assert r.status_code == 409 and "not on shared storage" in r.text, r.text

    as_rbd(controller, monkeypatch)
    server = conn.compute.create_server(
        name=unique("bfv"), flavor_id="42", networks="none", block_device_mapping=[{
            "uuid": image.id, "source_type": "image", "destination_type": "volume",
            "boot_index": 0, "volume_size": 1, "delete_on_termination": True}])
    server = conn.compute.wait_for_server(server, status="ACTIVE", wait=60, interval=0.2)
    data = conn.block_storage.create_volume(size=1, name=unique("data"))
    conn.block_storage.wait_for_status(data, "available", wait=30, interval=0.2)
    conn.compute.create_volume_attachment(server, volume_id=data.id)
    conn.block_storage.wait_for_status(data, "in-use", wait=30, interval=0.2)
    source = conn.compute.get_server(server.id).compute_host
    before = attachments(controller, token, server.id)
    assert len(before) == 2 and {v[1:] for v in before.values()} == {("rbd", "attached")}

    # Moved with both volumes: new attachments on the target, the old ones gone.
    target = sorted(set(HOSTS) - {source})[0]
    r = migrate(controller, token, server.id, {"host": target}, "2.56")
    assert r.status_code == 202, r.text
    until(lambda: conn.compute.get_server(server.id).compute_host == target
          and conn.compute.get_server(server.id).status == "VERIFY_RESIZE", 30, "moved")
    conn.compute.confirm_server_resize(server.id)
    after = attachments(controller, token, server.id)
    assert set(after) == set(before)
    assert not {a[0] for a in after.values()} & {b[0] for b in before.values()}
    assert {v[1:] for v in after.values()} == {("rbd", "attached")}
    for volume_id in after:
        volume = conn.block_storage.get_volume(volume_id)
        assert volume.status == "in-use"
        assert [(a["server_id"], a["host_name"]) for a in volume.attachments] == [
            (server.id, target)]
    assert allocation_hosts(controller, token, server.id) == {target}

    # The next target fails to start it: the server is back on its source, running.
    other = (set(HOSTS) - {source, target}).pop()
    cred = agents[other].credential.read_text().strip()
    until(lambda: hosts_up(conn, HOSTS), 30, "three agents up")
    pause(agents[other], True)
    try:
        r = migrate(controller, token, server.id, {"host": other}, "2.56")
        assert r.status_code == 202, r.text
        until(lambda: conn.compute.get_server(server.id).compute_host == other, 30,
              "arrived on the paused target")
        r = httpx.post(f"{controller.base_url}/internal/agent/v1/hosts/{other}/instances/"
                       f"{server.id}/fail", json={"task": "resize_finish",
                                                  "message": "no rbd on this host"},
                       headers={"Authorization": f"Bearer {cred}"})
        assert r.status_code < 300, r.text
        until(lambda: conn.compute.get_server(server.id).compute_host == target
              and conn.compute.get_server(server.id).status == "ACTIVE", 30, "back")
    finally:
        pause(agents[other], False)
    back = attachments(controller, token, server.id)
    assert {v[1:] for v in back.values()} == {("rbd", "attached")}
    assert [(a["server_id"], a["host_name"])
            for a in conn.block_storage.get_volume(data.id).attachments] == [
        (server.id, target)]
    assert allocation_hosts(controller, token, server.id) == {target}
    r = httpx.get(f"{controller.base_url}/compute/v2.1/os-migrations?instance_uuid="
                  f"{server.id}", headers={"X-Auth-Token": token,
                                           "OpenStack-API-Version": "compute 2.59"})
    assert sorted((m["status"], m["dest_compute"]) for m in r.json()["migrations"]) == [
        ("confirmed", target), ("error", other)]
    for s in (server, local):
        conn.compute.delete_server(s.id)
        conn.compute.wait_for_delete(s, interval=0.2, wait=30)
