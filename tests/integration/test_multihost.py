"""A controller on PostgreSQL and three compute hosts, each ``onestack agent`` (the real CLI)
in its own network namespace with real tiny guests (QEMU, TCG). The namespaces share an
underlay bridge with the controller, as machines share a switch.

- an anti-affinity group puts one guest on each host;
- the guests get their addresses by DHCP from the controller (the network node) and reach
  each other, all over VXLAN between the hosts' namespaces;
- ``kill -9`` of one agent marks its host down within ``service_down_after``; started again,
  it adopts its running guest: the same QEMU process, one tap, one VXLAN device, the host
  up again;
- a guest migrates (cold) to another host and keeps its disk: its boot counter there is 2,
  and it reaches its neighbour from there;
- a guest live-migrates to another host: it goes on running there without a reboot (its
  tick count continues) and reaches its neighbour over VXLAN from there.

The test runs in a private network and mount namespace (``run_isolated``): nothing it makes
is visible on the machine, and all of it goes with that namespace.
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
import pytest

from onestack.drivers.network.linux import LinuxNetDriver
from onestack.images.seed import TINY
from tests.api.conftest import connect, unique
from tests.api.test_agent_http import ONESTACK, create_credential, until
from tests.integration.test_compute_qemu import _pids, destroy_guests, seed, settle
from tests.integration.test_network_dataplane import _cleanup, _skip_reason, run_isolated, sh
from tests.support import postgres
from tests.support.server import CloudThread

pytestmark = [pytest.mark.integration]

UNDERLAY = "osmh-ul"
CONTROLLER_IP = "10.251.0.1"
HOSTS = {"mh-1": "10.251.0.11", "mh-2": "10.251.0.12", "mh-3": "10.251.0.13"}
GUEST_IPS = {"mh-1": "10.77.0.11", "mh-2": "10.77.0.12", "mh-3": "10.77.0.13"}
DOWN_AFTER = 6.0
AGENT_CONFIG = """\
[compute]
virt_driver = "qemu"
reconcile_interval = 1.0
device_discovery = "off"

[network]
reconcile_interval = 1.0
"""
# Each guest counts its boots on its root disk (FAT), then pings the other two until they
# answer (they boot at different times).
USER_DATA = """#!/bin/sh
mkdir -p /mnt/r
for d in /dev/vda /dev/vda1; do mount "$d" /mnt/r 2>/dev/null && break; done
echo boot >> /mnt/r/boots
echo "mh-boots $(wc -l < /mnt/r/boots)"
umount /mnt/r
for ip in {targets}; do
    n=0
    until ping -c 1 -W 1 "$ip" >/dev/null 2>&1; do
        n=$((n + 1)); [ "$n" -ge 120 ] && break
    done
    if ping -c 1 -W 1 "$ip" >/dev/null 2>&1; then r=ok; else r=FAILED; fi
    echo "mh-reach $ip $r"
done
# then, for as long as it runs: a tick every 2 s, numbered, and whether the first
# neighbour answers (a live-migrated guest goes on counting on its new host)
(n=0
while true; do
    n=$((n + 1))
    if ping -c 1 -W 1 {first} >/dev/null 2>&1; then r=ok; else r=down; fi
    echo "mh-tick $n $r"
    sleep 2
done) &
"""


def _reason() -> str | None:
    if shutil.which("qemu-system-x86_64") is None:
        return "needs qemu-system-x86_64"
    if not postgres.available():
        return "needs PostgreSQL"
    return _skip_reason()


class HostAgent:
    """``onestack agent`` in the network namespace of one compute host."""

    def __init__(self, name: str, controller: str, credential: Path, work: Path) -> None:
        self.name, self.controller, self.credential = name, controller, credential
        self.dir = work / name
        self.dir.mkdir()
        (self.dir / "agent.toml").write_text(AGENT_CONFIG)
        self.log = self.dir / "agent.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.command = ONESTACK  # the upgrade test starts an older release's

    @property
    def instances(self) -> Path:
        return self.dir / "data" / "instances"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                ["ip", "netns", "exec", self.name, self.command, "agent", "--controller",
                 self.controller, "--host", self.name, "--credential", str(self.credential),
                 "--config", str(self.dir / "agent.toml"), "--data-dir",
                 str(self.dir / "data")],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)

    def kill9(self) -> None:
        """``kill -9`` of the agent alone (its guests run on)."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill9()

    def console(self, uuid: str) -> str:
        path = self.instances / uuid / "console.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def links(self, kind: str) -> list[str]:
        out = sh("ip", "-o", "link", "show", "type", kind, ns=self.name).stdout
        return [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]


def _underlay() -> None:
    sh("ip", "link", "add", UNDERLAY, "type", "bridge")
    sh("ip", "addr", "add", f"{CONTROLLER_IP}/24", "dev", UNDERLAY)
    sh("ip", "link", "set", UNDERLAY, "up")
    for name, ip in HOSTS.items():
        sh("ip", "netns", "add", name)
        sh("ip", "link", "add", f"{name}-o", "type", "veth", "peer", "name", "eth0",
           "netns", name)
        sh("ip", "link", "set", f"{name}-o", "master", UNDERLAY, "up")
        sh("ip", "addr", "add", f"{ip}/24", "dev", "eth0", ns=name)
        sh("ip", "link", "set", "eth0", "up", ns=name)
        sh("ip", "link", "set", "lo", "up", ns=name)


def _user_data(me: str) -> str:
    others = [ip for host, ip in GUEST_IPS.items() if host != me]
    text = USER_DATA.format(targets=" ".join(others), first=others[0])
    return base64.b64encode(text.encode()).decode()


def _ticks(text: str) -> list[tuple[int, str]]:
    return [(int(m[0]), m[1]) for m in re.findall(r"mh-tick (\d+) (ok|down)", text)]


def test_three_compute_hosts(request: pytest.FixtureRequest) -> None:
    reason = _reason()
    if reason:
        pytest.skip(reason)
    if run_isolated(request.node.nodeid):
        return
    pg = postgres.PostgresServer()
    work = Path(tempfile.mkdtemp(prefix="osmh-"))  # short: QMP socket paths
    agents: dict[str, HostAgent] = {}
    thread: CloudThread | None = None
    try:
        url = pg.start()
        _underlay()
        thread = CloudThread(database_url=url)
        s = thread.settings
        s.compute.local_agent = False
        s.compute.service_down_after = DOWN_AFTER
        s.network.dataplane = "linux"
        s.network.tunnel_ip = CONTROLLER_IP
        s.network.reconcile_interval = 1.0
        thread.listen = "0.0.0.0"  # this test's own network namespace only
        cloud = thread.start()
        seed(cloud)
        controller = f"http://{CONTROLLER_IP}:{thread.port}"
        for name in HOSTS:
            cred = work / f"{name}.cred"
            create_credential(cloud, name, cred)
            agents[name] = HostAgent(name, controller, cred, work)
            agents[name].start()
        conn = connect(cloud)
        until(lambda: {x.host for x in conn.compute.services()
                       if x.binary == "nova-compute" and x.state == "up"} >= set(HOSTS),
              60, "three compute hosts up")
        hypervisors = {h.name: h for h in conn.compute.hypervisors(details=True)}
        assert {hypervisors[n].host_ip for n in HOSTS} == set(HOSTS.values())

        net = conn.network.create_network(name=unique("mh-net"))
        assert net.provider_network_type == "vxlan"
        conn.network.create_subnet(network_id=net.id, cidr="10.77.0.0/24", ip_version=4)
        ports = {h: conn.network.create_port(network_id=net.id,
                                             fixed_ips=[{"ip_address": ip}])
                 for h, ip in GUEST_IPS.items()}
        group = conn.compute.create_server_group(name=unique("spread"),
                                                 policies=["anti-affinity"])
        image = conn.image.find_image(TINY)
        assert image is not None
        servers: dict[str, Any] = {}
        for h in HOSTS:  # guest "mh-N" pings the other two (placed wherever it lands)
            servers[h] = conn.compute.create_server(
                name=f"guest-{h}", image_id=image.id, flavor_id="1",
                networks=[{"port": ports[h].id}], user_data=_user_data(h),
                scheduler_hints={"group": group.id})
        placed: dict[str, str] = {}  # guest -> compute host
        for h, server in servers.items():
            placed[h] = settle(conn, server.id, "ACTIVE", timeout=180).compute_host
        assert sorted(placed.values()) == sorted(HOSTS), placed  # one guest per host

        # DHCP from the network node and guest to guest: all over VXLAN
        for h, server in servers.items():
            agent = agents[placed[h]]
            want = [f"mh-reach {ip} ok" for g, ip in GUEST_IPS.items() if g != h]
            deadline = time.monotonic() + 240
            while not all(w in (text := agent.console(server.id)) for w in want):
                assert "FAILED" not in text and time.monotonic() < deadline, text[-3000:]
                time.sleep(2)
            assert f"eth0={GUEST_IPS[h]}/24" in text
        for name, agent in agents.items():
            assert len(agent.links("vxlan")) == 1, name
            assert len(agent.links("tun")) == 1, name

        # kill -9 of one agent: its host is reported down; its guest runs on
        victim_guest = "mh-3"
        victim = agents[placed[victim_guest]]
        uuid = servers[victim_guest].id
        pids = _pids(uuid)
        assert len(pids) == 1
        victim.kill9()
        killed = time.monotonic()
        until(lambda: any(x.host == victim.name and x.state == "down"
                          for x in conn.compute.services()), DOWN_AFTER + 30,
              f"{victim.name} reported down")
        assert time.monotonic() - killed < DOWN_AFTER + 30
        assert _pids(uuid) == pids

        # restarted, it adopts what runs: no second guest, tap or tunnel
        victim.start()
        until(lambda: any(x.host == victim.name and x.state == "up"
                          for x in conn.compute.services()), 60, f"{victim.name} up again")
        time.sleep(3)  # a few reconcile passes
        assert _pids(uuid) == pids
        assert len(victim.links("vxlan")) == 1 and len(victim.links("tun")) == 1
        assert settle(conn, uuid, "ACTIVE").compute_host == victim.name
        assert sum(1 for x in conn.compute.servers(all_projects=True)
                   if x.id == uuid) == 1

        # cold migration of guest mh-1 to the host of guest mh-3 (deleted: anti-affinity)
        conn.compute.delete_server(uuid)
        conn.compute.wait_for_delete(servers.pop(victim_guest), interval=0.5, wait=90)
        mover = servers["mh-1"]
        source, target = agents[placed["mh-1"]], victim
        r = httpx.post(f"{cloud.base_url}/compute/v2.1/servers/{mover.id}/action",
                       json={"migrate": {"host": target.name}},
                       headers={"X-Auth-Token": cloud.admin_token(),
                                "OpenStack-API-Version": "compute 2.56"})
        assert r.status_code == 202, r.text
        until(lambda: conn.compute.get_server(mover.id).compute_host == target.name
              and conn.compute.get_server(mover.id).status == "VERIFY_RESIZE", 180,
              "migrated to the other host")
        conn.compute.confirm_server_resize(mover.id)
        deadline = time.monotonic() + 240
        want = ["mh-boots 2", f"mh-reach {GUEST_IPS['mh-2']} ok"]
        while not all(w in (text := target.console(mover.id)) for w in want):
            assert time.monotonic() < deadline, text[-3000:]
            time.sleep(2)
        until(lambda: not (source.instances / mover.id).exists(), 30, "the source cleared")
        assert len(_pids(mover.id)) == 1

        # live migration of guest mh-2 to the host mh-1 left: it runs on without a reboot
        # (its tick count goes on there, its new console has no boot), and reaches mh-1
        # over VXLAN from its new host
        live = servers["mh-2"]
        was, now = agents[placed["mh-2"]], source
        until(lambda: (_ticks(was.console(live.id)) or [(0, "")])[-1][1] == "ok", 120,
              "mh-2 ticking and reaching mh-1")
        before = _ticks(was.console(live.id))[-1][0]
        r = httpx.post(f"{cloud.base_url}/compute/v2.1/servers/{live.id}/action",
                       json={"os-migrateLive": {"host": None, "block_migration": "auto"}},
                       headers={"X-Auth-Token": cloud.admin_token(),
                                "OpenStack-API-Version": "compute 2.79"})
        assert r.status_code == 202, r.text
        until(lambda: conn.compute.get_server(live.id).compute_host == now.name
              and conn.compute.get_server(live.id).status == "ACTIVE", 180,
              "live-migrated to the empty host")
        until(lambda: any(n > before + 1 and r == "ok"
                          for n, r in _ticks(now.console(live.id))), 60,
              "mh-2 ticking on from its new host and reaching mh-1")
        text = now.console(live.id)
        assert "mh-boots" not in text and "login banner" not in text, text[-2000:]
        until(lambda: not (was.instances / live.id).exists(), 30, "the old host cleared")
        assert len(_pids(live.id)) == 1
        assert len(now.links("tun")) == 1
        until(lambda: not was.links("tun"), 30, "the old host's tap removed")

        for server in servers.values():
            conn.compute.delete_server(server.id)
        for server in servers.values():
            conn.compute.wait_for_delete(server, interval=0.5, wait=90)
        for name, agent in agents.items():
            until(lambda a=agent: not a.links("vxlan") and not a.links("tun"), 30,  # type: ignore[misc]
                  f"{name} cleaned up")
    finally:
        for agent in agents.values():
            agent.stop()
            if agent.log.exists():
                print(f"--- {agent.name}\n" + agent.log.read_text()[-3000:])
            destroy_guests(agent.instances)
        if thread is not None:
            thread.stop(cleanup=False)
            asyncio.run(_cleanup(None, LinuxNetDriver(thread.settings.data_dir / "network")))
            thread.tmp.cleanup()
        pg.stop()
        shutil.rmtree(work, ignore_errors=True)
