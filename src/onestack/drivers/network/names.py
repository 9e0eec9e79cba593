"""The names Onestack gives to what it makes on a host, and how to recognise them.

Linux limits interface names to 15 characters, so ids are cut to 11 (Neutron's convention:
``tap`` + the first 11 characters of the port id). Only names these functions make or
recognise are ever created or removed: everything else on the host is left alone.
"""

from __future__ import annotations

import re

NS_DHCP = "onestack-dhcp-"
NS_ROUTER = "onestack-router-"
NFT_PREFIX = "onestack-"
BRIDGE_PREFIX = "onb-"
VETH_PREFIX = "onv-"
VXLAN_PREFIX = "onx-"
TAP_RE = re.compile(r"tap[0-9a-f]{8}-[0-9a-f]{2}")
BRIDGE_RE = re.compile(r"onb-[0-9a-z-]{1,11}")
VETH_RE = re.compile(r"onv-[0-9a-f]{8}-[0-9a-f]{2}")
VXLAN_RE = re.compile(r"onx-[0-9a-f]{8}-[0-9a-f]{2}")
NS_DEV_RE = re.compile(r"(ns|qr|qg)-[0-9a-f]{8}-[0-9a-f]{2}")
METADATA_IP = "169.254.169.254"


def short(ident: str) -> str:
    return ident[:11]


def bridge(network_id: str) -> str:
    return BRIDGE_PREFIX + short(network_id)


def tap(port_id: str) -> str:
    return "tap" + short(port_id)


def vxlan(network_id: str) -> str:
    """A network's VXLAN device, on its bridge, on hosts that share the network."""
    return VXLAN_PREFIX + short(network_id)


def veth_host(port_id: str) -> str:
    """The bridge side of a namespace's port (DHCP server, router interface or gateway)."""
    return VETH_PREFIX + short(port_id)


def ns_dev(kind: str, port_id: str) -> str:
    """The namespace side: ns- (DHCP), qr- (router interface), qg- (router gateway)."""
    return f"{kind}-{short(port_id)}"


def dhcp_ns(network_id: str) -> str:
    return NS_DHCP + network_id


def router_ns(router_id: str) -> str:
    return NS_ROUTER + router_id


def is_ours_link(name: str, in_ns: bool = False) -> bool:
    if in_ns:
        return bool(NS_DEV_RE.fullmatch(name))
    return bool(TAP_RE.fullmatch(name) or BRIDGE_RE.fullmatch(name) or VETH_RE.fullmatch(name)
                or VXLAN_RE.fullmatch(name))


def is_ours_ns(name: str) -> bool:
    return name.startswith((NS_DHCP, NS_ROUTER))


def is_ours_table(name: str) -> bool:
    return name.startswith(NFT_PREFIX)


def nft_id(ident: str) -> str:
    """An id as an nft identifier (chains, sets): hex digits only."""
    return ident.replace("-", "")
