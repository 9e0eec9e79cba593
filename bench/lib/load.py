"""Closed-loop load: N threads, each sending one request after another for a fixed time.

Threads on blocking sockets cost little: they wait in recv() without the GIL. The client's
own CPU time is measured alongside, so a reader can see that the generator left the cores
to the server.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lib import procs
from lib.rawhttp import Connection, Response, build_request

KEEP_ALIVE = "keep-alive"
NEW_CONNECTION = "new-conn"


@dataclass(frozen=True)
class RequestSpec:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


def percentile(sorted_values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted sequence (0 when it is empty)."""
    if not sorted_values:
        return 0.0
    rank = math.ceil(fraction * len(sorted_values) - 1e-9)
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]


@dataclass
class LoadResult:
    operation: str
    mode: str
    concurrency: int
    elapsed_s: float = 0.0
    latencies_s: list[float] = field(default_factory=list)  # of 2xx responses
    statuses: Counter[int] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)  # connection-level failures
    error_samples: list[str] = field(default_factory=list)
    client_cpu_s: float = 0.0
    server_cpu_s: float = 0.0
    machine_cpu_s: float = 0.0  # all processes; what neither side used is interference

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def non_2xx(self) -> int:
        return sum(self.statuses.values()) - self.ok

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500)

    @property
    def rps(self) -> float:
        return self.ok / self.elapsed_s if self.elapsed_s else 0.0

    def latency_ms(self, fraction: float) -> float:
        return percentile(sorted(self.latencies_s), fraction) * 1000

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.latencies_s)
        responses = sum(self.statuses.values())
        return {
            "operation": self.operation,
            "mode": self.mode,
            "concurrency": self.concurrency,
            "elapsed_s": round(self.elapsed_s, 3),
            "ok": self.ok,
            "rps": round(self.rps, 2),
            "p50_ms": round(percentile(ordered, 0.50) * 1000, 2),
            "p90_ms": round(percentile(ordered, 0.90) * 1000, 2),
            "p99_ms": round(percentile(ordered, 0.99) * 1000, 2),
            "max_ms": round(ordered[-1] * 1000, 2) if ordered else 0.0,
            "non_2xx": self.non_2xx,
            "5xx": self.server_errors,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "connection_errors": dict(self.errors),
            "error_samples": self.error_samples,
            "client_cpu_s": round(self.client_cpu_s, 2),
            "server_cpu_s": round(self.server_cpu_s, 2),
            "client_cpu_pct": self._percent(self.client_cpu_s),
            "server_cpu_pct": self._percent(self.server_cpu_s),
            "other_cpu_pct": self.other_cpu_pct,
            "server_cpu_ms_per_request": (
                round(self.server_cpu_s * 1000 / responses, 3) if responses else None
            ),
        }

    @property
    def other_cpu_pct(self) -> float:
        """CPU used meanwhile by processes that are neither the server nor the client."""
        other = self.machine_cpu_s - self.server_cpu_s - self.client_cpu_s
        return max(0.0, self._percent(other))

    def _percent(self, cpu_s: float) -> float:
        """CPU time as a percentage of one core over the run."""
        return round(cpu_s * 100 / self.elapsed_s, 1) if self.elapsed_s else 0.0


class _Worker(threading.Thread):
    def __init__(
        self,
        host: str,
        port: int,
        raw: bytes,
        keepalive: bool,
        start: threading.Barrier,
        clock: list[float],
    ) -> None:
        super().__init__(daemon=True)
        self.conn = Connection(host, port)
        self.raw = raw
        self.keepalive = keepalive
        self.start_barrier = start
        self.clock = clock  # [deadline], set by the barrier's action
        self.latencies: list[float] = []
        self.statuses: Counter[int] = Counter()
        self.errors: Counter[str] = Counter()
        self.samples: list[str] = []
        self.finished = 0.0

    def run(self) -> None:
        self.start_barrier.wait()
        deadline = self.clock[0]
        request, now = self.conn.request, time.perf_counter
        latencies, statuses = self.latencies, self.statuses
        while (started := now()) < deadline:
            try:
                response = request(self.raw)
            except OSError as exc:  # refused, reset, timed out
                self.conn.close()
                self.errors[type(exc).__name__] += 1
                self._sample(f"{type(exc).__name__}: {exc}")
                time.sleep(0.01)
                continue
            elapsed = now() - started
            statuses[response.status] += 1
            if 200 <= response.status < 300:
                latencies.append(elapsed)
            else:
                self._sample(self._describe(response))
            if not self.keepalive:
                self.conn.close()
        self.conn.close()
        self.finished = now()

    def _sample(self, text: str) -> None:
        if len(self.samples) < 3:
            self.samples.append(text)

    @staticmethod
    def _describe(response: Response) -> str:
        return f"{response.status}: {response.body[:300].decode('utf-8', 'replace')}"


def run_load(
    host: str,
    port: int,
    operation: str,
    specs: Sequence[RequestSpec],
    *,
    concurrency: int,
    duration: float,
    keepalive: bool,
    server_pids: Callable[[], list[int]] | None = None,
) -> LoadResult:
    """Run `concurrency` workers for `duration` seconds; worker i sends specs[i % len]."""
    clock = [0.0, 0.0]  # deadline, start

    def set_clock() -> None:
        clock[1] = time.perf_counter()
        clock[0] = clock[1] + duration

    barrier = threading.Barrier(concurrency, action=set_clock)
    authority = f"{host}:{port}"
    workers = []
    for i in range(concurrency):
        spec = specs[i % len(specs)]
        raw = build_request(
            spec.method, spec.path, authority, spec.headers, spec.body, close=not keepalive
        )
        workers.append(_Worker(host, port, raw, keepalive, barrier, clock))

    machine_before = procs.machine_busy_seconds()
    cpu_before = time.process_time()
    server_before = procs.cpu_seconds(server_pids()) if server_pids else 0.0
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    server_after = procs.cpu_seconds(server_pids()) if server_pids else 0.0

    result = LoadResult(operation, KEEP_ALIVE if keepalive else NEW_CONNECTION, concurrency)
    result.elapsed_s = max(w.finished for w in workers) - clock[1]
    result.client_cpu_s = time.process_time() - cpu_before
    result.server_cpu_s = server_after - server_before
    result.machine_cpu_s = procs.machine_busy_seconds() - machine_before
    for worker in workers:
        result.latencies_s += worker.latencies
        result.statuses.update(worker.statuses)
        result.errors.update(worker.errors)
        for sample in worker.samples:
            if sample not in result.error_samples and len(result.error_samples) < 5:
                result.error_samples.append(sample)
    return result
