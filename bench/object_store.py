"""Object storage benchmark: Onestack's Swift API beside upstream Swift 2.38.3, same load,
same machine, one run; then the 1 GiB acceptance run on Onestack.

    python bench/object_store.py [--duration 20] [--concurrency 8] [--large-mib 256]
                                 [--large-reps 3] [--only onestack|swift]
                                 [--acceptance-mib 1024] [--no-acceptance] [--no-large]
                                 [--ops listing] [--keep]

Both services are started first and stay up side by side (idle, one uses no CPU while the
other is measured); each operation runs on upstream and right after on Onestack:

- PUT and GET of 4 KiB objects (each worker its own object), keep-alive connections (both
  servers keep them alive);
- GET of a container listing of 1,000 objects (JSON);
- PUT and GET of one large object (--large-mib), one stream and four streams, streamed from
  and to plain sockets; against this machine's sequential disk write (fsync) rate.

Acceptance (Onestack only): a --acceptance-mib file uploaded with the `swift` CLI as an SLO
in 100 MiB segments and downloaded again, then with the `aws` CLI (S3 multipart) and back;
md5 compared each way; Onestack's RSS sampled every 0.1 s throughout. Upstream Swift runs
as described in shared/upstream-anchors.md (tempauth, memcached, 2 workers per server).
Results: a markdown report on stdout and bench/out/object_store-<time>.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lib import onestack, procs, report, upstream_swift
from lib.keystone_api import issue_token
from lib.load import KEEP_ALIVE, RequestSpec, run_load
from lib.procs import BenchError, Services
from lib.rawhttp import Connection, build_request

MiB = 1024 * 1024
SMALL = os.urandom(4096)
BLOCK = os.urandom(MiB)
LISTED = 1000


@dataclass(frozen=True)
class Target:
    name: str
    port: int
    account_path: str
    token: str
    names: tuple[str, ...]

    def headers(self) -> dict[str, str]:
        return {"X-Auth-Token": self.token}


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Onestack object storage beside upstream Swift.")
    p.add_argument("--duration", type=float, default=20, help="seconds per small operation")
    p.add_argument("--concurrency", type=int, default=8, help="requests in flight")
    p.add_argument("--warmup", type=float, default=2, help="unmeasured seconds per run")
    p.add_argument("--large-mib", type=int, default=256, help="size of the large object")
    p.add_argument("--large-reps", type=int, default=3, help="large transfers per mode")
    p.add_argument("--acceptance-mib", type=int, default=1024, help="acceptance file size")
    p.add_argument("--no-acceptance", action="store_true", help="skip the acceptance run")
    p.add_argument("--no-large", action="store_true", help="skip the large-object transfers")
    p.add_argument("--ops", default="", help="only the small operations whose names contain "
                   "one of these comma-separated words (e.g. listing)")
    p.add_argument("--only", choices=["onestack", "swift"], help="run one service")
    p.add_argument("--keep", action="store_true", help="keep the scratch directory")
    return p.parse_args()


def pids(services: Services, names: tuple[str, ...]) -> list[int]:
    return procs.process_tree([services.started[n].pid for n in names
                               if n in services.started])


def call(t: Target, method: str, path: str, body: bytes | None = None,
         conn: Connection | None = None) -> int:
    own = conn is None
    c = conn or Connection("127.0.0.1", t.port)
    try:
        raw = build_request(method, t.account_path + path, f"127.0.0.1:{t.port}", t.headers(),
                            body if body is not None or method != "PUT" else b"")
        return c.request(raw).status
    finally:
        if own:
            c.close()


def seed(t: Target, concurrency: int) -> None:
    for container in ("/bench", "/listing"):
        if call(t, "PUT", container) not in (201, 202):
            raise BenchError(f"{t.name}: PUT {container} failed")
    for i in range(concurrency):
        call(t, "PUT", f"/bench/small-{i}", SMALL)

    def fill(start: int) -> None:
        conn = Connection("127.0.0.1", t.port)
        for i in range(start, LISTED, 4):
            call(t, "PUT", f"/listing/obj-{i:05d}", b"", conn)
        conn.close()

    threads = [threading.Thread(target=fill, args=(s,)) for s in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()


def small_ops(t: Target, concurrency: int) -> dict[str, list[RequestSpec]]:
    h = t.headers()
    return {
        "PUT 4 KiB": [RequestSpec("PUT", f"{t.account_path}/bench/small-{i}",
                                  {**h, "Content-Type": "application/octet-stream"}, SMALL)
                      for i in range(concurrency)],
        "GET 4 KiB": [RequestSpec("GET", f"{t.account_path}/bench/small-{i}", h)
                      for i in range(concurrency)],
        f"GET listing of {LISTED}": [RequestSpec("GET", f"{t.account_path}/listing"
                                                 "?format=json", h)],
    }


# --- large objects on plain sockets ---------------------------------------------------------
def _head(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise BenchError("connection closed inside a response head")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in
               (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, rest


def put_large(t: Target, name: str, size: int) -> float:
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", t.port)) as sock:
        head = (f"PUT {t.account_path}/bench/{name} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                f"X-Auth-Token: {t.token}\r\nContent-Length: {size}\r\n"
                "Content-Type: application/octet-stream\r\n\r\n")
        sock.sendall(head.encode())
        view = memoryview(BLOCK)
        for _ in range(size // MiB):
            sock.sendall(view)
        status, _, _ = _head(sock)
    if status != 201:
        raise BenchError(f"{t.name}: large PUT answered {status}")
    return time.perf_counter() - started


def get_large(t: Target, name: str, size: int) -> float:
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", t.port)) as sock:
        sock.sendall((f"GET {t.account_path}/bench/{name} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      f"X-Auth-Token: {t.token}\r\nConnection: close\r\n\r\n").encode())
        status, _, rest = _head(sock)
        got = len(rest)
        buf = bytearray(MiB)
        while got < size:
            n = sock.recv_into(buf)
            if not n:
                break
            got += n
    if status != 200 or got != size:
        raise BenchError(f"{t.name}: large GET answered {status} with {got} of {size} bytes")
    return time.perf_counter() - started


def parallel(fn: Callable[[Target, str, int], float], t: Target, size: int,
             streams: int) -> float:
    started = time.perf_counter()
    threads = [threading.Thread(target=fn, args=(t, f"large-{i}", size))
               for i in range(streams)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return time.perf_counter() - started


def large_ops(t: Target, size: int, reps: int) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for streams in (1, 4):
        for label, fn in (("PUT", put_large), ("GET", get_large)):
            rates = [streams * size / MiB / parallel(fn, t, size, streams) for _ in range(reps)]
            out[f"{label} {size // MiB} MiB x{streams}"] = {
                "mb_s_best": round(max(rates) * MiB / 1e6, 1),
                "mb_s_median": round(statistics.median(rates) * MiB / 1e6, 1)}
    return out


def disk_write_mb_s(workdir: Path, size: int, reps: int) -> float:
    rates = []
    for _ in range(reps):
        path = workdir / "dd.bin"
        started = time.perf_counter()
        with path.open("wb") as f:
            for _ in range(size // MiB):
                f.write(BLOCK)
            f.flush()
            os.fsync(f.fileno())
        rates.append(size / 1e6 / (time.perf_counter() - started))
        path.unlink()
    return round(statistics.median(rates), 1)


# --- acceptance ------------------------------------------------------------------------------
@contextmanager
def rss_peak(services: Services, names: tuple[str, ...]) -> Iterator[dict[str, float]]:
    seen = {"idle_mib": procs.rss_mib(pids(services, names)), "peak_mib": 0.0}
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            seen["peak_mib"] = max(seen["peak_mib"], procs.rss_mib(pids(services, names)))
            stop.wait(0.1)

    th = threading.Thread(target=sample, daemon=True)
    th.start()
    try:
        yield seen
    finally:
        stop.set()
        th.join()
        seen["peak_mib"] = round(seen["peak_mib"], 1)
        seen["idle_mib"] = round(seen["idle_mib"], 1)


def md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        while chunk := f.read(4 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


def _run(argv: list[str], env: dict[str, str]) -> float:
    started = time.monotonic()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1800)
    if proc.returncode != 0:
        raise BenchError(f"{' '.join(argv[:4])} failed: {proc.stderr[-2000:]}")
    return time.monotonic() - started


def acceptance(services: Services, deployment: Any, t: Target, workdir: Path,
               size_mib: int, user_id: str, project_id: str) -> dict[str, Any]:
    src = workdir / "big.bin"
    with src.open("wb") as f:
        for _ in range(size_mib):
            f.write(os.urandom(MiB))
    want = md5_of(src)
    password = deployment.admin_auth["auth"]["identity"]["password"]["user"]["password"]
    env = upstream_swift.venv_env(upstream_swift.VENV, OS_AUTH_URL=(
        f"http://127.0.0.1:{t.port}/identity/v3"), OS_USERNAME="admin", OS_PASSWORD=password,
        OS_PROJECT_NAME="admin", OS_USER_DOMAIN_NAME="Default",
        OS_PROJECT_DOMAIN_NAME="Default", OS_IDENTITY_API_VERSION="3")
    swift = str(upstream_swift.VENV / "bin" / "swift")
    out: dict[str, Any] = {"size_mib": size_mib}
    with rss_peak(services, t.names) as up:
        up_s = _run([swift, "upload", "--use-slo", "--segment-size", str(100 * MiB),
                     "--object-name", "big.bin", "accept", str(src)], env)
    back = workdir / "back.bin"
    with rss_peak(services, t.names) as down:
        down_s = _run([swift, "download", "accept", "big.bin", "-o", str(back)], env)
    out["swift_slo"] = {"upload_s": round(up_s, 1), "download_s": round(down_s, 1),
                        "md5_equal": md5_of(back) == want, "rss_upload": up,
                        "rss_download": down}
    back.unlink()
    r = deployment.identity.call("POST", f"/v3/users/{user_id}/credentials/OS-EC2",
                                 token=t.token, body={"tenant_id": project_id}, expect=(201,))
    cred = r.json()["credential"]
    aws = shutil.which("aws")
    if aws is None:
        out["s3_multipart"] = "skipped: no aws CLI"
        return out
    env = dict(os.environ, AWS_ACCESS_KEY_ID=cred["access"],
               AWS_SECRET_ACCESS_KEY=cred["secret"], AWS_DEFAULT_REGION="us-east-1",
               AWS_CONFIG_FILE=str(workdir / "none"),
               AWS_SHARED_CREDENTIALS_FILE=str(workdir / "none"))
    base = [aws, "--endpoint-url", f"http://127.0.0.1:{t.port}/s3", "s3"]
    _run([*base, "mb", "s3://accept-s3"], env)
    with rss_peak(services, t.names) as up:
        up_s = _run([*base, "cp", str(src), "s3://accept-s3/big.bin"], env)
    with rss_peak(services, t.names) as down:
        down_s = _run([*base, "cp", "s3://accept-s3/big.bin", str(back)], env)
    out["s3_multipart"] = {"upload_s": round(up_s, 1), "download_s": round(down_s, 1),
                           "md5_equal": md5_of(back) == want, "rss_upload": up,
                           "rss_download": down}
    back.unlink()
    src.unlink()
    return out


# --- the run ---------------------------------------------------------------------------------
def start_onestack(services: Services, workdir: Path) -> tuple[Target, Any, dict[str, Any]]:
    deployment = onestack.start(services, workdir / "onestack", '[network]\ndataplane = "off"\n')
    token, body = issue_token(deployment.identity, deployment.admin_auth)
    project = body["project"]["id"]
    target = Target("onestack", deployment.identity.port,
                    f"/object-storage/v1/AUTH_{project}", token, ("onestack",))
    return target, deployment, {"user_id": body["user"]["id"], "project_id": project}


def main() -> int:
    args = parse_args()
    procs.interrupt_on_signals()
    workdir = Path(tempfile.mkdtemp(prefix="bench-object-store-"))
    results: dict[str, Any] = {"machine": report.machine(), "args": vars(args),
                               "operations": {}, "large": {}}
    try:
        with Services(workdir) as services:
            targets: list[Target] = []
            deployment, ids = None, {}
            if args.only != "onestack":
                (workdir / "swift").mkdir()
                s = upstream_swift.start(services, workdir / "swift")
                targets.append(Target(s.name, s.port, s.account_path, s.token, s.names))
            if args.only != "swift":
                (workdir / "onestack").mkdir()
                t, deployment, ids = start_onestack(services, workdir)
                targets.append(t)
            for t in targets:
                seed(t, args.concurrency)
                results.setdefault("memory_idle", {})[t.name] = procs.memory(
                    pids(services, t.names))
            ops = {t.name: small_ops(t, args.concurrency) for t in targets}
            wanted = [w for w in args.ops.split(",") if w]
            for op in ops[targets[0].name]:
                if wanted and not any(w in op for w in wanted):
                    continue
                for t in targets:
                    load = {"concurrency": args.concurrency, "keepalive": True,
                            "server_pids": lambda t=t: pids(services, t.names)}
                    if args.warmup:
                        run_load("127.0.0.1", t.port, op, ops[t.name][op],
                                 duration=args.warmup, **load)
                    res = run_load("127.0.0.1", t.port, op, ops[t.name][op],
                                   duration=args.duration, **load)
                    s = res.summary()
                    results["operations"].setdefault(op, {})[t.name] = s
                    print(f"  {t.name:8} {op:24} {KEEP_ALIVE}  {s['rps']:8.1f} req/s  "
                          f"p50 {s['p50_ms']:7.1f} ms  p99 {s['p99_ms']:7.1f} ms  "
                          f"non-2xx {s['non_2xx']}  5xx {s['5xx']}")
            size = args.large_mib * MiB
            if not args.no_large:
                results["disk_write_mb_s"] = disk_write_mb_s(workdir, size, 3)
            for t in targets if not args.no_large else []:
                results["large"][t.name] = large_ops(t, size, args.large_reps)
                print(f"  {t.name:8} large: {json.dumps(results['large'][t.name])}")
                results.setdefault("memory_after", {})[t.name] = procs.memory(
                    pids(services, t.names))
            if deployment is not None and not args.no_acceptance:
                t = targets[-1]
                results["acceptance"] = acceptance(services, deployment, t, workdir,
                                                   args.acceptance_mib, **ids)
                print(f"  acceptance: {json.dumps(results['acceptance'])}")
    except BenchError as exc:
        print(f"bench failed: {exc}", file=sys.stderr)
        return 1
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(markdown(results))
    print(f"\nJSON: {report.write_json('object_store', results)}")
    return 0


def markdown(r: dict[str, Any]) -> str:
    lines = ["| operation | service | req/s | p50 ms | p99 ms | server CPU ms/req | "
             "other CPU % | 5xx | onestack/swift |", "|---|---|--:|--:|--:|--:|--:|--:|--:|"]
    for op, by in r["operations"].items():
        sw, on = by.get("swift", {}).get("rps"), by.get("onestack", {}).get("rps")
        ratio = f"{on / sw:.2f}x" if sw and on else "-"
        for name, s in by.items():
            lines.append(f"| {op} | {name} | {s['rps']} | {s['p50_ms']} | {s['p99_ms']} | "
                         f"{s['server_cpu_ms_per_request']} | {s['other_cpu_pct']} | "
                         f"{s['5xx']} | {ratio if name == 'onestack' else ''} |")
    lines += ["", "| large object | swift MB/s (best / median) | onestack MB/s | ratio |",
              "|---|--:|--:|--:|"]
    sw_large, on_large = r["large"].get("swift", {}), r["large"].get("onestack", {})
    for op in on_large or sw_large:
        sw, on = sw_large.get(op, {}), on_large.get(op, {})
        ratio = (f"{on['mb_s_best'] / sw['mb_s_best']:.2f}x"
                 if sw.get("mb_s_best") and on.get("mb_s_best") else "-")
        lines.append(f"| {op} | {sw.get('mb_s_best', '-')} / {sw.get('mb_s_median', '-')} | "
                     f"{on.get('mb_s_best', '-')} / {on.get('mb_s_median', '-')} | {ratio} |")
    lines.append(f"\nDisk sequential write with fsync: {r.get('disk_write_mb_s')} MB/s")
    lines.append(f"Idle memory: {json.dumps(r.get('memory_idle'))}; after: "
                 f"{json.dumps(r.get('memory_after'))}")
    if "acceptance" in r:
        lines.append(f"Acceptance: {json.dumps(r['acceptance'])}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
