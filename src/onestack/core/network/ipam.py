"""IP address management: subnet geometry, allocation pools, address choice, SLAAC.

Pure functions first (unit-tested alone); `allocate` runs inside the caller's transaction.
Two requests choosing the same address meet the unique (subnet_id, ip_address) key: one
of them fails, and the transaction is retried with a fresh choice (see ``Store.txn``).
"""

from __future__ import annotations

import ipaddress
import itertools
import random
from collections.abc import Iterator
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.network import errors
from onestack.db.models.network import IPAllocation, Subnet
from onestack.errors import Conflict

IPNet = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address
AUTO_MODES = ("slaac", "dhcpv6-stateless")
IPV6_MODES = ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")
ROUTER_OWNERS = ("network:router_interface", "network:router_interface_distributed",
                 "network:ha_router_replicated_interface", "network:router_gateway")
# Only a router's interface takes a subnet's gateway address (never its gateway port on an
# external network: there the gateway is the upstream router, on ``public`` this host).
GATEWAY_TAKERS = ("network:router_interface", "network:router_interface_distributed",
                  "network:ha_router_replicated_interface")
CANDIDATES = 64  # a new address is picked at random among this many free ones


def _address_text(value: Any, what: str) -> str:
    """The one gate of every address a request names (fixed IPs, address pairs, security
    group prefixes, DNS servers, host routes, gateways, pools, subnet CIDRs...): a string
    without a scope id. Python's ``ipaddress`` accepts ``addr%<anything>`` (newlines and
    braces included) and keeps it in ``str()``; such text would reach nft and dnsmasq."""
    if not isinstance(value, str) or "\x00" in value:
        raise errors.InvalidInput(f"'{value}' is not a valid {what}")
    if "%" in value:
        raise errors.InvalidInput(f"'{value}' is not a valid {what}: an address with a scope "
                                  "id (%...) is not accepted")
    return value


def parse_ip(value: Any, what: str = "IP address") -> IPAddr:
    text = _address_text(value, what)
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise errors.InvalidInput(f"'{value}' is not a valid {what}") from None


def parse_cidr(value: Any, strict: bool = True) -> IPNet:
    text = _address_text(value, "IP subnet")
    if "/" not in text:
        raise errors.InvalidInput(f"'{value}' is not a valid IP subnet")
    try:
        return ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise errors.InvalidInput(f"'{value}' is not a valid IP subnet") from None


def canonical_cidr(value: Any) -> str:
    """``addr/len`` in canonical text, host bits kept as given (``2001:DB8::5/64`` ->
    ``2001:db8::5/64``)."""
    parse_cidr(value)
    iface = ipaddress.ip_interface(value)
    return f"{iface.ip}/{iface.network.prefixlen}"


def canonical_ip_or_cidr(value: Any, what: str = "IP address") -> str:
    """An address or a prefix (allowed address pairs), in canonical text."""
    if isinstance(value, str) and "/" in value:
        return canonical_cidr(value)
    return str(parse_ip(value, what))


def normalize_cidr(value: Any) -> IPNet:
    """A subnet CIDR must name the network itself (10.0.0.0/24, not 10.0.0.5/24)."""
    net = parse_cidr(value)
    if str(net) != value and f"{net.network_address}/{net.prefixlen}" != value:
        raise errors.InvalidInput(
            f"'{value}' isn't a recommended CIDR, use '{net}' instead")
    return net


def first_host(net: IPNet) -> IPAddr:
    return net.network_address + 1


def usable(net: IPNet, ip: IPAddr) -> bool:
    """In the subnet, and neither its network address nor (IPv4) its broadcast."""
    if ip.version != net.version or ip not in net:
        return False
    if net.prefixlen >= net.max_prefixlen - 1:
        return True
    if ip == net.network_address:
        return False
    return not (net.version == 4 and ip == net.broadcast_address)


def default_pools(net: IPNet, gateway: IPAddr | None) -> list[dict[str, str]]:
    if net.prefixlen >= net.max_prefixlen - 1:
        start, end = net.network_address, net.broadcast_address
    else:
        start = net.network_address + 1
        end = net.broadcast_address - 1 if net.version == 4 else net.broadcast_address
    ranges = [(int(start), int(end))]
    if gateway is not None and int(start) <= int(gateway) <= int(end):
        g = int(gateway)
        ranges = [(a, b) for a, b in ((int(start), g - 1), (g + 1, int(end))) if a <= b]
    cls = type(net.network_address)
    return [{"start": str(cls(a)), "end": str(cls(b))} for a, b in ranges]


def validate_pools(net: IPNet, pools: list[dict[str, Any]], gateway: IPAddr | None
                   ) -> list[dict[str, str]]:
    parsed: list[tuple[int, int, str]] = []
    for pool in pools:
        text = f"{pool.get('start')}-{pool.get('end')}"
        start = parse_ip(pool.get("start"))
        end = parse_ip(pool.get("end"))
        if start.version != net.version or end.version != net.version or int(start) > int(end):
            raise errors.NeutronBadRequest("subnet", f"The allocation pool {text} is not valid")
        if not (usable(net, start) and usable(net, end)):
            raise errors.NeutronBadRequest(
                "subnet", f"The allocation pool {text} spans beyond the subnet cidr {net}")
        parsed.append((int(start), int(end), text))
    parsed.sort()
    for (_a, b, t1), (c, _d, t2) in itertools.pairwise(parsed):
        if c <= b:
            raise Conflict(
                f"Found overlapping allocation pools: {t1} {t2} for subnet {net}.")
    if gateway is not None:
        for a, b, text in parsed:
            if a <= int(gateway) <= b:
                raise Conflict(
                    f"Gateway ip {gateway} conflicts with allocation pool {text}")
    return [{"start": str(parse_ip(p.get("start"))), "end": str(parse_ip(p.get("end")))}
            for p in pools]


def in_pools(ip: IPAddr, pools: list[dict[str, str]]) -> bool:
    return any(int(ipaddress.ip_address(p["start"])) <= int(ip)
               <= int(ipaddress.ip_address(p["end"])) for p in pools)


def free_addresses(subnet: Subnet, used: set[str]) -> Iterator[str]:
    cls = ipaddress.IPv4Address if subnet.ip_version == 4 else ipaddress.IPv6Address
    for pool in subnet.allocation_pools:
        start, end = int(cls(pool["start"])), int(cls(pool["end"]))
        for value in range(start, end + 1):
            text = str(cls(value))
            if text not in used and text != subnet.gateway_ip:
                yield text


def pick_address(subnet: Subnet, used: set[str]) -> str | None:
    choices: list[str] = []
    for text in free_addresses(subnet, used):
        choices.append(text)
        if len(choices) >= CANDIDATES:
            break
    return random.choice(choices) if choices else None


def eui64(cidr: str, mac: str) -> str:
    """The modified EUI-64 address of `mac` in a /64 (RFC 4291)."""
    net = ipaddress.ip_network(cidr)
    octets = [int(x, 16) for x in mac.split(":")]
    octets[0] ^= 0x02
    iid = [*octets[:3], 255, 254, *octets[3:]]
    value = int(net.network_address) | int.from_bytes(bytes(iid), "big")
    return str(ipaddress.IPv6Address(value))


def random_mac() -> str:
    return "fa:16:3e:" + ":".join(f"{random.randint(0, 255):02x}" for _ in range(3))


def is_auto(subnet: Subnet) -> bool:
    return subnet.ip_version == 6 and subnet.ipv6_address_mode in AUTO_MODES


async def used_addresses(s: AsyncSession, subnet_id: str) -> set[str]:
    rows = await s.execute(select(IPAllocation.ip_address)
                           .where(IPAllocation.subnet_id == subnet_id))
    return set(rows.scalars())


async def _take(s: AsyncSession, subnet: Subnet, port_id: str, ip: str, pos: int,
                used: set[str] | None = None) -> IPAllocation:
    taken = used if used is not None else await used_addresses(s, subnet.id)
    if ip in taken:
        raise errors.IpAddressAlreadyAllocated(ip, subnet.id)
    row = IPAllocation(subnet_id=subnet.id, ip_address=ip, port_id=port_id,
                       network_id=subnet.network_id, position=pos)
    s.add(row)
    return row


def check_requested_ip(subnet: Subnet, ip: str, device_owner: str) -> str:
    addr = parse_ip(ip)
    net = ipaddress.ip_network(subnet.cidr)
    if addr.version != subnet.ip_version or not usable(net, addr):
        raise errors.InvalidInput(f"IP address {ip} is not a valid IP for the specified subnet.")
    if str(addr) == subnet.gateway_ip and device_owner not in GATEWAY_TAKERS:
        raise errors.IpAddressAlreadyAllocated(str(addr), subnet.id)
    if is_auto(subnet) and device_owner not in ROUTER_OWNERS:
        raise errors.InvalidInput(
            f"IPv6 address {ip} can not be directly assigned to a port on subnet {subnet.id} "
            "with auto address mode")
    return str(addr)


async def allocate(s: AsyncSession, port_id: str, network_id: str, subnets: list[Subnet],
                   requests: list[dict[str, Any]] | None, mac: str, device_owner: str,
                   keep: dict[str, str] | None = None, start: int = 0) -> list[IPAllocation]:
    """Allocate the addresses of one port.

    requests None: Neutron's automatic choice (one IPv4 address, one stateful IPv6 address,
    and the SLAAC address of every auto-address subnet). Otherwise each request names a
    subnet_id and/or an ip_address. `keep` maps subnet ids to addresses the port already
    holds there (kept when a request names only the subnet).
    """
    by_id = {sub.id: sub for sub in subnets}
    out: list[IPAllocation] = []
    pos = start
    if requests is None:
        v4 = [x for x in subnets if x.ip_version == 4]
        v6 = [x for x in subnets if x.ip_version == 6 and not is_auto(x)]
        for group in (v4, v6):
            if not group:
                continue
            for sub in group:
                ip = pick_address(sub, await used_addresses(s, sub.id))
                if ip is not None:
                    out.append(await _take(s, sub, port_id, ip, pos, set()))
                    pos += 1
                    break
            else:
                raise errors.IpAddressGenerationFailure(network_id)
        if device_owner not in ROUTER_OWNERS:
            for sub in subnets:
                if is_auto(sub):
                    out.append(await _take(s, sub, port_id, eui64(sub.cidr, mac), pos))
                    pos += 1
        return out
    keep = dict(keep or {})
    for req in requests:
        sub_id, ip = req.get("subnet_id"), req.get("ip_address")
        if sub_id is None and ip is None:
            raise errors.InvalidInput("fixed_ips entries need a subnet_id or an ip_address")
        if sub_id is not None:
            maybe = by_id.get(sub_id)
            if maybe is None:
                raise errors.InvalidInput(
                    f"Failed to create port on network {network_id}, because fixed_ips "
                    f"included invalid subnet {sub_id}.")
            sub = maybe
        else:
            addr = parse_ip(ip)
            found = [x for x in subnets if addr in ipaddress.ip_network(x.cidr)]
            if not found:
                raise errors.InvalidInput(
                    f"IP address {ip} is not a valid IP for any of the subnets on the "
                    "specified network.")
            sub = found[0]
        if ip is not None:
            text = check_requested_ip(sub, ip, device_owner)
            if keep.get(sub.id) == text:
                keep.pop(sub.id)
        elif sub.id in keep:
            text = keep.pop(sub.id)
        elif is_auto(sub) and device_owner not in ROUTER_OWNERS:
            text = eui64(sub.cidr, mac)
        else:
            picked = pick_address(sub, await used_addresses(s, sub.id))
            if picked is None:
                raise errors.IpAddressGenerationFailure(network_id)
            text = picked
        if any(row.subnet_id == sub.id and row.ip_address == text for row in out):
            raise errors.IpAddressAlreadyAllocated(text, sub.id)
        out.append(await _take(s, sub, port_id, text, pos))
        pos += 1
    return out
