"""How many bcrypt password checks per second this machine does at a given cost.

Password token issue can go no faster than this, whatever the server: it is the bound
that token issue is compared with. Run as a script (with any Python that has bcrypt) it
prints the measurement as JSON; `measure()` runs it that way in a fresh process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def _check_loop(rounds: int, threads: int, duration: float) -> dict[str, Any]:
    import bcrypt

    password = b"bench-password-0123"
    hashed = bcrypt.hashpw(password, bcrypt.gensalt(rounds))
    counts = [0] * threads
    deadline = time.perf_counter() + duration

    def work(index: int) -> None:
        while time.perf_counter() < deadline:
            assert bcrypt.checkpw(password, hashed)
            counts[index] += 1

    started = time.perf_counter()
    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    elapsed = time.perf_counter() - started
    checks = sum(counts)
    return {
        "rounds": rounds,
        "threads": threads,
        "checks": checks,
        "elapsed_s": round(elapsed, 3),
        "cpu_s": round(time.process_time(), 3),  # of this whole process
        "hashes_per_s": round(checks / elapsed, 3),
        "ms_per_check_per_thread": round(elapsed * threads * 1000 / checks, 2),
        "bcrypt_version": getattr(bcrypt, "__version__", "unknown"),
    }


def has_bcrypt(python: str) -> bool:
    return subprocess.call([python, "-c", "import bcrypt"], stderr=subprocess.DEVNULL) == 0


def measure(
    rounds: int, threads: int = 2, duration: float = 8.0, pythons: Sequence[str] = ()
) -> dict[str, Any]:
    """Measure in a fresh process, with the first of `pythons` (or this one) having bcrypt."""
    for python in [sys.executable, *pythons]:
        if Path(python).exists() and has_bcrypt(python):
            argv = [python, __file__, str(rounds), str(threads), str(duration)]
            result: dict[str, Any] = json.loads(subprocess.check_output(argv))
            result["python"] = python
            return result
    raise RuntimeError("no Python with bcrypt found to measure the hash rate")


if __name__ == "__main__":
    rounds_arg, threads_arg, duration_arg = sys.argv[1:4]
    print(json.dumps(_check_loop(int(rounds_arg), int(threads_arg), float(duration_arg))))
