"""Security group rule validation, with Neutron's messages (tempest checks their wording)."""

from __future__ import annotations

import ipaddress
from typing import Any

from onestack.core.network import errors, ipam
from onestack.db.models.network import SecurityGroupRule
from onestack.errors import BadRequest

PROTOCOLS = {
    "ah": 51, "dccp": 33, "egp": 8, "esp": 50, "gre": 47, "hopopt": 0, "icmp": 1,
    "igmp": 2, "ipip": 4, "ipv6-encap": 41, "ipv6-frag": 44, "ipv6-icmp": 58, "icmpv6": 58,
    "ipv6-nonxt": 59, "ipv6-opts": 60, "ipv6-route": 43, "ospf": 89, "pgm": 113,
    "rsvp": 46, "sctp": 132, "tcp": 6, "udp": 17, "udplite": 136, "vrrp": 112,
}
PORT_PROTOCOLS = {6, 17, 33, 132, 136}
ICMP_PROTOCOLS = {1, 58}
ETHERTYPES = ("IPv4", "IPv6")
DIRECTIONS = ("ingress", "egress")


def protocol_number(protocol: str | None) -> int | None:
    if protocol is None:
        return None
    if protocol in PROTOCOLS:
        return PROTOCOLS[protocol]
    return int(protocol)


def _protocol(value: Any) -> str | None:
    if value is None or (isinstance(value, str) and value.lower() == "any"):
        return None
    if isinstance(value, bool):
        value = str(value)
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str):
        if value.lower() in PROTOCOLS:
            return value.lower()
        if value.isdigit() and 0 <= int(value) <= 255:
            return str(int(value))
    raise BadRequest(
        f"Security group rule protocol {value} not supported. Only protocol values "
        f"{sorted(PROTOCOLS)} and integer representations [0 to 255] are supported.")


def _port(value: Any) -> int | None:
    if value is None:
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        port = int(value)
    except (TypeError, ValueError):
        raise errors.InvalidInput(f"Invalid value for port {value}") from None
    if not 0 <= port <= 65535:
        raise errors.InvalidInput(f"Invalid value for port {value}")
    return port


def _check_ports(number: int | None, low: int | None, high: int | None) -> None:
    if low is None and high is None:
        return
    if number is None:
        raise BadRequest("Must also specify protocol if port range is given.")
    if number in PORT_PROTOCOLS:
        if low == 0 or high == 0:
            raise BadRequest("Invalid value for port 0")
        if low is None or high is None or low > high:
            raise BadRequest(
                "For TCP/UDP protocols, port_range_min must be <= port_range_max")
    elif number in ICMP_PROTOCOLS:
        for field, attr, value in (("type", "port_range_min", low),
                                   ("code", "port_range_max", high)):
            if value is not None and not 0 <= value <= 255:
                raise BadRequest(f"Invalid value for ICMP {field} ({attr}) {value}. "
                                        "It must be 0 to 255.")
        if low is None and high is not None:
            raise BadRequest(f"ICMP code (port-range-max) {high} is provided but ICMP "
                                    "type (port-range-min) is missing.")
    else:
        raise BadRequest(f"Invalid protocol {number} for port range: only TCP, UDP, "
                                "SCTP, DCCP, UDP-Lite and ICMP rules take ports")


def check_rule(data: dict[str, Any]) -> dict[str, Any]:
    """The rule's column values, or a 400 naming what is wrong."""
    direction = data.get("direction")
    if direction not in DIRECTIONS:
        raise errors.InvalidInput(f"'{direction}' is not in {list(DIRECTIONS)}")
    ethertype = data.get("ethertype") or "IPv4"
    if ethertype not in ETHERTYPES:
        raise errors.InvalidInput(f"'{ethertype}' is not in {list(ETHERTYPES)}")
    protocol = _protocol(data.get("protocol"))
    low, high = _port(data.get("port_range_min")), _port(data.get("port_range_max"))
    number = protocol_number(protocol)
    _check_ports(number, low, high)
    if number == 58 and ethertype == "IPv4":
        raise BadRequest(f"Protocol {protocol} is not supported for ethertype IPv4")
    prefix, remote = data.get("remote_ip_prefix"), data.get("remote_group_id")
    if prefix is not None and remote is not None:
        raise BadRequest("Only remote_ip_prefix or remote_group_id may be provided.")
    if prefix is not None:
        net = ipam.parse_cidr(prefix)
        prefix = ipam.canonical_cidr(prefix)
        if f"IPv{net.version}" != ethertype:
            raise BadRequest(f"Conflicting value ethertype {ethertype} for CIDR "
                                    f"{prefix}")
    return {"direction": direction, "ethertype": ethertype, "protocol": protocol,
            "port_range_min": low, "port_range_max": high, "remote_ip_prefix": prefix,
            "remote_group_id": remote}


def _net(prefix: str | None) -> str | None:
    if prefix is None:
        return None
    net = ipaddress.ip_network(prefix, strict=False)
    return None if net.prefixlen == 0 else str(net)


def same_rule(rule: SecurityGroupRule, values: dict[str, Any]) -> bool:
    return (rule.direction == values["direction"] and rule.ethertype == values["ethertype"]
            and protocol_number(rule.protocol) == protocol_number(values["protocol"])
            and rule.port_range_min == values["port_range_min"]
            and rule.port_range_max == values["port_range_max"]
            and _net(rule.remote_ip_prefix) == _net(values["remote_ip_prefix"])
            and rule.remote_group_id == values["remote_group_id"])
