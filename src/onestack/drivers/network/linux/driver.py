"""The Linux network driver: iproute2, nftables and dnsmasq behind the NetDriver contract."""

from __future__ import annotations

import asyncio
import fcntl
import os
import shutil
import socket
from pathlib import Path

from onestack.drivers.network.base import DhcpConfig, Link, NetDriver
from onestack.drivers.network.linux import ip, nft
from onestack.drivers.network.linux.dnsmasq import Dnsmasq
from onestack.drivers.network.linux.netns import listen_in_namespace

TOOLS = ("ip", "nft", "dnsmasq")
LOCK = "/run/onestack-dataplane.lock"


def default_lock() -> str:
    """One data plane per network namespace: the host's lock in the host's namespace, one
    named after the namespace elsewhere (agents of a test, each in its own namespace)."""
    try:
        mine = os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return LOCK
    try:
        init = os.stat("/proc/1/ns/net").st_ino
    except OSError:  # not readable from inside another namespace (ip netns exec)
        init = -1
    return LOCK if mine == init else f"/run/onestack-dataplane-{mine}.lock"


def missing_tools() -> list[str]:
    return [t for t in TOOLS if shutil.which(t) is None]


class LinuxNetDriver(NetDriver):
    name = "linux"

    def __init__(self, state_dir: Path, lock_path: str | None = None) -> None:
        self.state_dir = state_dir
        self.dnsmasq = Dnsmasq(state_dir)
        self.lock_path = lock_path or default_lock()
        self._lock_fd: int | None = None

    async def claim_host(self) -> str | None:
        if self._lock_fd is not None:
            return None
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 4096).decode(errors="replace").strip() or "another process"
            os.close(fd)
            return holder
        os.ftruncate(fd, 0)
        os.write(fd, f"Onestack pid {os.getpid()} (state in {self.state_dir})\n".encode())
        self._lock_fd = fd  # held (and released by the kernel) for the life of the process
        return None

    async def namespaces(self) -> list[str]:
        return await ip.namespaces()

    async def ensure_namespace(self, ns: str, forwarding: bool = False) -> None:
        await ip.ensure_namespace(ns, forwarding)

    async def delete_namespace(self, ns: str) -> None:
        await ip.delete_namespace(ns)

    async def links(self, ns: str | None = None) -> dict[str, Link]:
        return await ip.links(ns)

    async def ensure_bridge(self, name: str, mtu: int) -> None:
        await ip.ensure_bridge(name, mtu)

    async def ensure_tap(self, name: str, bridge: str, mtu: int) -> None:
        await ip.ensure_tap(name, bridge, mtu)

    async def ensure_vxlan(self, name: str, vni: int, local_ip: str, remotes: list[str],
                           bridge: str, mtu: int) -> None:
        await ip.ensure_vxlan(name, vni, local_ip, remotes, bridge, mtu)

    async def ensure_veth(self, host_name: str, bridge: str, ns: str, ns_name: str,
                          mtu: int, mac: str) -> None:
        await ip.ensure_veth(host_name, bridge, ns, ns_name, mtu, mac)

    async def delete_link(self, name: str, ns: str | None = None) -> None:
        await ip.delete_link(name, ns)

    async def set_addresses(self, ns: str | None, dev: str, cidrs: list[str]) -> None:
        await ip.set_addresses(ns, dev, cidrs)

    async def set_routes(self, ns: str, routes: list[tuple[str, str]]) -> None:
        await ip.set_routes(ns, routes)

    async def set_sysctl(self, key: str, value: str, ns: str | None = None) -> None:
        await ip.set_sysctl(key, value, ns)

    async def nft_tables(self, ns: str | None = None) -> list[tuple[str, str]]:
        return await nft.tables(ns)

    async def nft_apply(self, family: str, table: str, body: str, ns: str | None = None
                        ) -> None:
        await nft.apply(family, table, body, ns)

    async def nft_delete(self, family: str, table: str, ns: str | None = None) -> None:
        await nft.delete(family, table, ns)

    async def dhcp_servers(self) -> list[str]:
        return await self.dnsmasq.running()

    async def dhcp_apply(self, config: DhcpConfig) -> None:
        await self.dnsmasq.apply(config)

    async def dhcp_stop(self, network_id: str) -> None:
        await self.dnsmasq.stop(network_id)

    async def listen(self, ns: str, host: str, port: int) -> socket.socket | None:
        return await asyncio.to_thread(listen_in_namespace, ns, host, port)
