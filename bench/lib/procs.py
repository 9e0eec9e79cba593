"""Starting, watching and stopping the services under test.

Each service runs in its own session (process group), so that stopping it reaches its
workers too, and so that a Ctrl-C in the terminal reaches only the bench, which then stops
the services in order. Memory and CPU are read from /proc for a process and all its
descendants.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType, TracebackType

from lib import rawhttp

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class BenchError(RuntimeError):
    """A setup step failed; the message says which and shows its log."""


def interrupt_on_signals() -> None:
    """Turn SIGINT and SIGTERM into KeyboardInterrupt, so that the services get stopped.

    SIGINT is set explicitly: a shell starts background jobs with it ignored.
    """

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)


def renice(nice: int) -> None:
    """Change this process's priority, inherited by every service it starts.

    With the kernel's autogroups (one per session), a process's nice value only counts
    among its own session, so the session's autogroup gets the same value.
    """
    os.nice(nice - os.nice(0))
    _set_autogroup_nice("self", nice)


def _autogroup_nice() -> int:
    """This session's autogroup nice value (0 where the kernel has no autogroups)."""
    try:
        return int(Path("/proc/self/autogroup").read_text().split()[-1])
    except (OSError, ValueError, IndexError):
        return 0


def _set_autogroup_nice(pid: int | str, nice: int) -> None:
    with contextlib.suppress(FileNotFoundError, ProcessLookupError):
        Path(f"/proc/{pid}/autogroup").write_text(str(nice))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def run_logged(
    argv: Sequence[str],
    log: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> None:
    """Run a one-off command, appending its output to `log`; raise with the tail on failure."""
    with log.open("a") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        code = subprocess.call(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
    if code != 0:
        raise BenchError(f"{' '.join(argv[:3])} ... exited {code}; log {log}:\n{tail(log)}")


class Services:
    """The processes a bench started; all are stopped when the `with` block ends."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.started: dict[str, subprocess.Popen[bytes]] = {}

    def __enter__(self) -> Services:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop_all()

    def log(self, name: str) -> Path:
        return self.logdir / f"{name}.log"

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        with self.log(name).open("ab") as out:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        # A new session is a new autogroup: give it this session's priority (see renice).
        if nice := _autogroup_nice():
            _set_autogroup_nice(proc.pid, nice)
        self.started[name] = proc
        return proc

    def pids(self) -> list[int]:
        """Every live process of every service, workers included."""
        return process_tree([p.pid for p in self.started.values() if p.poll() is None])

    def check_alive(self) -> None:
        for name, proc in self.started.items():
            if proc.poll() is not None:
                raise BenchError(
                    f"{name} exited with {proc.returncode}; log {self.log(name)}:\n"
                    + tail(self.log(name))
                )

    def stop(self, name: str, grace: float = 15.0) -> None:
        proc = self.started.pop(name)
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                print(f"  {name} ignored SIGTERM for {grace:.0f} s; killing it")
        # Whatever is left of the group (workers of a killed master) goes too.
        _signal_group(proc.pid, signal.SIGKILL)
        proc.wait()

    def stop_all(self) -> None:
        for name in reversed(list(self.started)):
            self.stop(name)

    def wait_http_ok(self, host: str, port: int, path: str, timeout: float) -> float:
        """Poll GET `path` until it answers 200; return the seconds it took."""
        started = time.monotonic()
        last = "no answer"
        while time.monotonic() - started < timeout:
            self.check_alive()
            try:
                response = rawhttp.call(host, port, "GET", path, timeout=5)
            except OSError as exc:
                last = f"{type(exc).__name__}: {exc}"
            else:
                if response.status == 200:
                    return time.monotonic() - started
                last = f"HTTP {response.status}"
            time.sleep(0.05)
        raise BenchError(f"GET {path} on port {port} not 200 after {timeout:.0f} s ({last})")


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (state is [0], ppid [1])."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            text = f.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2 :].split()


def process_tree(roots: Sequence[int]) -> list[int]:
    """The given processes and all their descendants."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat_fields(int(entry))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    todo = list(roots)
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.append(pid)
            todo += children.get(pid, [])
    return found


def _status_kib(path: str, key: str) -> int:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def rss_mib(pids: Sequence[int]) -> float:
    return sum(_status_kib(f"/proc/{pid}/status", "VmRSS:") for pid in pids) / 1024


def pss_mib(pids: Sequence[int]) -> float:
    """Proportional set size: shared pages split between the processes sharing them."""
    return sum(_status_kib(f"/proc/{pid}/smaps_rollup", "Pss:") for pid in pids) / 1024


def memory(pids: Sequence[int]) -> dict[str, float]:
    return {
        "rss_mib": round(rss_mib(pids), 1),
        "pss_mib": round(pss_mib(pids), 1),
        "processes": len(pids),
    }


def machine_busy_seconds() -> float:
    """CPU time all cores spent on anything but idling, since boot."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / CLOCK_TICKS


def cpu_seconds(pids: Sequence[int]) -> float:
    total = 0
    for pid in pids:
        if (fields := _stat_fields(pid)) is not None:
            total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / CLOCK_TICKS
