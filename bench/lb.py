"""Load balancer benchmark: the Octavia API on the real haproxy data plane.

    .venv/bin/python bench/lb.py [--creates 30] [--batches 10] [--requests 3000]
                                 [--concurrency 8] [--rounds 3]

Root, with haproxy and nft installed. One in-process cloud (tests/support/server.py's
CloudThread, SQLite) with the haproxy load balancer driver; the network data plane stays
off, and the VIP network is a flat external network whose host bridge the bench makes by
hand (with a client and a member namespace on it, tests/integration/lb_net.py), so nothing
of the network agent runs and no other Onestack's devices are touched. The driver is the
real HaproxyLbDriver, except that it lists as running only the load balancers in its own
state directory (the stock one also adopts every ``onestack-lb-*`` namespace on the host and
the agent would destroy those of other clouds or tests running beside the bench).

Measured, one after the other:

1. ``--creates`` one-call creates (a load balancer with an HTTP listener, a pool and one
   member, as cloud-provider-openstack sends it) from the POST to ``provisioning_status``
   ACTIVE, polled every 10 ms; each is deleted (cascade) and gone before the next.
2. ``--batches`` batch member updates (``PUT /pools/{id}/members`` with 100 members, the
   port set alternating so each replaces all 100) from the PUT to ACTIVE.
3. Requests per second: ``--requests`` GETs at ``--concurrency`` in flight from the client
   namespace through the VIP and straight to the member (a new connection each: the member
   is Python's HTTP/1.0 server), ``--rounds`` rounds each, alternating, the best kept; and
   haproxy's CPU time per request from /proc.
4. The idle RSS of the load balancer's haproxy (VmRSS from /proc).

Everything made (namespaces, bridge, haproxy processes, the cloud's data directory) is
removed at the end, also on failure or Ctrl-C. Results: a markdown report on stdout and
bench/out/lb-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402
from tests.integration.lb_net import SUBNET, Net, skip_reason  # noqa: E402
from tests.support.server import CloudThread  # noqa: E402

from onestack.drivers import lb as lb_drivers  # noqa: E402
from onestack.drivers.lb.haproxy import HaproxyLbDriver  # noqa: E402

LB = "/load-balancer/v2/lbaas"
MEMBER = f"{SUBNET}.11"
CLIENT_NS_ADDR = f"{SUBNET}.2"
# Quoted from /work/shared/research/next-services.md, not measured here.
UPSTREAM_QUOTE = ("upstream amphora: cloud-provider-openstack waits up to about 5.5 min for "
                  "ACTIVE; on gx-scs \"the Loadbalancer service is extremely slow\", creates "
                  "with two amphorae timed out (openstack-health-monitor PR 124)")
LOADGEN = r"""
import http.client, sys, threading, time
host, port, n, conc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
left = [n]; lock = threading.Lock(); errors = [0]
def work():
    while True:
        with lock:
            if left[0] <= 0: return
            left[0] -= 1
        try:
            c = http.client.HTTPConnection(host, port, timeout=5)
            c.request("GET", "/"); r = c.getresponse(); r.read(); c.close()
            if r.status != 200: raise OSError(r.status)
        except Exception:
            with lock: errors[0] += 1
t0 = time.perf_counter()
ts = [threading.Thread(target=work) for _ in range(conc)]
for t in ts: t.start()
for t in ts: t.join()
print(n / (time.perf_counter() - t0), errors[0])
"""


class ScopedHaproxyDriver(HaproxyLbDriver):
    """The real driver, owning only what is in its own state directory."""

    async def running(self) -> list[str]:
        if not self.state_dir.is_dir():
            return []
        return sorted(p.name for p in self.state_dir.iterdir() if (p / "haproxy.cfg").exists()
                      or self.pid(p.name) is not None)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(v: float) -> float:
    return round(v * 1000, 1)


class Api:
    def __init__(self, base: str, token: str) -> None:
        self.http = httpx.Client(base_url=base, headers={"X-Auth-Token": token}, timeout=30)

    def call(self, method: str, path: str, body: Any = None, ok: int = 200) -> Any:
        r = self.http.request(method, path, json=body)
        if r.status_code != ok:
            raise RuntimeError(f"{method} {path}: {r.status_code} {r.text[:300]}")
        return r.json() if r.content else None

    def wait_lb(self, lb_id: str, timeout: float = 60) -> float:
        """Seconds until ACTIVE (raises on ERROR or timeout); polled every 10 ms."""
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            st = self.call("GET", f"{LB}/loadbalancers/{lb_id}")["loadbalancer"]
            if st["provisioning_status"] == "ACTIVE":
                return time.perf_counter() - t0
            if st["provisioning_status"] == "ERROR":
                raise RuntimeError(f"load balancer {lb_id} went ERROR")
            time.sleep(0.01)
        raise RuntimeError(f"load balancer {lb_id} not ACTIVE in {timeout}s")

    def wait_gone(self, lb_id: str, timeout: float = 60) -> None:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < timeout:
            if self.http.get(f"{LB}/loadbalancers/{lb_id}").status_code == 404:
                return
            time.sleep(0.02)
        raise RuntimeError(f"load balancer {lb_id} not deleted in {timeout}s")


def make_vip_subnet(api: Api, physnet: str) -> str:
    net = api.call("POST", "/networking/v2.0/networks", {"network": {
        "name": "bench-lb", "router:external": True, "provider:network_type": "flat",
        "provider:physical_network": physnet}}, ok=201)["network"]
    sub = api.call("POST", "/networking/v2.0/subnets", {"subnet": {
        "network_id": net["id"], "ip_version": 4, "cidr": f"{SUBNET}.0/24",
        "gateway_ip": f"{SUBNET}.1", "enable_dhcp": False,
        "allocation_pools": [{"start": f"{SUBNET}.100", "end": f"{SUBNET}.200"}]}},
        ok=201)["subnet"]
    return str(sub["id"])


def create_body(subnet_id: str, i: int) -> dict[str, Any]:
    return {"loadbalancer": {"name": f"bench-{i}", "vip_subnet_id": subnet_id, "listeners": [{
        "name": "http", "protocol": "HTTP", "protocol_port": 80, "default_pool": {
            "name": "web", "protocol": "HTTP", "lb_algorithm": "ROUND_ROBIN",
            "members": [{"address": MEMBER, "protocol_port": 80}]}}]}}


def load(net: Net, host: str, n: int, conc: int) -> tuple[float, int]:
    out = subprocess.run(["ip", "netns", "exec", net.ns("c"), sys.executable, "-c", LOADGEN,
                          host, "80", str(n), str(conc)], capture_output=True, text=True,
                         check=True, timeout=300).stdout.split()
    return float(out[0]), int(out[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (its threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def other_cpu_load() -> float:
    return os.getloadavg()[0]


def run(args: argparse.Namespace, net: Net, cloud: CloudThread) -> dict[str, Any]:
    running = cloud.start()
    api = Api(running.base_url, running.admin_token())
    driver = running.runtime.load_balancer_agent.driver
    assert isinstance(driver, ScopedHaproxyDriver), type(driver)
    subnet_id = make_vip_subnet(api, cloud.settings.network.external_physnet)
    res: dict[str, Any] = {"loadavg_start": other_cpu_load()}

    creates = []
    for i in range(args.creates):
        t0 = time.perf_counter()
        lb = api.call("POST", f"{LB}/loadbalancers", create_body(subnet_id, i),
                      ok=201)["loadbalancer"]
        api.wait_lb(lb["id"])
        creates.append(time.perf_counter() - t0)
        if i < args.creates - 1:
            api.call("DELETE", f"{LB}/loadbalancers/{lb['id']}?cascade=true", ok=204)
            api.wait_gone(lb["id"])
    res["create_s"] = creates
    lb_id = lb["id"]
    vip = lb["vip_address"]
    pool_id = lb["pools"][0]["id"]

    # idle RSS (let it settle first)
    time.sleep(2)
    pid = driver.pid(lb_id)
    assert pid is not None
    res["haproxy_rss_kib"] = rss_kib(pid)

    rps: dict[str, list[tuple[float, int]]] = {"direct": [], "lb": []}
    load(net, vip, 200, args.concurrency)  # warm-up
    cpu0 = cpu_s(pid)
    for _ in range(args.rounds):
        rps["direct"].append(load(net, MEMBER, args.requests, args.concurrency))
        rps["lb"].append(load(net, vip, args.requests, args.concurrency))
    res["rps"] = rps
    res["haproxy_cpu_ms_per_req"] = (cpu_s(pid) - cpu0) * 1000 / (args.rounds * args.requests)

    batches = []
    for b in range(args.batches):
        base = 20000 + 1000 * (b % 2)
        members = [{"address": MEMBER, "protocol_port": base + k} for k in range(100)]
        t0 = time.perf_counter()
        api.call("PUT", f"{LB}/pools/{pool_id}/members", {"members": members}, ok=202)
        api.wait_lb(lb_id)
        batches.append(time.perf_counter() - t0)
    res["batch_s"] = batches
    res["haproxy_rss_kib_after"] = rss_kib(driver.pid(lb_id) or pid)

    api.call("DELETE", f"{LB}/loadbalancers/{lb_id}?cascade=true", ok=204)
    api.wait_gone(lb_id)
    res["loadavg_end"] = other_cpu_load()
    return res


def report(res: dict[str, Any], args: argparse.Namespace) -> str:
    c, b = res["create_s"], res["batch_s"]
    direct = max(r for r, _ in res["rps"]["direct"])
    via = max(r for r, _ in res["rps"]["lb"])
    errors = sum(e for _, e in res["rps"]["direct"] + res["rps"]["lb"])
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    lines = [
        f"Load balancer benchmark, {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, "
        f"Onestack at {commit}, {os.cpu_count()} CPUs, load average "
        f"{res['loadavg_start']:.2f} at start, {res['loadavg_end']:.2f} at end.",
        "",
        "| measure | n | p50 | p99 | max |",
        "|---|--:|--:|--:|--:|",
        f"| create to ACTIVE (one call: LB, HTTP listener, pool, 1 member) | {len(c)} | "
        f"{ms(pct(c, .5))} ms | {ms(pct(c, .99))} ms | {ms(max(c))} ms |",
        f"| batch update of 100 members to ACTIVE | {len(b)} | {ms(pct(b, .5))} ms | "
        f"{ms(pct(b, .99))} ms | {ms(max(b))} ms |",
        "",
        f"| path ({args.requests} GETs, {args.concurrency} in flight, new connection each) "
        f"| req/s (best of {args.rounds}) | runs |",
        "|---|--:|---|",
        f"| client -> member directly | {direct:.0f} | "
        f"{', '.join(f'{r:.0f}' for r, _ in res['rps']['direct'])} |",
        f"| client -> VIP (haproxy) -> member | {via:.0f} | "
        f"{', '.join(f'{r:.0f}' for r, _ in res['rps']['lb'])} |",
        "",
        f"Through the load balancer / direct: {via / direct:.2f} (errors: {errors}); "
        f"haproxy used {res['haproxy_cpu_ms_per_req']:.3f} ms of CPU per request.",
        f"haproxy idle RSS: {res['haproxy_rss_kib'] / 1024:.1f} MiB (one listener, one member); "
        f"{res['haproxy_rss_kib_after'] / 1024:.1f} MiB with 100 members after the batches.",
        f"Quoted, not measured: {UPSTREAM_QUOTE}.",
    ]
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description="Onestack load balancer: haproxy data plane.")
    p.add_argument("--creates", type=int, default=30)
    p.add_argument("--batches", type=int, default=10)
    p.add_argument("--requests", type=int, default=3000)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--rounds", type=int, default=3, help="load runs per path (best kept)")
    args = p.parse_args()
    reason = skip_reason()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 2
    lb_drivers.DRIVERS["bench-haproxy"] = ScopedHaproxyDriver
    net = Net()
    cloud = CloudThread()
    cloud.settings.load_balancer.driver = "bench-haproxy"
    cloud.settings.load_balancer.reconcile_interval = 5.0
    cloud.settings.network.external_bridge = net.bridge
    state = cloud.settings.data_dir / "load-balancer"
    try:
        net.setup(backends=1)
        res = run(args, net, cloud)
    finally:
        try:
            cloud.stop(cleanup=False)
        finally:
            leftover = ScopedHaproxyDriver(state)
            for lb_id in asyncio.run(leftover.running()):
                asyncio.run(leftover.destroy(lb_id))
            net.close()
            cloud.tmp.cleanup()
    text = report(res, args)
    print(text)
    out = Path(__file__).resolve().parent / "out"
    out.mkdir(exist_ok=True)
    (out / f"lb-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(json.dumps(res, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
