"""The load balancer with real guests: two tiny guests (QEMU, TCG) on a tenant network serve
HTTP with busybox httpd (started by their user data); a load balancer made as the Octavia
API makes it (the API's body checks, then the core) with an HTTP listener, a ROUND_ROBIN
pool of both guests and an HTTP health monitor, and a floating IP on its VIP port. The real
network agent (Linux data plane) and load balancer agent (haproxy driver) run. Checked:
``curl`` from the host through the floating IP gets answers from both guests; an L7 policy
sends ``/static/`` to a second pool; a guest's httpd stopped turns its member ERROR and the
load balancer DEGRADED within the monitor's delay and timeout plus the agent's poll, every
request then lands on the other; httpd started again brings it back ONLINE; the other
guest stopped altogether (checks time out, no RST) does the same; a cascade
delete leaves no namespace, haproxy, nft table or port. Everything is removed at the end,
also on failure.

The second test does the same through the real API: a full Onestack (tests/support/server.py)
with the Linux network data plane and the haproxy driver, networks, ports and floating IPs
made with openstacksdk, the load balancer built step by step with its ``load_balancer`` proxy
(waiting for ACTIVE after each change), operating statuses read from the member and load
balancer resources and the ``/status`` tree, a cascade delete. Its guests read their user
data from a config drive (the cloud's metadata service knows only its own instances).
Before the delete it adds a TERMINATED_HTTPS listener whose certificates come from the
cloud's key manager (a certificate container as the default, a PKCS#12 secret for SNI,
made with ``cryptography`` here): ``curl --cacert`` through the floating IP gets both
guests' plain-HTTP answers, and the name sent (``--resolve``) picks the certificate."""

from __future__ import annotations

import asyncio
import base64
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from onestack.agent.load_balancer import LoadBalancerAgent
from onestack.agent.network import NetworkAgent
from onestack.api.load_balancer import schemas
from onestack.core.load_balancer.service import LoadBalancerService
from onestack.core.network.service import NetworkService
from onestack.db.models.network import Port
from onestack.drivers.lb import names as lb_names
from onestack.drivers.lb.haproxy import HaproxyLbDriver
from onestack.drivers.network.linux import LinuxNetDriver
from tests.api.conftest import connect
from tests.integration.test_network_dataplane import _cleanup, sh
from tests.support import certs
from tests.support.server import CloudThread, RunningCloud
from tests.support.tiny_guest import (
    ADMIN,
    DEMO,
    HOST,
    Vm,
    config_drive,
    network_node,
    prepare,
    ssh,
    wait_for,
)

pytestmark = [pytest.mark.integration]

MARKER = "lb-guest-ready-7c2d"
USER_DATA = ("#!/bin/sh\nmkdir -p /www/static\nhostname > /www/index.html\n"
             "echo static-$(hostname) > /www/static/x.css\nhttpd -p 80 -h /www\n"
             "printf '#!/bin/sh\\nread l\\necho \"$(hostname) $l\"\\n' > /echo.sh\n"
             "chmod +x /echo.sh\n(nc -ll -p 7000 -e /echo.sh &)\n"
             # UDP: one datagram's sender gets the host name back, again and again
             "(while true; do hostname | nc.traditional -u -l -p 7001 -q 0 >/dev/null; "
             "done &)\n"
             f"echo {MARKER} from $(hostname)\n")
DELAY, TIMEOUT, POLL = 1, 1, 1.0


def curl(url: str) -> str:
    proc = subprocess.run(["curl", "-s", "-m", "3", url], capture_output=True, text=True,
                          check=False, timeout=10)
    return proc.stdout.strip() if proc.returncode == 0 else f"FAIL {proc.returncode}"


def tcp_line(host: str, port: int) -> str:
    try:
        with socket.create_connection((host, port), timeout=3) as conn:
            conn.sendall(b"hi\n")
            return conn.makefile().readline().strip()
    except OSError as exc:
        return f"FAIL {exc}"


def udp_line(host: str, port: int) -> str:
    """A datagram from a new socket (a new flow for the load balancer), the answer's text."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as conn:
        conn.settimeout(2)
        try:
            conn.sendto(b"hi\n", (host, port))
            return conn.recv(512).decode(errors="replace").strip()
        except OSError as exc:
            return f"FAIL {exc}"


def udp_until_answered(host: str, port: int, tries: int = 3) -> str:
    answer = ""
    for _ in range(tries):
        answer = udp_line(host, port)
        if not answer.startswith("FAIL"):
            break
    return answer


def leftovers(lb_id: str) -> list[str]:
    ns = lb_names.namespace(lb_id)
    found = []
    if ns in sh("ip", "netns", "list").stdout:
        found.append(f"namespace {ns}")
    # this load balancer's haproxy (-f <state_dir>/<id>/haproxy.cfg), not another test's
    if sh("pgrep", "-f", f"haproxy .*{lb_id}", check=False).stdout.strip():
        found.append("haproxy")
    if lb_names.HOST_VETH_PREFIX in sh("ip", "-br", "link").stdout:
        found.append("olb- veth")
    return found


@pytest.fixture
async def world(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, Any] | None]:
    work = prepare(request, "onestack-lbguests-", "haproxy", "curl")
    if work is None:
        yield None
        return
    try:
        async with network_node(work, USER_DATA) as node:
            lbs = LoadBalancerService(node.db, node.net.changed)
            lb_driver = HaproxyLbDriver(work.tmp / "lb")
            lb_agent = LoadBalancerAgent(node.db, lbs, lb_driver, interval=POLL)
            try:
                yield {"net": node.net, "agent": node.agent, "lbs": lbs,
                       "lb_agent": lb_agent, "db": node.db, "image": work.image,
                       "tmp": work.tmp, "key": work.key, "vms": work.vms}
            finally:
                await lb_agent.stop()
                for lb_id in await lb_driver.running():
                    await lb_driver.destroy(lb_id)
    finally:
        work.close()


async def statuses(lbs: LoadBalancerService, lb_id: str) -> dict[str, str]:
    tree = await lbs.tree(DEMO, lb_id, False)
    out = {o.id: o.operating_status for o in tree.objects}
    out[lb_id] = tree.lb.operating_status
    out["provisioning"] = tree.lb.provisioning_status
    return out


async def test_load_balancer_in_front_of_two_tiny_guests(world: dict[str, Any] | None
                                                         ) -> None:
    if world is None:  # it ran in its own network namespace
        return
    net: NetworkService = world["net"]
    agent: NetworkAgent = world["agent"]
    lbs: LoadBalancerService = world["lbs"]
    started = time.monotonic()
    pub = (await net.networks.create(ADMIN, [{
        "name": "public", "router:external": True, "provider:network_type": "flat",
        "provider:physical_network": "public"}]))[0]
    await net.subnets.create(ADMIN, [{"network_id": pub.id, "cidr": "172.24.4.0/24",
                                      "ip_version": 4, "enable_dhcp": False}])
    private = (await net.networks.create(DEMO, [{"name": "private"}]))[0]
    sub = (await net.subnets.create(DEMO, [{"network_id": private.id, "cidr": "10.0.0.0/24",
                                            "ip_version": 4}]))[0]
    router = (await net.routers.create(DEMO, [{
        "name": "r", "external_gateway_info": {"network_id": pub.id}}]))[0]
    await net.routers.add_interface(DEMO, router.id, sub.id, None)
    sg = str(await net.security_groups.ensure_default(str(DEMO.project_id)))
    await net.security_groups.create_rules(DEMO, [
        {"security_group_id": sg, "direction": "ingress", "ethertype": "IPv4",
         "protocol": proto, "port_range_min": port, "port_range_max": port}
        for proto, port in (("tcp", 22), ("tcp", 80), ("tcp", 7000), ("udp", 7001))])
    ports, fips = [], []
    for name in ("web-one", "web-two"):
        port = (await net.ports.create(ADMIN, [{
            "network_id": private.id, "project_id": DEMO.project_id,
            "device_owner": "compute:nova", "device_id": name, "binding:host_id": HOST}],
            {str(DEMO.project_id): sg}))[0]
        ports.append(port)
        fips.append((await net.floatingips.create(DEMO, [{
            "floating_network_id": pub.id, "port_id": port.id}]))[0].floating_ip_address)
    await agent.start()
    for name, port in zip(("web-one", "web-two"), ports, strict=True):
        plug = await agent.plug_port(port.id)
        world["vms"].append(Vm(world["tmp"], world["image"], name, plug.tap, plug.mac,
                               plug.mtu))
    ip_one, ip_two = (p.fixed_ips[0].ip_address for p in ports)

    # the load balancer, as POST /v2/lbaas/loadbalancers with a whole tree makes it
    hm = {"type": "HTTP", "delay": DELAY, "timeout": TIMEOUT, "max_retries": 1,
          "max_retries_down": 1, "url_path": "/", "expected_codes": "200"}
    body = {"name": "web", "vip_subnet_id": sub.id, "listeners": [{
        "name": "http", "protocol": "HTTP", "protocol_port": 80,
        "default_pool": {"name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                         "healthmonitor": hm, "members": [
                             {"address": ip, "protocol_port": 80, "subnet_id": sub.id}
                             for ip in (ip_one, ip_two)]},
        "l7policies": [{"action": "REDIRECT_TO_POOL", "position": 1,
                        "redirect_pool": {"protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
                                          "members": [{"address": ip_two,
                                                       "protocol_port": 80}]},
                        "rules": [{"type": "PATH", "compare_type": "STARTS_WITH",
                                   "value": "/static/"}]}]},
        {"name": "tcp", "protocol": "TCP", "protocol_port": 7000,
         "default_pool": {"protocol": "TCP", "lb_algorithm": "ROUND_ROBIN", "members": [
             {"address": ip, "protocol_port": 7000} for ip in (ip_one, ip_two)]}},
        {"name": "udp", "protocol": "UDP", "protocol_port": 7001,
         "default_pool": {"protocol": "UDP", "lb_algorithm": "ROUND_ROBIN", "members": [
             {"address": ip, "protocol_port": 7001} for ip in (ip_one, ip_two)]}}]}
    data = schemas.check("loadbalancer", body, "post", True)
    graph = {k: data.pop(k) for k in ("listeners", "pools") if k in data}
    tree = await lbs.create_lb(DEMO, data, graph)
    lb_id, vip_port = tree.lb.id, tree.lb.vip_port_id
    web_pool = next(x for x in tree.of("listener")
                    if x.attrs["protocol"] == "HTTP").attrs["default_pool_id"]
    by_ip = {m.attrs["address"]: m.id for m in tree.of("member", web_pool)}
    vip_fip = (await net.floatingips.create(DEMO, [{
        "floating_network_id": pub.id, "port_id": vip_port}]))[0].floating_ip_address
    await world["lb_agent"].start()

    vms = world["vms"]
    booted = await wait_for(lambda: all(f"{MARKER} from {n}" in vm.text() for n, vm in
                                        zip(("web-one", "web-two"), vms, strict=True)), 180)
    assert booted, "\n----\n".join(vm.text()[-3000:] for vm in vms)
    boot_s = time.monotonic() - started

    async def state() -> dict[str, str]:
        return await statuses(lbs, lb_id)

    async def until(check: Any, timeout: float) -> float:
        t0 = time.monotonic()
        while not check(await state()):
            assert time.monotonic() - t0 < timeout, (await state(), timeout)
            await asyncio.sleep(0.25)
        return time.monotonic() - t0

    await until(lambda s: s["provisioning"] == "ACTIVE" and s[lb_id] == "ONLINE", 60)
    # both guests answer through the VIP's floating IP, in turn
    assert await wait_for(lambda: curl(f"http://{vip_fip}/") in ("web-one", "web-two"), 30)
    answers = [await asyncio.to_thread(curl, f"http://{vip_fip}/") for _ in range(4)]
    assert sorted(answers) == ["web-one", "web-one", "web-two", "web-two"], answers
    # L7: /static/ goes to the second pool (web-two only)
    assert [await asyncio.to_thread(curl, f"http://{vip_fip}/static/x.css")
            for _ in range(3)] == ["static-web-two"] * 3

    # the TCP listener: a line to busybox nc on each guest in turn
    answers = [await asyncio.to_thread(tcp_line, vip_fip, 7000) for _ in range(4)]
    assert sorted(answers) == ["web-one hi"] * 2 + ["web-two hi"] * 2, answers
    # the UDP listener (nftables): a datagram from each new socket to nc.traditional on
    # the guests in turn (a guest's nc starts again after each answer: a pause between
    # datagrams, and a datagram that meets none is sent again, a new flow)
    answers = []
    for _ in range(4):
        await asyncio.sleep(0.3)
        answers.append(await asyncio.to_thread(udp_until_answered, vip_fip, 7001))
    assert set(answers) == {"web-one", "web-two"}, answers

    # the VIP's security group opens the listener ports only: a server in the load
    # balancer's namespace on another port is not reached through the floating IP
    www = world["tmp"] / "ns-www"
    www.mkdir()
    (www / "index.html").write_text("reached")
    stray = subprocess.Popen(["ip", "netns", "exec", lb_names.namespace(lb_id), "busybox",
                              "httpd", "-f", "-p", "8081", "-h", str(www)])
    try:
        await asyncio.sleep(0.5)
        assert sh("ip", "netns", "exec", lb_names.namespace(lb_id), "curl", "-s", "-m", "3",
                  "http://127.0.0.1:8081/").stdout == "reached"
        assert curl(f"http://{vip_fip}:8081/").startswith("FAIL")
        assert curl(f"http://{vip_fip}/") in ("web-one", "web-two")
    finally:
        stray.kill()
        stray.wait()

    # web-one's httpd stops: its member ERROR, the load balancer DEGRADED, all on web-two
    key = world["key"]
    assert await asyncio.to_thread(ssh, key, fips[0], "killall httpd && echo ok") == "ok"
    bound = DELAY * 1 + TIMEOUT + POLL + 2  # fall=max_retries_down, a check's timeout, a pass
    down = await until(lambda s: s[by_ip[ip_one]] == "ERROR" and s[lb_id] == "DEGRADED",
                       bound)
    answers = [await asyncio.to_thread(curl, f"http://{vip_fip}/") for _ in range(4)]
    assert answers == ["web-two"] * 4, answers
    assert (await state())[by_ip[ip_two]] == "ONLINE"
    # httpd back: ONLINE again, both answer
    assert await asyncio.to_thread(ssh, key, fips[0],
                                   "httpd -p 80 -h /www && echo ok") == "ok"
    up = await until(lambda s: s[by_ip[ip_one]] == "ONLINE" and s[lb_id] == "ONLINE", bound)
    answers = [await asyncio.to_thread(curl, f"http://{vip_fip}/") for _ in range(4)]
    assert sorted(answers) == ["web-one", "web-one", "web-two", "web-two"], answers
    # the whole web-two guest stops (no RST now, the checks time out): the same
    vms[1].close()
    gone_s = await until(lambda s: s[by_ip[ip_two]] == "ERROR" and s[lb_id] == "DEGRADED",
                         bound)
    answers = [await asyncio.to_thread(curl, f"http://{vip_fip}/") for _ in range(4)]
    assert answers == ["web-one"] * 4, answers

    # cascade delete: no namespace, haproxy, veth or port left
    await lbs.delete_lb(await lbs.tree(DEMO, lb_id, False), cascade=True)

    async def gone() -> bool:
        async with world["db"].read() as s:
            port = await s.get(Port, vip_port)
            lb_ports = (await s.execute(select(Port.id).where(
                Port.device_owner.like("Octavia%")))).scalars().all()
        return port is None and not lb_ports and not leftovers(lb_id)

    t0 = time.monotonic()
    while not await gone():
        assert time.monotonic() - t0 < 20, leftovers(lb_id)
        await asyncio.sleep(0.5)
    print(f"boot {boot_s:.0f}s, member down {down:.1f}s (bound {bound}s), up {up:.1f}s, "
          f"guest gone {gone_s:.1f}s, "
          f"total {time.monotonic() - started:.0f}s")


# --- the same through the real API ----------------------------------------------------------
@pytest.fixture
def api_world(request: pytest.FixtureRequest) -> Iterator[dict[str, Any] | None]:
    work = prepare(request, "onestack-lbapi-", "haproxy", "genisoimage")
    if work is None:
        yield None
        return
    (work.tmp / "data").mkdir()
    thread = CloudThread(data_dir=work.tmp / "data")
    thread.settings.network.dataplane = "linux"
    thread.settings.network.reconcile_interval = 2.0
    thread.settings.load_balancer.driver = "haproxy"
    thread.settings.load_balancer.reconcile_interval = POLL
    try:
        cloud = thread.start()
        yield {"cloud": cloud, "image": work.image, "tmp": work.tmp, "key": work.key,
               "vms": work.vms}
    finally:
        for vm in work.vms:
            vm.close()
        thread.stop()
        lb_driver = HaproxyLbDriver(work.tmp / "data" / "load-balancer")
        net_driver = LinuxNetDriver(work.tmp / "data" / "network")

        async def clean() -> None:
            for lb_id in await lb_driver.running():
                await lb_driver.destroy(lb_id)
            await _cleanup(None, net_driver)

        asyncio.run(clean())
        work.close()


def test_load_balancer_through_the_api(api_world: dict[str, Any] | None) -> None:
    if api_world is None:  # it ran in its own network namespace
        return
    cloud: RunningCloud = api_world["cloud"]
    admin, demo = connect(cloud, "admin"), connect(cloud, "demo")
    agent = cloud.runtime.network_agent
    loop = cloud.runtime.load_balancer_agent.loop  # the server thread's
    assert agent is not None and loop is not None
    host = cloud.runtime.compute_agent.host
    pub = next(admin.network.networks(is_router_external=True))  # the cloud's own
    private = demo.network.create_network(name="lb-private")
    sub = demo.network.create_subnet(network_id=private.id, cidr="10.9.0.0/24", ip_version=4)
    router = demo.network.create_router(name="r", external_gateway_info={"network_id": pub.id})
    demo.network.add_interface_to_router(router, subnet_id=sub.id)
    sg = demo.network.create_security_group(name="web")
    for port in (22, 80):
        demo.network.create_security_group_rule(
            security_group_id=sg.id, direction="ingress", ethertype="IPv4", protocol="tcp",
            port_range_min=port, port_range_max=port)
    pubkey = api_world["key"].with_suffix(".pub").read_text()
    ips, fips = [], []
    for name in ("web-one", "web-two"):
        port = admin.network.create_port(network_id=private.id, project_id=sg.project_id,
                                         device_owner="compute:nova", device_id=name,
                                         binding_host_id=host, security_group_ids=[sg.id])
        ips.append(port.fixed_ips[0]["ip_address"])
        fips.append(demo.network.create_ip(floating_network_id=pub.id,
                                           port_id=port.id).floating_ip_address)
        plug = asyncio.run_coroutine_threadsafe(agent.plug_port(port.id), loop).result(60)
        api_world["vms"].append(Vm(api_world["tmp"], api_world["image"], name, plug.tap,
                                   plug.mac, plug.mtu,
                                   config_drive(api_world["tmp"], name, pubkey, USER_DATA)))
    lb = demo.load_balancer.create_load_balancer(name="web", vip_subnet_id=sub.id)
    lb = demo.load_balancer.wait_for_load_balancer(lb.id, interval=0.5, wait=60)
    lis = demo.load_balancer.create_listener(name="http", protocol="HTTP", protocol_port=80,
                                             load_balancer_id=lb.id)
    demo.load_balancer.wait_for_load_balancer(lb.id, interval=0.5, wait=60)
    pool = demo.load_balancer.create_pool(protocol="HTTP", lb_algorithm="ROUND_ROBIN",
                                          listener_id=lis.id)
    demo.load_balancer.wait_for_load_balancer(lb.id, interval=0.5, wait=60)
    members = {}
    for ip in ips:
        members[ip] = demo.load_balancer.create_member(pool, address=ip, protocol_port=80,
                                                       subnet_id=sub.id).id
        demo.load_balancer.wait_for_load_balancer(lb.id, interval=0.5, wait=60)
    demo.load_balancer.create_health_monitor(
        pool_id=pool.id, type="HTTP", delay=DELAY, timeout=TIMEOUT, max_retries=1,
        max_retries_down=1, url_path="/", expected_codes="200")
    demo.load_balancer.wait_for_load_balancer(lb.id, interval=0.5, wait=60)
    vip_ip = demo.network.create_ip(floating_network_id=pub.id, port_id=lb.vip_port_id)
    vip_fip = vip_ip.floating_ip_address
    vms = api_world["vms"]
    deadline = time.monotonic() + 180
    while not all(f"{MARKER} from {n}" in vm.text() for n, vm in
                  zip(("web-one", "web-two"), vms, strict=True)):
        assert time.monotonic() < deadline, "\n----\n".join(vm.text()[-3000:] for vm in vms)
        time.sleep(1)

    def until(check: Any, timeout: float) -> float:
        t0 = time.monotonic()
        while True:
            got = {m: demo.load_balancer.get_member(m, pool).operating_status
                   for m in members.values()}
            got["lb"] = demo.load_balancer.get_load_balancer(lb.id).operating_status
            if check(got):
                return time.monotonic() - t0
            assert time.monotonic() - t0 < timeout, got
            time.sleep(0.25)

    until(lambda s: s["lb"] == "ONLINE", 60)
    deadline = time.monotonic() + 30
    while curl(f"http://{vip_fip}/") not in ("web-one", "web-two"):
        assert time.monotonic() < deadline
        time.sleep(1)
    answers = sorted(curl(f"http://{vip_fip}/") for _ in range(4))
    assert answers == ["web-one", "web-one", "web-two", "web-two"], answers
    assert ssh(api_world["key"], fips[0], "killall httpd && echo ok") == "ok"
    bound = DELAY * 1 + TIMEOUT + POLL + 2
    until(lambda s: s[members[ips[0]]] == "ERROR" and s["lb"] == "DEGRADED", bound)
    assert [curl(f"http://{vip_fip}/") for _ in range(4)] == ["web-two"] * 4
    tree = demo.load_balancer.get(f"/lbaas/loadbalancers/{lb.id}/status").json()["statuses"]
    assert tree["loadbalancer"]["operating_status"] == "DEGRADED"
    assert {m["id"]: m["operating_status"] for lis in tree["loadbalancer"]["listeners"]
            for p in lis["pools"] for m in p["members"]} == {
        members[ips[0]]: "ERROR", members[ips[1]]: "ONLINE"}
    assert ssh(api_world["key"], fips[0], "httpd -p 80 -h /www && echo ok") == "ok"
    until(lambda s: s[members[ips[0]]] == "ONLINE" and s["lb"] == "ONLINE", bound)
    t0 = time.monotonic()
    tls_s = terminated_https(demo, lb.id, ips, sub.id, vip_fip, api_world["tmp"],
                             api_world["tmp"] / "data")
    tls_all = time.monotonic() - t0
    demo.load_balancer.delete_load_balancer(lb.id, cascade=True)
    deadline = time.monotonic() + 30
    while demo.load_balancer.find_load_balancer(lb.id) is not None or leftovers(lb.id):
        assert time.monotonic() < deadline, leftovers(lb.id)
        time.sleep(0.5)
    assert admin.network.find_port(lb.vip_port_id) is None
    assert not list(admin.network.ports(device_owner="Octavia"))
    assert demo.network.get_ip(vip_ip.id).port_id is None  # the floating IP stays, free
    print(f"TERMINATED_HTTPS listener, pool and members to both answering: {tls_s:.1f}s, "
          f"the whole TLS part {tls_all:.1f}s")


def https(name: str, fip: str, ca: Path) -> tuple[str, str]:
    """``curl --cacert`` to https://<name>/ at the floating IP (``--resolve``: the SNI is
    ``name``): the body and the subject of the certificate served."""
    proc = subprocess.run(["curl", "-sv", "-m", "5", "--cacert", str(ca), "--resolve",
                           f"{name}:443:{fip}", f"https://{name}/"], capture_output=True,
                          text=True, check=False, timeout=15)
    subject = next((line.split("subject:", 1)[1].strip() for line in proc.stderr.splitlines()
                    if "subject:" in line), "")
    return (proc.stdout.strip() if proc.returncode == 0 else f"FAIL {proc.returncode}",
            subject)


def terminated_https(conn: Any, lb_id: str, ips: list[str], subnet_id: str, fip: str,
                     tmp: Path, data_dir: Path) -> float:
    """A TERMINATED_HTTPS listener on the load balancer: its default certificate from a
    Barbican certificate container, a second one (PKCS#12 secret) for SNI, the guests'
    plain HTTP behind it. Both guests answer ``curl --cacert``; the name picks the
    certificate. Returns the seconds from the listener's create to both answering."""
    ca = certs.authority()
    www, api = certs.server(ca, "www.lb.test"), certs.server(ca, "api.lb.test")
    (tmp / "ca.pem").write_bytes(ca.cert_pem)
    refs = [{"name": name, "secret_ref": conn.key_manager.create_secret(
        name=name, payload=pem.decode(), payload_content_type="text/plain",
        secret_type=kind).secret_ref} for name, pem, kind in (
        ("certificate", www.cert_pem, "certificate"), ("private_key", www.key_pem, "private"),
        ("intermediates", ca.cert_pem, "certificate"))]
    box = conn.key_manager.create_container(name="www", type="certificate", secret_refs=refs)
    p12 = conn.key_manager.create_secret(
        name="api", payload=base64.b64encode(api.pkcs12()).decode(),
        payload_content_type="application/octet-stream", payload_content_encoding="base64")
    t0 = time.monotonic()
    lis = conn.load_balancer.create_listener(
        name="https", protocol="TERMINATED_HTTPS", protocol_port=443, load_balancer_id=lb_id,
        default_tls_container_ref=box.container_ref, sni_container_refs=[p12.secret_ref])
    conn.load_balancer.wait_for_load_balancer(lb_id, interval=0.5, wait=60)
    pool = conn.load_balancer.create_pool(protocol="HTTP", lb_algorithm="ROUND_ROBIN",
                                          listener_id=lis.id)
    conn.load_balancer.wait_for_load_balancer(lb_id, interval=0.5, wait=60)
    conn.load_balancer.put(f"/lbaas/pools/{pool.id}/members", json={"members": [
        {"address": ip, "protocol_port": 80, "subnet_id": subnet_id} for ip in ips]})
    conn.load_balancer.wait_for_load_balancer(lb_id, interval=0.5, wait=60)
    deadline = time.monotonic() + 30
    while https("www.lb.test", fip, tmp / "ca.pem")[0] not in ("web-one", "web-two"):
        assert time.monotonic() < deadline, https("www.lb.test", fip, tmp / "ca.pem")
        time.sleep(0.5)
    took = time.monotonic() - t0
    got = [https("www.lb.test", fip, tmp / "ca.pem") for _ in range(4)]
    assert sorted(got) == [("web-one", "CN=www.lb.test")] * 2 + [
        ("web-two", "CN=www.lb.test")] * 2, got
    # SNI: the second certificate by its name; an unknown name gets the default
    assert https("api.lb.test", fip, tmp / "ca.pem")[1] == "CN=api.lb.test"
    body, subject = https("other.lb.test", fip, tmp / "ca.pem")
    assert body.startswith("FAIL") and subject == "CN=www.lb.test"  # name mismatch
    files = list((data_dir / "load-balancer" / lb_id / "tls").iterdir())
    assert len(files) == 3 and all(f.stat().st_mode & 0o777 == 0o600 for f in files)
    # new certificates: haproxy reloads with them (the PKCS#12 one the default now)
    conn.load_balancer.update_listener(lis, default_tls_container_ref=p12.secret_ref,
                                       sni_container_refs=[])
    conn.load_balancer.wait_for_load_balancer(lb_id, interval=0.5, wait=60)
    assert https("api.lb.test", fip, tmp / "ca.pem")[0] in ("web-one", "web-two")
    assert https("www.lb.test", fip, tmp / "ca.pem")[1] == "CN=api.lb.test"
    assert len(list((data_dir / "load-balancer" / lb_id / "tls").iterdir())) == 2
    return took
