"""The names the haproxy driver gives to what it makes on a host, and the checks that keep
anything else out of them.

Linux limits interface names to 15 characters, so port ids are cut to 11 (Neutron's
convention). The host end of a load balancer's veth is ``olb-<port>`` (a prefix of its own:
the network agent removes ``onv-`` links it does not own); the namespace end is
``lb-<port>``. The namespace is ``onestack-lb-<load balancer id>``.
"""

from __future__ import annotations

import re

from onestack.drivers.lb.base import LbError

NS_PREFIX = "onestack-lb-"
HOST_VETH_PREFIX = "olb-"
NS_VETH_PREFIX = "lb-"
NFT_TABLE = "onestack-lb"  # one per load balancer namespace, family inet
ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
NS_VETH_RE = re.compile(r"lb-[A-Za-z0-9_.-]{1,11}")


def check_id(ident: str, what: str) -> str:
    """An object id safe in a file name, a namespace name and a haproxy section name."""
    if not isinstance(ident, str) or not ID_RE.fullmatch(ident):
        raise LbError(f"{what} id {ident!r} is not usable (letters, digits, '-', '_', '.', "
                      "at most 64)")
    return ident


def namespace(lb_id: str) -> str:
    return NS_PREFIX + check_id(lb_id, "load balancer")


def lb_of_namespace(ns: str) -> str | None:
    if ns.startswith(NS_PREFIX) and ID_RE.fullmatch(ns[len(NS_PREFIX):]):
        return ns[len(NS_PREFIX):]
    return None


def veth_host(port_id: str) -> str:
    return HOST_VETH_PREFIX + check_id(port_id, "port")[:11]


def veth_ns(port_id: str) -> str:
    return NS_VETH_PREFIX + check_id(port_id, "port")[:11]


def host_of_ns_veth(ns_name: str) -> str:
    return HOST_VETH_PREFIX + ns_name[len(NS_VETH_PREFIX):]
