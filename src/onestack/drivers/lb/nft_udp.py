"""The per-load-balancer nftables table for UDP listeners: a pure function, no host access.

This kernel has no IPVS, so UDP is balanced by DNAT in the load balancer's namespace:
``numgen inc mod N`` picks members round robin (ROUND_ROBIN, and LEAST_CONNECTIONS, which
nftables cannot count), ``jhash ip saddr mod N`` keeps a client on one member (SOURCE_IP, or
pool session persistence SOURCE_IP) and ``jhash ip saddr . udp sport`` (SOURCE_IP_PORT).
A member of weight w appears w times in the map. Backup members are used only when no
other member is up (administratively). Replies come back through the namespace because
forwarded flows are masqueraded to the namespace's address on the member's side.
``allowed_cidrs`` drops other sources before DNAT. Nothing but those DNATed flows is
forwarded: the namespace is not a router between the networks it has ports on. Members
are not health checked here: they report NO_MONITOR (docs/load-balancer.md).

The input chain is the VIP security group's rule set, enforced here because the network
agent's port security filters only compute ports' taps, not the load balancer's ``olb-``
veths: new connections are let in only to the VIP on the listeners' ports (TCP for HTTP,
HTTPS and TCP listeners, UDP for UDP ones), plus ICMP (neighbour discovery, path MTU);
replies to haproxy's own connections (members, health checks) are established flows.
"""

from __future__ import annotations

import ipaddress

from onestack.drivers.lb import names
from onestack.drivers.lb.base import LbError, ListenerSpec, LoadBalancerSpec, MemberSpec

MAX_ENTRIES = 4096


def udp_listeners(spec: LoadBalancerSpec) -> list[ListenerSpec]:
    if not spec.admin_state_up:
        return []
    return [lis for lis in spec.listeners if lis.protocol == "UDP" and lis.admin_state_up]


def _port(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise LbError(f"{what} port {value!r} is not a port number (1-65535)")
    return value


def _targets(members: tuple[MemberSpec, ...], version: int) -> list[str]:
    up = [m for m in members if m.admin_state_up and m.weight > 0]
    primary = [m for m in up if not m.backup] or [m for m in up if m.backup]
    out: list[str] = []
    for m in primary:
        try:
            addr = ipaddress.ip_address(m.address)
        except ValueError as exc:
            raise LbError(f"member address {m.address!r} is not an IP address") from exc
        if addr.version != version:
            continue
        if isinstance(m.weight, bool) or not isinstance(m.weight, int) or m.weight > 256:
            raise LbError(f"member weight {m.weight!r} is not 0-256")
        out += [f"{addr} . {_port(m.protocol_port, 'member')}"] * m.weight
    if len(out) > MAX_ENTRIES:
        raise LbError(f"UDP pool has {len(out)} weighted entries (at most {MAX_ENTRIES})")
    return out


def render(spec: LoadBalancerSpec) -> str:
    """The body of ``table inet onestack-lb``. It exists for every load balancer: its
    forward chain lets through only DNATed (UDP listener) flows, so the namespace, which
    forwards for them, routes nothing else between the networks it has ports on."""
    listeners = udp_listeners(spec)
    try:
        vip = ipaddress.ip_address(spec.vip_address)
    except ValueError as exc:
        raise LbError(f"vip_address {spec.vip_address!r} is not an IP address") from exc
    fam = "ip" if vip.version == 4 else "ip6"
    pools = {p.id: p for p in spec.pools}
    rules: list[str] = []
    for lis in listeners:
        names.check_id(lis.id, "listener")
        match = f"{fam} daddr {vip} udp dport {_port(lis.protocol_port, 'listener')}"
        if lis.allowed_cidrs:
            nets = []
            for c in lis.allowed_cidrs:
                try:
                    net = ipaddress.ip_network(c, strict=False)
                except ValueError as exc:
                    raise LbError(f"allowed CIDR {c!r} is not a network address") from exc
                if net.version == vip.version:
                    nets.append(str(net))
            if nets:
                rules.append(f"{match} {fam} saddr != {{ {', '.join(nets)} }} drop")
            else:
                rules.append(f"{match} drop")
        pool = pools.get(lis.default_pool_id or "")
        if pool is None or not pool.admin_state_up:
            continue
        targets = _targets(pool.members, vip.version)
        if not targets:
            continue
        persistence = dict(pool.session_persistence or ()).get("type")
        if pool.lb_algorithm == "SOURCE_IP_PORT":
            pick = f"jhash {fam} saddr . udp sport mod {len(targets)}"
        elif pool.lb_algorithm == "SOURCE_IP" or persistence == "SOURCE_IP":
            pick = f"jhash {fam} saddr mod {len(targets)}"
        else:
            pick = f"numgen inc mod {len(targets)}"
        entries = ", ".join(f"{i} : {t}" for i, t in enumerate(targets))
        rules.append(f"{match} dnat {fam} to {pick} map {{ {entries} }}")
    return "\n".join([
        *_input(spec, fam, vip),
        "  chain prerouting {",
        "    type nat hook prerouting priority dstnat; policy accept;",
        *(f"    {r}" for r in rules),
        "  }",
        "  chain postrouting {",
        "    type nat hook postrouting priority srcnat; policy accept;",
        "    ct status dnat meta l4proto udp masquerade",
        "  }",
        "  chain forward {",
        "    type filter hook forward priority filter; policy drop;",
        "    ct status dnat accept",
        "  }",
    ])


def _input(spec: LoadBalancerSpec, fam: str, vip: ipaddress.IPv4Address | ipaddress.IPv6Address
           ) -> list[str]:
    ports: dict[str, list[str]] = {"tcp": [], "udp": []}
    if spec.admin_state_up:
        for lis in spec.listeners:
            proto = "udp" if lis.protocol == "UDP" else "tcp"
            ports[proto].append(str(_port(lis.protocol_port, "listener")))
    opened = [f"    {fam} daddr {vip} {proto} dport {{ {', '.join(sorted(set(p), key=int))} }} "
              "accept" for proto, p in ports.items() if p]
    return ["  chain input {",
            "    type filter hook input priority filter; policy drop;",
            "    ct state established,related accept",
            "    iifname \"lo\" accept",
            "    meta l4proto { icmp, ipv6-icmp } accept",
            *opened,
            "  }"]


def script(body: str) -> str:
    """Create-if-missing, delete, recreate in one ``nft -f`` transaction."""
    t = names.NFT_TABLE
    return f"table inet {t} {{}}\ndelete table inet {t}\ntable inet {t} {{\n{body}\n}}\n"
