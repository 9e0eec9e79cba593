"""Compute benchmark: real guests' boot time, and listing and scheduling at scale.

    .venv/bin/python bench/compute.py [--parts boot,scale] [--boots 10] [--flavor m1.nano]
        [--hosts 1000] [--servers 10000] [--create api|core] [--create-concurrency 8]
        [--sched-samples 200] [--duration 15] [--onestack-db sqlite|postgresql]

One run, two parts, each on a fresh `onestack up` (network data plane off):

- boot: the default QEMU driver and the tiny image `onestack up` uploads; N sequential
  boots through openstacksdk (create -> ACTIVE, create -> the guest's login banner on the
  console log, delete -> gone). Upstream Nova cannot run here (it needs libvirt, RabbitMQ,
  Keystone, Glance, Neutron, Placement and the rest); the report says so.
- scale: `[compute] virt_driver = "fake"`; the server's own host plus hosts-1 more run by
  bench/compute_farm.py (Onestack's compute agent with a fake driver per host, in a
  second process on the same database); servers created through the API with concurrent
  clients (or with --create core, through the compute core in batches); then, with the
  agents paused, GET /servers/detail?limit=1000 and the default page, and the scheduling
  time per server measured in the compute core (bench/lib/scheduling.py), beside upstream
  openstack-placement 16.0.0's GET /allocation_candidates over the same number of providers
  (bench/lib/placement_api.py, as bench/placement.py runs it), and Onestack's own.

Results: a markdown report on stdout and bench/out/compute-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from compute_report import markdown
from lib import onestack, placement_api, procs, quiet, report
from lib.boot import run_boots
from lib.keystone_api import issue_token
from lib.load import LoadResult, RequestSpec, run_load
from lib.nova import Nova, create_servers, wait_built
from lib.procs import BenchError, Services
from lib.rawhttp import call

BENCH = Path(__file__).resolve().parent
FARM = BENCH / "compute_farm.py"
IMAGE = "onestack-tiny"
FLAVOR_ID = {"m1.nano": "42", "m1.micro": "84", "m1.tiny": "1"}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Onestack compute: boot time, list, scheduling.")
    p.add_argument("--parts", default="boot,scale", help="comma-separated: boot, scale")
    p.add_argument("--boots", type=int, default=10, help="sequential real boots")
    p.add_argument("--flavor", default="m1.nano", choices=sorted(FLAVOR_ID))
    p.add_argument("--boot-timeout", type=float, default=300)
    p.add_argument("--hosts", type=int, default=1000, help="compute hosts (fake driver)")
    p.add_argument("--servers", type=int, default=10000, help="servers on them")
    p.add_argument("--create", choices=["api", "core"], default="api")
    p.add_argument("--create-concurrency", type=int, default=8)
    p.add_argument("--sched-samples", type=int, default=200,
                   help="servers created last, one by one in the core, timing the scheduler")
    p.add_argument("--interval", type=float, default=40, help="farm agents' reconcile period")
    p.add_argument("--duration", type=float, default=15, help="seconds per list measurement")
    p.add_argument("--warmup", type=float, default=2)
    p.add_argument("--no-upstream", action="store_true", help="skip upstream placement")
    p.add_argument("--onestack-db", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--max-other-cpu", type=float, default=10,
                   help="%% of a core other processes may use before a run is repeated")
    p.add_argument("--retries", type=int, default=2)
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    return p.parse_args()  # fmt: skip


# --- boot ---------------------------------------------------------------------------------
def bench_boot(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    workdir.mkdir(parents=True)
    with Services(workdir) as services:
        deployment = onestack.start(services, workdir, '[network]\ndataplane = "off"\n')
        os.environ["OS_CLIENT_CONFIG_FILE"] = str(workdir / "data" / "clouds.yaml")
        kvm = "usable" if os.access("/dev/kvm", os.R_OK | os.W_OK) else "absent"
        print(f"boot: {args.boots} boots of {args.flavor} (/dev/kvm {kvm})")
        result = run_boots("onestack", args.boots, args.flavor, IMAGE, args.boot_timeout)
        services.check_alive()
    result.update(dev_kvm=kvm, startup_s=round(deployment.startup_s, 1),
                  details=deployment.details)  # fmt: skip
    return result


# --- scale --------------------------------------------------------------------------------
class FarmControl:
    def __init__(self, proc: Any, state: Path) -> None:
        self.proc, self.state = proc, state

    def read(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self.state.read_text()))
        except (OSError, ValueError):
            return {}

    def wait(self, what: str, ok: Any, timeout: float, services: Services) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while not ok(state := self.read()):
            services.check_alive()
            if time.monotonic() > deadline:
                raise BenchError(f"compute farm: {what} not reached in {timeout:.0f} s: {state}")
            time.sleep(0.5)
        return state

    def pause(self, services: Services) -> None:
        os.kill(self.proc.pid, signal.SIGUSR1)
        self.wait("pause", lambda s: s.get("paused"), 30, services)
        time.sleep(1)  # passes under way finish

    def resume(self, services: Services, timeout: float) -> None:
        """Resume, and wait until every agent has run a pass (so every host heartbeated)."""
        os.kill(self.proc.pid, signal.SIGUSR2)
        self.wait("a pass of every agent", lambda s: s.get("all_passed_at"), timeout, services)


def scale_config(args: argparse.Namespace, db_url: str | None) -> str:
    config = '[compute]\nvirt_driver = "fake"\n\n[network]\ndataplane = "off"\n'
    return config + (f'\n[database]\nurl = "{db_url}"\n' if db_url else "")


def measure_get(name: str, path: str, port: int, headers: dict[str, str],
                args: argparse.Namespace, pids: Any, keepalive: bool = True) -> dict[str, Any]:
    """GET `path` one request at a time (latency, not throughput) for --duration seconds."""
    spec = [RequestSpec("GET", path, headers)]

    def once() -> LoadResult:
        kw = {"concurrency": 1, "keepalive": keepalive, "server_pids": pids}
        if args.warmup:
            run_load("127.0.0.1", port, name, spec, duration=args.warmup, **kw)
        return run_load("127.0.0.1", port, name, spec, duration=args.duration, **kw)

    result = quiet.undisturbed(once, lambda r: r.other_cpu_pct, args.max_other_cpu,
                               args.retries, pids, wait=30)  # fmt: skip
    s = result.summary()
    print(f"  {name:40} p50 {s['p50_ms']:8.1f} ms  p99 {s['p99_ms']:8.1f} ms  "
          f"({s['ok']} requests, non-2xx {s['non_2xx']}, other CPU {s['other_cpu_pct']:.0f} %)")
    return s


def bench_scale(args: argparse.Namespace, workdir: Path, db_url: str | None) -> dict[str, Any]:
    workdir.mkdir(parents=True)
    out: dict[str, Any] = {}
    with Services(workdir) as services:
        deployment = onestack.start(services, workdir, scale_config(args, db_url))
        port = deployment.identity.port
        token, body = issue_token(deployment.identity, deployment.admin_auth)
        nova = Nova("127.0.0.1", port, token)
        project_id, user_id = body["project"]["id"], body["user"]["id"]
        main_pid = services.started["onestack"].pid

        def server_pids() -> list[int]:
            return procs.process_tree([main_pid])

        state = workdir / "farm.json"
        conf = workdir / "onestack.toml"
        started = time.monotonic()
        proc = services.start("farm", [
            str(onestack.PYTHON), str(FARM), "--config", str(conf), "--data-dir",
            str(workdir / "data"), "--hosts", str(args.hosts - 1), "--interval",
            str(args.interval), "--state", str(state)])  # fmt: skip
        farm = FarmControl(proc, state)
        farm.wait("registration", lambda s: s.get("register_s") is not None, 1800, services)
        out["register_s"] = round(time.monotonic() - started, 1)
        hypervisors = len(nova.call("GET", "/os-hypervisors")["hypervisors"])
        print(f"scale: {hypervisors} hypervisors registered in {out['register_s']} s")
        out["hypervisors"] = hypervisors

        nova.unlimited_quotas(project_id)
        images = call("127.0.0.1", port, "GET", f"/image/v2/images?name={IMAGE}",
                      {"X-Auth-Token": token}).json()["images"]  # fmt: skip
        if not images:
            raise BenchError(f"no image {IMAGE} on the deployment")
        image_id, flavor = images[0]["id"], FLAVOR_ID[args.flavor]
        bulk = args.servers - args.sched_samples
        print(f"scale: creating {bulk} servers ({args.create})")
        if args.create == "api":
            created = create_servers(nova, bulk, image_id, flavor, args.create_concurrency)
            out["create"] = dict(created.summary(), how="api",
                                 concurrency=args.create_concurrency)  # fmt: skip
        else:
            out["create"] = asyncio.run(_core_bulk(conf, workdir / "data", project_id,
                                                   user_id, image_id, flavor, bulk))
        print(f"  {out['create']}")
        out["after_create"] = wait_built(nova, 600)

        farm.resume(services, 300)  # every host heartbeats now: all are up for 60 s
        farm.pause(services)
        from lib.scheduling import measure

        print(f"scale: scheduling {args.sched_samples} servers one by one (agents paused)")
        out["scheduling"] = asyncio.run(measure(conf, workdir / "data", project_id, user_id,
                                                image_id, flavor, args.sched_samples))
        print(f"  {out['scheduling']['steps']}")
        farm.resume(services, 300)
        out["servers"] = wait_built(nova, 600)
        farm.pause(services)
        print(f"scale: {out['servers']}; measuring with the agents paused")
        headers = nova.headers()
        placement_headers = {"X-Auth-Token": token, "Accept": "application/json",
                             "OpenStack-API-Version": "placement 1.36"}  # fmt: skip
        gets = [
            ("servers detail limit=1000", nova.path("/servers/detail?limit=1000"), headers),
            ("servers detail default page", nova.path("/servers/detail"), headers),
            ("servers (id, name) limit=1000", nova.path("/servers?limit=1000"), headers),
            ("allocation candidates", "/placement" + placement_api.QUERY, placement_headers),
        ]
        out["default_page_size"] = len(nova.call("GET", "/servers/detail")["servers"])
        out["gets"] = {name: measure_get(name, path, port, h, args, server_pids)
                       for name, path, h in gets}  # fmt: skip
        out["memory"] = procs.memory(server_pids())
        out["details"] = dict(deployment.details,
                              database="PostgreSQL" if db_url else "SQLite")  # fmt: skip
        out["log_problems"] = {
            str(log.relative_to(workdir)): report.log_problems(log)
            for log in sorted(workdir.rglob("*.log"))
        }
    return out


async def _core_bulk(conf: Path, data: Path, project_id: str, user_id: str, image_id: str,
                     flavor: str, count: int) -> dict[str, Any]:
    """Servers through the compute core, 100 per request (max_count), no HTTP."""
    from onestack.config import load_settings
    from onestack.core.compute.base import Caller
    from onestack.core.compute.build import BuildRequest
    from onestack.core.compute.service import Compute
    from onestack.core.image.service import ImageService
    from onestack.core.network.service import NetworkService
    from onestack.db.engine import Database
    from onestack.scheduler.service import Placement

    settings = load_settings(conf, data_dir=data)
    db = Database(settings.database_url)
    started, made = time.perf_counter(), 0
    try:
        placement = Placement(db)
        compute = Compute(settings, db, placement, ImageService(settings, db),
                          NetworkService(db))  # fmt: skip
        caller = Caller(project_id, user_id, is_admin=True)
        while made < count:
            n = min(100, count - made)
            req = BuildRequest(name=f"c-{made:05d}", flavor_ref=flavor, image_ref=image_id,
                               networks="none", min_count=n, max_count=n)  # fmt: skip
            made += len(await compute.builder.create(caller, req))
    finally:
        await db.close()
    elapsed = time.perf_counter() - started
    return {"how": "core, 100 per call", "created": made, "elapsed_s": round(elapsed, 1),
            "per_s": round(made / elapsed, 1)}  # fmt: skip


def bench_upstream(args: argparse.Namespace, workdir: Path, pg: Any) -> dict[str, Any]:
    url = pg.create_database("upstream_placement")
    with Services(workdir) as services:
        target = placement_api.start_upstream(services, workdir, url)
        started = time.monotonic()
        work = placement_api.seed(target, args.hosts, 1)
        seeded = time.monotonic() - started
        print(f"upstream: seeded {args.hosts} providers in {seeded:.0f} s; "
              f"candidates list {work.listed}")
        headers = {**target.headers, "Accept": "application/json",
                   "OpenStack-API-Version": "placement 1.36"}  # fmt: skip
        result = measure_get("allocation candidates", placement_api.QUERY, target.port,
                             headers, args, services.pids, keepalive=False)  # fmt: skip
        memory = procs.memory(services.pids())
    return {"details": target.details, "seed_s": round(seeded, 1), "listed": work.listed,
            "allocation candidates": result, "memory": memory}  # fmt: skip


def main() -> int:
    args = parse_args()
    parts = {p.strip() for p in args.parts.split(",") if p.strip()}
    procs.interrupt_on_signals()
    scratch = Path(tempfile.mkdtemp(prefix="bench-compute-"))
    data: dict[str, Any] = {"benchmark": "compute", "date": time.strftime("%Y-%m-%d %H:%M"),
                            "machine": report.machine(), "args": vars(args)}  # fmt: skip
    pg = None
    try:
        if "boot" in parts:
            data["boot"] = bench_boot(args, scratch / "boot")
        if "scale" in parts:
            if not args.no_upstream or args.onestack_db == "postgresql":
                pg = placement_api.postgres()
            url = pg.create_database("onestack_bench") if (
                pg and args.onestack_db == "postgresql") else None
            data["scale"] = bench_scale(args, scratch / "scale", url)
            if not args.no_upstream:
                data["upstream_placement"] = bench_upstream(args, scratch / "upstream", pg)
    except BenchError as exc:
        print(f"bench failed: {exc}\n(scratch directory kept: {scratch})", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"interrupted; services stopped (scratch directory: {scratch})", file=sys.stderr)
        return 130
    finally:
        if pg is not None:
            pg.stop()
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)
    path = report.write_json("compute", data)
    print()
    print(markdown(data))
    print(f"\nwritten: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
