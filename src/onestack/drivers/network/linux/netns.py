"""Listening sockets inside a network namespace, without a helper process.

setns(2) switches only the calling thread, so a short-lived thread enters the namespace,
creates and binds the socket (which stays in that namespace for its whole life), and
switches back before it ends. The socket is then served by the event loop as any other.
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading

from onestack.drivers.network.base import NetError
from onestack.drivers.network.linux.ip import NETNS_DIR

CLONE_NEWNET = 0x40000000


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def _listen(ns: str, host: str, port: int) -> socket.socket:
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(os.path.join(NETNS_DIR, ns), os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.setsockopt(socket.SOL_IP, 15, 1)  # IP_FREEBIND: the address may come later
                sock.bind((host, port))
                sock.listen(128)
                sock.setblocking(False)
            except OSError:
                sock.close()
                raise
            return sock
        finally:
            _setns(own)
    finally:
        os.close(own)


def listen_in_namespace(ns: str, host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port inside namespace ``ns`` (blocking call)."""
    result: list[socket.socket] = []
    error: list[BaseException] = []

    def work() -> None:
        try:
            result.append(_listen(ns, host, port))
        except BaseException as exc:  # handed to the caller
            error.append(exc)

    thread = threading.Thread(target=work, name=f"netns-{ns}", daemon=True)
    thread.start()
    thread.join()
    if error:
        raise NetError(f"cannot listen on {host}:{port} in namespace {ns}: {error[0]}")
    return result[0]
