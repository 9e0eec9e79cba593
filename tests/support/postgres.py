"""A throwaway PostgreSQL server from Debian's package, in a temp dir, on a free port."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _bindir() -> Path | None:
    for cand in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.path.exists(os.path.join(cand, "initdb")):
            return Path(cand)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def available() -> bool:
    return _bindir() is not None


class PostgresServer:
    def __init__(self) -> None:
        bindir = _bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
        self.bindir = bindir
        self.dir = Path(tempfile.mkdtemp(prefix="onestack-pg-"))
        self.port = free_port()
        self.user: str | None = None
        if os.geteuid() == 0:
            # initdb refuses to run as root: run the server as an unprivileged account.
            for name in ("postgres", "nobody"):
                try:
                    pwd.getpwnam(name)
                    self.user = name
                    break
                except KeyError:
                    continue
            os.chmod(self.dir, 0o755)

    def _run(self, *args: str) -> None:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        subprocess.run(cmd, check=True, capture_output=True, timeout=120)

    def start(self) -> str:
        data = self.dir / "data"
        data.mkdir()
        if self.user:
            shutil.chown(self.dir, self.user)
            shutil.chown(data, self.user)
        self._run("initdb", "-D", str(data), "-U", "onestack", "--auth=trust", "-E", "UTF8",
                  "--no-sync")
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run("pg_ctl", "-D", str(data), "-o", opts, "-l", str(self.dir / "log"), "-w",
                  "start")
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "onestack",
                  "onestack")
        return self.url()

    def url(self, db: str = "onestack") -> str:
        return f"postgresql+psycopg://onestack@127.0.0.1:{self.port}/{db}"

    def create_database(self, name: str) -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "onestack", name)
        return self.url(name)

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "-D", str(self.dir / "data"), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)
