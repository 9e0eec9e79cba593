"""Scaffolding for the load balancer integration tests: a bridge, namespaces standing in
for a client and for member guests (each serving HTTP, a TCP echo and a UDP echo that
answer with their own name), and a client that talks to the VIP from its namespace.

Names start with ``olbt`` (no prefix the network agent or the lb driver owns); ``Net.close``
removes everything made, and is safe to call after a partial setup.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import uuid
from dataclasses import dataclass, field

import pytest

from onestack.drivers.lb.base import Interface

SUBNET = "10.251.0"
SUBNET2 = "10.252.0"
BACKEND = r"""
import socket, socketserver, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
name = sys.argv[1]
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        body = f"{name}:{self.server.server_address[1]}{self.path}".encode()
        if self.path == "/xff":
            body = str(self.headers.get("X-Forwarded-For")).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
class Echo(socketserver.StreamRequestHandler):
    def handle(self):
        for line in self.rfile:
            self.wfile.write(name.encode() + b" " + line); self.wfile.flush()
class T(socketserver.ThreadingTCPServer):
    allow_reuse_address = True; daemon_threads = True
    def handle_error(self, *a): pass
class W(ThreadingHTTPServer):
    def handle_error(self, *a): pass
for port in (80, 8080):
    threading.Thread(target=W(("0.0.0.0", port), H).serve_forever, daemon=True).start()
threading.Thread(target=T(("0.0.0.0", 7000), Echo).serve_forever, daemon=True).start()
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("0.0.0.0", 5353))
print("ready", flush=True)
while True:
    data, peer = u.recvfrom(2048); u.sendto(name.encode() + b" " + data, peer)
"""
CLIENT = r"""
import socket, sys, urllib.request
kind, target, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
host, _, port = target.rpartition(":")
for i in range(n):
    try:
        if kind == "http":
            out = urllib.request.urlopen(f"http://{target}", timeout=3).read().decode()
        elif kind == "tcp":
            with socket.create_connection((host, int(port)), timeout=3) as s:
                s.sendall(b"hi\n"); out = s.makefile().readline().strip()
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2)
            s.sendto(b"hi", (host, int(port))); out = s.recv(2048).decode(); s.close()
    except Exception as exc:
        out = f"FAIL {type(exc).__name__}"
    print(out, flush=True)
"""
HOLD = r"""
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
s = socket.create_connection((host, port), timeout=20); f = s.makefile("rw")
f.write("one\n"); f.flush(); print(f.readline().strip(), flush=True)
sys.stdin.readline()
f.write("two\n"); f.flush(); print(f.readline().strip(), flush=True)
"""


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check, timeout=30)


@dataclass
class Net:
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    namespaces: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    procs: dict[str, subprocess.Popen[str]] = field(default_factory=dict)

    @property
    def bridge(self) -> str:
        return f"olbt{self.tag}"

    def ns(self, role: str) -> str:
        return f"olbt-{role}-{self.tag}"

    def setup(self, backends: int = 2) -> None:
        self.links.append(self.bridge)
        sh("ip", "link", "add", self.bridge, "type", "bridge", "stp_state", "0",
           "forward_delay", "0")
        sh("ip", "link", "set", self.bridge, "up")
        self.add_host("c", 2)
        for i in range(1, backends + 1):
            self.add_host(f"b{i}", 10 + i)
            self.start_backend(i)

    @property
    def bridge2(self) -> str:
        return f"olbu{self.tag}"

    def add_second_network(self) -> None:
        """A second network (bridge ``bridge2``, SUBNET2) with member b3 on it; b3 routes
        SUBNET back through the load balancer's port at SUBNET2.10 (so that only the load
        balancer's forward chain keeps the client from reaching b3 through it)."""
        self.links.append(self.bridge2)
        sh("ip", "link", "add", self.bridge2, "type", "bridge", "stp_state", "0",
           "forward_delay", "0")
        sh("ip", "link", "set", self.bridge2, "up")
        self.add_host("b3", 13, self.bridge2, SUBNET2)
        sh("ip", "-n", self.ns("b3"), "route", "add", f"{SUBNET}.0/24", "via", f"{SUBNET2}.10")
        self.start_backend(3)

    def member_port(self) -> Interface:
        return Interface(port_id=f"{self.tag}-mem-port", mac=f"fa:16:3e:{self.tag[:2]}:00:02",
                         addresses=(f"{SUBNET2}.10/24",), bridge=self.bridge2)

    def add_host(self, role: str, octet: int, bridge: str | None = None,
                 subnet: str = SUBNET) -> None:
        ns, outer = self.ns(role), f"olbt{role}{self.tag}"
        self.namespaces.append(ns)
        sh("ip", "netns", "add", ns)
        self.links.append(outer)
        sh("ip", "link", "add", outer, "type", "veth", "peer", "name", "eth0", "netns", ns)
        sh("ip", "link", "set", outer, "master", bridge or self.bridge, "up")
        sh("ip", "-n", ns, "addr", "add", f"{subnet}.{octet}/24", "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")

    def start_backend(self, i: int) -> None:
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns(f"b{i}"), sys.executable, "-c",
                                 BACKEND, f"b{i}"], stdout=subprocess.PIPE, text=True)
        self.procs[f"b{i}"] = proc
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"

    def stop_backend(self, i: int) -> None:
        proc = self.procs.pop(f"b{i}")
        proc.kill()
        proc.wait(10)

    def vip_port(self, octet: int = 10) -> Interface:
        return Interface(port_id=f"{self.tag}-vip-port", mac=f"fa:16:3e:{self.tag[:2]}:00:01",
                         addresses=(f"{SUBNET}.{octet}/24",), bridge=self.bridge)

    def client(self, kind: str, target: str, n: int) -> list[str]:
        out = sh("ip", "netns", "exec", self.ns("c"), sys.executable, "-c", CLIENT, kind,
                 target, str(n)).stdout
        return out.splitlines()

    def hold(self, host: str, port: int) -> subprocess.Popen[str]:
        proc = subprocess.Popen(["ip", "netns", "exec", self.ns("c"), sys.executable, "-c",
                                 HOLD, host, str(port)], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
        self.procs["hold"] = proc
        return proc

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(10)
        for ns in self.namespaces:
            for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
                if pid.isdigit():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(int(pid), signal.SIGKILL)
            sh("ip", "netns", "delete", ns, check=False)
        for link in reversed(self.links):
            sh("ip", "link", "del", link, check=False)


def skip_reason() -> str | None:
    """Why the real driver cannot run here (None: it can). In CI a missing tool fails."""
    if os.geteuid() != 0:
        return "needs root"
    missing = [t for t in ("haproxy", "nft", "ip") if shutil.which(t) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{', '.join(missing)} is required in CI (scripts/setup-env.sh "
                        "installs it)")
        return f"needs {', '.join(missing)}"
    return None
