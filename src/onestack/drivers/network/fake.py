"""An in-memory network driver: records what the agent asked for, touches nothing."""

from __future__ import annotations

import ipaddress
from dataclasses import replace

from onestack.drivers.network import names
from onestack.drivers.network.base import DhcpConfig, Link, NetDriver, NetError


class FakeNetDriver(NetDriver):
    name = "fake"

    def __init__(self) -> None:
        self.ns: dict[str, bool] = {}  # name -> forwarding
        self.link_table: dict[str | None, dict[str, Link]] = {None: {}}
        self.addresses: dict[tuple[str | None, str], list[str]] = {}
        self.routes: dict[str, list[tuple[str, str]]] = {}
        self.sysctls: dict[tuple[str | None, str], str] = {}
        self.tables: dict[tuple[str | None, str, str], str] = {}
        self.dhcp: dict[str, DhcpConfig] = {}
        self.dhcp_reloads: dict[str, int] = {}
        self.calls: list[tuple[str, ...]] = []
        self.flood: dict[str, tuple[int, str, list[str]]] = {}  # vxlan -> (vni, local, remotes)

    def _call(self, *what: str) -> None:
        self.calls.append(what)

    def _links(self, ns: str | None) -> dict[str, Link]:
        if ns is not None and ns not in self.ns:
            raise NetError(f"namespace {ns} does not exist")
        return self.link_table.setdefault(ns, {})

    async def namespaces(self) -> list[str]:
        return sorted(n for n in self.ns if names.is_ours_ns(n))

    async def ensure_namespace(self, ns: str, forwarding: bool = False) -> None:
        if ns not in self.ns:
            self._call("ensure_namespace", ns)
        self.ns[ns] = forwarding

    async def delete_namespace(self, ns: str) -> None:
        if ns in self.ns:
            self._call("delete_namespace", ns)
            del self.ns[ns]
            self.link_table.pop(ns, None)
            for key in [k for k in self.tables if k[0] == ns]:
                del self.tables[key]
            for addr in [k for k in self.addresses if k[0] == ns]:
                del self.addresses[addr]

    async def links(self, ns: str | None = None) -> dict[str, Link]:
        return {n: link for n, link in self._links(ns).items()
                if names.is_ours_link(n, ns is not None)}

    async def ensure_bridge(self, name: str, mtu: int) -> None:
        self._set(None, Link(name=name, kind="bridge", mtu=mtu))

    async def ensure_tap(self, name: str, bridge: str, mtu: int) -> None:
        if bridge not in self._links(None):
            raise NetError(f"bridge {bridge} does not exist")
        old = self._links(None).get(name)
        kind = old.kind if old is not None else "tun"
        self._set(None, Link(name=name, kind=kind, master=bridge, mtu=mtu))

    async def ensure_vxlan(self, name: str, vni: int, local_ip: str, remotes: list[str],
                           bridge: str, mtu: int) -> None:
        if bridge not in self._links(None):
            raise NetError(f"bridge {bridge} does not exist")
        self._call("ensure_vxlan", name, str(vni), local_ip, ",".join(remotes))
        self._set(None, Link(name=name, kind="vxlan", master=bridge, mtu=mtu))
        self.flood[name] = (vni, local_ip, sorted(remotes))

    async def ensure_veth(self, host_name: str, bridge: str, ns: str, ns_name: str,
                          mtu: int, mac: str) -> None:
        if bridge not in self._links(None):
            raise NetError(f"bridge {bridge} does not exist")
        self._set(None, Link(name=host_name, kind="veth", master=bridge, mtu=mtu))
        self._set(ns, Link(name=ns_name, kind="veth", mtu=mtu, mac=mac))

    def _set(self, ns: str | None, link: Link) -> None:
        table = self._links(ns)
        if table.get(link.name) != link:
            self._call("link", str(ns), link.name)
            table[link.name] = replace(link)

    async def delete_link(self, name: str, ns: str | None = None) -> None:
        if ns is not None and ns not in self.ns:
            return
        if name in self._links(ns):
            self._call("delete_link", str(ns), name)
            del self._links(ns)[name]
            self.flood.pop(name, None)
            self.addresses.pop((ns, name), None)
            for other in list(self._links(ns).values()):
                if other.master == name:  # as the kernel does: ports leave a deleted bridge
                    self._links(ns)[other.name] = replace(other, master=None)

    async def set_addresses(self, ns: str | None, dev: str, cidrs: list[str]) -> None:
        want = sorted(str(ipaddress.ip_interface(c)) for c in cidrs)
        if self.addresses.get((ns, dev), []) != want:
            self._call("set_addresses", str(ns), dev, *want)
            self.addresses[(ns, dev)] = want

    async def set_routes(self, ns: str, routes: list[tuple[str, str]]) -> None:
        want = sorted(routes)
        if self.routes.get(ns, []) != want:
            self._call("set_routes", ns)
            self.routes[ns] = want

    async def set_sysctl(self, key: str, value: str, ns: str | None = None) -> None:
        self.sysctls[(ns, key)] = value

    async def nft_tables(self, ns: str | None = None) -> list[tuple[str, str]]:
        return sorted((f, t) for (n, f, t) in self.tables
                      if n == ns and names.is_ours_table(t))

    async def nft_apply(self, family: str, table: str, body: str, ns: str | None = None
                        ) -> None:
        if ns is not None and ns not in self.ns:
            raise NetError(f"namespace {ns} does not exist")
        if self.tables.get((ns, family, table)) != body:
            self._call("nft_apply", str(ns), family, table)
            self.tables[(ns, family, table)] = body

    async def nft_delete(self, family: str, table: str, ns: str | None = None) -> None:
        if self.tables.pop((ns, family, table), None) is not None:
            self._call("nft_delete", str(ns), family, table)

    async def dhcp_servers(self) -> list[str]:
        return sorted(self.dhcp)

    async def dhcp_apply(self, config: DhcpConfig) -> None:
        if config.namespace not in self.ns:
            raise NetError(f"namespace {config.namespace} does not exist")
        if self.dhcp.get(config.network_id) != config:
            self._call("dhcp_apply", config.network_id)
            self.dhcp_reloads[config.network_id] = self.dhcp_reloads.get(
                config.network_id, 0) + 1
            self.dhcp[config.network_id] = config

    async def dhcp_stop(self, network_id: str) -> None:
        if self.dhcp.pop(network_id, None) is not None:
            self._call("dhcp_stop", network_id)
