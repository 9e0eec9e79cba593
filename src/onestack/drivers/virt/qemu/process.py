"""QEMU processes on this host: start one detached, find it again by its pidfile, stop it.

A guest's QEMU is started through a small launcher (``LAUNCH``) that forks, says the pid,
and leaves it in a new session: QEMU is not our child and outlives us (QEMU's own
``-daemonize`` forks, which its seccomp sandbox forbids). The start returns when QEMU
answers on its status QMP socket (the guest is set up, files open), with QEMU's error on
failure. A pid is trusted only while
``/proc/<pid>/cmdline`` still names the guest (pids are reused).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from onestack.drivers.virt.base import VirtError

START_TIMEOUT = 60.0
# The capabilities a root QEMU keeps: CAP_NET_ADMIN (attaching to its tap devices),
# CAP_IPC_LOCK and CAP_SYS_RESOURCE (pinning memory for passed-through PCI devices). Not
# kept, among others: loading kernel modules, mounting, ptrace of other processes (the
# agent), raw I/O, mknod, chown, overriding file permissions.
KEPT_CAPABILITIES = (12, 14, 24)
# argv[3:] started in a new session, detached (its parent exits at once), its pid written
# to the file argv[1] (QEMU's pidfile: QEMU writes the same pid there once it runs), with
# every capability but those listed in argv[2] dropped from its bounding set (what root
# gets at exec).
LAUNCH = """import ctypes, os, sys
pid = os.fork()
if pid:
    with open(sys.argv[1], "w") as f:
        f.write(f"{pid}\\n")
    os._exit(0)
os.setsid()
if os.geteuid() == 0:
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    with open("/proc/sys/kernel/cap_last_cap") as f:
        last = int(f.read())
    for cap in range(last + 1):
        if str(cap) not in sys.argv[2].split(","):
            prctl(24, cap, 0, 0, 0)  # PR_CAPBSET_DROP; without CAP_SETPCAP, as it is
os.execvp(sys.argv[3], sys.argv[3:])
"""


def tail(path: Path, max_bytes: int = 4000) -> str:
    try:
        with path.open("rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - max_bytes))
            return f.read().decode(errors="replace").strip()
    except OSError:
        return ""


async def start_daemon(cmd: list[str], log: Path, pidfile: Path, *, uuid: str,
                       instance_dir: Path,
                       ready: Callable[[], Awaitable[bool]], pass_fds: tuple[int, ...] = (),
                       timeout: float = START_TIMEOUT) -> None:
    """Start a guest's QEMU detached; return once ``ready()`` (QEMU answers), raise with its
    error when it exits first or does not answer within ``timeout``.

    QEMU's messages go to ``log`` (its stderr, and the command line's ``-D``), emptied at
    each start: it holds this run's. ``pass_fds`` stay open in QEMU (``-incoming fd:N``).
    No pipe to the launcher: under uvloop its write end would stay open in QEMU.
    """
    pidfile.unlink(missing_ok=True)
    with log.open("wb") as out:  # this run's messages only
        try:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-I", "-S", "-c", LAUNCH, str(pidfile),
                ",".join(map(str, KEPT_CAPABILITIES)), *cmd,
                stdin=asyncio.subprocess.DEVNULL, stdout=out, stderr=out,
                pass_fds=pass_fds, cwd="/")
        except OSError as exc:
            raise VirtError(f"cannot run {cmd[0]}: {exc}") from exc
    try:
        async with asyncio.timeout(10.0):
            await proc.wait()  # the launcher returns at once, QEMU forked off
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
    pid = read_pid(pidfile)
    if pid is None:
        raise VirtError(f"QEMU failed to start (launcher exit {proc.returncode}): "
                        f"{tail(log, 2000)}")
    deadline = time.monotonic() + timeout
    while not await ready():
        if not _alive(pid):
            raise VirtError(f"QEMU failed to start: {tail(log, 2000) or 'no message'}")
        if time.monotonic() >= deadline:
            for found in {pid, *find_guest_pids(uuid, instance_dir)}:
                await kill(found, uuid)
            raise VirtError(f"QEMU did not start within {timeout}s: {tail(log, 2000)}")
        await asyncio.sleep(0.02)


def _alive(pid: int) -> bool:
    """Whether ``pid`` runs (not gone, not a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[:1] not in (["Z"], ["X"])


def _since(log: Path, size: int) -> str:
    """What ``log`` says after its first ``size`` bytes (this start's messages)."""
    try:
        with log.open("rb") as f:
            end = f.seek(0, os.SEEK_END)
            f.seek(size if end >= size else 0)
            f.seek(max(f.tell(), end - 2000))
            return f.read().decode(errors="replace").strip()
    except OSError:
        return ""


def read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return None


def is_guest_process(pid: int, uuid: str) -> bool:
    """Whether ``pid`` is a live (not zombie) QEMU started for guest ``uuid``."""
    proc = Path(f"/proc/{pid}")
    try:
        stat = (proc / "stat").read_text()
        argv = (proc / "cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    state = stat.rsplit(")", 1)[-1].split()[:1]
    if state in (["Z"], ["X"]):
        return False
    name = f"guest={uuid}".encode()
    return any(arg == name or arg.startswith(name + b",") for arg in argv)


def guest_pid(pidfile: Path, uuid: str) -> int | None:
    """The pid of the guest's running QEMU, or None when it is not running."""
    pid = read_pid(pidfile)
    return pid if pid is not None and is_guest_process(pid, uuid) else None


def find_guest_pids(uuid: str, instance_dir: Path | None = None) -> list[int]:
    """Every live QEMU for ``uuid``, found by its command line (cleanup of lost pidfiles);
    with ``instance_dir``, only those whose files are there (another Onestack on this
    machine, or another host's agent of a test, may run a guest of the same uuid)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and is_guest_process(int(entry.name), uuid) and (
                instance_dir is None or _uses(int(entry.name), instance_dir)):
            pids.append(int(entry.name))
    return pids


def _uses(pid: int, instance_dir: Path) -> bool:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return str(instance_dir.resolve()).encode() + b"/" in argv


async def wait_gone(pid: int, uuid: str, timeout: float) -> bool:
    """Wait until the process has exited; whether it did within ``timeout``."""
    deadline = time.monotonic() + timeout
    while is_guest_process(pid, uuid):
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def kill(pid: int, uuid: str, timeout: float = 10.0) -> None:
    """SIGKILL the guest's process and wait for it to go."""
    if not is_guest_process(pid, uuid):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    if not await wait_gone(pid, uuid, timeout):
        raise VirtError(f"QEMU pid {pid} of guest {uuid} did not die after SIGKILL")


async def run_tool(*argv: str, timeout: float) -> str:
    """Run a host tool (qemu-img, qemu-system-x86_64 --version); its stdout, or VirtError."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
    except OSError as exc:
        raise VirtError(f"cannot run {argv[0]}: {exc}") from exc
    try:
        async with asyncio.timeout(timeout):
            out, err = await proc.communicate()
    except TimeoutError as exc:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise VirtError(f"{' '.join(argv[:2])} did not finish within {timeout}s") from exc
    if proc.returncode != 0:
        raise VirtError(f"{' '.join(argv[:2])} failed (exit {proc.returncode}): "
                        f"{err.decode(errors='replace').strip()[:2000]}")
    return out.decode(errors="replace")
