"""Spread test classes over tempest's workers by what each class cost in an earlier run.

stestr, with no timing history (a fresh clone), deals the classes out round-robin: in the
guideline run one worker got the three slowest compute classes and ran 332 s while the other
was done after 176 s. Given the seconds each class took before (``data/class-seconds.json``,
made by :func:`class_costs` from a run's subunit stream), the harness writes a worker file
(``tempest run --worker-file``) that deals the classes out longest first, each to the worker
with the least work so far. Classes not in the file count a default per test.

A class's cost is the time its worker spent on it: from the end of the test before it on the
same worker to the end of its last test, so the class's setUpClass (servers booted, volumes
made) is counted with it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

from .subunit_v2 import TestRecord

COSTS_FILE = Path(__file__).resolve().parents[1] / "data" / "class-seconds.json"
SECONDS_PER_UNKNOWN_TEST = 1.0


def class_of(test_id: str) -> str:
    """``tempest.api.x.test_y.Class`` of ``tempest.api.x.test_y.Class.test_z[id-...,smoke]``."""
    return test_id.split("[", 1)[0].rsplit(".", 1)[0]


def class_costs(records: Iterable[TestRecord]) -> dict[str, float]:
    """Seconds per class, as its worker spent them (see the module's text)."""
    by_worker: dict[str, list[TestRecord]] = {}
    for record in records:
        if record.start is None or record.stop is None:
            continue
        worker = next((t for t in sorted(record.tags) if t.startswith("worker-")), "worker-0")
        by_worker.setdefault(worker, []).append(record)
    if not by_worker:
        return {}
    begin = min(r.start for rs in by_worker.values() for r in rs if r.start is not None)
    costs: dict[str, float] = {}
    for worker_records in by_worker.values():
        previous = begin
        for record in sorted(worker_records, key=lambda r: r.start or 0.0):
            stop = record.stop or previous
            name = class_of(record.test_id)
            costs[name] = round(costs.get(name, 0.0) + max(0.0, stop - previous), 1)
            previous = max(previous, stop)
    return costs


def load_costs(path: Path = COSTS_FILE) -> dict[str, float]:
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    return {str(k): float(v) for k, v in data.items()}


def partition(test_ids: Iterable[str], costs: Mapping[str, float],
              workers: int) -> list[list[str]]:
    """The test ids in ``workers`` groups of whole classes, of about equal cost."""
    classes: dict[str, list[str]] = {}
    for test_id in test_ids:
        classes.setdefault(class_of(test_id), []).append(test_id)

    def cost(name: str) -> float:
        known = costs.get(name)
        return known if known is not None else SECONDS_PER_UNKNOWN_TEST * len(classes[name])

    groups: list[list[str]] = [[] for _ in range(max(1, workers))]
    loads = [0.0] * len(groups)
    for name in sorted(classes, key=lambda n: (-cost(n), n)):
        lightest = loads.index(min(loads))
        groups[lightest].extend(classes[name])
        loads[lightest] += cost(name)
    return [g for g in groups if g]


def write_worker_file(test_ids: Iterable[str], costs: Mapping[str, float], workers: int,
                      path: Path) -> Path | None:
    """A ``--worker-file`` naming each worker's classes; None when one worker would do.

    Each class is one anchored regex ending in ``\\.``, so it selects that class's tests
    only; every test id given is in exactly one worker's list (stestr drops a test no
    worker selects)."""
    groups = partition(test_ids, costs, workers)
    if len(groups) < 2:
        return None
    lines = []
    for group in groups:
        lines.append("- worker:")
        for name in dict.fromkeys(class_of(t) for t in group):
            lines.append(f"  - {json.dumps('^' + re.escape(name) + chr(92) + '.')}")
    path.write_text("\n".join(lines) + "\n")
    return path
