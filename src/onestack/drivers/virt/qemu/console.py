"""A guest's serial console on the host: its logger process (``consolelog.py``), started
before QEMU and stopped with the guest, reading back what the guest printed, and the
interactive consoles (serial through the logger, the screen through QEMU's VNC server) as
byte streams.

On disk a guest's console is ``console.log`` (the newest output) and ``console.log.0`` (the
output before it), each at most ``LOG_CAP`` bytes.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
from pathlib import Path

from onestack.drivers.virt.base import VirtError
from onestack.drivers.virt.qemu.cmdline import GuestFiles

LOG_CAP = 1024 * 1024  # bytes per file: a guest's console takes at most twice this
MAX_CONSOLE_BYTES = 1024 * 1024  # what a console read returns at most
SCRIPT = Path(__file__).with_name("consolelog.py")
START_TIMEOUT = 10.0


def logger_command(files: GuestFiles, uuid: str, cap: int = LOG_CAP) -> list[str]:
    return [sys.executable, "-I", "-S", str(SCRIPT), "--daemon", "--guest", uuid,
            "--socket", str(files.console_socket), "--interactive", str(files.serial_socket),
            "--log", str(files.console),
            "--max-bytes", str(cap), "--pidfile", str(files.logger_pidfile)]


def _argv(pid: int) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def is_logger(pid: int, files: GuestFiles) -> bool:
    """Whether ``pid`` is the console logger of the guest whose files are ``files``."""
    argv = _argv(pid)
    return str(SCRIPT).encode() in argv and str(files.console_socket).encode() in argv


def logger_pids(files: GuestFiles) -> list[int]:
    """Every console logger of this guest (by its socket path in the instance dir)."""
    return [int(e.name) for e in Path("/proc").iterdir()
            if e.name.isdigit() and is_logger(int(e.name), files)]


def running_logger(files: GuestFiles) -> int | None:
    try:
        pid = int(files.logger_pidfile.read_text().strip())
    except (OSError, ValueError):
        return None
    # a logger from before the interactive console (no serial.sock) is replaced: QEMU's
    # serial port reconnects to the new one within a second
    if (is_logger(pid, files) and files.console_socket.exists()
            and files.serial_socket.exists()):
        return pid
    return None


def needs_logger(qemu_pid: int, files: GuestFiles) -> bool:
    """Whether the guest's running QEMU writes to a console logger that is not running
    (a QEMU started before the loggers wrote console.log itself and needs none)."""
    chardev = f"path={files.console_socket},".encode()
    return any(chardev in arg for arg in _argv(qemu_pid)) and running_logger(files) is None


async def ensure_logger(files: GuestFiles, uuid: str, cap: int = LOG_CAP) -> int:
    """The guest's logger, started when none runs (a first start, a host rebooted, a logger
    killed); its pid. QEMU connects to its socket."""
    pid = running_logger(files)
    if pid is not None:
        return pid
    await stop_logger(files)  # strays (a pidfile lost) must not hold the socket
    # The launcher's errors go to a file, not a pipe: the detached logger must hold nothing
    # of its caller's (under uvloop a pipe's write end stays open in the daemon, and reading
    # it to its end would wait for the logger to exit).
    err_path = files.logger_pidfile.with_name("console-logger.err")
    try:
        with err_path.open("wb") as err_file:
            proc = await asyncio.create_subprocess_exec(
                *logger_command(files, uuid, cap), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=err_file)
    except OSError as exc:
        raise VirtError(f"cannot start the console logger of guest {uuid}: {exc}") from exc
    try:
        async with asyncio.timeout(START_TIMEOUT):
            await proc.wait()
    except TimeoutError as exc:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise VirtError(f"the console logger of guest {uuid} did not start") from exc
    err = err_path.read_bytes() if err_path.exists() else b""
    err_path.unlink(missing_ok=True)
    pid = running_logger(files)
    if proc.returncode != 0 or pid is None:
        raise VirtError(f"the console logger of guest {uuid} failed to start: "
                        f"{err.decode(errors='replace').strip() or proc.returncode}")
    return pid


async def stop_logger(files: GuestFiles, timeout: float = 5.0) -> None:
    """Stop the guest's loggers (SIGTERM, SIGKILL after ``timeout``); idempotent."""
    pids = logger_pids(files)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while (alive := [p for p in pids if is_logger(p, files) and not _zombie(p)]):
        if time.monotonic() >= deadline:
            for pid in alive:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            break
        await asyncio.sleep(0.02)
    files.logger_pidfile.unlink(missing_ok=True)


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[:1] in (["Z"], ["X"])


def _tail(paths: list[Path], max_bytes: int) -> tuple[bytes, bool]:
    """The last ``max_bytes`` of the files' concatenation; whether it was cut."""
    chunks: list[bytes] = []
    want = max_bytes
    cut = False
    for path in reversed(paths):
        try:
            with path.open("rb") as f:
                size = f.seek(0, os.SEEK_END)
                f.seek(max(0, size - want))
                data = f.read(want)
        except FileNotFoundError:
            continue
        chunks.append(data)
        want -= len(data)
        if want <= 0:
            earlier = paths[:paths.index(path)]
            cut = size > len(data) or any(p.exists() for p in earlier)
            break
    return b"".join(reversed(chunks)), cut


def read_console(files: GuestFiles, length: int | None,
                 max_bytes: int = MAX_CONSOLE_BYTES) -> str:
    """The guest's most recent console output: the last ``length`` lines (all with None) of
    the last ``max_bytes`` it printed."""
    data, cut = _tail([files.console_rotated, files.console], max_bytes)
    text = data.decode(errors="replace").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if cut:
        lines = lines[1:]  # cut in the middle of a line
    if lines and lines[-1] == "":
        lines.pop()
    if length is not None:
        lines = lines[-length:] if length > 0 else []
    return "".join(line + "\n" for line in lines)


CONSOLE_PROTOCOLS = ("serial", "vnc")


def console_path(files: GuestFiles, protocol: str) -> Path:
    """The unix socket of a guest's interactive console: ``serial`` (bytes both ways with its
    serial port, through its logger) or ``vnc`` (RFB, QEMU's VNC server)."""
    if protocol == "serial":
        return files.serial_socket
    if protocol == "vnc":
        return files.vnc_socket
    raise VirtError(f"console protocol {protocol!r} is not one of {CONSOLE_PROTOCOLS}")


async def open_console(files: GuestFiles, protocol: str
                       ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A connection to the guest's interactive console (VirtError when it has none: not
    running, or a driver without consoles)."""
    path = console_path(files, protocol)
    try:
        return await asyncio.open_unix_connection(str(path))
    except OSError as exc:
        raise VirtError(f"no {protocol} console ({exc.strerror or exc})") from exc
