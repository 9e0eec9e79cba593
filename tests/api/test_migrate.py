"""Cold migration across real agent processes (fake virt driver): a controller without a
local compute agent and three ``onestack agent`` processes. An admin migrates a server
(``openstack server migrate``): it lands on another host (or the one named, 2.56), its
allocation and port binding move with it, it comes back ACTIVE (or SHUTOFF when it was
stopped), waiting in VERIFY_RESIZE: confirmResize keeps it there, revertResize brings it
back to its source host (claim and port binding too); bad requests get Nova's errors; a
member may not migrate."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api.conftest import BACKENDS, Cli, connect, unique
from tests.api.test_agent_http import Agent, hosts_up, run_controller, running_agents, until
from tests.api.test_evacuate import allocation_hosts
from tests.support.server import RunningCloud

HOSTS = ("mig-a", "mig-b", "mig-c")


@pytest.fixture(scope="module", params=BACKENDS)
def controller(request: pytest.FixtureRequest) -> Iterator[RunningCloud]:
    yield from run_controller(request, "migrate")


@pytest.fixture
def agents(controller: RunningCloud, tmp_path: Path) -> Iterator[dict[str, Agent]]:
    with running_agents(controller, tmp_path, HOSTS, show_logs=False) as started:
        yield started


def migrate(cloud: RunningCloud, token: str, server_id: str, body: Any,
            version: str = "2.79") -> httpx.Response:
    return httpx.post(f"{cloud.base_url}/compute/v2.1/servers/{server_id}/action",
                      json={"migrate": body},
                      headers={"X-Auth-Token": token,
                               "OpenStack-API-Version": f"compute {version}"})


def arrived(conn: Any, server_id: str, left: str, status: str) -> Any:
    """The server once it is off host ``left`` with ``status`` (else None)."""
    server = conn.compute.get_server(server_id)
    return server if server.compute_host != left and server.status == status else None


def bound_host(conn: Any, server_id: str) -> str:
    return str(next(conn.network.ports(device_id=server_id)).binding_host_id)


def staged(cloud: RunningCloud, server_id: str) -> Path:
    return cloud.settings.data_dir / "migrations" / f"{server_id}.qcow2"


def records(cloud: RunningCloud, token: str, server_id: str) -> list[tuple[str, ...]]:
    """The server's migrations, newest first: (type, status, source, dest)."""
    r = httpx.get(f"{cloud.base_url}/compute/v2.1/os-migrations?instance_uuid={server_id}",
                  headers={"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.23"})
    assert r.status_code == 200, r.text
    return [(m["migration_type"], m["status"], m["source_compute"], m["dest_compute"])
            for m in r.json()["migrations"]]


def test_cold_migration(controller: RunningCloud, agents: dict[str, Agent]) -> None:
    conn = connect(controller)
    token = controller.admin_token()
    until(lambda: hosts_up(conn, set(HOSTS)), 30, "three agents up")
    image = conn.image.create_image(name=unique("img"), data=b"\0" * 1024,
                                    disk_format="raw", container_format="bare")
    net = conn.network.create_network(name=unique("net"))
    conn.network.create_subnet(network_id=net.id, cidr="10.68.0.0/24", ip_version=4)
    server = conn.compute.create_server(name=unique("vm"), image_id=image.id,
                                        flavor_id="42", networks=[{"uuid": net.id}])
    server = conn.compute.wait_for_server(server, status="ACTIVE", wait=30, interval=0.2)
    source = conn.compute.get_server(server.id).compute_host

    # the scheduler's pick: another host; the claim and the port binding follow; the
    # server waits in VERIFY_RESIZE, the staged disk kept for a revert
    r = migrate(controller, token, server.id, None, "2.1")
    assert r.status_code == 202, r.text
    moved = until(lambda: arrived(conn, server.id, source, "VERIFY_RESIZE"), 30, "migrated")
    assert moved.compute_host in HOSTS and moved.task_state is None
    assert moved.vm_state == "resized" and moved.power_state == 1
    assert allocation_hosts(controller, token, server.id) == {moved.compute_host}
    assert bound_host(conn, server.id) == moved.compute_host
    assert records(controller, token, server.id) == [
        ("migration", "finished", source, moved.compute_host)]
    assert staged(controller, server.id).exists()

    # revertResize: back on the source, ACTIVE, with its claim and port binding
    conn.compute.revert_server_resize(server.id)
    back = until(lambda: arrived(conn, server.id, moved.compute_host, "ACTIVE"), 30,
                 "reverted")
    assert back.compute_host == source and back.vm_state == "active"
    assert allocation_hosts(controller, token, server.id) == {source}
    assert bound_host(conn, server.id) == source
    assert records(controller, token, server.id)[0] == (
        "migration", "reverted", source, moved.compute_host)
    until(lambda: not staged(controller, server.id).exists(), 10, "the staged disk gone")
    actions = [a.action for a in conn.compute.server_actions(server.id)]
    assert actions[:2] == ["revertResize", "migrate"], actions

    # again, then confirmResize: ACTIVE where it went
    assert migrate(controller, token, server.id, None, "2.1").status_code == 202
    moved = until(lambda: arrived(conn, server.id, source, "VERIFY_RESIZE"), 30, "again")
    r = migrate(controller, token, server.id, None, "2.1")
    assert r.status_code == 409 and "vm_state resized" in r.text, r.text
    conn.compute.confirm_server_resize(server.id)
    done = conn.compute.get_server(server.id)
    assert (done.status, done.compute_host) == ("ACTIVE", moved.compute_host)
    assert records(controller, token, server.id)[0] == (
        "migration", "confirmed", source, moved.compute_host)
    assert not staged(controller, server.id).exists()
    assert allocation_hosts(controller, token, server.id) == {moved.compute_host}
    r = httpx.post(f"{controller.base_url}/compute/v2.1/servers/{server.id}/action",
                   json={"revertResize": None}, headers={"X-Auth-Token": token})
    assert r.status_code == 409, r.text

    # a stopped server to a named host (2.56) stays stopped, and so after its revert
    conn.compute.stop_server(server.id)
    conn.compute.wait_for_server(conn.compute.get_server(server.id), status="SHUTOFF",
                                 wait=30, interval=0.2)
    here = moved.compute_host
    target = next(h for h in HOSTS if h != here)
    assert migrate(controller, token, server.id, {"host": target}).status_code == 202
    there = until(lambda: arrived(conn, server.id, here, "VERIFY_RESIZE"), 30, "named host")
    assert there.compute_host == target and there.power_state == 4
    conn.compute.revert_server_resize(server.id)
    until(lambda: arrived(conn, server.id, target, "SHUTOFF"), 30, "reverted, stopped")

    # bad requests
    r = migrate(controller, token, server.id, {"host": here})
    assert r.status_code == 400 and "can't be the same one" in r.text
    r = migrate(controller, token, server.id, {"host": "no-such-host"})
    assert r.status_code == 404
    # before 2.56 Nova reads no body (tempest sends {"migrate": {}}): nothing to refuse there
    r = migrate(controller, token, server.id, {"hots": "x"})
    assert r.status_code == 400
    member = controller.token("demo")
    r = migrate(controller, member, server.id, None)
    assert r.status_code in (403, 404)
    conn.compute.delete_server(server.id)
    conn.compute.wait_for_delete(server, interval=0.3, wait=30)
    conn.network.delete_network(net)


def migrate_live(cloud: RunningCloud, token: str, server_id: str, body: Any,
                 version: str = "2.79") -> httpx.Response:
    return httpx.post(f"{cloud.base_url}/compute/v2.1/servers/{server_id}/action",
                      json={"os-migrateLive": body},
                      headers={"X-Auth-Token": token,
                               "OpenStack-API-Version": f"compute {version}"})


def test_live_migration(controller: RunningCloud, agents: dict[str, Agent]) -> None:
    conn = connect(controller)
    token = controller.admin_token()
    until(lambda: hosts_up(conn, set(HOSTS)), 30, "three agents up")
    image = conn.image.create_image(name=unique("img"), data=b"\0" * 1024,
                                    disk_format="raw", container_format="bare")
    net = conn.network.create_network(name=unique("net"))
    conn.network.create_subnet(network_id=net.id, cidr="10.69.0.0/24", ip_version=4)
    server = conn.compute.create_server(name=unique("vm"), image_id=image.id,
                                        flavor_id="42", networks=[{"uuid": net.id}])
    server = conn.compute.wait_for_server(server, status="ACTIVE", wait=30, interval=0.2)
    source = conn.compute.get_server(server.id).compute_host

    # openstacksdk's call (block_migration "auto", the scheduler's pick)
    conn.compute.live_migrate_server(server, host=None, block_migration="auto")
    until(lambda: conn.compute.get_server(server.id).compute_host != source
          and conn.compute.get_server(server.id).status == "ACTIVE", 30, "live-migrated")
    moved = conn.compute.get_server(server.id)
    assert moved.compute_host in HOSTS and moved.task_state is None
    assert moved.power_state == 1
    assert allocation_hosts(controller, token, server.id) == {moved.compute_host}
    port = next(conn.network.ports(device_id=server.id))
    assert port.binding_host_id == moved.compute_host
    assert "migrating_to" not in (port.binding_profile or {})
    actions = [a.action for a in conn.compute.server_actions(server.id)]
    assert "live-migration" in actions

    # the record: `openstack server migration list` (os-migrations), none under way
    out = Cli(controller).run("--os-compute-api-version", "2.59", "server", "migration",
                              "list", "--server", server.id, "-f", "json").stdout
    rows = [r for r in json.loads(out) if r["Type"] == "live-migration"]
    assert [(r["Status"], r["Source Compute"], r["Dest Compute"]) for r in rows] == [
        ("completed", source, moved.compute_host)]
    headers = {"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.59"}
    base = f"{controller.base_url}/compute/v2.1"
    r = httpx.get(f"{base}/servers/{server.id}/migrations", headers=headers)
    assert r.status_code == 200 and r.json() == {"migrations": []}
    mid = rows[0]["Id"]
    r = httpx.delete(f"{base}/servers/{server.id}/migrations/{mid}", headers=headers)
    assert r.status_code == 404  # not under way: nothing to abort
    r = httpx.get(f"{base}/os-migrations?migration_type=live-migration&instance_uuid="
                  f"{server.id}", headers={"X-Auth-Token": controller.token("demo"),
                                           "OpenStack-API-Version": "compute 2.59"})
    assert r.status_code == 403

    # a paused server to a named host stays paused (microversion 2.25 body)
    conn.compute.pause_server(server.id)
    until(lambda: conn.compute.get_server(server.id).status == "PAUSED", 30, "paused")
    target = next(h for h in HOSTS if h != moved.compute_host)
    r = migrate_live(controller, token, server.id,
                     {"host": target, "block_migration": True}, "2.25")
    assert r.status_code == 202, r.text
    until(lambda: conn.compute.get_server(server.id).compute_host == target
          and conn.compute.get_server(server.id).status == "PAUSED", 30, "to the named host")
    conn.compute.unpause_server(server.id)
    until(lambda: conn.compute.get_server(server.id).status == "ACTIVE", 30, "unpaused")
    # the `openstack` CLI's live migration (the scheduler's pick)
    Cli(controller).run("--os-compute-api-version", "2.79", "server", "migrate",
                        "--live-migration", server.id)
    until(lambda: conn.compute.get_server(server.id).compute_host != target
          and conn.compute.get_server(server.id).status == "ACTIVE", 30, "live-migrated (CLI)")
    target = conn.compute.get_server(server.id).compute_host

    # bad requests: Nova's codes, nothing started
    r = migrate_live(controller, token, server.id, {"host": None, "block_migration": False})
    assert r.status_code == 400 and "shared storage" in r.text
    r = migrate_live(controller, token, server.id, {"host": target, "block_migration": "auto"})
    assert r.status_code == 400 and "can't be the same one" in r.text
    r = migrate_live(controller, token, server.id, {"host": None})
    assert r.status_code == 400 and "block_migration" in r.text
    r = migrate_live(controller, token, server.id,
                     {"host": None, "block_migration": "auto"}, "2.24")
    assert r.status_code == 400  # "auto" and no disk_over_commit need 2.25
    r = migrate_live(controller, token, server.id,
                     {"host": None, "block_migration": True, "force": True}, "2.30")
    assert r.status_code == 400 and "non-provided destination" in r.text
    r = migrate_live(controller, controller.token("demo"), server.id,
                     {"host": None, "block_migration": "auto"})
    assert r.status_code in (403, 404)
    conn.compute.stop_server(server.id)
    until(lambda: conn.compute.get_server(server.id).status == "SHUTOFF", 30, "stopped")
    r = migrate_live(controller, token, server.id, {"host": None, "block_migration": "auto"})
    assert r.status_code == 409 and "vm_state stopped" in r.text
    assert conn.compute.get_server(server.id).compute_host == target
    conn.compute.delete_server(server.id)
    conn.compute.wait_for_delete(server, interval=0.3, wait=30)
    conn.network.delete_network(net)
