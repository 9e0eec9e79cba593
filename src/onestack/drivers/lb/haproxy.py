"""The haproxy load balancer driver: per load balancer a network namespace
``onestack-lb-<id>`` with a veth per port (host end on the network's bridge), one haproxy
for TCP/HTTP/HTTPS-passthrough listeners and an nftables table (UDP listeners, and a
forward chain that lets nothing else through the namespace).

Files live in ``<state_dir>/<lb id>/``: ``haproxy.cfg``, ``haproxy.pid``, ``stats.sock``
(admin level) and ``nft.conf``. A changed configuration is checked with ``haproxy -c`` and
then loaded by a new haproxy started with ``-sf <old pid>``: the old process hands over the
listening sockets' traffic and finishes its established connections before it exits.
A driver instance adopts a running haproxy from the pid file when ``/proc/<pid>/cmdline``
is haproxy with this load balancer's configuration file (any other pid is left alone); a
dead one is started again by the next ``ensure``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import resource
import shutil
import signal
import tempfile
import time
from pathlib import Path

from onestack.drivers.lb import haproxy_config, host, names, nft_udp, stats, tls_files
from onestack.drivers.lb.base import LbDriver, LbError, LbStatus, LoadBalancerSpec

CFG, PID, SOCK, NFT = "haproxy.cfg", "haproxy.pid", "stats.sock", "nft.conf"
LOADED = "haproxy.cfg.loaded"
TLS = "tls"  # TERMINATED_HTTPS certificates (keys included): 0700, files 0600
SOCKET_PATH_MAX = 107  # sun_path


def default_maxconn() -> int:
    """haproxy needs two descriptors per connection and refuses to start when it cannot
    raise its limit that far: stay under this host's hard limit."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY:
        return 50000
    return max(100, min(50000, (hard - 200) // 2))


def write_private(directory: Path, files: dict[str, bytes]) -> None:
    """``files`` into ``directory`` (0700), each 0600 from the moment it exists, replaced
    whole through a temporary name; a file already as wanted is left alone."""
    if not files:
        return
    directory.mkdir(mode=0o700, exist_ok=True)
    os.chmod(directory, 0o700)
    for name, content in files.items():
        path = directory / name
        with contextlib.suppress(OSError):
            if path.read_bytes() == content:
                continue
        tmp = directory / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        os.replace(tmp, path)


def prune(directory: Path, keep: dict[str, bytes]) -> None:
    """Remove what ``directory`` holds beyond ``keep`` (and the directory when empty)."""
    if not directory.is_dir():
        return
    for path in directory.iterdir():
        if path.name not in keep:
            path.unlink(missing_ok=True)
    if not keep:
        with contextlib.suppress(OSError):
            directory.rmdir()


def missing_tools(haproxy: str = "haproxy") -> list[str]:
    return [t for t in (haproxy, "ip", "nft") if shutil.which(t) is None]


class HaproxyLbDriver(LbDriver):
    name = "haproxy"

    def __init__(self, state_dir: Path | str, haproxy: str = "haproxy",
                 stop_timeout: float = 5.0, maxconn: int | None = None) -> None:
        self.state_dir = Path(state_dir)
        self.haproxy = haproxy
        self.stop_timeout = stop_timeout
        self.maxconn = maxconn or default_maxconn()
        self.specs: dict[str, LoadBalancerSpec] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    # -- paths and processes ------------------------------------------------------------

    def _dir(self, lb_id: str) -> Path:
        return self.state_dir / names.check_id(lb_id, "load balancer")

    def socket_path(self, lb_id: str) -> str:
        """``<dir>/stats.sock``, or where a deep state directory would make that longer
        than a socket path may be, a short name under /run derived from it."""
        sock = str(self._dir(lb_id) / SOCK)
        if len(sock.encode()) <= SOCKET_PATH_MAX:
            return sock
        digest = hashlib.sha256(sock.encode()).hexdigest()[:24]
        base = "/run" if os.access("/run", os.W_OK) else tempfile.gettempdir()
        return f"{base}/onestack-lb-{digest}.sock"

    def _lock(self, lb_id: str) -> asyncio.Lock:
        return self._locks.setdefault(lb_id, asyncio.Lock())

    def _is_ours(self, pid: int, lb_id: str) -> bool:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        cfg = str(self._dir(lb_id) / CFG).encode()
        if not argv or not os.path.basename(argv[0]).startswith(b"haproxy"):
            return False
        return any(a == b"-f" and b == cfg for a, b in itertools.pairwise(argv))

    def pid(self, lb_id: str) -> int | None:
        """The running haproxy of this load balancer, from its pid file, or None."""
        try:
            text = (self._dir(lb_id) / PID).read_text()
        except OSError:
            return None
        for word in text.split():
            if word.isdigit() and self._is_ours(int(word), lb_id):
                return int(word)
        return None

    async def _start(self, lb_id: str, ns: str, old: int | None) -> None:
        d = self._dir(lb_id)
        argv = [self.haproxy, "-D", "-f", str(d / CFG), "-p", str(d / PID)]
        if old is not None:
            argv += ["-sf", str(old)]
        await host.start_daemon(argv, ns)
        if self.pid(lb_id) is None:
            raise LbError(f"haproxy of load balancer {lb_id} did not start "
                          f"({' '.join(argv)} exited but left no running process)")

    async def _stop(self, lb_id: str) -> None:
        pid = self.pid(lb_id)
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        while time.monotonic() < deadline and self._is_ours(pid, lb_id):
            await asyncio.sleep(0.05)
        if self._is_ours(pid, lb_id):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    # -- the contract ---------------------------------------------------------------------

    async def ensure(self, spec: LoadBalancerSpec) -> None:
        d = self._dir(spec.id)
        ns = names.namespace(spec.id)
        sock = self.socket_path(spec.id)
        # everything generated first: a refused value touches nothing on the host
        tls_dir = d / TLS
        cfg = haproxy_config.render(spec, sock, self.maxconn, str(tls_dir))
        tls = tls_files.files(spec, str(tls_dir))
        body = nft_udp.render(spec)
        interfaces = [spec.vip, *spec.member_ports]
        async with self._lock(spec.id):
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
            await host.ensure_namespace(ns)
            await host.converge_interfaces(ns, interfaces)
            await self._nft(ns, d, body)
            write_private(tls_dir, tls)
            await self._haproxy(spec.id, ns, d, cfg)
            prune(tls_dir, tls)  # the running haproxy has read what it needs
            self.specs[spec.id] = spec

    async def _nft(self, ns: str, d: Path, body: str) -> None:
        path = d / NFT
        text = nft_udp.script(body)
        if path.exists() and path.read_text() == text and await host.nft_has_table(ns):
            return
        await host.nft_apply(ns, text)
        path.write_text(text)

    async def _haproxy(self, lb_id: str, ns: str, d: Path, cfg: str) -> None:
        """Start or reload when haproxy is down or runs another configuration than ``cfg``
        (``haproxy.cfg.loaded`` is what the running process last loaded successfully)."""
        path, loaded = d / CFG, d / LOADED
        pid = self.pid(lb_id)
        if pid is not None and loaded.exists() and loaded.read_text() == cfg:
            if not path.exists() or path.read_text() != cfg:  # after a failed reload
                path.write_text(cfg)
            return
        new = d / (CFG + ".new")
        new.write_text(cfg)
        await host.run([self.haproxy, "-c", "-q", "-f", str(new)])
        new.replace(path)
        try:
            await self._start(lb_id, ns, pid)
        except LbError:
            await self._recover(lb_id, ns, pid)
            raise
        loaded.write_text(cfg)

    async def _recover(self, lb_id: str, ns: str, old: int | None) -> None:
        """After a reload that failed (a port taken, say): the old haproxy still serves,
        but the failed one may have replaced the stats socket before it gave up. Reload
        the configuration that was running, which binds the socket again."""
        d = self._dir(lb_id)
        if old is None or self.pid(lb_id) != old or not (d / LOADED).exists():
            return
        try:
            await self.show(lb_id, "show info")
            return
        except (OSError, TimeoutError):
            pass
        (d / CFG).write_text((d / LOADED).read_text())
        with contextlib.suppress(LbError):
            await self._start(lb_id, ns, old)

    async def destroy(self, lb_id: str) -> None:
        ns = names.namespace(lb_id)
        async with self._lock(lb_id):
            await self._stop(lb_id)
            await host.nft_delete(ns)
            await host.delete_namespace(ns)
            shutil.rmtree(self._dir(lb_id), ignore_errors=True)
            with contextlib.suppress(OSError):
                os.unlink(self.socket_path(lb_id))
            self.specs.pop(lb_id, None)

    async def running(self) -> list[str]:
        """The load balancers of this driver's state directory, the mark of ownership: it
        is made before the namespace and removed after it, so a crash in between leaves a
        directory that the next pass finds. Namespaces of another cloud on this host (its
        own state directory) are not ours."""
        if not self.state_dir.is_dir():
            return []
        return sorted(p.name for p in self.state_dir.iterdir()
                      if p.is_dir() and names.ID_RE.fullmatch(p.name))

    async def status(self, lb_id: str) -> LbStatus:
        if self.pid(lb_id) is None:
            return LbStatus(running=False)
        try:
            text = await self.show(lb_id, "show stat")
        except (OSError, TimeoutError, LbError):
            return LbStatus(running=False)
        return stats.to_status(self.specs.get(lb_id), stats.parse(text))

    async def show(self, lb_id: str, command: str, timeout: float = 5.0) -> str:
        """One command on the load balancer's stats socket, its whole answer."""
        path = self.socket_path(lb_id)
        reader, writer = await asyncio.wait_for(asyncio.open_unix_connection(path), timeout)
        try:
            writer.write(command.encode() + b"\n")
            await writer.drain()
            data = await asyncio.wait_for(reader.read(), timeout)
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()
        return data.decode(errors="replace")
