"""Mixed load: many concurrent clients doing ordinary work on one `onestack up`.

    .venv/bin/python bench/load_mixed.py [--clients 200] [--duration 60] [--warmup 10]
        [--projects 4] [--tree PATH] [--label NAME] [--isolate|--no-isolate] [--profile]

One `onestack up` (SQLite, one process, the default config: the QEMU compute driver, the
file volume driver, the network data plane "auto"), a few projects with a member user each,
then `--clients` threads, each on its own keep-alive connection, each doing one kind of
work in a closed loop (issue 19's workload):

- `token`: GET /identity/v3/auth/tokens, an admin token validating a user's X-Subject-Token;
- `servers`: GET /compute/v2.1/servers/detail as a user;
- `object`: PUT then GET of a small object (1 KiB) in the project's container;
- `network`: POST network, subnet and port, then DELETE the port and the network;
- `volume`: POST a 1 GiB volume, GET it until available, DELETE it.

Per operation: count, p50/p99/max latency, connection errors, 5xx, 4xx; the total throughput
(responses per second, all operations) over `--duration` seconds after `--warmup` seconds not
measured. The machine's load average and the CPU other processes used meanwhile are recorded.

`--tree PATH` runs Onestack from another checkout's `src` (PYTHONPATH) with this venv, e.g. a
`git worktree` of an older commit, for side-by-side runs. As root the network data plane is
on: `--isolate` (the default as root) runs everything in a new network and mount namespace,
so the bench's bridges, namespaces and nft tables never meet (nor clean up) another
Onestack's on this host. `--profile` samples the server with py-spy during the measured
window (`.venv/bin/pip install py-spy`; not a project dependency) and keeps the flame graph.
Results: a markdown report on stdout and bench/out/load-mixed-<time>.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from lib import onestack, procs, report
from lib.keystone_api import Identity, create, issue_token, password_auth
from lib.load import percentile
from lib.procs import BenchError, Services
from lib.rawhttp import Connection, Response, build_request

KINDS = ("token", "servers", "object", "network", "volume")
READS = ("token.validate", "server.list", "object.get")
SHARE = {"token": 0.2, "servers": 0.15, "object": 0.25, "network": 0.2, "volume": 0.2}
OBJECT = b"x" * 1024


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Onestack under a mixed load of many clients.")
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--duration", type=float, default=60, help="measured seconds")
    p.add_argument("--warmup", type=float, default=10, help="seconds before measuring")
    p.add_argument("--projects", type=int, default=4)
    p.add_argument("--tree", type=Path, help="run Onestack from this checkout's src/")
    p.add_argument("--label", default="", help="name of this run in the report")
    p.add_argument("--config", default="", help="extra onestack.toml text")
    p.add_argument("--isolate", action=argparse.BooleanOptionalAction,
                   default=os.geteuid() == 0, help="own network namespace (default as root)")
    p.add_argument("--profile", action="store_true", help="py-spy the server while measuring")
    p.add_argument("--nice", type=int, default=0,
                   help="priority of the bench and Onestack (root for < 0), as bench/README.md")
    p.add_argument("--keep", action="store_true")
    p.add_argument("--json", type=Path, help="write the result here too")
    return p.parse_args()


def isolate_and_rerun() -> None:
    """Re-run this command in a new network and mount namespace with its own /run/netns."""
    argv = [sys.executable, *sys.argv, "--no-isolate"]
    script = 'mount -t tmpfs tmpfs /run/netns && ip link set lo up && exec "$@"'
    os.makedirs("/run/netns", exist_ok=True)
    sys.exit(subprocess.call(["unshare", "--net", "--mount", "--propagation", "private",
                              "sh", "-c", script, "sh", *argv]))


class Recorder:
    """Responses per operation, kept only inside the measured window."""

    def __init__(self) -> None:
        self.window = (float("inf"), float("inf"))
        self.latencies: dict[str, list[float]] = {}
        self.statuses: dict[str, Counter[int]] = {}
        self.errors: dict[str, Counter[str]] = {}
        self.samples: dict[str, list[str]] = {}
        self.lock = threading.Lock()

    def add(self, op: str, started: float, elapsed: float, status: int | None,
            error: str = "", sample: str = "") -> None:
        if not self.window[0] <= started < self.window[1]:
            return
        with self.lock:
            if status is None:
                self.errors.setdefault(op, Counter())[error] += 1
            else:
                self.statuses.setdefault(op, Counter())[status] += 1
                self.latencies.setdefault(op, []).append(elapsed)
            if sample and len(self.samples.setdefault(op, [])) < 3:
                self.samples[op].append(sample)


class Client(threading.Thread):
    """One user on one keep-alive connection, doing one kind of work until told to stop."""

    def __init__(self, index: int, kind: str, port: int, project: dict[str, Any],
                 admin_token: str, rec: Recorder, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.index, self.kind, self.project = index, kind, project
        self.admin_token, self.rec, self.stop = admin_token, rec, stop
        self.conn = Connection("127.0.0.1", port, timeout=120)
        self.authority = f"127.0.0.1:{port}"
        self.n = 0

    def call(self, op: str, method: str, path: str, body: Any = None,
             token: str | None = None, headers: dict[str, str] | None = None,
             raw: bytes | None = None) -> Response | None:
        all_headers = {"X-Auth-Token": token or self.project["token"],
                       "Accept": "application/json", **(headers or {})}
        data = raw
        if body is not None:
            data = json.dumps(body).encode()
            all_headers["Content-Type"] = "application/json"
        request = build_request(method, path, self.authority, all_headers, data)
        started = time.perf_counter()
        try:
            response = self.conn.request(request)
        except OSError as exc:
            self.conn.close()
            self.rec.add(op, started, 0.0, None, type(exc).__name__, f"{type(exc).__name__}: {exc}")
            return None
        elapsed = time.perf_counter() - started
        sample = ""
        if response.status >= 400:
            sample = f"{response.status}: {response.body[:200].decode('utf-8', 'replace')}"
        self.rec.add(op, started, elapsed, response.status, sample=sample)
        return response

    def run(self) -> None:
        work = getattr(self, "do_" + self.kind)
        while not self.stop.is_set():
            self.n += 1
            try:
                work()
            except (KeyError, ValueError, TypeError) as exc:  # an unexpected body
                self.rec.add("client", time.perf_counter(), 0.0, None, "bad-body", repr(exc))
                time.sleep(0.1)
        self.conn.close()

    def do_token(self) -> None:
        self.call("token.validate", "GET", "/identity/v3/auth/tokens", token=self.admin_token,
                  headers={"X-Subject-Token": self.project["token"]})

    def do_servers(self) -> None:
        self.call("server.list", "GET", "/compute/v2.1/servers/detail")

    def do_object(self) -> None:
        path = f"{self.project['swift']}/load/o-{self.index}-{self.n % 50}"
        put = self.call("object.put", "PUT", path, raw=OBJECT,
                        headers={"Content-Type": "application/octet-stream"})
        if put is not None and put.status < 300:
            self.call("object.get", "GET", path)

    def do_network(self) -> None:
        net = self.created("network.create", "/networking/v2.0/networks", "network",
                           {"name": f"load-{self.index}-{self.n}"})
        if net is None:
            return
        third = (self.index * 7 + self.n) % 250
        subnet = self.created("subnet.create", "/networking/v2.0/subnets", "subnet", {
            "network_id": net, "ip_version": 4, "cidr": f"10.{self.index % 250}.{third}.0/24"})
        if subnet is not None:
            port = self.created("port.create", "/networking/v2.0/ports", "port",
                                {"network_id": net})
            if port is not None:
                self.call("port.delete", "DELETE", f"/networking/v2.0/ports/{port}")
        self.call("network.delete", "DELETE", f"/networking/v2.0/networks/{net}")

    def do_volume(self) -> None:
        base = f"/volume/v3/{self.project['id']}/volumes"
        vol = self.created("volume.create", base, "volume", {"size": 1})
        if vol is None:
            return
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not self.stop.is_set():
            got = self.call("volume.get", "GET", f"{base}/{vol}")
            if got is not None and got.status == 200 and \
                    got.json()["volume"]["status"] in ("available", "error"):
                break
            time.sleep(0.2)
        self.call("volume.delete", "DELETE", f"{base}/{vol}")

    def created(self, op: str, path: str, key: str, body: dict[str, Any]) -> str | None:
        response = self.call(op, "POST", path, {key: body})
        if response is None or response.status >= 300:
            return None
        return str(response.json()[key]["id"])


def setup(identity: Identity, admin_auth: dict[str, Any], projects: int) -> dict[str, Any]:
    admin_token, body = issue_token(identity, admin_auth)
    root = Identity(identity.host, identity.port, "")  # the same calls, other services
    admin_project = body["project"]["id"]
    member = next(r for r in identity.call("GET", "/v3/roles", admin_token).json()["roles"]
                  if r["name"] == "member")
    out = []
    for i in range(projects):
        project = create(identity, admin_token, "projects",
                         {"name": f"load-{i}", "domain_id": "default"})
        user = create(identity, admin_token, "users", {
            "name": f"load-user-{i}", "password": "load-pass", "domain_id": "default"})
        identity.call("PUT", f"/v3/projects/{project['id']}/users/{user['id']}/roles/"
                      f"{member['id']}", admin_token)
        token, _ = issue_token(identity, password_auth(
            f"load-user-{i}", "load-pass", {"id": "default"}, f"load-{i}", {"id": "default"}))
        pid = project["id"]
        root.call("PUT", f"/networking/v2.0/quotas/{pid}", admin_token, {"quota": {
            "network": -1, "subnet": -1, "port": -1}})
        root.call("PUT", f"/volume/v3/{admin_project}/os-quota-sets/{pid}", admin_token,
                      {"quota_set": {"volumes": -1, "gigabytes": -1}})
        swift = f"/object-storage/v1/AUTH_{pid}"
        root.call("PUT", f"{swift}/load", token, expect=(201, 202))
        out.append({"id": pid, "token": token, "swift": swift})
    return {"admin_token": admin_token, "projects": out}


def summarise(rec: Recorder, duration: float) -> dict[str, Any]:
    ops: dict[str, Any] = {}
    total = 0
    for op in sorted(set(rec.statuses) | set(rec.errors)):
        lat = sorted(rec.latencies.get(op, []))
        st = rec.statuses.get(op, Counter())
        count = sum(st.values())
        total += count
        ops[op] = {
            "count": count, "rps": round(count / duration, 2),
            "p50_ms": round(percentile(lat, 0.5) * 1000, 1),
            "p99_ms": round(percentile(lat, 0.99) * 1000, 1),
            "max_ms": round(lat[-1] * 1000, 1) if lat else 0.0,
            "conn_errors": sum(rec.errors.get(op, Counter()).values()),
            "5xx": sum(n for s, n in st.items() if s >= 500),
            "4xx": sum(n for s, n in st.items() if 400 <= s < 500),
            "statuses": {str(k): v for k, v in sorted(st.items())},
            "errors": dict(rec.errors.get(op, Counter())),
            "samples": rec.samples.get(op, []),
        }
    read_p99 = max((ops[o]["p99_ms"] for o in READS if o in ops), default=0.0)
    return {"operations": ops, "responses": total, "rps": round(total / duration, 1),
            "read_p99_ms": read_p99,
            "conn_errors": sum(o["conn_errors"] for o in ops.values()),
            "5xx": sum(o["5xx"] for o in ops.values())}


def start_profiler(pid: int, seconds: float, out: Path) -> subprocess.Popen[bytes] | None:
    py_spy = Path(sys.executable).parent / "py-spy"
    if not py_spy.exists():
        print(f"  no {py_spy}: .venv/bin/pip install py-spy to profile")
        return None
    return subprocess.Popen([str(py_spy), "record", "-p", str(pid), "-d", str(int(seconds)),
                             "-r", "50", "-f", "raw", "-o", str(out), "--nonblocking"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def tree_version(tree: Path) -> str:
    out = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
                         capture_output=True, text=True, check=False).stdout.strip()
    return f"onestack {out or 'unknown'} ({tree})"


def measure(args: argparse.Namespace, services: Services, workdir: Path) -> dict[str, Any]:
    deployment = onestack.start(services, workdir, args.config)
    identity = deployment.identity
    print(f"setting up {args.projects} projects")
    seeded = setup(identity, deployment.admin_auth, args.projects)
    rec, stop = Recorder(), threading.Event()
    weights = list(SHARE.items())
    kinds = [k for k, share in weights for _ in range(round(share * args.clients))]
    kinds = (kinds + ["token"] * args.clients)[: args.clients]
    clients = [Client(i, kind, identity.port, seeded["projects"][i % args.projects],
                      seeded["admin_token"], rec, stop) for i, kind in enumerate(kinds)]
    print(f"{args.clients} clients ({dict(Counter(kinds))}), warm-up {args.warmup:.0f} s, "
          f"then {args.duration:.0f} s measured")
    start = time.perf_counter()
    rec.window = (start + args.warmup, start + args.warmup + args.duration)
    for client in clients:
        client.start()
    time.sleep(args.warmup)
    server = services.pids()
    profiler = None
    if args.profile:
        profiler = start_profiler(services.started["onestack"].pid, args.duration,
                                  workdir / "profile.txt")
    load_before = Path("/proc/loadavg").read_text().split()[:3]
    machine, server_cpu = procs.machine_busy_seconds(), procs.cpu_seconds(server)
    client_cpu = time.process_time()
    time.sleep(max(0.0, rec.window[1] - time.perf_counter()))
    machine = procs.machine_busy_seconds() - machine
    server_cpu = procs.cpu_seconds(services.pids()) - server_cpu
    client_cpu = time.process_time() - client_cpu
    load_after = Path("/proc/loadavg").read_text().split()[:3]
    stop.set()
    for client in clients:
        client.join(150)
    result = summarise(rec, args.duration)
    result.update({
        "label": args.label or deployment.details["version"], "clients": args.clients,
        "duration_s": args.duration, "warmup_s": args.warmup, "projects": args.projects,
        "tree": str(args.tree or onestack.REPO), "nice": args.nice,
        "version": tree_version(args.tree) if args.tree else deployment.details["version"],
        "loadavg_before": load_before, "loadavg_after": load_after,
        "server_cpu_pct": round(server_cpu * 100 / args.duration, 1),
        "client_cpu_pct": round(client_cpu * 100 / args.duration, 1),
        "other_cpu_pct": round(max(0.0, machine - server_cpu - client_cpu) * 100
                               / args.duration, 1),
        "log_problems": report.log_problems(services.log("onestack")),
    })
    if profiler is not None:
        profiler.wait(60)
        profile = workdir / "profile.txt"
        if profile.exists():
            kept = report.OUT_DIR / f"load-mixed-profile-{time.strftime('%Y%m%d-%H%M%S')}.txt"
            report.OUT_DIR.mkdir(parents=True, exist_ok=True)
            shutil.copy(profile, kept)
            result["profile"] = str(kept)
    return result


def render(result: dict[str, Any]) -> str:
    rows = [[op, o["count"], o["rps"], o["p50_ms"], o["p99_ms"], o["max_ms"], o["conn_errors"],
             o["5xx"], o["4xx"]] for op, o in result["operations"].items()]
    lines = [
        f"### {result['label']}: {result['clients']} clients, {result['duration_s']:.0f} s",
        "",
        report.table(["operation", "count", "req/s", "p50 ms", "p99 ms", "max ms",
                      "conn errors", "5xx", "4xx"], rows),
        "",
        f"- total: {result['rps']} responses/s; connection errors {result['conn_errors']}, "
        f"5xx {result['5xx']}; read p99 (token, server list, object GET) "
        f"{result['read_p99_ms']:.0f} ms",
        f"- nice {result['nice']}; CPU (% of one core): server {result['server_cpu_pct']}, "
        f"load generator {result['client_cpu_pct']}, other processes {result['other_cpu_pct']}; "
        f"load average {' '.join(result['loadavg_before'])} before, "
        f"{' '.join(result['loadavg_after'])} after",
    ]
    for op, o in result["operations"].items():
        for sample in o["samples"]:
            lines.append(f"- {op}: {sample}")
    return "\n".join(lines)


def stop_leftovers(workdir: Path) -> None:
    """Stop what Onestack left running from the data dir (dnsmasq daemonises, outside the
    process group that Services stops)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if str(workdir).encode() in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry), signal.SIGTERM)


def main() -> None:
    args = parse_args()
    if args.isolate:
        isolate_and_rerun()
    procs.interrupt_on_signals()
    if args.nice:
        procs.renice(args.nice)
    if args.tree is not None:
        src = args.tree.resolve() / "src"
        if not (src / "onestack").is_dir():
            raise SystemExit(f"{src}/onestack is missing")
        os.environ["PYTHONPATH"] = str(src)
    workdir = Path(tempfile.mkdtemp(prefix="onestack-load-"))
    try:
        with Services(workdir) as services:
            result = measure(args, services, workdir)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from exc
    finally:
        stop_leftovers(workdir)
        if args.keep:
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    result["machine"] = report.machine()
    print(render(result))
    path = report.write_json("load-mixed", result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nresults: {path}")


if __name__ == "__main__":
    main()
