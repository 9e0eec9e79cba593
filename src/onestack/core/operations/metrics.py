"""Request metrics kept in process, and the Prometheus text exposition written by hand.

Per request the cost is one dict lookup/increment for the counter and one ``bisect`` over
the bucket bounds for the histogram (see docs/operations.md for the measured figure). Label
values are bounded: a service name, a route *template* (``/v2.1/servers/{server_id}``,
never the raw path), an HTTP method and a status code.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

# Seconds; Prometheus' client defaults, with a finer low end (most API calls take ms).
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0, 30.0)

Labels = tuple[tuple[str, str], ...]


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def fmt_labels(labels: Labels) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{escape(v)}"' for k, v in labels) + "}"


def fmt_value(value: float) -> str:
    if value == float("inf"):
        return "+Inf"
    if isinstance(value, int) or value.is_integer():
        return str(int(value))
    return repr(value)


@dataclass
class Family:
    """One metric family read at scrape time: name, type, help and its samples."""

    name: str
    kind: str  # counter | gauge | histogram
    help: str
    samples: list[tuple[str, Labels, float]] = field(default_factory=list)  # (suffix, ...)

    def add(self, value: float, suffix: str = "", **labels: str) -> None:
        self.samples.append((suffix, tuple(labels.items()), value))


@dataclass
class _Hist:
    buckets: list[int]
    total: float = 0.0
    count: int = 0


class Histogram:
    def __init__(self, name: str, help: str, label_names: Sequence[str],
                 bounds: Sequence[float] = LATENCY_BUCKETS) -> None:
        self.name, self.help, self.label_names = name, help, tuple(label_names)
        self.bounds = tuple(bounds)
        self.series: dict[tuple[str, ...], _Hist] = {}

    def observe(self, key: tuple[str, ...], value: float) -> None:
        h = self.series.get(key)
        if h is None:
            h = self.series[key] = _Hist([0] * (len(self.bounds) + 1))
        h.buckets[bisect.bisect_left(self.bounds, value)] += 1
        h.total += value
        h.count += 1

    def family(self) -> Family:
        fam = Family(self.name, "histogram", self.help)
        for key, h in self.series.items():
            base = tuple(zip(self.label_names, key, strict=True))
            running = 0
            for bound, n in zip((*self.bounds, float("inf")), h.buckets, strict=True):
                running += n
                fam.samples.append(("_bucket", (*base, ("le", fmt_value(bound))), running))
            fam.samples.append(("_sum", base, h.total))
            fam.samples.append(("_count", base, h.count))
        return fam


class Counter:
    def __init__(self, name: str, help: str, label_names: Sequence[str]) -> None:
        self.name, self.help, self.label_names = name, help, tuple(label_names)
        self.series: dict[tuple[str, ...], float] = {}

    def inc(self, key: tuple[str, ...], by: float = 1) -> None:
        self.series[key] = self.series.get(key, 0) + by

    def family(self) -> Family:
        fam = Family(self.name, "counter", self.help)
        for key, value in self.series.items():
            fam.samples.append(("", tuple(zip(self.label_names, key, strict=True)),
                                value))
        return fam


class RequestMetrics:
    """What the API middleware counts: one call per request."""

    def __init__(self) -> None:
        self.requests = Counter("onestack_api_requests_total", "API requests answered.",
                                ("service", "method", "route", "code"))
        self.latency = Histogram("onestack_api_request_duration_seconds",
                                 "Time from request to response start, per route.",
                                 ("service", "method", "route"))

    def observe(self, service: str, method: str, route: str, status: int,
                seconds: float) -> None:
        self.requests.inc((service, method, route, str(status)))
        self.latency.observe((service, method, route), seconds)

    def families(self) -> list[Family]:
        return [self.requests.family(), self.latency.family()]


def exposition(families: Iterable[Family]) -> str:
    """The Prometheus text format 0.0.4 of the families."""
    out: list[str] = []
    for fam in families:
        out.append(f"# HELP {fam.name} {fam.help}")
        out.append(f"# TYPE {fam.name} {fam.kind}")
        for suffix, labels, value in fam.samples:
            out.append(f"{fam.name}{suffix}{fmt_labels(labels)} {fmt_value(value)}")
    out.append("")
    return "\n".join(out)


CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
