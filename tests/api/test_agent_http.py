"""Multi-node: a controller without a local compute agent, and two real ``onestack agent``
processes (fake virt driver) that reach it over the internal agent API with their own
host credentials. Servers land on both hosts; a killed agent's service goes down and its
server's host_status says so; the restarted agent comes back as the same host."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import openstack
import pytest

from onestack.agent.http_link import HttpLink
from tests.api.conftest import BACKENDS, Cli, connect, unique
from tests.support.server import CloudThread, RunningCloud

ONESTACK = str(Path(sys.executable).parent / "onestack")
DOWN_AFTER = 3.0
AGENT_CONFIG = """\
[compute]
virt_driver = "fake"
reconcile_interval = 0.5
device_discovery = "off"

[network]
dataplane = "off"  # fake guests: no taps, bridges or VXLAN on this machine
"""


class Agent:
    """One ``onestack agent`` subprocess."""

    def __init__(self, cloud: RunningCloud, host: str, credential: Path, workdir: Path
                 ) -> None:
        self.cloud, self.host, self.credential, self.workdir = cloud, host, credential, workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / f"{host}.log"
        (workdir / "agent.toml").write_text(AGENT_CONFIG)

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [ONESTACK, "agent", "--controller", self.cloud.base_url, "--host", self.host,
                 "--credential", str(self.credential), "--config",
                 str(self.workdir / "agent.toml"), "--data-dir", str(self.workdir / "data")],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def create_credential(cloud: RunningCloud, host: str, path: Path) -> str:
    """With the real command, on the controller's database."""
    config = path.parent / "controller.toml"
    config.write_text(f'[database]\nurl = "{cloud.settings.database_url}"\n')
    subprocess.run([ONESTACK, "manage", "agent-credential", "create", "--host", host,
                    "--output", str(path), "--config", str(config),
                    "--data-dir", str(cloud.settings.data_dir)],
                   check=True, capture_output=True, timeout=60)
    assert path.stat().st_mode & 0o777 == 0o600
    return path.read_text().strip()


def until(check: Callable[[], Any], timeout: float, what: str, tick: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(tick)


def run_controller(request: pytest.FixtureRequest, prefix: str) -> Iterator[RunningCloud]:
    """A controller without a local compute agent (on the fixture's backend), for as long
    as the generator runs; the agents' fixtures of several test modules use it."""
    url = None
    if request.param == "postgresql":
        pg = request.getfixturevalue("pg_server")
        url = pg.create_database(f"{prefix}_{uuid.uuid4().hex[:8]}")
    thread = CloudThread(database_url=url)
    thread.settings.compute.local_agent = False
    thread.settings.compute.service_down_after = DOWN_AFTER
    running = thread.start()
    yield running
    thread.stop()


@contextmanager
def running_agents(controller: RunningCloud, tmp_path: Path, hosts: Sequence[str],
                   show_logs: bool = True) -> Iterator[dict[str, Agent]]:
    """An ``onestack agent`` process per host, each with its own credential; all stopped
    (and, with ``show_logs``, the tail of each log written to stderr) at the end."""
    started: dict[str, Agent] = {}
    try:
        for name in hosts:
            workdir = tmp_path / name
            workdir.mkdir()
            cred = workdir / "credential"
            create_credential(controller, name, cred)
            started[name] = Agent(controller, name, cred, workdir)
            started[name].start()
        yield started
    finally:
        for agent in started.values():
            agent.stop()
        for agent in started.values():
            if show_logs and agent.log.exists():
                sys.stderr.write(f"--- {agent.host} log (tail) ---\n"
                                 + agent.log.read_text()[-3000:])


def hosts_up(conn: openstack.connection.Connection, hosts: Iterable[str]) -> bool:
    svc = compute_services(conn)
    return all(h in svc and svc[h][0].state == "up" for h in hosts)


@pytest.fixture(scope="module", params=BACKENDS)
def controller(request: pytest.FixtureRequest) -> Iterator[RunningCloud]:
    yield from run_controller(request, "agents")


@pytest.fixture
def agents(controller: RunningCloud, tmp_path: Path) -> Iterator[dict[str, Agent]]:
    with running_agents(controller, tmp_path, ("agent-a", "agent-b")) as started:
        yield started


def compute_services(conn: openstack.connection.Connection) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for s in conn.compute.services():
        if s.binary == "nova-compute":
            out.setdefault(s.host, []).append(s)
    return out


def server_view(cloud: RunningCloud, token: str, server_id: str) -> dict[str, Any]:
    r = httpx.get(f"{cloud.base_url}/compute/v2.1/servers/{server_id}",
                  headers={"X-Auth-Token": token, "OpenStack-API-Version": "compute 2.16"})
    r.raise_for_status()
    return dict(r.json()["server"])


async def _fetch(cloud: RunningCloud, secret: str, uuid: str
                 ) -> tuple[bytes, dict[str, bytes] | None]:
    link = HttpLink(cloud.base_url, secret)
    try:
        assert await link.image_format("agent-a", uuid) == "raw"
        data = b"".join([c async for c in link.image_data("agent-a", uuid)])
        return data, await link.config_drive("agent-a", uuid)
    finally:
        await link.close()


def test_two_agents_over_http(controller: RunningCloud, agents: dict[str, Agent]) -> None:
    conn = connect(controller)
    token = controller.admin_token()
    hosts = set(agents)
    until(lambda: hosts_up(conn, hosts), 30, "both agents' compute services up")
    assert hosts <= {h.name for h in conn.compute.hypervisors()}

    # Servers through openstacksdk land on both hosts (anti-affinity) and become ACTIVE.
    image = conn.image.create_image(name=unique("img"), data=b"\0" * 1024,
                                    disk_format="raw", container_format="bare")
    group = conn.compute.create_server_group(name=unique("grp"), policies=["anti-affinity"])
    servers = [conn.compute.create_server(
        name=unique("vm"), image_id=image.id, flavor_id="42", networks="none",
        scheduler_hints={"group": group.id}) for _ in range(2)]
    for s in servers:
        conn.compute.wait_for_server(s, status="ACTIVE", wait=30, interval=0.2)
    placed = {server_view(controller, token, s.id)["OS-EXT-SRV-ATTR:host"]: s.id
              for s in servers}
    assert set(placed) == hosts
    assert all(server_view(controller, token, s.id)["host_status"] == "UP" for s in servers)

    # The internal API: no or a bad credential 401; another host's path or instance 403.
    base = f"{controller.base_url}/internal/agent/v1/hosts"
    secret_a = agents["agent-a"].credential.read_text().strip()
    assert httpx.post(f"{base}/agent-a/heartbeat").status_code == 401
    assert httpx.post(f"{base}/agent-a/heartbeat",
                      headers={"Authorization": "Bearer osagent-wrong"}).status_code == 401
    bearer_a = {"Authorization": f"Bearer {secret_a}"}
    assert httpx.post(f"{base}/agent-a/heartbeat", headers=bearer_a).status_code == 200
    assert httpx.post(f"{base}/agent-b/heartbeat", headers=bearer_a).status_code == 403
    assert httpx.get(f"{base}/agent-b/instances", headers=bearer_a).status_code == 403
    r = httpx.post(f"{base}/agent-a/instances/{placed['agent-b']}/observe",
                   headers=bearer_a, json={"power_state": 4})
    assert r.status_code == 403
    for body in ({"power_state": "on"}, {}, {"power_state": 1, "host": "x"}):
        r = httpx.post(f"{base}/agent-a/instances/{placed['agent-a']}/observe",
                       headers=bearer_a, json=body)
        assert r.status_code == 400, body
    r = httpx.post(f"{base}/agent-a/instances/{placed['agent-a']}/complete",
                   headers=bearer_a, json={"task": "spawning", "updates": {"host": "x"}})
    assert r.status_code == 400  # an agent writes back only what its tasks change
    # The console of a guest on another machine: asked through the agent's work poll.
    out = Cli(controller).run("console", "log", "show", "--lines", "5",
                              placed["agent-b"]).stdout
    assert "onestack-tiny login banner" in out
    r = httpx.post(f"{base}/agent-a/instances/{placed['agent-a']}/answer", headers=bearer_a,
                   json={"id": "nobody-asked", "output": "x"})
    assert r.status_code == 409 and "Nobody waits" in r.text
    r = httpx.post(f"{base}/agent-a/instances/{placed['agent-b']}/answer", headers=bearer_a,
                   json={"id": "x", "output": "x"})
    assert r.status_code == 403
    # Power actions and a snapshot (its bytes uploaded through the controller).
    on_a = placed["agent-a"]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # a long poll for A's work ...
        polled = time.monotonic()
        poll = pool.submit(httpx.get, f"{base}/agent-a/work?wait=20", headers=bearer_a,
                           timeout=30)
        time.sleep(0.5)
        conn.compute.stop_server(on_a)  # ... ends when work for A is written
        assert poll.result().json() == {"wake": True, "asks": []}
        assert time.monotonic() - polled < 10
    conn.compute.wait_for_server(conn.compute.get_server(on_a), status="SHUTOFF", wait=20,
                                 interval=0.2)
    conn.compute.start_server(on_a)
    conn.compute.wait_for_server(conn.compute.get_server(on_a), status="ACTIVE", wait=20,
                                 interval=0.2)
    snap = conn.compute.create_server_image(on_a, unique("snap"), wait=True, timeout=30)
    assert b"".join(conn.image.download_image(snap, stream=True).iter_content(1024)
                    ).startswith(b"QFI\xfb")
    # What an agent with local disks fetches over the link: the image, the config drive.
    image_bytes, drive = asyncio.run(_fetch(controller, secret_a, placed["agent-a"]))
    assert image_bytes == b"\0" * 1024
    assert drive is not None and "openstack/latest/meta_data.json" in drive
    # ... and it is in no catalog.
    catalog = httpx.get(f"{controller.auth_url}/auth/catalog",
                        headers={"X-Auth-Token": token})
    assert catalog.status_code == 200 and "/internal" not in catalog.text

    # The network calls: the declared state for a host's own agent (its guests' networks
    # and their ports, no other network's); status only of its ports.
    net = conn.network.create_network(name=unique("net"))
    conn.network.create_subnet(network_id=net.id, cidr="10.66.0.0/24", ip_version=4)
    port_b = conn.network.create_port(network_id=net.id, binding_host_id="agent-b",
                                      device_owner="compute:nova")
    apart = conn.network.create_network(name=unique("apart"))
    conn.network.create_subnet(network_id=apart.id, cidr="10.67.0.0/24", ip_version=4)
    port_c = conn.network.create_port(network_id=apart.id, binding_host_id="agent-b",
                                      device_owner="compute:nova", security_group_ids=[])
    state = httpx.get(f"{base}/agent-a/network", headers=bearer_a).json()
    assert state["ports"] == {} and state["networks"] == {}  # no guest of A's there yet
    port_a = conn.network.create_port(network_id=net.id, binding_host_id="agent-a",
                                      device_owner="compute:nova")
    state = httpx.get(f"{base}/agent-a/network", headers=bearer_a).json()
    assert set(state["ports"]) == {port_a.id, port_b.id}
    assert state["ports"][port_b.id]["host"] == "agent-b"
    assert set(state["networks"]) == {net.id} and port_c.id not in state["ports"]
    assert state["routers"] == {} and state["floatingips"] == []
    assert {"agent-a", "agent-b"} <= set(state["vteps"])
    assert httpx.get(f"{base}/agent-b/network", headers=bearer_a).status_code == 403
    r = httpx.post(f"{base}/agent-a/ports/status", headers=bearer_a,
                   json={"ports": [port_b.id], "status": "ACTIVE"})
    assert r.status_code == 403 and "not bound to host agent-a" in r.text
    r = httpx.post(f"{base}/agent-a/ports/status", headers=bearer_a,
                   json={"ports": [], "status": "UP"})
    assert r.status_code == 400
    r = httpx.post(f"{base}/agent-a/register", headers=bearer_a, json={
        "info": {"hostname": "agent-a", "vcpus": 1, "memory_mb": 1, "disk_gb": 1,
                 "hypervisor_type": "QEMU", "hypervisor_version": 1, "accelerator": "fake"},
        "host_ip": "not-an-ip"})
    assert r.status_code == 400 and "not an IP address" in r.text
    for port in (port_a, port_b, port_c):
        conn.network.delete_port(port)
    conn.network.delete_network(net)
    conn.network.delete_network(apart)

    # kill -9 of one agent: its service is down within the down period, its server's
    # host_status UNKNOWN (Nova: the service stopped reporting); the other stays UP.
    agents["agent-b"].kill()
    killed = time.monotonic()
    until(lambda: compute_services(conn)["agent-b"][0].state == "down", DOWN_AFTER + 5,
          "agent-b down")
    assert time.monotonic() - killed < DOWN_AFTER + 5
    assert server_view(controller, token, placed["agent-b"])["host_status"] == "UNKNOWN"
    assert server_view(controller, token, placed["agent-a"])["host_status"] == "UP"

    # Restarted, it is the same host again: one service, one hypervisor, one provider.
    agents["agent-b"].start()
    until(lambda: compute_services(conn)["agent-b"][0].state == "up", 30, "agent-b up")
    svc = compute_services(conn)
    assert len(svc["agent-b"]) == 1 and len(svc["agent-a"]) == 1
    assert [h.name for h in conn.compute.hypervisors()].count("agent-b") == 1
    assert len(list(conn.placement.resource_providers(name="agent-b"))) == 1
    until(lambda: server_view(controller, token, placed["agent-b"])["host_status"] == "UP",
          10, "host_status UP again")

    # Deleting works through the agents too.
    for s in servers:
        conn.compute.delete_server(s.id)
    for s in servers:
        conn.compute.wait_for_delete(s, interval=0.2, wait=30)
