"""A guest's console logger (what virtlogd is to libvirt, one small process per guest).

QEMU's serial port is a unix socket client (``reconnect``) of this process, which writes what
the guest prints to ``console.log`` and rotates it at a size cap into ``console.log.0``: a
guest printing forever takes at most two caps of the host's disk, and the most recent output
is always on disk. QEMU blocks on the socket while the logger is busy, so a flood is paced by
the logger's writes, not buffered.

With ``--interactive`` it also listens on a second socket for one interactive client at a
time (the serial console of the web proxy): what the guest prints goes to the log and to that
client, what the client sends goes to the guest's serial port. A second client is told the
console is busy and closed; a client too slow to follow the guest (``MAX_PENDING`` queued) is
dropped, so a viewer never slows the guest or the log.

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


BUSY = b"\r\n[onestack: this console is in use by another client; try again later]\r\n"
MAX_PENDING = 1 << 20  # bytes queued for a slow reader: a viewer that far behind is dropped


class Peer:
    """A connected socket and the bytes queued for it (written as it can take them)."""

    def __init__(self, sock: socket.socket, role: str) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.role = role  # "guest" (QEMU's serial port) or "viewer" (an interactive client)
        self.pending = bytearray()

    def flush(self) -> bool:
        """Write what it can; False when the peer is gone."""
        try:
            while self.pending:
                sent = self.sock.send(self.pending)
                del self.pending[:sent]
        except (BlockingIOError, InterruptedError):
            pass
        except OSError:
            return False
        return True


class Relay:
    """The guests' output into the log and to the one viewer; the viewer's input to the
    guests (normally one QEMU; a second appears for a moment when QEMU reconnects)."""

    def __init__(self, log: RotatingLog) -> None:
        self.log = log
        self.sel = selectors.DefaultSelector()
        self.listeners: dict[socket.socket, str] = {}
        self.peers: dict[socket.socket, Peer] = {}
        self.viewer: Peer | None = None

    def listen_on(self, server: socket.socket, role: str) -> None:
        server.setblocking(False)
        self.listeners[server] = role
        self.sel.register(server, selectors.EVENT_READ)

    def _accept(self, server: socket.socket) -> None:
        try:
            conn, _ = server.accept()
        except (BlockingIOError, InterruptedError):
            return
        role = self.listeners[server]
        if role == "viewer" and self.viewer is not None:
            with contextlib.suppress(OSError):
                conn.send(BUSY)
            conn.close()
            return
        peer = Peer(conn, role)
        self.peers[conn] = peer
        self.sel.register(conn, selectors.EVENT_READ)
        if role == "viewer":
            self.viewer = peer

    def _queue(self, peer: Peer, data: bytes) -> None:
        if len(peer.pending) + len(data) > MAX_PENDING:
            if peer.role == "viewer":  # too slow to follow the guest: let it go
                self._drop(peer)
            return  # the guest is not reading: typed input beyond the bound is lost
        peer.pending += data
        if not peer.flush():
            self._drop(peer)
        elif peer.pending:
            self.sel.modify(peer.sock, selectors.EVENT_READ | selectors.EVENT_WRITE)

    def _drop(self, peer: Peer) -> None:
        if self.peers.pop(peer.sock, None) is None:
            return
        self.sel.unregister(peer.sock)
        peer.sock.close()
        if self.viewer is peer:
            self.viewer = None

    def _event(self, peer: Peer, mask: int) -> None:
        if mask & selectors.EVENT_WRITE:
            if not peer.flush():
                self._drop(peer)
                return
            if not peer.pending:
                self.sel.modify(peer.sock, selectors.EVENT_READ)
        if not mask & selectors.EVENT_READ:
            return
        try:
            data = peer.sock.recv(CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self._drop(peer)
        elif peer.role == "guest":
            self.log.write(data)
            if self.viewer is not None:
                self._queue(self.viewer, data)
        else:
            for guest in [p for p in self.peers.values() if p.role == "guest"]:
                self._queue(guest, data)

    def step(self, timeout: float) -> None:
        for key, mask in self.sel.select(timeout):
            sock = key.fileobj
            assert isinstance(sock, socket.socket)
            if sock in self.listeners:
                self._accept(sock)
            elif (peer := self.peers.get(sock)) is not None:
                self._event(peer, mask)

    def close(self) -> None:
        for peer in list(self.peers.values()):
            self._drop(peer)
        self.sel.close()
        for server in self.listeners:
            server.close()


def serve(server: socket.socket, path: Path, log: RotatingLog,
          interactive: tuple[socket.socket, Path] | None = None) -> None:
    """Copy the guest's bytes into ``log`` (and to the interactive client, whose bytes go to
    the guest) until SIGTERM, or the socket file is gone or no longer this logger's."""
    mine = _inode(path)
    stop = False

    def on_term(_signo: int, _frame: object) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    relay = Relay(log)
    relay.listen_on(server, "guest")
    owned = [(path, mine)]
    if interactive is not None:
        relay.listen_on(interactive[0], "viewer")
        owned.append((interactive[1], _inode(interactive[1])))
    try:
        while not stop:
            relay.step(WATCH_INTERVAL)
            if _inode(path) != mine:
                break
    finally:
        relay.close()
        for sock_path, inode in owned:
            if _inode(sock_path) == inode:
                with contextlib.suppress(OSError):
                    sock_path.unlink()
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
    parser.add_argument("--interactive", type=Path,
                        help="a socket for one interactive client at a time")
    parser.add_argument("--log", required=True, type=Path)
    parser.add_argument("--max-bytes", required=True, type=int)
    parser.add_argument("--pidfile", type=Path)
    parser.add_argument("--daemon", action="store_true")
    args = parser.parse_args(argv)
    try:
        log = RotatingLog(args.log, args.max_bytes)
        server = listen(args.socket)
        viewer = listen(args.interactive) if args.interactive else None
    except (OSError, ValueError) as exc:
        print(f"console logger: {exc}", file=sys.stderr)
        return 1
    if args.daemon:
        if args.pidfile is None:
            print("console logger: --daemon needs --pidfile", file=sys.stderr)
            return 1
        if not _daemonize(args.pidfile):
            server.close()
            if viewer is not None:
                viewer.close()
            log.close()
            return 0
    elif args.pidfile is not None:
        args.pidfile.write_text(f"{os.getpid()}\n")
    serve(server, args.socket, log,
          (viewer, args.interactive) if viewer is not None and args.interactive else None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
