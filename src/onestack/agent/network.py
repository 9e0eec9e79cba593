"""The network agent of one host: converges bridges, taps, namespaces, nftables and dnsmasq
to what the database declares (``network_plan.plan``), and removes what no resource owns.

A pass runs when the network core commits a change (``wake``), when the compute side plugs
a port, and every ``interval`` seconds. Only Onestack's own names are touched. ``stop``
leaves the data plane as it is (guests keep their connectivity); a restart adopts it and
only fixes what differs. Deleting resources removes their devices on the next pass.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from onestack.agent.metadata_proxy import MetadataProxy
from onestack.agent.network_plan import Desired, PlanConfig, bridge_of, plan
from onestack.agent.network_state import NetworkState, PortInfo, Snapshot, router_interfaces
from onestack.agent.reconcile import ReconcileLoop
from onestack.db.engine import Database
from onestack.drivers.network import names
from onestack.drivers.network.base import DhcpConfig, NetDriver, NetError

log = logging.getLogger(__name__)
COALESCE = 0.05  # seconds a woken pass waits for the rest of a burst of changes
BRIDGE_SYSCTLS = ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables")


@dataclass
class PlugInfo:
    """Where a guest's NIC goes: ``tap`` (empty when this host's data plane is run by
    another Onestack: the guest then gets user-mode networking) and the network's MTU."""

    tap: str
    mtu: int
    mac: str
    bridge: str


class NetworkAgent:
    def __init__(self, db: Database | None, driver: NetDriver, cfg: PlanConfig,
                 interval: float = 10.0, metadata: Any = None,
                 metadata_port: int = 80, host: Callable[[], str] | None = None,
                 state: Any = None) -> None:
        # ``state``: where the snapshot comes from and port status goes to (the database
        # by default; the controller's internal API on a remote compute host).
        self.state = state if state is not None else NetworkState(db)  # type: ignore[arg-type]
        self.driver = driver
        self.cfg = cfg
        self.metadata = metadata
        self.metadata_port = metadata_port
        self.host_of = host
        self.loop = ReconcileLoop("network", interval, self._pass)
        self.lock = asyncio.Lock()
        self.proxies: dict[str, MetadataProxy] = {}
        self.applied_dhcp: dict[str, DhcpConfig] = {}
        self.applied_tables: dict[tuple[str | None, str, str], str] = {}
        self.last: Snapshot | None = None
        # What was applied since the last full pass (one every ``interval`` re-checks all).
        self.done: dict[tuple[Any, ...], Any] = {}
        self.last_full = -1e9
        self.started = False
        self.disabled: str | None = None

    # --- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        holder = await self.driver.claim_host()
        if holder is not None:
            self.disabled = holder
            log.warning("network data plane off: this host's is run by %s (one per host); "
                        "the networking API works as usual", holder)
            return
        if not self.cfg.host:
            self.cfg.host = (self.host_of() if self.host_of else "") or socket.gethostname()
        for key in BRIDGE_SYSCTLS:
            try:
                await self.driver.set_sysctl(key, "1")
            except (NetError, OSError) as exc:
                log.warning("network agent: cannot set %s (security groups need it): %s",
                            key, exc)
        if self.cfg.masquerade_uplink:
            await self._try("ip_forward", partial(self.driver.set_sysctl,
                                                  "net.ipv4.ip_forward", "1"))
        self.started = True
        log.info("network agent for host %s started (driver %s)", self.cfg.host,
                 self.driver.name)
        self.loop.start()

    async def stop(self) -> None:
        """Stop reconciling; the data plane stays as it is (guests keep connectivity)."""
        await self.loop.stop()
        for proxy in self.proxies.values():
            await proxy.stop()
        self.proxies.clear()
        self.started = False

    async def teardown(self) -> bool:
        """Remove this host's whole data plane (``onestack down``): every namespace, bridge,
        tap, nft table and dnsmasq of ours. False when another process runs the data plane
        here (its lock is held): then nothing is touched."""
        holder = await self.driver.claim_host()
        if holder is not None:
            log.warning("not tearing down the data plane: it is run by %s", holder)
            return False
        await self.stop()
        await self._remove_orphans(Desired(), full=True)
        return True

    def wake(self) -> None:
        if self.started:
            self.loop.wake()

    async def _pass(self) -> None:
        await asyncio.sleep(COALESCE)
        await self.reconcile()

    # --- the compute side ------------------------------------------------------------------
    async def load(self) -> Snapshot:
        """The declared state; on the network node with this host as that node."""
        snap: Snapshot = await self.state.load()
        if self.cfg.role == "all":
            snap.network_node = self.cfg.host
            if self.cfg.tunnel_ip:
                snap.vteps[self.cfg.host] = self.cfg.tunnel_ip
        return snap

    async def plug_port(self, port_id: str) -> PlugInfo:
        """The port's tap on its network's bridge with the right MTU and rules (called by
        the compute agent before it starts the guest)."""
        snap = await self.load()
        port = snap.ports.get(port_id)
        if port is None or port.network_id not in snap.networks:
            raise NetError(f"port {port_id} does not exist")
        net = snap.networks[port.network_id]
        bridge = bridge_of(net, self.cfg)
        if self.disabled:
            log.warning("port %s: no tap (this host's data plane is run by %s); the guest "
                        "gets user-mode networking", port_id, self.disabled)
            return PlugInfo("", net.mtu, port.mac, "")
        async with self.lock:
            await self.driver.ensure_bridge(bridge, net.mtu)
            await self.driver.ensure_tap(names.tap(port_id), bridge, net.mtu)
        await self.reconcile()
        return PlugInfo(names.tap(port_id), net.mtu, port.mac, bridge)

    async def unplug_port(self, port_id: str) -> None:
        async with self.lock:
            await self.driver.delete_link(names.tap(port_id))
            self.done.clear()
        self.wake()

    # --- the reconcile pass ----------------------------------------------------------------
    async def reconcile(self) -> None:
        async with self.lock:
            snap = await self.load()
            want = plan(snap, self.cfg)
            if want.need_dhcp_port:
                made = [n for n in want.need_dhcp_port
                        if await self.state.ensure_dhcp_port(n, self.cfg.host)]
                if made:
                    snap = await self.load()
                    want = plan(snap, self.cfg)
            self.last = snap
            now = time.monotonic()
            full = now - self.last_full >= self.loop.interval
            if full:
                self.done.clear()
                self.last_full = now
            await self._apply(want, full)
            if await self._remove_orphans(want, full):
                self.done.clear()
            await self._metadata(want)
            await self._report(snap, want)

    async def _once(self, key: tuple[Any, ...], value: Any,
                    work: Callable[[], Awaitable[None]]) -> None:
        """Run ``work`` unless the same value was applied since the last full pass."""
        if self.done.get(key) != value and await self._try(key, work):
            self.done[key] = value

    async def _try(self, what: Any, work: Callable[[], Awaitable[None]]) -> bool:
        """One step; a failure is logged and retried on the next pass, the rest goes on."""
        try:
            await work()
        except (NetError, OSError) as exc:
            log.warning("network agent: %s failed (retried next pass): %s", what, exc)
            return False
        return True

    async def _apply(self, want: Desired, full: bool) -> None:
        d = self.driver
        for name, mtu in sorted(want.bridges.items()):
            await self._once(("bridge", name), mtu, partial(d.ensure_bridge, name, mtu))
        for name, vx in sorted(want.vxlans.items()):
            await self._once(("vxlan", name), (vx, self.cfg.tunnel_ip), partial(
                d.ensure_vxlan, name, vx.vni, self.cfg.tunnel_ip, list(vx.remotes),
                vx.bridge, vx.mtu))
        for tap, (bridge, mtu) in sorted(want.taps.items()):
            await self._once(("tap", tap), (bridge, mtu),
                             partial(d.ensure_tap, tap, bridge, mtu))
        for ns, forwarding in sorted(want.namespaces.items()):
            await self._once(("ns", ns), forwarding,
                             partial(d.ensure_namespace, ns, forwarding))
        for v in want.veths:
            await self._once(("veth", v.host_name), v, partial(
                d.ensure_veth, v.host_name, v.bridge, v.ns, v.inner, v.mtu, v.mac))
        for (where, dev), cidrs in sorted(want.addresses.items(), key=lambda kv: str(kv[0])):
            await self._once(("addr", where, dev), cidrs,
                             partial(d.set_addresses, where, dev, cidrs))
        for ns, routes in sorted(want.routes.items()):
            await self._once(("routes", ns), routes, partial(d.set_routes, ns, routes))
        present: dict[str | None, list[tuple[str, str]]] = {}
        for key, body in sorted(want.tables.items(), key=lambda kv: str(kv)):
            place, family, table = key
            if full and place not in present:
                try:
                    present[place] = await d.nft_tables(place)
                except NetError as exc:
                    log.warning("network agent: cannot list nft tables in %s: %s", place, exc)
                    present[place] = []
            missing = full and (family, table) not in present[place]
            if (self.applied_tables.get(key) != body or missing) and await self._try(
                    key, partial(d.nft_apply, family, table, body, place)):
                self.applied_tables[key] = body
        running = set(await d.dhcp_servers())
        for net_id, cfg in sorted(want.dhcp.items()):
            if (self.applied_dhcp.get(net_id) != cfg or net_id not in running) and \
                    await self._try(("dhcp", net_id), partial(d.dhcp_apply, cfg)):
                self.applied_dhcp[net_id] = cfg

    async def _remove_orphans(self, want: Desired, full: bool) -> bool:
        """Remove what no resource owns (inside kept namespaces: on full passes only);
        True when anything was removed."""
        d = self.driver
        removed = False
        if self.cfg.role == "all":
            removed = await self._remove_node_orphans(want, full)
        for family, table in await d.nft_tables(None):
            if (None, family, table) not in want.tables:
                await d.nft_delete(family, table)
                self.applied_tables.pop((None, family, table), None)
                removed = True
        keep = set(want.bridges) | set(want.taps) | set(want.vxlans) | \
            {v.host_name for v in want.veths}
        links = await d.links(None)
        for name, link in sorted(links.items(), key=lambda kv: kv[1].kind == "bridge"):
            if name not in keep and name != self.cfg.external_bridge:
                log.info("removing %s %s: no resource owns it", link.kind or "link", name)
                await d.delete_link(name)
                removed = True
        ext = self.cfg.external_bridge
        if ext not in want.bridges and ext in links:
            await d.delete_link(ext)
            removed = True
        return removed

    async def _remove_node_orphans(self, want: Desired, full: bool) -> bool:
        """The network node's: DHCP servers, namespaces and what is inside them (namespace
        names are host-wide: a compute-only agent leaves them alone)."""
        d = self.driver
        removed = False
        for net_id in await d.dhcp_servers():
            if net_id not in want.dhcp:
                log.info("stopping dnsmasq of network %s: no longer served", net_id)
                await d.dhcp_stop(net_id)
                self.applied_dhcp.pop(net_id, None)
                removed = True
        for ns in await d.namespaces():
            if ns not in want.namespaces:
                log.info("removing namespace %s: no resource owns it", ns)
                await d.delete_namespace(ns)
                for key in [k for k in self.applied_tables if k[0] == ns]:
                    del self.applied_tables[key]
                removed = True
                continue
            if not full:
                continue
            inner = {v.inner for v in want.veths if v.ns == ns}
            for name in await d.links(ns):
                if name not in inner:
                    await d.delete_link(name, ns)
                    removed = True
            for family, table in await d.nft_tables(ns):
                if (ns, family, table) not in want.tables:
                    await d.nft_delete(family, table, ns)
                    self.applied_tables.pop((ns, family, table), None)
                    removed = True
        return removed

    async def _metadata(self, want: Desired) -> None:
        for ns in [n for n in self.proxies if n not in want.metadata]:
            await self.proxies.pop(ns).stop()
        if self.metadata is None:
            return
        for ns, (kind, ident) in sorted(want.metadata.items()):
            if ns in self.proxies:
                continue
            try:
                sock = await self.driver.listen(ns, names.METADATA_IP, self.metadata_port)
            except NetError as exc:
                log.warning("metadata proxy in %s: %s", ns, exc)
                continue
            if sock is None:
                continue
            proxy = MetadataProxy(kind, ident, self.resolve_instance, self._answer)
            await proxy.start(sock)
            self.proxies[ns] = proxy

    async def _report(self, snap: Snapshot, want: Desired) -> None:
        active = set(want.active_ports)
        await self.state.set_status(sorted(p for p in active
                                           if snap.ports[p].status != "ACTIVE"), "ACTIVE")
        await self.state.set_status(sorted(
            p.id for p in snap.ports.values() if p.host == self.cfg.host and p.id not in active
            and p.device_owner.startswith("compute:") and p.status != "DOWN"), "DOWN")
        if self.cfg.role != "all":
            return
        fips = set(want.active_fips)
        await self.state.set_fip_status(
            sorted(f.id for f in snap.floatingips if f.id in fips and f.status != "ACTIVE"),
            "ACTIVE")
        await self.state.set_fip_status(
            sorted(f.id for f in snap.floatingips if f.id not in fips and f.status != "DOWN"),
            "DOWN")

    # --- metadata --------------------------------------------------------------------------
    async def resolve_instance(self, kind: str, ident: str, src: str) -> str | None:
        """The instance behind a guest's address on a network (or a router's networks): the
        one the compute service attached that port to, when it is the port's project's
        (a port's device_id is its owner's to write: it names nothing here)."""
        try:
            addr = ipaddress.ip_address(src.split("%")[0].removeprefix("::ffff:"))
        except ValueError:
            return None
        port = _port_at(self.last, kind, ident, addr) if self.last else None
        if port is None:  # a port newer than the last pass
            port = _port_at(await self.load(), kind, ident, addr)
        if port is None or self.metadata is None:
            return None
        instance: str | None = await self.metadata.instance_of_port(port.id, port.project_id)
        if instance is None:
            log.info("metadata: port %s at %s is no instance of its project %s", port.id,
                     addr, port.project_id)
        return instance

    async def _answer(self, instance: str, path: str, headers: dict[str, str]
                      ) -> tuple[int, str, bytes]:
        result = await self.metadata.answer(instance, path)
        if isinstance(result, tuple):
            return result
        return int(result.status), str(result.content_type), bytes(result.body)


def _port_at(snap: Snapshot, kind: str, ident: str,
             addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> PortInfo | None:
    if kind == "network":
        networks = {ident}
    else:
        networks = {p.network_id for p in router_interfaces(snap).get(ident, [])}
    for port in snap.ports.values():
        if port.network_id in networks and port.device_owner.startswith("compute:") and \
                any(ipaddress.ip_address(ip) == addr for _s, ip in port.fixed_ips):
            return port
    return None
