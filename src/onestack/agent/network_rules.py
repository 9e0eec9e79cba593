"""nftables rule text for ports and routers (pure functions of the snapshot).

Bridged traffic meets nftables twice: the ``bridge`` family sees the bridge port (the tap),
the ``inet`` family (through br_netfilter) sees the bridge and has conntrack. So:
- ``bridge onestack-l2`` checks each tap's source MAC/IP/ARP (anti-spoofing) and marks the
  packet with the index of the port it came from (low 16 bits) and goes to (high 16 bits);
- ``inet onestack-filter`` puts each network in its own conntrack zone and runs the marked
  packets through their ports' security group chains: egress of the sender (``return`` when
  allowed), then ingress of the receiver (``accept``), stateful (established/related pass).
Ports without port security get neither.
"""

from __future__ import annotations

import ipaddress
import zlib
from collections.abc import Iterable

from onestack.agent.network_state import PortInfo, RuleInfo, Snapshot
from onestack.drivers.network import addresses, names

PROTOCOLS = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "ipv6-icmp": 58, "sctp": 132,
             "dccp": 33, "udplite": 136, "gre": 47, "esp": 50, "ah": 51, "igmp": 2,
             "ospf": 89, "pgm": 113, "rsvp": 46, "vrrp": 112, "egp": 8, "ipip": 4,
             "ipv6-encap": 41, "ipv6-frag": 44, "ipv6-nonxt": 59, "ipv6-opts": 60,
             "ipv6-route": 43}
PORT_PROTOCOLS = (6, 17, 33, 132, 136)


def zone(network_id: str) -> int:
    """A conntrack zone per network (overlapping tenant addresses stay apart)."""
    return zlib.crc32(network_id.encode()) % 65000 + 1


def _set(items: Iterable[str]) -> str:
    return "{ " + ", ".join(sorted(set(items))) + " }"


def link_local(mac: str) -> str:
    """The EUI-64 link-local address a port's MAC gives."""
    parts = [int(x, 16) for x in mac.split(":")]
    parts[0] ^= 2
    eui = [*parts[:3], 0xFF, 0xFE, *parts[3:]]
    return str(ipaddress.IPv6Address(bytes([0xFE, 0x80] + [0] * 6 + eui)))


def _pair_ip(text: object) -> bool:
    return addresses.is_address(text) or addresses.is_prefix(text)


def port_addresses(port: PortInfo) -> tuple[list[str], list[str], list[str]]:
    """(MACs, IPv4 addresses/prefixes, IPv6 ...) a port may send from: only canonical
    values (a port whose own MAC is not one may send nothing: no MACs)."""
    owner = f"port {port.id}"
    if not addresses.usable(port.mac, "MAC", owner, addresses.is_mac):
        return [], [], []
    macs = {port.mac.lower()}
    v4: set[str] = set()
    v6: set[str] = {link_local(port.mac)}
    for _sub, ip in port.fixed_ips:
        if addresses.usable(ip, "fixed IP", owner):
            (v6 if ":" in ip else v4).add(ip)
    for pair in port.allowed_address_pairs:
        mac = pair.get("mac_address") or port.mac
        if not (addresses.usable(pair.get("ip_address"), "address pair", owner, _pair_ip)
                and addresses.usable(mac, "address pair MAC", owner, addresses.is_mac)):
            continue
        ip = str(ipaddress.ip_network(pair["ip_address"], strict=False))
        ip = ip.removesuffix("/32").removesuffix("/128")
        (v6 if ":" in ip else v4).add(ip)
        macs.add(mac.lower())
        if pair.get("mac_address"):
            v6.add(link_local(mac))
    return sorted(macs), sorted(v4), sorted(v6)


def l2_table(ports: list[PortInfo], index: dict[str, int], down: list[str] | None = None
             ) -> str:
    """Anti-spoofing and port marks, in the bridge family; taps of ports whose
    admin_state_up is false (``down``) pass nothing."""
    head = ["  chain forward {",
            "    type filter hook forward priority -200; policy accept;"]
    for tap in down or []:
        head += [f'    iifname "{tap}" drop', f'    oifname "{tap}" drop']
    chains: list[str] = []
    for port in ports:
        tap, n = names.tap(port.id), index[port.id]
        chain = f"spoof_{names.nft_id(port.id)}"
        head.append(f'    iifname "{tap}" jump {chain}')
        head.append(f'    oifname "{tap}" meta mark set meta mark | {n << 16:#x}')
        macs, v4, v6 = port_addresses(port)
        if not macs:
            chains += [f"  chain {chain} {{", "    drop", "  }"]
            continue
        body = [f"  chain {chain} {{",
                f"    ether saddr != {_set(macs)} drop",
                f"    ether type arp arp saddr ip != {_set([*v4, '0.0.0.0'])} drop"
                if v4 else "    ether type arp drop",
                "    ether type ip ip saddr 0.0.0.0 udp sport 68 udp dport 67 "
                f"meta mark set meta mark | {n:#x} return",
                "    ether type ip udp sport 67 drop",
                f"    ether type ip ip saddr != {_set(v4)} drop" if v4
                else "    ether type ip drop",
                "    ether type ip6 icmpv6 type nd-router-advert drop",
                "    ether type ip6 udp sport 547 drop",
                f"    ether type ip6 ip6 saddr != {_set([*v6, '::'])} drop",
                "    ether type != { ip, ip6, arp } drop",
                f"    meta mark set meta mark | {n:#x}",
                "  }"]
        chains += body
    return "\n".join([*head, "  }", *chains])


def _family(rule: RuleInfo) -> tuple[str, str]:
    return ("ip", "ipv4") if rule.ethertype == "IPv4" else ("ip6", "ipv6")


def _proto(rule: RuleInfo, v6: bool) -> list[str] | None:
    """The protocol part of a rule; None when nft cannot express it (skipped)."""
    proto = (rule.protocol or "").lower()
    if proto in ("", "any", "0"):
        return []
    number = int(proto) if proto.isdigit() else PROTOCOLS.get(proto)
    if number is None:
        return None
    if number == 1 and v6:
        number = 58
    out = [f"meta l4proto {number}"]
    lo, hi = rule.port_range_min, rule.port_range_max
    if number in PORT_PROTOCOLS and lo is not None:
        out.append(f"th dport {lo}" if hi in (None, lo) else f"th dport {lo}-{hi}")
    elif number in (1, 58) and lo is not None:
        kind = "icmpv6" if number == 58 else "icmp"
        out.append(f"{kind} type {lo}")
        if hi is not None:
            out.append(f"{kind} code {hi}")
    return out


def rule_text(rule: RuleInfo, verdict: str) -> str | None:
    ipfam, nfproto = _family(rule)
    parts = [f"meta nfproto {nfproto}"]
    side = "saddr" if rule.direction == "ingress" else "daddr"
    if rule.remote_group_id:
        parts.append(f"{ipfam} {side} @rg{4 if ipfam == 'ip' else 6}_"
                     f"{names.nft_id(rule.remote_group_id)}")
    elif rule.remote_ip_prefix:
        if not addresses.usable(rule.remote_ip_prefix, "remote_ip_prefix",
                                "a security group rule", addresses.is_prefix):
            return None
        net = ipaddress.ip_network(rule.remote_ip_prefix, strict=False)
        if net.version != (4 if ipfam == "ip" else 6):
            return None
        if net.prefixlen:
            parts.append(f"{ipfam} {side} {net}")
    proto = _proto(rule, ipfam == "ip6")
    if proto is None:
        return None
    return "    " + " ".join([*parts, *proto, verdict])


def group_members(snap: Snapshot, group_id: str) -> tuple[list[str], list[str]]:
    v4: set[str] = set()
    v6: set[str] = set()
    for port in snap.ports.values():
        if group_id in port.security_groups:
            _macs, a4, a6 = port_addresses(port)
            v4.update(a4)
            v6.update(a for a in a6 if not a.startswith("fe80:"))
    return sorted(v4), sorted(v6)


def filter_table(snap: Snapshot, ports: list[PortInfo], index: dict[str, int],
                 bridges: dict[str, str]) -> str:
    """Conntrack zones per bridge and the security group chains, in the inet family."""
    lines = ["  chain prerouting {",
             "    type filter hook prerouting priority -300; policy accept;"]
    for net_id, bridge in sorted(bridges.items()):
        lines.append(f'    iifname "{bridge}" ct zone set {zone(net_id)}')
    lines += ["  }", "  chain forward {",
              "    type filter hook forward priority 0; policy accept;",
              "    meta mark & 0xffffffff == 0 accept",
              "    ct state established,related accept",
              "    ct state invalid drop"]
    chains: list[str] = []
    remote: set[str] = set()
    for port in ports:
        n, pid = index[port.id], names.nft_id(port.id)
        lines.append(f"    meta mark & 0xffff == {n:#x} jump egress_{pid}")
        lines.append(f"    meta mark & 0xffff0000 == {n << 16:#x} jump ingress_{pid}")
        rules = [r for g in port.security_groups for r in snap.groups.get(g, [])]
        remote.update(r.remote_group_id for r in rules if r.remote_group_id)
        chains += [f"  chain egress_{pid} {{",
                   "    udp sport 68 udp dport 67 return",
                   "    icmpv6 type { nd-router-solicit, nd-neighbor-solicit, "
                   "nd-neighbor-advert, mld2-listener-report } return",
                   "    udp sport 546 udp dport 547 return"]
        chains += [t for r in rules if r.direction == "egress"
                   and (t := rule_text(r, "return")) is not None]
        chains += ["    drop", "  }", f"  chain ingress_{pid} {{",
                   "    udp sport 67 udp dport 68 accept",
                   "    icmpv6 type { nd-router-advert, nd-neighbor-solicit, "
                   "nd-neighbor-advert, mld-listener-query } accept",
                   "    udp sport 547 udp dport 546 accept"]
        chains += [t for r in rules if r.direction == "ingress"
                   and (t := rule_text(r, "accept")) is not None]
        chains += ["    drop", "  }"]
    sets: list[str] = []
    for gid in sorted(remote):
        v4, v6 = group_members(snap, gid)
        for ver, members in ((4, v4), (6, v6)):
            kind = "ipv4_addr" if ver == 4 else "ipv6_addr"
            elements = f" elements = {_set(members)};" if members else ""
            sets.append(f"  set rg{ver}_{names.nft_id(gid)} {{ type {kind}; flags interval;"
                        f"{elements} }}")
    return "\n".join([*sets, *lines, "  }", *chains])


def nat_table(gw_dev: str, snat: str | None, internal: list[str],
              fips: list[tuple[str, str]]) -> str:
    """A router's NAT: 1:1 for floating IPs, SNAT of its subnets to the gateway address."""
    pre = ["  chain prerouting {", "    type nat hook prerouting priority -100; policy accept;"]
    out = ["  chain output {", "    type nat hook output priority -100; policy accept;"]
    post = ["  chain postrouting {",
            "    type nat hook postrouting priority 100; policy accept;"]
    fips = [(a, b) for a, b in fips if addresses.usable(a, "floating IP", gw_dev)
            and addresses.usable(b, "fixed IP", gw_dev)]
    internal = [n for n in internal if addresses.usable(n, "subnet", gw_dev,
                                                         addresses.is_prefix)]
    if snat and not addresses.usable(snat, "SNAT address", gw_dev):
        snat = None
    for fip, fixed in sorted(fips):
        pre.append(f"    ip daddr {fip} dnat to {fixed}")
        out.append(f"    ip daddr {fip} dnat to {fixed}")
        post.append(f'    oifname "{gw_dev}" ip saddr {fixed} snat to {fip}')
    if snat and internal:
        post.append(f'    oifname "{gw_dev}" ip saddr {_set(internal)} snat to {snat}')
    return "\n".join([*pre, "  }", *out, "  }", *post, "  }"])
