"""The network agent's decisions: from a database snapshot to the devices, addresses,
rules and DHCP servers this host should have (a pure function; the agent applies it)."""

from __future__ import annotations

import ipaddress
import logging
from dataclasses import dataclass, field

from onestack.agent import network_rules as rules
from onestack.agent.network_state import (
    GATEWAY_OWNER,
    NetworkInfo,
    PortInfo,
    Snapshot,
    is_dhcp_port,
    router_interfaces,
)
from onestack.drivers.network import names
from onestack.drivers.network.base import DhcpConfig, DhcpHost, DhcpSubnet

log = logging.getLogger(__name__)
# device owner of a load balancer's ports (core/load_balancer/vip.py): the load balancer
# agent plugs them into the network's bridge on the network node, which must exist then
LB_OWNER = "Octavia"
L2_TABLE = ("bridge", "onestack-l2")
FILTER_TABLE = ("inet", "onestack-filter")
NAT_TABLE = ("ip", "onestack-nat")
UPLINK_TABLE = ("inet", "onestack-uplink")


@dataclass
class PlanConfig:
    host: str
    external_bridge: str = "onb-ex"
    external_physnet: str = "public"
    host_cidr: str = "172.24.4.1/24"  # the host's address on the external bridge
    masquerade_uplink: bool = False
    # This host's address for VXLAN to other hosts ("" leaves networks on this host only).
    tunnel_ip: str = ""
    # "all": the network node too (DHCP, routers, floating IPs); "compute": guests' ports
    # only, on a compute host whose agent is remote (onestack agent).
    role: str = "all"


@dataclass
class Veth:
    host_name: str
    bridge: str
    ns: str
    inner: str
    mtu: int
    mac: str


@dataclass(frozen=True)
class Vxlan:
    bridge: str
    vni: int
    remotes: tuple[str, ...]  # the other hosts' tunnel addresses
    mtu: int


@dataclass
class Desired:
    bridges: dict[str, int] = field(default_factory=dict)  # name -> MTU
    taps: dict[str, tuple[str, int]] = field(default_factory=dict)  # tap -> (bridge, MTU)
    vxlans: dict[str, Vxlan] = field(default_factory=dict)
    namespaces: dict[str, bool] = field(default_factory=dict)  # name -> forwarding
    veths: list[Veth] = field(default_factory=list)
    addresses: dict[tuple[str | None, str], list[str]] = field(default_factory=dict)
    routes: dict[str, list[tuple[str, str]]] = field(default_factory=dict)
    tables: dict[tuple[str | None, str, str], str] = field(default_factory=dict)
    dhcp: dict[str, DhcpConfig] = field(default_factory=dict)
    metadata: dict[str, tuple[str, str]] = field(default_factory=dict)  # ns -> (kind, id)
    active_ports: list[str] = field(default_factory=list)
    active_fips: list[str] = field(default_factory=list)
    need_dhcp_port: list[str] = field(default_factory=list)  # network ids


def uplink_table(cfg: PlanConfig) -> str:
    """What leaves the external network for the host's other interfaces: nothing (the
    default, even where the host forwards), or masqueraded with ``masquerade_uplink``."""
    ext, br = ipaddress.ip_interface(cfg.host_cidr).network, cfg.external_bridge
    if not cfg.masquerade_uplink:
        return ("  chain forward {\n    type filter hook forward priority 0; policy accept;\n"
                f'    iifname "{br}" oifname != "{br}" drop\n  }}')
    return ("  chain postrouting {\n    type nat hook postrouting priority 100; "
            f'policy accept;\n    ip saddr {ext} oifname != "{br}" masquerade\n  }}')


def bridge_of(net: NetworkInfo, cfg: PlanConfig) -> str:
    if net.external and net.network_type == "flat" and \
            net.physical_network == cfg.external_physnet:
        return cfg.external_bridge
    return names.bridge(net.id)


def _cidr_of(snap: Snapshot, subnet_id: str, ip: str) -> str:
    sub = snap.subnet(subnet_id)
    prefix = ipaddress.ip_network(sub.cidr).prefixlen if sub else (128 if ":" in ip else 32)
    return f"{ip}/{prefix}"


def _is_compute(port: PortInfo) -> bool:
    return port.device_owner.startswith("compute:")


def _on_network_node(port: PortInfo) -> bool:
    """DHCP, router and load balancer (VIP, member subnet) ports live on the network node."""
    return port.device_owner.startswith("network:") or port.device_owner == LB_OWNER


def _hosts_on(snap: Snapshot, net_id: str) -> set[str]:
    """The hosts a network's ports are on: its guests' hosts, and the network node where
    it has a DHCP server, a router or a load balancer."""
    hosts = set()
    for p in snap.ports.values():
        if p.network_id != net_id:
            continue
        if _is_compute(p) and p.host:
            hosts.add(p.host)
            if p.migrating_to:
                hosts.add(p.migrating_to)
        elif _on_network_node(p) and snap.network_node:
            hosts.add(snap.network_node)
    return hosts


def _vxlans(snap: Snapshot, cfg: PlanConfig, d: Desired, bridges: dict[str, str]) -> None:
    """A VXLAN device on each tunnelled network's bridge that other hosts share."""
    if not cfg.tunnel_ip:
        return
    for net_id, bridge in sorted(bridges.items()):
        net = snap.networks[net_id]
        if net.network_type != "vxlan" or not net.segmentation_id:
            continue
        remotes = {snap.vteps[h] for h in _hosts_on(snap, net_id)
                   if h != cfg.host and snap.vteps.get(h)} - {cfg.tunnel_ip}
        if remotes:
            d.vxlans[names.vxlan(net_id)] = Vxlan(bridge, net.segmentation_id,
                                                  tuple(sorted(remotes)), net.mtu)


def plan(snap: Snapshot, cfg: PlanConfig) -> Desired:
    d = Desired()
    ports = list(snap.ports.values())
    guests = [p for p in ports if _is_compute(p) and cfg.host in (p.host, p.migrating_to)
              and p.network_id in snap.networks]
    by_router: dict[str, list[PortInfo]] = {}
    if cfg.role == "all":
        by_router = router_interfaces(snap)
        used = {p.network_id for p in ports if _is_compute(p) or p.device_owner == LB_OWNER}
        used |= {p.network_id for rp in by_router.values() for p in rp}
        used |= {r.gw_network_id for r in snap.routers.values() if r.gw_network_id}
    else:  # a compute host: the networks of its own guests
        used = {p.network_id for p in guests}
    used &= set(snap.networks)
    bridges: dict[str, str] = {}
    for net_id in sorted(used):
        net = snap.networks[net_id]
        bridges[net_id] = bridge_of(net, cfg)
        d.bridges[bridges[net_id]] = net.mtu
    _vxlans(snap, cfg, d, bridges)
    for p in guests:
        d.taps[names.tap(p.id)] = (bridges[p.network_id], snap.networks[p.network_id].mtu)
        if p.admin_state_up and p.host == cfg.host:  # not yet a migrating guest's
            d.active_ports.append(p.id)
    if cfg.role != "all":
        _guest_rules(snap, d, guests, bridges)
        return d
    if cfg.external_bridge in d.bridges:
        d.addresses[(None, cfg.external_bridge)] = [cfg.host_cidr]
        d.tables[(None, *UPLINK_TABLE)] = uplink_table(cfg)
    _dhcp(snap, cfg, d, used, bridges, ports)
    for router_id, interfaces in sorted(by_router.items()):
        _router(snap, cfg, d, router_id, interfaces, bridges)
    for router in snap.routers.values():
        if router.id not in by_router and router.gw_port_id:
            _router(snap, cfg, d, router.id, [], bridges)
    _guest_rules(snap, d, guests, bridges)
    return d


def _guest_rules(snap: Snapshot, d: Desired, guests: list[PortInfo],
                 bridges: dict[str, str]) -> None:
    """Port security and security groups of this host's guests."""
    secured = sorted((p for p in guests if p.port_security and p.admin_state_up),
                     key=lambda p: p.id)
    down = sorted(names.tap(p.id) for p in guests if not p.admin_state_up)
    index = {p.id: i + 1 for i, p in enumerate(secured)}
    if secured or down:
        d.tables[(None, *L2_TABLE)] = rules.l2_table(secured, index, down)
        d.tables[(None, *FILTER_TABLE)] = rules.filter_table(snap, secured, index, bridges)


def _dhcp(snap: Snapshot, cfg: PlanConfig, d: Desired, used: set[str],
          bridges: dict[str, str], ports: list[PortInfo]) -> None:
    dhcp_ports = {p.network_id: p for p in sorted(ports, key=lambda x: x.id)
                  if is_dhcp_port(p)}
    for net_id in sorted(used):
        net = snap.networks[net_id]
        subnets = [s for s in net.subnets if s.enable_dhcp]
        if not subnets or net.external:
            continue
        port = dhcp_ports.get(net_id)
        if port is None:
            d.need_dhcp_port.append(net_id)
            continue
        ns, inner = names.dhcp_ns(net_id), names.ns_dev("ns", port.id)
        d.namespaces[ns] = False
        d.veths.append(Veth(names.veth_host(port.id), bridges[net_id], ns, inner, net.mtu,
                            port.mac))
        mine = {sub: ip for sub, ip in port.fixed_ips}
        d.addresses[(ns, inner)] = [_cidr_of(snap, s, ip) for s, ip in port.fixed_ips] + \
            [f"{names.METADATA_IP}/32"]
        served: list[DhcpSubnet] = []
        for sub in subnets:
            routes = [(r["destination"], r["nexthop"]) for r in sub.host_routes
                      if ":" not in r["destination"]]
            if sub.ip_version == 4 and sub.id in mine:
                routes.insert(0, (f"{names.METADATA_IP}/32", mine[sub.id]))
            served.append(DhcpSubnet(sub.id, sub.cidr, sub.ip_version, sub.gateway_ip,
                                     list(sub.dns_nameservers), routes,
                                     sub.ipv6_address_mode, sub.ipv6_ra_mode))
        ids = {s.id for s in subnets}
        hosts = [DhcpHost(mac=p.mac, ip=ip,
                          hostname="host-" + ip.replace(".", "-").replace(":", "-"),
                          tag=p.id, options=_port_options(p))
                 for p in ports if p.network_id == net_id and p.id != port.id
                 for s, ip in p.fixed_ips if s in ids]
        d.dhcp[net_id] = DhcpConfig(net_id, ns, inner, net.mtu, served,
                                    sorted(hosts, key=lambda h: (h.ip, h.mac)))
        d.metadata[ns] = ("network", net_id)
        d.active_ports.append(port.id)


def _port_options(port: PortInfo) -> tuple[tuple[str, str, int], ...]:
    return tuple((str(o.get("opt_name")), str(o.get("opt_value")), int(o.get("ip_version") or 4))
                 for o in port.extra_dhcp_opts if o.get("opt_value") is not None)


def _takes_host_address(cfg: PlanConfig, bridge: str, port: PortInfo) -> bool:
    """A port on the external bridge holding the host's own address there (no API path
    gives one out: refused here too, so it cannot shadow the host)."""
    host = str(ipaddress.ip_interface(cfg.host_cidr).ip)
    if bridge != cfg.external_bridge or all(ip != host for _s, ip in port.fixed_ips):
        return False
    log.warning("port %s holds the host's own address %s on %s: not plugged", port.id, host,
                bridge)
    return True


def _router(snap: Snapshot, cfg: PlanConfig, d: Desired, router_id: str,
            interfaces: list[PortInfo], bridges: dict[str, str]) -> None:
    router = snap.routers[router_id]
    ns = names.router_ns(router_id)
    d.namespaces[ns] = True
    d.addresses[(ns, "lo")] = [f"{names.METADATA_IP}/32"]
    d.metadata[ns] = ("router", router_id)
    internal: list[str] = []
    for p in sorted(interfaces, key=lambda x: x.id):
        if p.network_id not in bridges or _takes_host_address(cfg, bridges[p.network_id], p):
            continue
        dev = names.ns_dev("qr", p.id)
        d.veths.append(Veth(names.veth_host(p.id), bridges[p.network_id], ns, dev,
                            snap.networks[p.network_id].mtu, p.mac))
        d.addresses[(ns, dev)] = [_cidr_of(snap, s, ip) for s, ip in p.fixed_ips]
        internal += [str(ipaddress.ip_interface(a).network) for a in d.addresses[(ns, dev)]
                     if ":" not in a]
        d.active_ports.append(p.id)
    routes = [(r["destination"], r["nexthop"]) for r in router.routes]
    gw = snap.ports.get(router.gw_port_id or "")
    if gw is not None and gw.network_id in bridges and gw.device_owner == GATEWAY_OWNER \
            and not _takes_host_address(cfg, bridges[gw.network_id], gw):
        dev = names.ns_dev("qg", gw.id)
        d.veths.append(Veth(names.veth_host(gw.id), bridges[gw.network_id], ns, dev,
                            snap.networks[gw.network_id].mtu, gw.mac))
        host = str(ipaddress.ip_interface(cfg.host_cidr).ip)
        mine = [f for f in snap.floatingips if f.router_id == router_id and f.fixed_ip
                and f.port_id and f.address != host]
        fips = [(f.address, f.fixed_ip) for f in mine]
        d.active_fips += [f.id for f in mine]
        d.addresses[(ns, dev)] = [_cidr_of(snap, s, ip) for s, ip in gw.fixed_ips] + \
            [f"{fip}/32" for fip, _ in fips]
        snat = None
        for sub_id, ip in gw.fixed_ips:
            sub = snap.subnet(sub_id)
            if sub is not None and sub.ip_version == 4:
                snat = ip if router.enable_snat else None
                if sub.gateway_ip:
                    routes.append(("0.0.0.0/0", sub.gateway_ip))
                break
        d.tables[(ns, *NAT_TABLE)] = rules.nat_table(
            dev, snat, sorted(set(internal)), [(a, b) for a, b in fips if b])
        d.active_ports.append(gw.id)
    d.routes[ns] = [(dest, via) for dest, via in routes if ":" not in via]
