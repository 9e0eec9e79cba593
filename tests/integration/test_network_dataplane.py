"""The Linux data plane for real: bridges, taps, namespaces, nftables and dnsmasq on this
machine, driven by the network agent from a real (SQLite) database.

Guests are stood in for by network namespaces on veth pairs whose bridge side carries the
port's tap name (the agent adopts an existing link of that name, as it would a QEMU tap).
They get their address from dnsmasq with busybox udhcpc, serve "SSH" on tcp 22 with busybox
httpd, and are checked for: DHCP lease and routes (option 121 for metadata), reaching each
other, another project's network not reachable, a spoofed source address dropped, the SSH
rule removed (blocked) and added back (restored), a floating IP reachable from the host,
metadata at 169.254.169.254, a restart that changes nothing, and deleting every resource
leaving nothing behind. Everything made is removed at the end, also on failure.
Traffic goes only to our own namespaces (no NAT to the uplink, dnsmasq --no-resolv).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from onestack.agent.network import NetworkAgent
from onestack.agent.network_plan import PlanConfig
from onestack.context import RequestContext
from onestack.core.network.service import NetworkService
from onestack.db import migrate
from onestack.db.engine import Database
from onestack.db.models.network import Port
from onestack.drivers.network import names
from onestack.drivers.network.linux import LinuxNetDriver, missing_tools

pytestmark = [pytest.mark.integration]

HOST = "itest-host"
ADMIN = RequestContext(is_admin=True, project_id="admin-p", roles=["admin"])
DEMO = RequestContext(project_id="demo-p", roles=["member"])
OTHER = RequestContext(project_id="other-p", roles=["member"])
GUEST_NS = "ositest-"  # the stand-in guests' namespaces (not a prefix the agent owns)
FETCH = ("import sys, urllib.request\n"
         "print(urllib.request.urlopen(sys.argv[1], timeout=2).read().decode(), end='')")
UDHCPC_SCRIPT = """#!/bin/sh
case "$1" in
  bound|renew)
    ip addr flush dev "$interface"
    ip addr add "$ip/$mask" dev "$interface"
    set -- $staticroutes
    while [ $# -ge 2 ]; do ip route replace "$1" via "$2" dev "$interface"; shift 2; done
    [ -z "$staticroutes" ] && [ -n "$router" ] && ip route replace default via "$router"
    echo "$ip $mask $staticroutes" > "{out}/lease-$(ip netns identify)"
    ;;
esac
exit 0
"""


def _skip_reason() -> str | None:
    if os.geteuid() != 0:
        return "needs root"
    missing = [t for t in missing_tools() if t] + [t for t in ("busybox",)
                                                   if shutil.which(t) is None]
    if missing:
        return f"needs {', '.join(missing)}"
    return None


def _conflict() -> str | None:
    netns = sh("ip", "netns", "list").stdout
    links = sh("ip", "-br", "link").stdout
    if names.NS_DHCP in netns or names.NS_ROUTER in netns or "\nonb-" in "\n" + links:
        return "another Onestack's data plane is live on this host (ours would remove it)"
    return None


ISOLATED = "ONESTACK_NETDP_ISOLATED"
ISOLATE = ("mkdir -p /run/netns && mount -t tmpfs tmpfs /run/netns && ip link set lo up && "
           'exec "$@"')


def run_isolated(nodeid: str) -> bool:
    """Run this test again in a private network and mount namespace (its own /run/netns),
    so it neither sees nor touches the host's networking or another Onestack's data plane;
    True when it ran there (and passed), False when it should run here."""
    if os.environ.get(ISOLATED) == "1" or shutil.which("unshare") is None:
        return False
    proc = subprocess.run(
        ["unshare", "--mount", "--net", "--propagation", "private", "sh", "-c", ISOLATE, "sh",
         sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x", nodeid],
        capture_output=True, text=True, env={**os.environ, ISOLATED: "1"}, timeout=900,
        check=False)
    assert proc.returncode == 0, proc.stdout[-20000:] + proc.stderr[-5000:]
    assert " passed" in proc.stdout, proc.stdout[-5000:]
    return True


def sh(*argv: str, ns: str | None = None, check: bool = True, timeout: float = 20
       ) -> subprocess.CompletedProcess[str]:
    cmd = (["ip", "netns", "exec", ns] if ns else []) + list(argv)
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=timeout)


@dataclass
class Env:
    net: NetworkService
    agent: NetworkAgent
    driver: LinuxNetDriver
    tmp: Path
    guests: list[str] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def guest(self, port: Any) -> str:
        """A namespace on a veth whose bridge side is the port's tap."""
        ns = f"{GUEST_NS}{len(self.guests)}"
        self.guests.append(ns)
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", names.tap(port.id), "type", "veth", "peer", "name", "eth0",
           "address", port.mac_address, "netns", ns)
        sh("ip", "link", "set", "lo", "up", ns=ns)
        sh("ip", "link", "set", "eth0", "up", ns=ns)
        return ns

    def dhcp(self, ns: str) -> list[str]:
        script = self.tmp / "udhcpc.sh"
        if not script.exists():
            script.write_text(UDHCPC_SCRIPT.replace("{out}", str(self.tmp)))
            script.chmod(0o755)
        sh("busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "8", "-T", "1", "-O", "mtu",
           "-O", "staticroutes",
           "-s", str(script), ns=ns, timeout=30)
        return (self.tmp / f"lease-{ns}").read_text().split()

    def serve_ssh(self, ns: str) -> None:
        home = self.tmp / f"www-{ns}"
        home.mkdir()
        (home / "hostname").write_text(ns + "\n")
        self.procs.append(subprocess.Popen(
            ["ip", "netns", "exec", ns, "busybox", "httpd", "-f", "-p", "22", "-h",
             str(home)]))

    def fetch(self, url: str, ns: str | None = None) -> str | None:
        r = sh(sys.executable, "-c", FETCH, url, ns=ns, check=False)
        return r.stdout.strip() if r.returncode == 0 else None

    def ping(self, ip: str, ns: str | None = None, src: str | None = None) -> bool:
        extra = ["-I", src] if src else []
        return sh("busybox", "ping", "-c", "1", "-W", "2", *extra, ip, ns=ns,
                  check=False).returncode == 0


class Metadata:
    """The compute metadata service's stand-in: a port's instance is the one the test made
    the port for (its device_id, written here by admin as Nova writes it)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def instance_of_port(self, port_id: str, project_id: str) -> str | None:
        async with self.db.read() as s:
            port = await s.get(Port, port_id)
        return port.device_id if port is not None and port.project_id == project_id else None

    async def answer(self, instance: str, path: str) -> tuple[int, str, bytes]:
        return 200, "text/plain", f"{instance} {path}".encode()


async def _cleanup(env: Env | None, driver: LinuxNetDriver) -> None:
    if env is not None:
        for proc in env.procs:
            proc.kill()
            proc.wait()
        await env.agent.stop()
        for ns in env.guests:
            sh("ip", "netns", "del", ns, check=False)
    for net_id in await driver.dhcp_servers():
        await driver.dhcp_stop(net_id)
    for ns in await driver.namespaces():
        await driver.delete_namespace(ns)
    for family, table in await driver.nft_tables():
        await driver.nft_delete(family, table)
    links = await driver.links()
    for name in sorted(links, key=lambda n: links[n].kind == "bridge"):
        await driver.delete_link(name)


@pytest.fixture
async def env(request: pytest.FixtureRequest) -> AsyncIterator[Env | None]:
    reason = _skip_reason()
    if reason:
        pytest.skip(reason)
    if run_isolated(request.node.nodeid):
        yield None
        return
    if (conflict := _conflict()) is not None:
        pytest.skip(conflict)
    tmp = Path(tempfile.mkdtemp(prefix="onestack-netdp-"))
    url = f"sqlite:///{tmp / 'db.sqlite'}"
    migrate.upgrade(url)
    db = Database(url)
    driver = LinuxNetDriver(tmp / "state", lock_path=str(tmp / "dataplane.lock"))
    made: Env | None = None
    try:
        net = NetworkService(db)
        agent = NetworkAgent(db, driver, PlanConfig(host=HOST), interval=1.0,
                             metadata=Metadata(db))
        net.subscribe(agent.wake)
        made = Env(net, agent, driver, tmp)
        yield made
    finally:
        await _cleanup(made, driver)
        await db.close()
        shutil.rmtree(tmp, ignore_errors=True)


async def _port(env: Env, network_id: str, ctx: RequestContext, **extra: Any) -> Any:
    project = str(ctx.project_id)
    default = await env.net.security_groups.ensure_default(project)
    return (await env.net.ports.create(ADMIN, [{
        "network_id": network_id, "project_id": project, "device_owner": "compute:nova",
        "device_id": f"instance-of-{extra.pop('name', 'x')}", "binding:host_id": HOST,
        **extra}], {project: default}))[0]


async def _network(env: Env, ctx: RequestContext, cidr: str) -> tuple[str, str]:
    n = (await env.net.networks.create(ctx, [{"name": "n"}]))[0]
    s = (await env.net.subnets.create(ctx, [{"network_id": n.id, "cidr": cidr,
                                             "ip_version": 4}]))[0]
    return n.id, s.id


async def _settle(env: Env) -> None:
    await env.agent.reconcile()


async def until(check: Any, timeout: float = 5.0) -> bool:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if await asyncio.to_thread(check):
            return True
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.2)


async def test_dataplane_without_guests(env: Env | None) -> None:
    if env is None:  # it ran in its own network namespace
        return
    net = env.net
    pub = (await net.networks.create(ADMIN, [{
        "name": "public", "router:external": True, "provider:network_type": "flat",
        "provider:physical_network": "public"}]))[0]
    await net.subnets.create(ADMIN, [{"network_id": pub.id, "cidr": "172.24.4.0/24",
                                      "ip_version": 4, "enable_dhcp": False}])
    net_a, sub_a = await _network(env, DEMO, "10.0.0.0/24")
    await net.subnets.create(DEMO, [{"network_id": net_a, "cidr": "2001:db8:a::/64",
                                     "ip_version": 6, "ipv6_ra_mode": "slaac",
                                     "ipv6_address_mode": "slaac"}])
    net_b, _sub_b = await _network(env, OTHER, "10.0.0.0/24")  # overlapping, elsewhere
    web = (await net.security_groups.create(DEMO, [{"name": "web"}]))[0]
    rules = await net.security_groups.create_rules(DEMO, [
        {"security_group_id": web.id, "direction": "ingress", "ethertype": "IPv4",
         "protocol": "tcp", "port_range_min": 22, "port_range_max": 22},
        {"security_group_id": web.id, "direction": "ingress", "ethertype": "IPv4",
         "protocol": "icmp"}])
    default_a = await net.security_groups.ensure_default(str(DEMO.project_id))
    p1 = await _port(env, net_a, DEMO, name="g1", security_groups=[default_a, web.id])
    p2 = await _port(env, net_a, DEMO, name="g2", security_groups=[default_a])
    p3 = await _port(env, net_b, OTHER, name="g3")
    router = (await net.routers.create(DEMO, [{
        "name": "r", "external_gateway_info": {"network_id": pub.id}}]))[0]
    await net.routers.add_interface(DEMO, router.id, sub_a, None)
    g1, g2, g3 = env.guest(p1), env.guest(p2), env.guest(p3)
    await env.agent.start()
    await _settle(env)

    # DHCP: each guest gets its port's address, the metadata route and the default route
    ip1, ip2, ip3 = (p.fixed_ips[0].ip_address for p in (p1, p2, p3))
    lease = env.dhcp(g1)
    assert lease[0] == ip1 and lease[1] == "24"
    assert "169.254.169.254/32" in lease and "0.0.0.0/0" in lease
    assert env.dhcp(g2)[0] == ip2
    assert env.dhcp(g3)[0] == ip3
    # same network, same default group: they reach each other
    assert env.ping(ip2, ns=g1)
    # IPv6: SLAAC from dnsmasq's router advertisements gives each guest its port's address
    v6 = {p.id: next(a.ip_address for a in p.fixed_ips if ":" in a.ip_address)
          for p in (p1, p2)}
    for port, ns in ((p1, g1), (p2, g2)):  # router advertisements come every few seconds:
        # a loaded machine (CI once) can need more than 15 s for the first one to land
        assert await until(lambda ns=ns, port=port: v6[port.id] in sh(
            "ip", "-6", "addr", "show", "dev", "eth0", ns=ns).stdout, 45)
    assert await until(lambda: env.ping(v6[p2.id], ns=g1), 10)
    env.serve_ssh(g1)
    assert await until(lambda: env.fetch(f"http://{ip1}:22/hostname", ns=g2) == g1)
    # the other project's network, with the same addresses, is another world
    assert env.fetch(f"http://{ip1}:22/hostname", ns=g3) is None
    # a spoofed source address gets nothing through
    sh("ip", "addr", "add", "10.0.0.201/24", "dev", "eth0", ns=g2)
    assert not env.ping(ip1, ns=g2, src="10.0.0.201")
    assert env.ping(ip1, ns=g2, src=ip2)
    # metadata from the guest, identified by its address
    # (the proxy is served by this event loop: the client runs in a thread)
    got = await asyncio.to_thread(
        env.fetch, "http://169.254.169.254/latest/meta-data/instance-id", g1)
    assert got == "instance-of-g1 /latest/meta-data/instance-id"

    # a floating IP reachable from the host; the SSH rule removed blocks it, added back
    # restores it (the API change wakes the agent: no explicit reconcile)
    fip = (await net.floatingips.create(DEMO, [{"floating_network_id": pub.id,
                                                "port_id": p1.id}]))[0]
    url = f"http://{fip.floating_ip_address}:22/hostname"
    assert await until(lambda: env.fetch(url) == g1)
    assert env.ping(fip.floating_ip_address)
    await net.security_groups.delete_rule(DEMO, rules[0].id)
    assert await until(lambda: env.fetch(url) is None)
    await net.security_groups.create_rules(DEMO, [
        {"security_group_id": web.id, "direction": "ingress", "ethertype": "IPv4",
         "protocol": "tcp", "port_range_min": 22, "port_range_max": 22}])
    assert await until(lambda: env.fetch(url) == g1)

    # a restart (a new agent: the old one stopped, the data plane left as it was)
    await env.agent.stop()
    assert env.fetch(url) == g1
    again = NetworkAgent(env.agent.state.db, env.driver, PlanConfig(host=HOST),
                         metadata=Metadata(env.agent.state.db))
    links_before = await env.driver.links()
    await again.reconcile()
    assert await env.driver.links() == links_before
    assert env.fetch(url) == g1
    env.agent = again

    # deleting every resource leaves nothing behind
    await net.floatingips.delete(DEMO, fip.id)
    for port in (p1, p2, p3):
        await net.ports.delete(ADMIN, port.id)
    for ns in env.guests:  # the taps went with the ports; the stand-ins' ends are gone too
        sh("ip", "netns", "del", ns, check=False)
    env.guests.clear()
    await net.routers.remove_interface(DEMO, router.id, sub_a, None)
    await net.routers.delete(DEMO, router.id)
    for n in (net_a, net_b, pub.id):
        await net.networks.delete(ADMIN, n)
    await again.reconcile()
    assert await env.driver.links() == {}
    assert await env.driver.namespaces() == []
    assert await env.driver.nft_tables() == []
    assert await env.driver.dhcp_servers() == []
    await again.stop()
