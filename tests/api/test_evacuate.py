"""Evacuate across real agent processes: a controller without a local compute agent and
three ``onestack agent`` processes (fake virt driver) over the internal agent API. A server
of a host whose agent was killed is rebuilt on another host (the scheduler's pick, the
server group's anti-affinity respected), its placement allocation moves with it, and the
dead host's agent, restarted, does not get it back."""

from __future__ import annotations

import os
import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import BACKENDS, connect, unique
from tests.api.test_agent_http import (
    DOWN_AFTER,
    Agent,
    compute_services,
    hosts_up,
    run_controller,
    running_agents,
    server_view,
    until,
)
from tests.support.server import RunningCloud

HOSTS = ("evac-a", "evac-b", "evac-c")


@pytest.fixture(scope="module", params=BACKENDS)
def controller(request: pytest.FixtureRequest) -> Iterator[RunningCloud]:
    yield from run_controller(request, "evacuate")


@pytest.fixture
def agents(controller: RunningCloud, tmp_path: Path) -> Iterator[dict[str, Agent]]:
    with running_agents(controller, tmp_path, HOSTS, show_logs=False) as started:
        yield started


def evacuate(cloud: RunningCloud, token: str, server_id: str, body: dict[str, Any],
             version: str = "2.79") -> httpx.Response:
    return httpx.post(f"{cloud.base_url}/compute/v2.1/servers/{server_id}/action",
                      json={"evacuate": body},
                      headers={"X-Auth-Token": token,
                               "OpenStack-API-Version": f"compute {version}"})


def allocation_hosts(cloud: RunningCloud, token: str, consumer: str) -> set[str]:
    headers = {"X-Auth-Token": token, "OpenStack-API-Version": "placement 1.28"}
    rps = httpx.get(f"{cloud.base_url}/placement/resource_providers", headers=headers)
    names = {rp["uuid"]: rp["name"] for rp in rps.json()["resource_providers"]}
    allocs = httpx.get(f"{cloud.base_url}/placement/allocations/{consumer}", headers=headers)
    return {names[u] for u in allocs.json()["allocations"]}


def test_evacuate_a_dead_hosts_server(controller: RunningCloud,
                                      agents: dict[str, Agent]) -> None:
    conn = connect(controller)
    token = controller.admin_token()
    until(lambda: hosts_up(conn, HOSTS), 30, "the agents' compute services up")

    image = conn.image.create_image(name=unique("img"), data=b"\0" * 1024,
                                    disk_format="raw", container_format="bare")
    group = conn.compute.create_server_group(name=unique("grp"), policies=["anti-affinity"])
    servers = [conn.compute.create_server(
        name=unique("vm"), image_id=image.id, flavor_id="42", networks="none",
        scheduler_hints={"group": group.id}) for _ in range(2)]
    for s in servers:
        conn.compute.wait_for_server(s, status="ACTIVE", wait=30, interval=0.2)
    victim, other = (s.id for s in servers)
    source = server_view(controller, token, victim)["OS-EXT-SRV-ATTR:host"]
    other_host = server_view(controller, token, other)["OS-EXT-SRV-ATTR:host"]
    free = (set(HOSTS) - {source, other_host}).pop()
    assert allocation_hosts(controller, token, victim) == {source}

    # Refused: a non-admin (403), a host still up (400, Nova's ComputeServiceInUse),
    # an unknown server (404).
    r = evacuate(controller, controller.token("demo"), victim, {})
    assert r.status_code == 403, r.text
    r = evacuate(controller, token, victim, {})
    assert r.status_code == 400, r.text
    assert f"Compute service of {source} is still in use." in r.text
    r = evacuate(controller, token, victim, {"host": "no-such-host"})
    assert r.status_code == 404, r.text  # the target is checked first, as in Nova
    assert evacuate(controller, token, str(uuid.uuid4()), {}).status_code == 404

    # kill -9 of the source's agent; once its service is down, evacuate is accepted.
    agents[source].kill()
    until(lambda: compute_services(conn)[source][0].state == "down", DOWN_AFTER + 10,
          f"{source} down")
    r = evacuate(controller, token, victim, {"host": source})
    assert r.status_code == 400 and "can't be the same one" in r.text, r.text
    r = evacuate(controller, token, victim, {"host": "no-such-host"})
    assert r.status_code == 404, r.text
    r = evacuate(controller, token, victim, {"onSharedStorage": False, "force": True})
    assert r.status_code == 400, r.text  # neither is in 2.79's schema
    r = evacuate(controller, token, victim, {"force": True}, "2.29")
    assert r.status_code == 400 and "non-provided destination" in r.text, r.text
    # The scheduler picks: not the source, not the anti-affine sibling's host.
    conn.compute.evacuate_server(victim)
    view = server_view(controller, token, victim)
    assert view["OS-EXT-SRV-ATTR:host"] == free
    conn.compute.wait_for_server(conn.compute.get_server(victim), status="ACTIVE", wait=30,
                                 interval=0.2)
    view = server_view(controller, token, victim)
    assert view["OS-EXT-SRV-ATTR:host"] == free and view["host_status"] == "UP"
    assert allocation_hosts(controller, token, victim) == {free}
    actions = [a.action for a in conn.compute.server_actions(victim)]
    assert "evacuate" in actions
    r = httpx.get(f"{controller.base_url}/compute/v2.1/os-migrations?migration_type=evacuation"
                  f"&instance_uuid={victim}", headers={"X-Auth-Token": token,
                                                       "OpenStack-API-Version": "compute 2.59"})
    assert [(m["status"], m["source_compute"], m["dest_compute"])
            for m in r.json()["migrations"]] == [("done", source, free)]
    # Evacuating again: the free host is up now, so the server's host is not down.
    assert evacuate(controller, token, victim, {}).status_code == 400

    # The source's agent comes back: it does not get the evacuated server back.
    agents[source].start()
    until(lambda: compute_services(conn)[source][0].state == "up", 30, f"{source} up")
    secret = agents[source].credential.read_text().strip()
    mine = httpx.get(f"{controller.base_url}/internal/agent/v1/hosts/{source}/instances",
                     headers={"Authorization": f"Bearer {secret}"})
    assert mine.status_code == 200
    assert victim not in mine.text
    view = server_view(controller, token, victim)
    assert view["OS-EXT-SRV-ATTR:host"] == free and view["status"] == "ACTIVE"
    assert allocation_hosts(controller, token, victim) == {free}

    for s in servers:
        conn.compute.delete_server(s.id)
    for s in servers:
        conn.compute.wait_for_delete(s, interval=0.2, wait=30)


def test_evacuate_from_a_frozen_host(controller: RunningCloud,
                                     agents: dict[str, Agent]) -> None:
    """2.1-2.13: onSharedStorage is required, the answer carries adminPass; a stopped
    server stays stopped on its new host. The source's agent is frozen (SIGSTOP), not
    killed, so it still holds the guest when it wakes: its first pass destroys it, as
    Nova's _destroy_evacuated_instances."""
    conn = connect(controller)
    token = controller.admin_token()
    until(lambda: hosts_up(conn, HOSTS), 30, "the agents' compute services up")
    image = conn.image.create_image(name=unique("img"), data=b"\0" * 1024,
                                    disk_format="raw", container_format="bare")
    server = conn.compute.create_server(name=unique("vm"), image_id=image.id, flavor_id="42",
                                        networks="none")
    conn.compute.wait_for_server(server, status="ACTIVE", wait=30, interval=0.2)
    conn.compute.stop_server(server)
    conn.compute.wait_for_server(conn.compute.get_server(server.id), status="SHUTOFF",
                                 wait=30, interval=0.2)
    source = server_view(controller, token, server.id)["OS-EXT-SRV-ATTR:host"]
    frozen = agents[source].proc
    assert frozen is not None
    os.killpg(frozen.pid, signal.SIGSTOP)
    until(lambda: compute_services(conn)[source][0].state == "down", DOWN_AFTER + 10,
          f"{source} down")
    r = evacuate(controller, token, server.id, {"host": "x"}, "2.13")
    assert r.status_code == 400  # onSharedStorage is required before 2.14
    target = next(h for h in HOSTS if h != source)
    r = evacuate(controller, token, server.id,
                 {"onSharedStorage": False, "adminPass": "s3cret", "host": target}, "2.13")
    assert r.status_code == 200 and r.json() == {"adminPass": "s3cret"}, r.text
    conn.compute.wait_for_server(conn.compute.get_server(server.id), status="SHUTOFF",
                                 wait=30, interval=0.2)
    view = server_view(controller, token, server.id)
    assert view["OS-EXT-SRV-ATTR:host"] == target and view["OS-EXT-STS:task_state"] is None
    assert allocation_hosts(controller, token, server.id) == {target}

    os.killpg(frozen.pid, signal.SIGCONT)  # the source wakes up with the old guest
    until(lambda: f"destroying guest {server.id}" in agents[source].log.read_text(), 30,
          f"{source} destroying the evacuated guest")
    until(lambda: compute_services(conn)[source][0].state == "up", 30, f"{source} up")
    view = server_view(controller, token, server.id)
    assert view["OS-EXT-SRV-ATTR:host"] == target and view["status"] == "SHUTOFF"
    conn.compute.delete_server(server.id)
    conn.compute.wait_for_delete(server, interval=0.2, wait=30)


def test_evacuate_a_volume_backed_server(controller: RunningCloud,
                                         agents: dict[str, Agent]) -> None:
    """A server booted from a volume keeps its volume: it is attached to it again on the new
    host, and its root takes no disk there."""
    conn = connect(controller)
    token = controller.admin_token()
    until(lambda: hosts_up(conn, HOSTS), 30, "the agents' compute services up")
    image = conn.image.create_image(name=unique("img"), data=b"\0" * 1024,
                                    disk_format="raw", container_format="bare")
    server = conn.compute.create_server(
        name=unique("bfv"), flavor_id="42", networks="none", block_device_mapping=[{
            "uuid": image.id, "source_type": "image", "destination_type": "volume",
            "boot_index": 0, "volume_size": 1, "delete_on_termination": True}])
    conn.compute.wait_for_server(server, status="ACTIVE", wait=60, interval=0.2)
    view = server_view(controller, token, server.id)
    source = view["OS-EXT-SRV-ATTR:host"]
    (volume_id,) = [v["id"] for v in view["os-extended-volumes:volumes_attached"]]
    (old,) = [a["attachment_id"] for a in conn.block_storage.get_volume(volume_id).attachments]
    agents[source].kill()
    until(lambda: compute_services(conn)[source][0].state == "down", DOWN_AFTER + 10,
          f"{source} down")
    r = evacuate(controller, token, server.id, {}, "2.14")
    assert r.status_code == 200 and r.content == b"", r.text
    conn.compute.wait_for_server(conn.compute.get_server(server.id), status="ACTIVE",
                                 wait=30, interval=0.2)
    view = server_view(controller, token, server.id)
    target = view["OS-EXT-SRV-ATTR:host"]
    assert target != source
    assert [v["id"] for v in view["os-extended-volumes:volumes_attached"]] == [volume_id]
    volume = conn.block_storage.get_volume(volume_id)
    assert volume.status == "in-use"
    assert [(a["server_id"], a["host_name"]) for a in volume.attachments] == [
        (server.id, target)]
    # a new attachment for the new host; the old one is gone (as Nova's evacuate)
    assert volume.attachments[0]["attachment_id"] != old
    r = httpx.get(f"{controller.base_url}/volume/v3/attachments/{old}",
                  headers={"X-Auth-Token": token, "OpenStack-API-Version": "volume 3.27"})
    assert r.status_code == 404, r.text
    assert allocation_hosts(controller, token, server.id) == {target}
    conn.compute.delete_server(server.id)
    conn.compute.wait_for_delete(server, interval=0.2, wait=30)
