"""An upgrade as an operator does it, with a guest running throughout.

The previous release (``tests/support/old_release.py``: a fixed older commit of main, in a
venv of its own) makes the database (``onestack manage db upgrade``), serves the APIs
(``onestack serve``) and runs one compute host (``onestack agent``, real QEMU, in its own
network namespace on an underlay bridge, as in test_multihost). A network, subnet and
router, a tiny guest on it with a volume attached, an image, a container with an object.

Then: the API server stops, the working tree's ``onestack manage db upgrade`` migrates the
database, the new ``onestack serve`` starts while the old agent runs on (it must heartbeat
and take new work: a second volume is attached to and detached from the guest by it), and
last the agent restarts with the new code. Every API lists the same resources, the guest's
QEMU is the same process all along and its tick counter goes on, it reads back what it
wrote to its volume and reaches its router, and the controller's namespaces and dnsmasq
are the same.

The test runs in a private network and mount namespace (``run_isolated``). It takes minutes:
CI runs it on SQLite (the database ``onestack up`` makes); ``ONESTACK_SLOW_TESTS=1`` adds
the same upgrade on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import openstack
import pytest

from onestack.drivers.network.linux import LinuxNetDriver
from onestack.images.builder import build_tiny, default_cache_dir
from tests.api.test_agent_http import ONESTACK, until
from tests.integration.test_compute_qemu import (
    _all_pids,
    _cmdline,
    _pids,
    destroy_guests,
    settle,
)
from tests.integration.test_multihost import HostAgent
from tests.integration.test_network_dataplane import _cleanup, _skip_reason, run_isolated, sh
from tests.support import old_release, postgres
from tests.support.postgres import free_port

# 2-3 minutes each (a guest booted under TCG, two restarts of each part)
pytestmark = [pytest.mark.integration]
SLOW = os.environ.get("ONESTACK_SLOW_TESTS") == "1"

UNDERLAY = "osup-ul"
CONTROLLER_IP = "10.252.0.1"
HOST, HOST_IP = "up-1", "10.252.0.11"
GATEWAY, GUEST_IP = "10.78.0.1", "10.78.0.11"
PASSWORD = "upgrade-admin-pw"
MARK = "upg-marker-1"
VOLUME_GB, SECOND_GB = 2, 3  # the guest finds its volume by its size
CONTROLLER = """\
data_dir = "{data}"

[database]
url = "{url}"

[server]
host = "0.0.0.0"
port = {port}
access_log = false

[identity]
password_hash_rounds = 4

[image]
seed_tiny_images = false

[compute]
local_agent = false
service_down_after = 6.0

[network]
dataplane = "linux"
tunnel_ip = "{ip}"
reconcile_interval = 1.0
"""
# A tick every 2 s, numbered: the volume's first bytes (written once, then read back past
# the page cache), how many disks the guest has, and whether its router answers.
USER_DATA = f"""#!/bin/sh
dmesg -n 1  # no kernel lines into the ticks
(n=0
while true; do
    n=$((n + 1))
    v=none
    for d in /sys/block/vd*; do
        if [ "$(cat "$d/size")" = {VOLUME_GB * 2097152} ]; then
            dev=/dev/${{d##*/}}
            sync; echo 3 > /proc/sys/vm/drop_caches
            v=$(head -c {len(MARK)} "$dev")
            if [ "$v" != {MARK} ]; then printf {MARK} > "$dev"; sync; v=written; fi
        fi
    done
    disks=$(ls -d /sys/block/vd* | wc -l)
    if ping -c 1 -W 1 {GATEWAY} >/dev/null 2>&1; then r=ok; else r=down; fi
    echo "up-tick $n $v $disks $r"
    sleep 2
done) &
"""
TICK = re.compile(r"up-tick (\d+) (\S+) (\d+) (ok|down)")


def _reason() -> str | None:
    if shutil.which("qemu-system-x86_64") is None:
        return "needs qemu-system-x86_64"
    if not old_release.available():
        return f"needs the previous release's commit {old_release.PREVIOUS[:10]} (git)"
    return _skip_reason()


def _underlay() -> None:
    sh("ip", "link", "add", UNDERLAY, "type", "bridge")
    sh("ip", "addr", "add", f"{CONTROLLER_IP}/24", "dev", UNDERLAY)
    sh("ip", "link", "set", UNDERLAY, "up")
    sh("ip", "netns", "add", HOST)
    sh("ip", "link", "add", f"{HOST}-o", "type", "veth", "peer", "name", "eth0", "netns", HOST)
    sh("ip", "link", "set", f"{HOST}-o", "master", UNDERLAY, "up")
    sh("ip", "addr", "add", f"{HOST_IP}/24", "dev", "eth0", ns=HOST)
    sh("ip", "link", "set", "eth0", "up", ns=HOST)
    sh("ip", "link", "set", "lo", "up", ns=HOST)


class Api:
    """One ``onestack serve`` process of a given release."""

    def __init__(self, config: Path, log: Path) -> None:
        self.config, self.log = config, log
        self.proc: subprocess.Popen[bytes] | None = None

    def manage(self, command: str, *args: str) -> str:
        return subprocess.run([command, "manage", *args, "--config", str(self.config)],
                              check=True, capture_output=True, text=True, timeout=120).stdout

    def start(self, command: str, base_url: str) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([command, "serve", "--config", str(self.config)],
                                         stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)

        def ready() -> bool:
            assert self.proc is not None and self.proc.poll() is None, self.log.read_text()
            try:
                return httpx.get(f"{base_url}/identity/v3", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False
        until(ready, 60, "the API server")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


def _connect(base_url: str) -> openstack.connection.Connection:
    return openstack.connect(auth_url=f"{base_url}/identity/v3", username="admin",
                             password=PASSWORD, project_name="admin",
                             user_domain_name="Default", project_domain_name="Default")


def inventory(conn: openstack.connection.Connection, container: str) -> dict[str, Any]:
    """What every API lists: ids, names, statuses."""
    return {
        "servers": sorted((s.id, s.name, s.status, s.compute_host, s.power_state)
                          for s in conn.compute.servers(all_projects=True)),
        "volumes": sorted((v.id, v.name, v.status, v.size,
                           tuple(sorted(a["server_id"] for a in v.attachments)))
                          for v in conn.block_storage.volumes(all_projects=True)),
        "networks": sorted((n.id, n.name, n.status) for n in conn.network.networks()),
        "subnets": sorted((s.id, s.name, s.cidr) for s in conn.network.subnets()),
        "routers": sorted((r.id, r.name, r.status) for r in conn.network.routers()),
        "ports": sorted((p.id, p.device_id, p.device_owner, p.status,
                         tuple(sorted(ip["ip_address"] for ip in p.fixed_ips)))
                        for p in conn.network.ports()),
        "images": sorted((i.id, i.name, i.status, i.size) for i in conn.image.images()),
        "containers": sorted((c.name, c.count, c.bytes)
                             for c in conn.object_store.containers()),
        "objects": sorted((o.name, o.etag) for o in conn.object_store.objects(container)),
        "projects": sorted((p.id, p.name) for p in conn.identity.projects()),
        "users": sorted((u.id, u.name) for u in conn.identity.users()),
        "services": sorted((s.host, s.binary, s.status)
                           for s in conn.compute.services()),
        "hypervisors": sorted((h.id, h.name, h.status)
                              for h in conn.compute.hypervisors()),
    }


def _ticks(agent: HostAgent, uuid: str) -> list[tuple[int, str, int, str]]:
    return [(int(m[0]), m[1], int(m[2]), m[3]) for m in TICK.findall(agent.console(uuid))]


def _ticking_on(agent: HostAgent, uuid: str, after: int, disks: int | None = None) -> None:
    """The same guest's counter goes past ``after`` (never from 1 again), reading its mark
    from the volume and reaching its router."""
    def good() -> bool:
        ticks = _ticks(agent, uuid)
        return any(n > after + 1 and v == MARK and r == "ok"
                   and (disks is None or d == disks) for n, v, d, r in ticks)
    until(good, 90, f"ticks after {after} (disks {disks})")
    numbers = [n for n, *_ in _ticks(agent, uuid)]
    # one boot: counted from 1 once, never from 1 again (a line may be lost to the console)
    assert numbers[0] == 1 and numbers == sorted(set(numbers)), numbers


def _dataplane(data: Path) -> dict[str, Any]:
    """The controller's namespaces, bridges and dnsmasq processes (those of its data dir)."""
    dnsmasq = sorted(p for p in _all_pids()
                     if _cmdline(p).startswith("dnsmasq ") and str(data) in _cmdline(p))
    return {"netns": sorted(sh("ip", "netns", "list").stdout.split("\n")),
            "bridges": sorted(line.split(":")[1].strip() for line in sh(
                "ip", "-o", "link", "show", "type", "bridge").stdout.splitlines()),
            "dnsmasq": dnsmasq}


def _host_heartbeats(conn: openstack.connection.Connection, since: float) -> None:
    """The host is up with a heartbeat newer than ``since`` (UTC seconds)."""
    def fresh() -> bool:
        for s in conn.compute.services():
            if s.host == HOST and s.binary == "nova-compute" and s.state == "up":
                stamp = time.mktime(time.strptime(s.updated_at[:19], "%Y-%m-%dT%H:%M:%S"))
                return stamp - time.timezone > since
        return False
    until(fresh, 30, f"a heartbeat of {HOST} after {since}")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_upgrade_keeps_guests_running(request: pytest.FixtureRequest, backend: str) -> None:
    reason = _reason() or (None if backend == "sqlite" or postgres.available()
                           else "needs PostgreSQL")
    if backend == "postgresql" and not SLOW:
        reason = reason or "ONESTACK_SLOW_TESTS=1 (CI runs the SQLite upgrade only)"
    if reason:
        pytest.skip(reason)
    if run_isolated(request.node.nodeid):
        return
    started = time.monotonic()
    old = str(old_release.install())
    work = Path(tempfile.mkdtemp(prefix="osup-"))  # short: QMP socket paths
    data = work / "data"
    port = free_port()
    base = f"http://{CONTROLLER_IP}:{port}"
    config = work / "controller.toml"
    api = Api(config, work / "api.log")
    agent: HostAgent | None = None
    pg = postgres.PostgresServer() if backend == "postgresql" else None
    try:
        url = pg.start() if pg is not None else ""  # "": SQLite in the data dir
        config.write_text(CONTROLLER.format(data=data, url=url, port=port, ip=CONTROLLER_IP))
        _underlay()
        # --- the previous release
        api.manage(old, "db", "upgrade")
        api.manage(old, "bootstrap", "--admin-password", PASSWORD)
        api.start(old, base)
        cred = work / f"{HOST}.cred"
        api.manage(old, "agent-credential", "create", "--host", HOST, "--output", str(cred))
        agent = HostAgent(HOST, base, cred, work)
        agent.command = old
        agent.start()
        conn = _connect(base)
        until(lambda: any(s.host == HOST and s.state == "up" for s in conn.compute.services()),
              60, "the old agent's host up")
        image = conn.image.create_image(
            name="upgrade-tiny", filename=str(build_tiny(default_cache_dir())),
            disk_format="qcow2", container_format="bare", wait=True)
        net = conn.network.create_network(name="upgrade-net")
        subnet = conn.network.create_subnet(network_id=net.id, cidr="10.78.0.0/24",
                                            ip_version=4, name="upgrade-subnet")
        router = conn.network.create_router(name="upgrade-router")
        conn.network.add_interface_to_router(router, subnet_id=subnet.id)
        port_ = conn.network.create_port(network_id=net.id,
                                         fixed_ips=[{"ip_address": GUEST_IP}])
        server = conn.compute.create_server(
            name="upgrade-vm", image_id=image.id, flavor_id="1",
            networks=[{"port": port_.id}],
            user_data=base64.b64encode(USER_DATA.encode()).decode())
        settle(conn, server.id, "ACTIVE", timeout=180)
        marks = {"guest ACTIVE": time.monotonic()}
        volume = conn.block_storage.create_volume(size=VOLUME_GB, name="upgrade-vol")
        conn.block_storage.wait_for_status(volume, "available", wait=60)
        conn.compute.create_volume_attachment(server.id, volume_id=volume.id)
        conn.block_storage.wait_for_status(volume, "in-use", wait=120)
        container = conn.object_store.create_container(name="upgrade-bucket").name
        conn.object_store.upload_object(container, "hello.txt", data=b"kept across upgrades")
        until(lambda: any(v == MARK and r == "ok" for _, v, _, r in _ticks(agent, server.id)),
              240, "the guest writing and reading back its volume, reaching its router")
        assert f"eth0={GUEST_IP}/24" in agent.console(server.id)
        disks = _ticks(agent, server.id)[-1][2]
        before = inventory(conn, container)
        pids, plane = _pids(server.id), _dataplane(data)
        assert len(pids) == 1 and plane["dnsmasq"], plane
        marks["guest ticking with its volume"] = time.monotonic()

        # --- the API server upgraded, the old agent runs on
        api.stop()
        api.manage(ONESTACK, "db", "upgrade")
        restarted = time.time()
        api.start(ONESTACK, base)
        conn = _connect(base)
        _host_heartbeats(conn, restarted)
        assert inventory(conn, container) == before
        second = conn.block_storage.create_volume(size=SECOND_GB, name="upgrade-vol-2")
        conn.block_storage.wait_for_status(second, "available", wait=60)
        conn.compute.create_volume_attachment(server.id, volume_id=second.id)
        conn.block_storage.wait_for_status(second, "in-use", wait=120)
        _ticking_on(agent, server.id, _ticks(agent, server.id)[-1][0], disks + 1)
        conn.compute.delete_volume_attachment(server.id, second.id)
        conn.block_storage.wait_for_status(second, "available", wait=120)
        _ticking_on(agent, server.id, _ticks(agent, server.id)[-1][0], disks)
        conn.block_storage.delete_volume(second)
        conn.block_storage.wait_for_delete(second, wait=60)
        assert _pids(server.id) == pids
        marks["API server upgraded, old agent checked"] = time.monotonic()

        # --- the agent upgraded
        agent.stop()
        agent.command = ONESTACK
        restarted = time.time()
        agent.start()
        _host_heartbeats(conn, restarted)
        time.sleep(3)  # a few reconcile passes of the new agent
        _ticking_on(agent, server.id, _ticks(agent, server.id)[-1][0], disks)
        assert _pids(server.id) == pids
        assert inventory(conn, container) == before
        assert _dataplane(data) == plane
        assert conn.object_store.download_object("hello.txt", container) \
            == b"kept across upgrades"
        assert settle(conn, server.id, "ACTIVE").compute_host == HOST
        marks["agent upgraded, all checked"] = time.monotonic()
        print("upgrade test timings (s from the start):",
              ", ".join(f"{k} {v - started:.0f}" for k, v in marks.items()))

        conn.compute.delete_server(server.id)
        conn.compute.wait_for_delete(server, interval=0.5, wait=90)
        assert not _pids(server.id)
    finally:
        if agent is not None:
            agent.stop()
            if agent.log.exists():
                print(f"--- agent\n{agent.log.read_text()[-3000:]}")
            destroy_guests(agent.instances)
        api.stop()
        if api.log.exists():
            print(f"--- api\n{api.log.read_text()[-3000:]}")
        asyncio.run(_cleanup(None, LinuxNetDriver(data / "network")))
        if pg is not None:
            pg.stop()
        shutil.rmtree(work, ignore_errors=True)
