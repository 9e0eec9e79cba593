"""The few Nova v2.1 calls the compute bench makes on Onestack, on the bench's raw HTTP
client (cheap for the client, so that creating thousands of servers leaves the CPU to the
server), and a closed-loop server creator."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from lib.load import percentile
from lib.procs import BenchError
from lib.rawhttp import Connection, Response, build_request, call

MICROVERSION = "2.79"


@dataclass
class Nova:
    host: str
    port: int
    token: str
    prefix: str = "/compute/v2.1"

    def headers(self) -> dict[str, str]:
        return {
            "X-Auth-Token": self.token,
            "Accept": "application/json",
            "OpenStack-API-Version": f"compute {MICROVERSION}",
            "X-OpenStack-Nova-API-Version": MICROVERSION,
        }

    def path(self, path: str) -> str:
        return self.prefix + path

    def call(
        self, method: str, path: str, body: Any = None, expect: tuple[int, ...] = (200, 202, 204)
    ) -> Any:
        response = call(self.host, self.port, method, self.path(path), self.headers(), body)
        if response.status not in expect:
            text = response.body[:500].decode("utf-8", "replace")
            raise BenchError(f"{method} {self.path(path)} answered {response.status}: {text}")
        return response.json()

    def create_request(self, name: str, image: str, flavor: str) -> bytes:
        body = {"server": {"name": name, "imageRef": image, "flavorRef": flavor,
                           "networks": "none"}}  # fmt: skip
        headers = {**self.headers(), "Content-Type": "application/json"}
        return build_request(
            "POST", self.path("/servers"), f"{self.host}:{self.port}", headers,
            json.dumps(body).encode(),
        )  # fmt: skip

    def unlimited_quotas(self, project_id: str) -> None:
        quotas = {"instances": -1, "cores": -1, "ram": -1}
        self.call("PUT", f"/os-quota-sets/{project_id}", {"quota_set": quotas})

    def count(self, query: str = "") -> int:
        """Servers listed through every page of GET /servers?<query>."""
        total, marker = 0, ""
        while True:
            page = self.call("GET", f"/servers?limit=1000{query}{marker}")["servers"]
            total += len(page)
            if len(page) < 1000:
                return total
            marker = f"&marker={page[-1]['id']}"


@dataclass
class CreateResult:
    created: int = 0
    elapsed_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_s)
        return {
            "created": self.created,
            "elapsed_s": round(self.elapsed_s, 1),
            "per_s": round(self.created / self.elapsed_s, 1) if self.elapsed_s else 0.0,
            "p50_ms": round(percentile(ordered, 0.5) * 1000, 1),
            "p90_ms": round(percentile(ordered, 0.9) * 1000, 1),
            "p99_ms": round(percentile(ordered, 0.99) * 1000, 1),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "error_samples": self.errors[:5],
        }


def create_servers(
    nova: Nova, count: int, image: str, flavor: str, concurrency: int, prefix: str = "s"
) -> CreateResult:
    """POST /servers `count` times with `concurrency` requests in flight (keep-alive)."""
    result = CreateResult()
    lock = threading.Lock()
    next_index = [0]
    started = time.perf_counter()
    progress_every = max(count // 10, 1)

    def worker() -> None:
        conn = Connection(nova.host, nova.port, timeout=300)
        try:
            while True:
                with lock:
                    i = next_index[0]
                    if i >= count:
                        return
                    next_index[0] += 1
                raw = nova.create_request(f"{prefix}-{i:05d}", image, flavor)
                t0 = time.perf_counter()
                try:
                    response: Response = conn.request(raw)
                except OSError as exc:
                    conn.close()
                    with lock:
                        result.errors.append(f"{type(exc).__name__}: {exc}")
                    continue
                elapsed = time.perf_counter() - t0
                with lock:
                    result.statuses[response.status] += 1
                    if response.status == 202:
                        result.created += 1
                        result.latencies_s.append(elapsed)
                        if result.created % progress_every == 0:
                            rate = result.created / (time.perf_counter() - started)
                            print(f"  created {result.created}/{count} ({rate:.1f}/s)")
                    elif len(result.errors) < 20:
                        result.errors.append(
                            f"{response.status}: {response.body[:200].decode('utf-8', 'replace')}"
                        )
        finally:
            conn.close()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.elapsed_s = time.perf_counter() - started
    return result


def wait_built(nova: Nova, timeout: float) -> dict[str, int]:
    """Wait until no server is in BUILD; return the count of servers by status."""
    deadline = time.monotonic() + timeout
    while True:
        building = nova.count("&status=BUILD")
        if building == 0 or time.monotonic() > deadline:
            break
        print(f"  {building} servers still in BUILD")
        time.sleep(5)
    return {"BUILD": building, "ACTIVE": nova.count("&status=ACTIVE"),
            "ERROR": nova.count("&status=ERROR")}  # fmt: skip
