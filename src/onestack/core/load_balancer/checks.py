"""Semantic checks of one object against the rest of its load balancer (the API has
already checked each value's type and range): protocol and pool compatibility, duplicate
ports and members, monitor types, L7 actions."""

from __future__ import annotations

import ipaddress
from typing import Any

from onestack.core.load_balancer import errors
from onestack.core.load_balancer.base import Tree
from onestack.core.load_balancer.rules import (
    ALPN_PROTOCOLS,
    COMPATIBLE,
    HTTP_LISTENERS,
    TLS_VERSIONS,
    UDP_MONITORS,
)
from onestack.db.models.load_balancer import LbObject
from onestack.errors import Conflict


def live(objs: list[LbObject]) -> list[LbObject]:
    return [o for o in objs if o.provisioning_status != "PENDING_DELETE"]


def pool_fits_listener(pool_protocol: str, listener_protocol: str) -> None:
    if pool_protocol not in COMPATIBLE.get(listener_protocol, ()):
        raise errors.validation(f"The pool protocol '{pool_protocol}' is invalid while the "
                                f"listener protocol is '{listener_protocol}'.")


def listener(tree: Tree, attrs: dict[str, Any], ident: str | None) -> None:
    protocol, port = attrs["protocol"], attrs["protocol_port"]
    udp = protocol == "UDP"
    for other in live(tree.of("listener")):
        if other.id != ident and other.attrs["protocol_port"] == port and \
                (other.attrs["protocol"] == "UDP") == udp:
            raise Conflict(f"Another listener on this Load Balancer is already using "
                           f"protocol_port {port} and protocol {other.attrs['protocol']}")
    headers = attrs.get("insert_headers") or {}
    tls(attrs)
    if headers and protocol not in HTTP_LISTENERS:
        raise errors.validation(f"The following headers are not valid for a {protocol} "
                                f"listener: {', '.join(sorted(headers))}")
    vip_version = ipaddress.ip_address(tree.lb.vip_address).version
    for cidr in attrs.get("allowed_cidrs") or []:
        if ipaddress.ip_network(cidr, strict=False).version != vip_version:
            raise errors.validation(f"CIDR {cidr} IP version incompatible with VIP "
                                    f"{tree.lb.vip_address} IP version.")
    pool_id = attrs.get("default_pool_id")
    if pool_id:
        pool = tree.get(pool_id)
        if pool is None or pool.kind != "pool" or pool.provisioning_status == "PENDING_DELETE":
            raise errors.validation(f"Pool {pool_id} not found.")
        pool_fits_listener(pool.attrs["protocol"], protocol)
        for other in live(tree.of("listener")):
            if other.id != ident and other.attrs.get("default_pool_id") == pool_id:
                raise Conflict(f"Pool {pool_id} is already the default pool of listener "
                               f"{other.id}.")


ONLY_TLS = (("default_tls_container_ref", "Certificate container references"),
            ("sni_container_refs", "Certificate container references"),
            ("client_ca_tls_container_ref", "Client CA Certificate container references"),
            ("tls_ciphers", "TLS cipher suites"), ("tls_versions", "TLS versions"),
            ("alpn_protocols", "ALPN protocols"))


def tls(attrs: dict[str, Any]) -> None:
    """TLS attributes belong to TERMINATED_HTTPS listeners, which need a certificate."""
    if attrs["protocol"] != "TERMINATED_HTTPS":
        for key, what in ONLY_TLS:
            if attrs.get(key):
                raise errors.validation(f"{what} are only allowed on TERMINATED_HTTPS "
                                        "protocol listeners.")
        if attrs.get("client_authentication", "NONE") != "NONE":
            raise errors.validation("Client authentication is only allowed on "
                                    "TERMINATED_HTTPS protocol listeners.")
        return
    if not (attrs.get("default_tls_container_ref") or attrs.get("sni_container_refs")):
        raise errors.validation("An SNI or default certificate container reference must be "
                                "provided for TERMINATED_HTTPS protocol listeners.")
    if attrs.get("client_authentication", "NONE") != "NONE" and \
            not attrs.get("client_ca_tls_container_ref"):
        raise errors.validation(f"Client authentication setting "
                                f"{attrs['client_authentication']} requires a client CA "
                                "container reference.")
    for key, allowed, noun in (("tls_versions", TLS_VERSIONS, "TLS version"),
                               ("alpn_protocols", ALPN_PROTOCOLS, "ALPN protocol")):
        value = attrs.get(key)
        if value == []:
            raise errors.validation(f"Empty {noun} list. Either specify at least one {noun} "
                                    "or remove this parameter to use the default.")
        bad = [v for v in value or [] if v not in allowed]
        if bad:
            plural = "s" if key == "tls_versions" else ""  # Octavia's words
            raise errors.validation(f"Invalid {noun}{plural}: {', '.join(bad)}")


def session_persistence(value: dict[str, Any] | None, protocol: str) -> None:
    if not value:
        return
    kind = value.get("type")
    if kind == "APP_COOKIE" and not value.get("cookie_name"):
        raise errors.validation("session_persistence: cookie_name must be given for "
                                "type APP_COOKIE.")
    if kind != "APP_COOKIE" and value.get("cookie_name"):
        raise errors.validation(f"session_persistence: cookie_name is only valid for type "
                                f"APP_COOKIE, not {kind}.")
    if protocol == "UDP" and kind != "SOURCE_IP":
        raise errors.validation(f"session_persistence: a UDP pool supports type SOURCE_IP "
                                f"only, not {kind}.")


def pool(tree: Tree, attrs: dict[str, Any]) -> None:
    if attrs["lb_algorithm"] == "SOURCE_IP_PORT":
        raise errors.unsupported("lb_algorithm SOURCE_IP_PORT")
    session_persistence(attrs.get("session_persistence"), attrs["protocol"])


def member(tree: Tree, pool_id: str, attrs: dict[str, Any], ident: str | None) -> None:
    for other in live(tree.of("member", pool_id)):
        if other.id != ident and other.attrs["address"] == attrs["address"] and \
                other.attrs["protocol_port"] == attrs["protocol_port"]:
            raise Conflict(f"Another member on this pool is already using ip "
                           f"{attrs['address']} on protocol_port {attrs['protocol_port']}")


def monitor(pool_obj: LbObject, attrs: dict[str, Any]) -> None:
    mtype, protocol = attrs["type"], pool_obj.attrs["protocol"]
    if protocol == "UDP" and mtype not in UDP_MONITORS:
        raise errors.validation(f"The associated pool protocol is {protocol}, so only a "
                                f"{', '.join(UDP_MONITORS)} health monitor is supported.")
    if mtype == "UDP-CONNECT" and protocol != "UDP":
        raise errors.validation("The UDP-CONNECT type is only supported for pools of type "
                                "UDP.")
    if protocol == "UDP" and attrs["timeout"] > attrs["delay"]:  # Octavia: UDP pools only
        raise errors.validation(f"The request delay value {attrs['delay']} should be larger "
                                f"than the request timeout value {attrs['timeout']} for "
                                f"{mtype} health monitor type.")
    if mtype not in ("HTTP", "HTTPS"):
        given = [k for k in ("http_method", "url_path", "expected_codes", "http_version",
                             "domain_name") if attrs.get(k) is not None]
        if given:
            raise errors.validation(f"{', '.join(given)} are only valid for HTTP or HTTPS "
                                    f"health monitors, not {mtype}.")


def l7policy(tree: Tree, listener_obj: LbObject, attrs: dict[str, Any]) -> None:
    protocol = listener_obj.attrs["protocol"]
    if protocol not in HTTP_LISTENERS:
        raise errors.validation(f"L7 policies are supported on HTTP and TERMINATED_HTTPS "
                                f"listeners only, not {protocol}.")
    action = attrs["action"]
    need = {"REDIRECT_TO_POOL": "redirect_pool_id", "REDIRECT_TO_URL": "redirect_url",
            "REDIRECT_PREFIX": "redirect_prefix"}.get(action)
    if need and not attrs.get(need):
        raise errors.validation(f"An L7 policy with action {action} needs {need}.")
    for other in ("redirect_pool_id", "redirect_url", "redirect_prefix"):
        if other != need and attrs.get(other):
            raise errors.validation(f"{other} is not valid with action {action}.")
    if action == "REDIRECT_TO_POOL":
        target = tree.get(attrs["redirect_pool_id"])
        if target is None or target.kind != "pool":
            raise errors.validation(f"Pool {attrs['redirect_pool_id']} not found.")
        pool_fits_listener(target.attrs["protocol"], protocol)
    if attrs.get("redirect_http_code") is not None and action not in (
            "REDIRECT_TO_URL", "REDIRECT_PREFIX"):
        raise errors.validation("redirect_http_code is only valid with REDIRECT_TO_URL or "
                                "REDIRECT_PREFIX.")


def l7rule(attrs: dict[str, Any]) -> None:
    if attrs["type"] in ("HEADER", "COOKIE") and not attrs.get("key"):
        raise errors.validation(f"An L7 rule of type {attrs['type']} needs a key.")
    if attrs["type"] == "FILE_TYPE" and attrs["compare_type"] not in ("EQUAL_TO", "REGEX"):
        raise errors.validation("An L7 rule of type FILE_TYPE compares with EQUAL_TO or "
                                "REGEX only.")
