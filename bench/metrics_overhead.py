"""The per-request cost of the metrics and audit hook (Operations.observe), in microseconds.

    .venv/bin/python bench/metrics_overhead.py

A read is the counter increment and the histogram bucket search; a write adds the audit
record (a JSON line on the onestack.audit logger, here with no handler, and the buffer)."""

from __future__ import annotations

import logging
import timeit
from pathlib import Path

from onestack.config import Settings
from onestack.context import RequestContext
from onestack.core.operations.service import Operations
from onestack.db.engine import Database

N = 20_000  # writes per repeat; the buffer is emptied between repeats (flushed every 2 s live)


def main() -> None:
    logging.getLogger("onestack.audit").setLevel(logging.INFO)
    logging.getLogger("onestack.audit").propagate = False
    settings = Settings(data_dir=Path("/tmp/onestack-bench-metrics"))
    ops = Operations(settings, Database("sqlite:////tmp/onestack-bench-metrics.db"))
    ctx = RequestContext(user_id="u" * 32, user_name="demo", project_id="p" * 32)
    read = ("/v2.1/servers/{server_id}", {"server_id": "x" * 36})
    write = ("/v2.0/networks", {})

    def one_read() -> None:
        ops.observe(ctx, "compute", "GET", read, 200, 0.0123)

    def one_write() -> None:
        ops.observe(ctx, "network", "POST", write, 201, 0.0456)

    for name, fn in (("read", one_read), ("write", one_write)):
        best = min(timeit.repeat(fn, setup=ops.audit.pending.clear, number=N, repeat=5)) / N * 1e6
        print(f"observe ({name}): {best:.2f} us per request")
        ops.audit.pending.clear()


if __name__ == "__main__":
    main()
