"""A small parser of the Prometheus text exposition (format 0.0.4), strict enough to catch
malformed output: every sample belongs to a family declared by # TYPE, label sets parse,
values are numbers, and histogram buckets are cumulative with +Inf equal to _count."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')
_SUFFIXES = {"counter": ("",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}

Labels = frozenset[tuple[str, str]]


@dataclass
class Exposition:
    types: dict[str, str] = field(default_factory=dict)
    samples: dict[tuple[str, Labels], float] = field(default_factory=dict)

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples of ``name`` whose labels include ``labels``."""
        want = set(labels.items())
        return sum(v for (n, ls), v in self.samples.items() if n == name and want <= ls)

    def series(self, name: str) -> list[dict[str, str]]:
        return [dict(ls) for (n, ls) in self.samples if n == name]


def _labels(raw: str) -> Labels:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(raw):
        m = _LABEL.match(raw, pos)
        if m is None:
            raise ValueError(f"bad label set {raw!r} at {pos}")
        value = m.group(2).replace('\\"', '"').replace("\\n", "\n").replace("\\\\", "\\")
        out.append((m.group(1), value))
        pos = m.end()
    return frozenset(out)


def parse(text: str) -> Exposition:
    exp = Exposition()
    for line in text.splitlines():
        if not line:
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ", 3)
            assert kind in _SUFFIXES, line
            assert name not in exp.types, f"family declared twice: {name}"
            exp.types[name] = kind
            continue
        if line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m is not None, f"not a sample line: {line!r}"
        name, value = m.group(1), m.group(4)
        family = next((f for f, k in exp.types.items() for s in _SUFFIXES[k]
                       if name == f + s), None)
        assert family is not None, f"sample of an undeclared family: {line!r}"
        key = (name, _labels(m.group(3) or ""))
        assert key not in exp.samples, f"duplicate sample: {line!r}"
        exp.samples[key] = float(value)  # "+Inf", "NaN" and numbers
    for family, kind in exp.types.items():
        if kind == "histogram":
            _check_histogram(exp, family)
    return exp


def _check_histogram(exp: Exposition, family: str) -> None:
    series: dict[Labels, list[tuple[float, float]]] = {}
    for (name, labels), value in exp.samples.items():
        if name == family + "_bucket":
            le = dict(labels)["le"]
            rest = frozenset(x for x in labels if x[0] != "le")
            series.setdefault(rest, []).append((float(le), value))
    for labels, buckets in series.items():
        buckets.sort()
        counts = [c for _, c in buckets]
        assert counts == sorted(counts), f"{family}{dict(labels)}: buckets not cumulative"
        assert buckets[-1][0] == float("inf"), f"{family}: no +Inf bucket"
        assert exp.samples[(family + "_count", labels)] == buckets[-1][1]
