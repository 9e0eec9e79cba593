"""Network benchmark: create-and-list networks and create ports on Onestack's Neutron API.

    .venv/bin/python bench/network.py [--iterations 100] [--duration 10] [--concurrency 4]
                                      [--dataplane off|linux]

One `onestack up` (compute's fake driver, so nothing else runs), then:

- sequential, through openstacksdk as a user (and Rally) does it: `--iterations` times
  create a network and list every network (Rally's NeutronNetworks.create_and_list_networks:
  its published median is 0.48 s per iteration); then `--iterations` ports on one network
  with a /16 subnet. Each step is timed; the list grows as the networks pile up. Then the
  same create-and-list iterations on the bench's raw HTTP client: the server's share.
- throughput, on the bench's raw HTTP client (keep-alive, `--concurrency` in flight,
  `--duration` s each): POST /v2.0/networks, GET /v2.0/networks, POST /v2.0/ports; then a
  check that no address was handed out twice.

The network data plane is off by default: the API and IPAM alone. `--dataplane linux` (root)
includes what the data plane does for each change; it creates bridges and namespaces on
this host, and an Onestack's clean-up removes Onestack-prefixed devices it does not know, so
it must not run beside another Onestack with the data plane on.
Results: a markdown report on stdout and bench/out/network-<time>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from lib import onestack, procs, quiet, report
from lib.keystone_api import issue_token
from lib.load import LoadResult, RequestSpec, percentile, run_load
from lib.procs import BenchError, Services
from lib.rawhttp import Connection, build_request, call

RALLY_MEDIAN_S = 0.48  # create-and-list-networks, the figure the issue quotes
TARGET_MS = 20.0
PREFIX = "/networking/v2.0"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Onestack networking: networks and ports.")
    p.add_argument("--iterations", type=int, default=100, help="sequential sdk iterations")
    p.add_argument("--duration", type=float, default=10, help="seconds per load run")
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--dataplane", choices=["off", "linux"], default="off")
    p.add_argument("--max-other-cpu", type=float, default=10)
    p.add_argument("--retries", type=int, default=1)
    p.add_argument("--keep", action="store_true")
    return p.parse_args()


def stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "n": len(ordered),
        "p50_ms": round(percentile(ordered, 0.5) * 1000, 2),
        "p90_ms": round(percentile(ordered, 0.9) * 1000, 2),
        "p99_ms": round(percentile(ordered, 0.99) * 1000, 2),
    }


def sequential(iterations: int) -> dict[str, Any]:
    """Rally's create-and-list-networks, then port creates, through openstacksdk."""
    import openstack

    conn = openstack.connect(cloud="onestack")
    try:
        create, listing, both = [], [], []
        listed = 0
        cpu = time.process_time()
        for i in range(iterations):
            t0 = time.perf_counter()
            conn.network.create_network(name=f"bench-net-{i:04d}")
            t1 = time.perf_counter()
            listed = len(list(conn.network.networks()))
            t2 = time.perf_counter()
            create.append(t1 - t0)
            listing.append(t2 - t1)
            both.append(t2 - t0)
        nets_cpu = time.process_time() - cpu
        net = conn.network.create_network(name="bench-ports")
        conn.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.200.0.0/16",
                                   name="bench-ports")  # fmt: skip
        ports = []
        cpu = time.process_time()
        for i in range(iterations):
            t0 = time.perf_counter()
            conn.network.create_port(network_id=net.id, name=f"bench-port-{i:04d}")
            ports.append(time.perf_counter() - t0)
        ports_cpu = time.process_time() - cpu
    finally:
        conn.close()
    return {
        "create_and_list": stats(both),
        "create": stats(create),
        "list": stats(listing),
        "networks_listed_last": listed,
        "client_cpu_ms_per_iteration": round(nets_cpu * 1000 / max(iterations, 1), 2),
        "create_port": stats(ports),
        "client_cpu_ms_per_port": round(ports_cpu * 1000 / max(iterations, 1), 2),
        "ports_network": net.id,
    }


def sequential_raw(port: int, token: str, iterations: int) -> dict[str, Any]:
    """The same create-and-list iteration on the bench's raw HTTP client (keep-alive): the
    server's share, without openstacksdk's client CPU."""
    conn = Connection("127.0.0.1", port)
    headers = {"X-Auth-Token": token, "Accept": "application/json",
               "Content-Type": "application/json"}  # fmt: skip
    authority = f"127.0.0.1:{port}"
    listing = build_request("GET", f"{PREFIX}/networks", authority, headers)
    create, lists, both = [], [], []
    try:
        for i in range(iterations):
            body = json.dumps({"network": {"name": f"bench-raw-{i:04d}"}}).encode()
            raw = build_request("POST", f"{PREFIX}/networks", authority, headers, body)
            t0 = time.perf_counter()
            if conn.request(raw).status != 201:
                raise BenchError("POST networks failed during the raw iterations")
            t1 = time.perf_counter()
            listed = len(conn.request(listing).json()["networks"])
            t2 = time.perf_counter()
            create.append(t1 - t0)
            lists.append(t2 - t1)
            both.append(t2 - t0)
    finally:
        conn.close()
    return {"create_and_list": stats(both), "create": stats(create), "list": stats(lists),
            "networks_listed_last": listed}  # fmt: skip


def load(name: str, spec: RequestSpec, port: int, args: argparse.Namespace, pids: Any
         ) -> dict[str, Any]:  # fmt: skip
    def once() -> LoadResult:
        return run_load("127.0.0.1", port, name, [spec], concurrency=args.concurrency,
                        duration=args.duration, keepalive=True, server_pids=pids)  # fmt: skip

    result = quiet.undisturbed(once, lambda r: r.other_cpu_pct, args.max_other_cpu,
                               args.retries, pids, wait=30)  # fmt: skip
    s = result.summary()
    print(f"  {name:22} {s['rps']:8.1f} req/s  p50 {s['p50_ms']:6.1f} ms  p99 "
          f"{s['p99_ms']:6.1f} ms  non-2xx {s['non_2xx']}  other CPU {s['other_cpu_pct']:.0f} %")
    return s


def duplicates(port: int, token: str, network: str) -> dict[str, int]:
    """Addresses held by more than one port of the network (must be none)."""
    body = call("127.0.0.1", port, "GET", f"{PREFIX}/ports?network_id={network}",
                {"X-Auth-Token": token}, timeout=300).json()  # fmt: skip
    seen = Counter(ip["ip_address"] for p in body["ports"] for ip in p["fixed_ips"])
    return {"ports": len(body["ports"]), "duplicates": sum(1 for n in seen.values() if n > 1)}


def bench(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    config = f'[compute]\nvirt_driver = "fake"\n\n[network]\ndataplane = "{args.dataplane}"\n'
    with Services(workdir) as services:
        deployment = onestack.start(services, workdir, config)
        os.environ["OS_CLIENT_CONFIG_FILE"] = str(workdir / "data" / "clouds.yaml")
        port = deployment.identity.port
        token, body = issue_token(deployment.identity, deployment.admin_auth)
        unlimited = {"network": -1, "subnet": -1, "port": -1}
        response = call("127.0.0.1", port, "PUT", f"{PREFIX}/quotas/{body['project']['id']}",
                        {"X-Auth-Token": token}, {"quota": unlimited})
        if response.status != 200:
            raise BenchError(f"PUT quotas answered {response.status}: {response.body[:300]!r}")
        main_pid = services.started["onestack"].pid

        def pids() -> list[int]:
            return procs.process_tree([main_pid])

        print(f"network: {args.iterations} sequential iterations through openstacksdk")
        seq = sequential(args.iterations)
        print(f"  create-and-list p50 {seq['create_and_list']['p50_ms']} ms, create port p50 "
              f"{seq['create_port']['p50_ms']} ms")
        raw = sequential_raw(port, token, args.iterations)
        print(f"  raw HTTP: create-and-list p50 {raw['create_and_list']['p50_ms']} ms")
        headers = {"X-Auth-Token": token, "Accept": "application/json",
                   "Content-Type": "application/json"}  # fmt: skip
        net_body = json.dumps({"network": {"name": "bench-load"}}).encode()
        port_body = json.dumps({"port": {"network_id": seq["ports_network"]}}).encode()
        print(f"network: load, {args.concurrency} in flight, {args.duration:g} s each")
        runs = {
            "POST networks": load("POST networks",
                                  RequestSpec("POST", f"{PREFIX}/networks", headers, net_body),
                                  port, args, pids),
            "GET networks": load("GET networks",
                                 RequestSpec("GET", f"{PREFIX}/networks", headers),
                                 port, args, pids),
            "POST ports": load("POST ports",
                               RequestSpec("POST", f"{PREFIX}/ports", headers, port_body),
                               port, args, pids),
        }  # fmt: skip
        networks = len(call("127.0.0.1", port, "GET", f"{PREFIX}/networks",
                            {"X-Auth-Token": token}, timeout=300).json()["networks"])
        ipam = duplicates(port, token, seq["ports_network"])
        memory = procs.memory(pids())
        logs = {str(p.relative_to(workdir)): report.log_problems(p)
                for p in sorted(workdir.rglob("*.log"))}  # fmt: skip
    return {"sequential": seq, "raw": raw, "load": runs, "networks_at_end": networks, "ipam": ipam,
            "memory": memory, "details": deployment.details, "log_problems": logs}


def markdown(data: dict[str, Any]) -> str:
    m, args, r = data["machine"], data["args"], data["result"]
    seq = r["sequential"]
    rows = [
        ["create network + list networks (Rally's iteration)", *_p(seq["create_and_list"])],
        ["create network", *_p(seq["create"])],
        [f"list networks (up to {seq['networks_listed_last']})", *_p(seq["list"])],
        ["create port", *_p(seq["create_port"])],
    ]
    load_rows = [[name, s["rps"], s["p50_ms"], s["p99_ms"], s["non_2xx"], s["5xx"],
                  s["server_cpu_ms_per_request"], s["other_cpu_pct"]]
                 for name, s in r["load"].items()]  # fmt: skip
    raw = r["raw"]
    rows += [
        ["raw HTTP: create network + list networks", *_p(raw["create_and_list"])],
        ["raw HTTP: create network", *_p(raw["create"])],
        [f"raw HTTP: list networks (up to {raw['networks_listed_last']})", *_p(raw["list"])],
    ]
    it = seq["create_and_list"]["p50_ms"]
    it_raw = raw["create_and_list"]["p50_ms"]
    return "\n".join([
        f"Network benchmark, {data['date']}: {m['cpus']} vCPU ({m['cpu_model']}), Onestack "
        f"{r['details']['version']}, SQLite, data plane {args['dataplane']}.",
        "",
        f"Sequential, {args['iterations']} iterations each, through openstacksdk (client CPU "
        f"{seq['client_cpu_ms_per_iteration']} ms per create-and-list iteration, "
        f"{seq['client_cpu_ms_per_port']} ms per port, included), then on the raw HTTP "
        "client:",
        "",
        report.table(["step", "p50 ms", "p90 ms", "p99 ms"], rows),
        "",
        f"Load on the raw HTTP client, {args['concurrency']} in flight, {args['duration']:g} s "
        f"each (networks at the end: {r['networks_at_end']}):",
        "",
        report.table(["request", "req/s", "p50 ms", "p99 ms", "non-2xx", "5xx",
                      "server CPU ms/req", "other CPU %"], load_rows),
        "",
        f"IPAM: {r['ipam']['ports']} ports on the network, {r['ipam']['duplicates']} addresses "
        "held twice.",
        "",
        report.table(["target", "measured", "met"], [
            [f"create-and-list networks < {TARGET_MS:.0f} ms per network (openstacksdk)",
             f"p50 {it} ms", "yes" if it < TARGET_MS else "**no**"],
            [f"create-and-list networks < {TARGET_MS:.0f} ms per network (raw HTTP)",
             f"p50 {it_raw} ms", "yes" if it_raw < TARGET_MS else "**no**"],
            ["against Rally's published median (0.48 s, not measured here)",
             f"{RALLY_MEDIAN_S * 1000 / it:.0f}x faster" if it else "", ""],
        ]),
    ])  # fmt: skip


def _p(s: dict[str, float]) -> list[float]:
    return [s["p50_ms"], s["p90_ms"], s["p99_ms"]]


def main() -> int:
    args = parse_args()
    procs.interrupt_on_signals()
    scratch = Path(tempfile.mkdtemp(prefix="bench-network-"))
    data: dict[str, Any] = {"benchmark": "network", "date": time.strftime("%Y-%m-%d %H:%M"),
                            "machine": report.machine(), "args": vars(args)}  # fmt: skip
    try:
        data["result"] = bench(args, scratch)
    except BenchError as exc:
        print(f"bench failed: {exc}\n(scratch directory kept: {scratch})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"interrupted; services stopped (scratch directory: {scratch})", file=sys.stderr)
        return 130
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)
    path = report.write_json("network", data)
    print()
    print(markdown(data))
    print(f"\nwritten: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
