"""A guest's console logger (what virtlogd is to libvirt, one small process per guest).

QEMU's serial port is a unix socket client (``reconnect``) of this process, which writes what
the guest prints to ``console.log`` and rotates it at a size cap into ``console.log.0``: a
guest printing forever takes at most two caps of the host's disk, and the most recent output
is always on disk. QEMU blocks on the socket while the logger is busy, so a flood is paced by
the logger's writes, not buffered.

Started by the driver before QEMU (``--daemon``: it returns once the socket listens, the
logger itself detached into its own session, so it outlives the agent as QEMU does; a
restarted logger is found again by QEMU's reconnect). Stopped with the guest (``destroy``);
it also stops by itself when its socket file goes away (the instance directory removed).

Runs as a script with the standard library only (``python -I -S consolelog.py ...``): a
guest's logger costs a few MB, not an Onestack import.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import selectors
import signal
import socket
import sys
from pathlib import Path

CHUNK = 65536
WATCH_INTERVAL = 2.0  # seconds between checks that the socket file is still ours


class RotatingLog:
    """An append-only file that never grows past ``max_bytes``: at the cap it becomes
    ``<name>.0`` (replacing the older one) and a new file starts."""

    def __init__(self, path: Path, max_bytes: int) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be positive")
        self.path = path
        self.rotated = path.with_name(path.name + ".0")
        self.max_bytes = max_bytes
        self._fd = -1
        self._size = 0
        self._open()

    def _open(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC,
                           0o600)
        self._size = os.fstat(self._fd).st_size
        if self._size > self.max_bytes:  # a file from before (an older, uncapped QEMU)
            self.rotate()

    def rotate(self) -> None:
        os.close(self._fd)
        os.replace(self.path, self.rotated)
        self._open()

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            room = self.max_bytes - self._size
            if room <= 0:
                self.rotate()
                continue
            part = view[:room]
            written = os.write(self._fd, part)
            self._size += written
            view = view[written:]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _inode(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def listen(path: Path) -> socket.socket:
    """The listening socket at ``path`` (a stale socket file from a dead logger replaced)."""
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    os.chmod(path, 0o600)
    sock.listen(4)
    return sock


def serve(server: socket.socket, path: Path, log: RotatingLog) -> None:
    """Copy every client's bytes into ``log`` until SIGTERM, or the socket file is gone or
    no longer this logger's."""
    mine = _inode(path)
    stop = False

    def on_term(_signo: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    sel = selectors.DefaultSelector()
    clients: set[socket.socket] = set()
    server.setblocking(False)
    sel.register(server, selectors.EVENT_READ)
    try:
        while not stop:
            for key, _ in sel.select(WATCH_INTERVAL):
                if key.fileobj is server:
                    with contextlib.suppress(BlockingIOError, InterruptedError):
                        client, _ = server.accept()
                        client.setblocking(False)
                        sel.register(client, selectors.EVENT_READ)
                        clients.add(client)
                    continue
                conn = key.fileobj
                assert isinstance(conn, socket.socket)
                try:
                    data = conn.recv(CHUNK)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if data:
                    log.write(data)
                else:
                    sel.unregister(conn)
                    clients.discard(conn)
                    conn.close()
            if _inode(path) != mine:
                break
    finally:
        sel.close()
        for conn in clients:
            conn.close()
        server.close()
        if _inode(path) == mine:
            with contextlib.suppress(OSError):
                path.unlink()
        log.close()


def _daemonize(pidfile: Path) -> bool:
    """Detach (double fork, new session); True in the logger, False in the caller, which
    returns once the logger's pid is in ``pidfile``."""
    first = os.fork()
    if first:
        _, status = os.waitpid(first, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(1)
        return False
    os.setsid()
    second = os.fork()
    if second:
        tmp = pidfile.with_name(pidfile.name + ".tmp")
        tmp.write_text(f"{second}\n")
        os.replace(tmp, pidfile)
        os._exit(0)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    os.chdir("/")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A guest's console logger.")
    parser.add_argument("--guest", required=True, help="the guest's uuid (names the process)")
    parser.add_argument("--socket", required=True, type=Path)
    parser.add_argument("--log", required=True, type=Path)
    parser.add_argument("--max-bytes", required=True, type=int)
    parser.add_argument("--pidfile", type=Path)
    parser.add_argument("--daemon", action="store_true")
    args = parser.parse_args(argv)
    try:
        log = RotatingLog(args.log, args.max_bytes)
        server = listen(args.socket)
    except (OSError, ValueError) as exc:
        print(f"console logger: {exc}", file=sys.stderr)
        return 1
    if args.daemon:
        if args.pidfile is None:
            print("console logger: --daemon needs --pidfile", file=sys.stderr)
            return 1
        if not _daemonize(args.pidfile):
            server.close()
            log.close()
            return 0
    elif args.pidfile is not None:
        args.pidfile.write_text(f"{os.getpid()}\n")
    serve(server, args.socket, log)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
