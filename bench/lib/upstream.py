"""What every upstream OpenStack service needs here: its venv, memcached, uwsgi's settings."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from lib.procs import BenchError, Services, run_logged

BENCH_DIR = Path(__file__).resolve().parent.parent
VENV = BENCH_DIR / ".venv-upstream"

# DevStack's uwsgi settings for the API services (one single-threaded process per worker).
UWSGI_DEVSTACK = [
    "--processes", "2",
    "--master",
    "--die-on-term",
    "--enable-threads",
    "--thunder-lock",
    "--buffer-size", "65535",
    "--add-header", "Connection: close",
    "--lazy-apps",
]  # fmt: skip


def _missing(venv: Path, requirements: Sequence[str]) -> list[str]:
    """The requirements ("name" or "name==version") not installed in the venv."""
    python = venv / "bin" / "python"
    if not python.exists():
        return list(requirements)
    probe = (
        "import sys\nfrom importlib.metadata import version, PackageNotFoundError\n"
        "for req in sys.argv[1:]:\n"
        "    name, _, want = req.partition('==')\n"
        "    try:\n        have = version(name)\n"
        "    except PackageNotFoundError:\n        have = None\n"
        "    if have is None or (want and have != want):\n        print(req)\n"
    )
    out = subprocess.check_output([str(python), "-c", probe, *requirements], text=True)
    return out.split()


def ensure_venv(requirements: Sequence[str], log: Path, venv: Path = VENV) -> Path:
    """Create the upstream venv if needed and install what is missing from it."""
    missing = _missing(venv, requirements)
    if not missing:
        return venv
    print(f"installing {' '.join(missing)} into {venv} (takes a few minutes; log {log})")
    if not (venv / "bin" / "python").exists():
        run_logged([sys.executable, "-m", "venv", str(venv)], log)
    run_logged([str(venv / "bin" / "pip"), "install", "-q", *missing], log)
    return venv


def venv_env(venv: Path = VENV, **extra: str) -> dict[str, str]:
    env = dict(os.environ, VIRTUAL_ENV=str(venv), **extra)
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '/usr/bin:/bin')}"
    env.pop("PYTHONPATH", None)
    return env


def ensure_memcached(log: Path) -> str:
    """Debian's memcached binary, installed with apt-get when missing."""
    if found := shutil.which("memcached"):
        return found
    print(f"installing memcached with apt-get (log {log})")
    apt_env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        run_logged(["apt-get", "install", "-y", "memcached"], log, apt_env)
    except BenchError:
        run_logged(["apt-get", "update"], log, apt_env)
        run_logged(["apt-get", "install", "-y", "memcached"], log, apt_env)
    if found := shutil.which("memcached"):
        return found
    raise BenchError("memcached is still missing after apt-get install")


def start_memcached(services: Services, binary: str, port: int, name: str = "memcached") -> None:
    """Our own memcached on a loopback port (never the system's service)."""
    argv = [binary, "-l", "127.0.0.1", "-p", str(port), "-U", "0", "-m", "64", "-c", "1024"]
    if os.geteuid() == 0:
        argv += ["-u", "root"]
    services.start(name, argv)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        services.check_alive()
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise BenchError(f"memcached did not listen on port {port} within 10 s")
