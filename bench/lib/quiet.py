"""Keeping measurements clear of other work on the machine.

On a shared 2-core machine another process (a test run, a build) can take a core away
from the server under test. Each measurement records how much CPU other processes used
meanwhile; a disturbed one is repeated once the machine is quiet again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

from lib import procs

T = TypeVar("T")
Pids = Callable[[], list[int]]


def other_load(seconds: float, exclude: Pids | None = None) -> float:
    """Percent of one core used over `seconds` by processes other than `exclude()`."""
    pids = exclude() if exclude else []
    machine, ours = procs.machine_busy_seconds(), procs.cpu_seconds(pids)
    time.sleep(seconds)
    machine = procs.machine_busy_seconds() - machine
    ours = procs.cpu_seconds(pids) - ours
    return round(max(0.0, machine - ours) * 100 / seconds, 1)


def wait_until_quiet(limit: float, exclude: Pids | None = None, timeout: float = 60) -> float:
    """Wait until other processes use less than `limit` % of a core for two seconds."""
    started = time.monotonic()
    told = False
    while True:
        load = other_load(2.0, exclude)
        if load < limit:
            return load
        if time.monotonic() - started > timeout:
            print(f"  the machine stayed busy ({load:.0f} % CPU) for {timeout:.0f} s; going on")
            return load
        if not told:
            print(f"  waiting for the machine to be quiet (other processes use {load:.0f} % CPU)")
            told = True


def undisturbed(
    measure: Callable[[], T],
    disturbance: Callable[[T], float],
    limit: float,
    retries: int,
    exclude: Pids | None = None,
    *,
    wait: float = 60,
) -> T:
    """Run `measure` when the machine is quiet; again (up to `retries` times) while
    `disturbance(result)`, the other processes' CPU % during it, exceeds `limit`.
    Before each run, wait up to `wait` seconds for the machine to be quiet."""
    best: tuple[float, T] | None = None
    for attempt in range(retries + 1):
        if wait > 0:
            wait_until_quiet(limit, exclude, wait)
        result = measure()
        other = disturbance(result)
        if other <= limit:
            return result
        if best is None or other < best[0]:
            best = (other, result)
        if attempt < retries:
            print(f"  disturbed: other processes used {other:.0f} % CPU meanwhile; again")
    assert best is not None
    print(f"  warning: still disturbed after {retries} retries; kept the least disturbed run")
    return best[1]
