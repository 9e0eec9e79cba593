"""What the network agent reads from the database: one snapshot of the declared state.

The snapshot is plain data (no ORM objects), so the planner that turns it into devices and
rules is a pure function, tested without a database. The agent also writes here: the DHCP
port of each network it serves (Neutron's ``network:dhcp`` port, which takes the address
dnsmasq answers from) and ports' status once their devices exist.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.context import RequestContext
from onestack.core.network.base import Store
from onestack.core.network.ports import create_port_in
from onestack.db.models.compute import ComputeNode
from onestack.db.models.network import (
    FloatingIP,
    Network,
    Port,
    Router,
    SecurityGroup,
    Subnet,
)
from onestack.errors import OnestackError

log = logging.getLogger(__name__)
DHCP_OWNER = "network:dhcp"
INTERFACE_OWNER = "network:router_interface"
GATEWAY_OWNER = "network:router_gateway"


@dataclass
class SubnetInfo:
    id: str
    network_id: str
    cidr: str
    ip_version: int
    gateway_ip: str | None
    enable_dhcp: bool
    dns_nameservers: list[str]
    host_routes: list[dict[str, str]]
    ipv6_ra_mode: str | None = None
    ipv6_address_mode: str | None = None


@dataclass
class NetworkInfo:
    id: str
    project_id: str
    mtu: int
    external: bool
    admin_state_up: bool
    network_type: str
    physical_network: str | None
    subnets: list[SubnetInfo] = field(default_factory=list)
    segmentation_id: int | None = None


@dataclass
class PortInfo:
    id: str
    network_id: str
    project_id: str
    mac: str
    device_owner: str
    device_id: str
    host: str
    status: str
    admin_state_up: bool
    port_security: bool
    fixed_ips: list[tuple[str, str]]  # (subnet id, address)
    allowed_address_pairs: list[dict[str, str]]
    security_groups: list[str]
    # The host a live migration is moving the port's guest to (binding:profile
    # migrating_to): its tap and rules are made there too before the guest moves.
    migrating_to: str = ""
    extra_dhcp_opts: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RouterInfo:
    id: str
    project_id: str
    admin_state_up: bool
    gw_port_id: str | None
    gw_network_id: str | None
    enable_snat: bool
    routes: list[dict[str, str]]


@dataclass
class FloatingIPInfo:
    id: str
    address: str
    fixed_ip: str | None
    port_id: str | None
    router_id: str | None
    status: str


@dataclass
class RuleInfo:
    direction: str
    ethertype: str
    protocol: str | None
    port_range_min: int | None
    port_range_max: int | None
    remote_ip_prefix: str | None
    remote_group_id: str | None


@dataclass
class Snapshot:
    networks: dict[str, NetworkInfo] = field(default_factory=dict)
    ports: dict[str, PortInfo] = field(default_factory=dict)
    routers: dict[str, RouterInfo] = field(default_factory=dict)
    floatingips: list[FloatingIPInfo] = field(default_factory=list)
    groups: dict[str, list[RuleInfo]] = field(default_factory=dict)
    # Tunnel addresses by host (compute hosts and the network node), and which host is the
    # network node (DHCP servers, routers).
    vteps: dict[str, str] = field(default_factory=dict)
    network_node: str = ""

    def subnet(self, subnet_id: str) -> SubnetInfo | None:
        for net in self.networks.values():
            for sub in net.subnets:
                if sub.id == subnet_id:
                    return sub
        return None


def is_dhcp_port(port: PortInfo) -> bool:
    """A DHCP port this agent made (project-less); a tenant's port that calls itself
    ``network:dhcp`` is an ordinary port to the data plane."""
    return port.device_owner == DHCP_OWNER and not port.project_id


def router_interfaces(snap: Snapshot) -> dict[str, list[PortInfo]]:
    """Each router's interface ports as the router code makes them: owner
    ``network:router_interface*``, the router as device, the router's project (a port
    naming another project's router is not plugged into it), never on an external network."""
    out: dict[str, list[PortInfo]] = {}
    for p in snap.ports.values():
        router = snap.routers.get(p.device_id)
        net = snap.networks.get(p.network_id)
        if router is None or net is None or not p.device_owner.startswith(INTERFACE_OWNER):
            continue
        if p.project_id != router.project_id or net.external:
            log.debug("port %s names router %s but is not its interface (project %s, "
                        "router's %s, external network %s): not plugged", p.id, router.id,
                        p.project_id, router.project_id, net.external)
            continue
        out.setdefault(router.id, []).append(p)
    return out


def _subnet(s: Subnet) -> SubnetInfo:
    return SubnetInfo(s.id, s.network_id, s.cidr, s.ip_version, s.gateway_ip, s.enable_dhcp,
                      list(s.dns_nameservers or []), list(s.host_routes or []),
                      s.ipv6_ra_mode, s.ipv6_address_mode)


def _port(p: Port) -> PortInfo:
    return PortInfo(
        p.id, p.network_id, p.project_id, p.mac_address, p.device_owner, p.device_id,
        p.binding_host_id, p.status, p.admin_state_up, p.port_security_enabled,
        [(a.subnet_id, a.ip_address) for a in p.fixed_ips],
        list(p.allowed_address_pairs or []), [g.security_group_id for g in
                                              p.security_group_rows],
        str((p.binding_profile or {}).get("migrating_to") or ""),
        [dict(o) for o in p.extra_dhcp_opts or []])


class NetworkState(Store):
    """Reads the snapshot; writes DHCP ports and port status."""

    async def load(self) -> Snapshot:
        snap = Snapshot()
        async with self.read() as s:
            for net in (await s.execute(select(Network))).scalars():
                snap.networks[net.id] = NetworkInfo(
                    net.id, net.project_id, net.mtu, net.external, net.admin_state_up,
                    net.network_type, net.physical_network, [_subnet(x) for x in net.subnets],
                    net.segmentation_id)
            for port in (await s.execute(select(Port))).scalars():
                snap.ports[port.id] = _port(port)
            for r in (await s.execute(select(Router))).scalars():
                snap.routers[r.id] = RouterInfo(r.id, r.project_id, r.admin_state_up,
                                                r.gw_port_id, r.gw_network_id, r.enable_snat,
                                                list(r.routes or []))
            for f in (await s.execute(select(FloatingIP))).scalars():
                snap.floatingips.append(FloatingIPInfo(f.id, f.floating_ip_address,
                                                       f.fixed_ip_address, f.port_id,
                                                       f.router_id, f.status))
            for g in (await s.execute(select(SecurityGroup))).scalars():
                snap.groups[g.id] = [RuleInfo(
                    r.direction, r.ethertype, r.protocol, r.port_range_min, r.port_range_max,
                    r.remote_ip_prefix, r.remote_group_id) for r in g.rules]
            for host, ip in (await s.execute(select(ComputeNode.host, ComputeNode.host_ip))):
                snap.vteps[host] = ip
        return snap

    async def ensure_dhcp_port(self, network_id: str, host: str) -> bool:
        """Create the network's DHCP port if it has none; True when one was made."""
        async def work(s: AsyncSession) -> bool:
            found = (await s.execute(select(Port.id).where(
                Port.network_id == network_id, Port.device_owner == DHCP_OWNER,
                Port.project_id == ""))).first()
            if found is not None:
                return False
            ctx = RequestContext(is_admin=True)
            await create_port_in(s, ctx, {
                "network_id": network_id, "project_id": "", "device_owner": DHCP_OWNER,
                "device_id": f"dhcp-{host}", "binding:host_id": host, "name": ""},
                internal=True)
            return True

        try:
            return await self.txn(work)
        except OnestackError as exc:  # the network went away meanwhile
            log.info("no DHCP port for network %s: %s", network_id, exc)
            return False

    async def set_status(self, port_ids: list[str], status: str) -> None:
        if not port_ids:
            return

        async def work(s: AsyncSession) -> None:
            await s.execute(update(Port).where(Port.id.in_(port_ids), Port.status != status)
                            .values(status=status))

        await self.txn(work)

    async def set_fip_status(self, fip_ids: list[str], status: str) -> None:
        if not fip_ids:
            return

        async def work(s: AsyncSession) -> None:
            await s.execute(update(FloatingIP).where(
                FloatingIP.id.in_(fip_ids), FloatingIP.status != status).values(status=status))

        await self.txn(work)


# --- the snapshot over the internal API (a remote compute host's agent) --------------------
def for_compute_host(snap: Snapshot, host: str) -> Snapshot:
    """What a compute host's agent needs, and no more (a host's credential must not read
    every tenant's network state): its guests' ports (bound there, or migrating there),
    their networks with every port on them (whose hosts are the VXLAN peers), the rules of
    their security groups, the ports of the remote groups those rules name (their
    addresses), and the peers' tunnel addresses. No routers, no floating IPs."""
    guests = [p for p in snap.ports.values() if p.device_owner.startswith("compute:")
              and host in (p.host, p.migrating_to)]
    nets = {p.network_id for p in guests if p.network_id in snap.networks}
    groups = {g for p in guests for g in p.security_groups if g in snap.groups}
    remote = {r.remote_group_id for g in groups for r in snap.groups[g] if r.remote_group_id}
    ports = {pid: p for pid, p in snap.ports.items()
             if p.network_id in nets or remote.intersection(p.security_groups)}
    peers = {p.host for p in ports.values() if p.network_id in nets and p.host}
    peers |= {p.migrating_to for p in ports.values() if p.network_id in nets
              and p.migrating_to}
    if snap.network_node:
        peers.add(snap.network_node)
    peers.add(host)
    return Snapshot(
        networks={n: snap.networks[n] for n in nets}, ports=ports, routers={},
        floatingips=[], groups={g: snap.groups[g] for g in groups},
        vteps={h: ip for h, ip in snap.vteps.items() if h in peers},
        network_node=snap.network_node)


def snapshot_to_json(snap: Snapshot) -> dict[str, Any]:
    return asdict(snap)


def snapshot_from_json(data: dict[str, Any]) -> Snapshot:
    """The inverse of ``snapshot_to_json``; KeyError/TypeError on a malformed document."""
    nets = {}
    for key, n in data["networks"].items():
        subnets = [SubnetInfo(**s) for s in n.pop("subnets")]
        nets[key] = NetworkInfo(**n, subnets=subnets)
    ports = {}
    for key, p in data["ports"].items():
        p["fixed_ips"] = [(str(a), str(b)) for a, b in p["fixed_ips"]]
        ports[key] = PortInfo(**p)
    return Snapshot(
        networks=nets, ports=ports,
        routers={k: RouterInfo(**r) for k, r in data["routers"].items()},
        floatingips=[FloatingIPInfo(**f) for f in data["floatingips"]],
        groups={k: [RuleInfo(**r) for r in rules] for k, rules in data["groups"].items()},
        vteps={str(k): str(v) for k, v in data["vteps"].items()},
        network_node=str(data["network_node"]))
