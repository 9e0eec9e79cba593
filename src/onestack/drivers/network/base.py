"""The network driver contract: what the network agent asks of a host.

Rules every implementation keeps:
- Every ``ensure_*`` is idempotent and converges: it creates what is missing and corrects
  what differs (master bridge, MTU, MAC, up), leaving a correct device alone.
- Every ``delete_*`` is idempotent: deleting what does not exist is not an error.
- Listings return only Onestack's own names (see ``names``): nothing else is ever touched.
- ``ns`` arguments name a network namespace; ``None`` is the host's own.
- Failures raise ``NetError`` with the command and what it said.
"""

from __future__ import annotations

import abc
import socket
from dataclasses import dataclass, field


class NetError(Exception):
    pass


@dataclass(frozen=True)
class Link:
    name: str
    kind: str  # bridge | tun | veth | ...
    master: str | None = None
    mtu: int = 1500
    up: bool = True
    mac: str | None = None


@dataclass
class DhcpHost:
    mac: str
    ip: str
    hostname: str
    # the port's own DHCP options (extra_dhcp_opts): (name or number, value, IP version),
    # given to the entries of this ``tag`` (the port's id)
    tag: str = ""
    options: tuple[tuple[str, str, int], ...] = ()


@dataclass
class DhcpSubnet:
    """One subnet served by a network's dnsmasq."""

    id: str
    cidr: str
    ip_version: int
    gateway_ip: str | None
    dns_nameservers: list[str] = field(default_factory=list)
    # (destination, nexthop) pairs sent as classless static routes (DHCP option 121)
    routes: list[tuple[str, str]] = field(default_factory=list)
    ipv6_address_mode: str | None = None
    ipv6_ra_mode: str | None = None


@dataclass
class DhcpConfig:
    network_id: str
    namespace: str
    interface: str
    mtu: int
    subnets: list[DhcpSubnet]
    hosts: list[DhcpHost]
    lease_seconds: int = 86400


class NetDriver(abc.ABC):
    name = "base"

    # --- namespaces ------------------------------------------------------------------------
    @abc.abstractmethod
    async def namespaces(self) -> list[str]:
        """Onestack's namespaces on this host."""

    @abc.abstractmethod
    async def ensure_namespace(self, ns: str, forwarding: bool = False) -> None:
        """The namespace with lo up (and IPv4/IPv6 forwarding on for routers)."""

    @abc.abstractmethod
    async def delete_namespace(self, ns: str) -> None:
        """Remove the namespace and every device in it."""

    # --- links -----------------------------------------------------------------------------
    @abc.abstractmethod
    async def links(self, ns: str | None = None) -> dict[str, Link]:
        """Onestack's links in a namespace (the host's by default), by name."""

    @abc.abstractmethod
    async def ensure_bridge(self, name: str, mtu: int) -> None:
        ...

    @abc.abstractmethod
    async def ensure_tap(self, name: str, bridge: str, mtu: int) -> None:
        """A tap (or any existing link of that name, e.g. a veth in tests) on the bridge."""

    @abc.abstractmethod
    async def ensure_vxlan(self, name: str, vni: int, local_ip: str, remotes: list[str],
                           bridge: str, mtu: int) -> None:
        """A VXLAN device (UDP 4789 from ``local_ip``) on the bridge, flooding to exactly
        ``remotes`` (the other hosts' tunnel addresses) and learning guests' MACs."""

    @abc.abstractmethod
    async def ensure_veth(self, host_name: str, bridge: str, ns: str, ns_name: str,
                          mtu: int, mac: str) -> None:
        """A veth pair: ``host_name`` on the bridge, ``ns_name`` (with ``mac``) in ``ns``."""

    @abc.abstractmethod
    async def delete_link(self, name: str, ns: str | None = None) -> None:
        ...

    @abc.abstractmethod
    async def set_addresses(self, ns: str | None, dev: str, cidrs: list[str]) -> None:
        """Exactly these global addresses on ``dev`` (``1.2.3.4/24`` form)."""

    @abc.abstractmethod
    async def set_routes(self, ns: str, routes: list[tuple[str, str]]) -> None:
        """Exactly these gateway routes (destination, via) in the namespace's main table;
        ``default`` is a destination too. Connected routes are the kernel's."""

    @abc.abstractmethod
    async def set_sysctl(self, key: str, value: str, ns: str | None = None) -> None:
        ...

    # --- nftables --------------------------------------------------------------------------
    @abc.abstractmethod
    async def nft_tables(self, ns: str | None = None) -> list[tuple[str, str]]:
        """Onestack's tables as (family, name)."""

    @abc.abstractmethod
    async def nft_apply(self, family: str, table: str, body: str, ns: str | None = None
                        ) -> None:
        """Replace the whole table with ``body`` (its chains and sets) atomically."""

    @abc.abstractmethod
    async def nft_delete(self, family: str, table: str, ns: str | None = None) -> None:
        ...

    # --- DHCP ------------------------------------------------------------------------------
    @abc.abstractmethod
    async def dhcp_servers(self) -> list[str]:
        """Network ids whose dnsmasq is running."""

    @abc.abstractmethod
    async def dhcp_apply(self, config: DhcpConfig) -> None:
        """Start the network's dnsmasq, or rewrite its files and reload it (SIGHUP); a
        change of subnets or interface restarts it."""

    @abc.abstractmethod
    async def dhcp_stop(self, network_id: str) -> None:
        ...

    # --- one data plane per host -----------------------------------------------------------
    async def claim_host(self) -> str | None:
        """Take this host's data plane for this process (until it exits): None when taken,
        else who holds it. Two Onestacks would take each other's devices for orphans."""
        return None

    # --- metadata --------------------------------------------------------------------------
    async def listen(self, ns: str, host: str, port: int) -> socket.socket | None:
        """A listening TCP socket inside the namespace (None: this driver has none)."""
        return None
