"""Octavia's rules as data: protocols and what combines with what, defaults of every object's
attributes, quotas, and how statuses roll up."""

from __future__ import annotations

from typing import Any

PENDING = ("PENDING_CREATE", "PENDING_UPDATE", "PENDING_DELETE")
PROVIDER = "haproxy"
PROVIDER_ALIASES = ("haproxy", "amphora", "octavia")
PROVIDERS = [{"name": "haproxy", "description": "Onestack: haproxy in a network namespace "
                                                "per load balancer; nftables for UDP"},
             {"name": "amphora", "description": "Alias of haproxy (what clients send by "
                                                "default)"}]

LISTENER_PROTOCOLS = ("HTTP", "HTTPS", "TCP", "UDP", "TERMINATED_HTTPS")
POOL_PROTOCOLS = ("HTTP", "HTTPS", "TCP", "UDP", "PROXY", "PROXYV2")
# listener protocol -> the pool protocols it can use (octavia/common/constants.py)
COMPATIBLE = {
    "HTTP": ("HTTP", "PROXY", "PROXYV2"),
    "HTTPS": ("HTTPS", "PROXY", "PROXYV2", "TCP"),
    "TCP": ("TCP", "HTTP", "HTTPS", "PROXY", "PROXYV2"),
    "UDP": ("UDP",),
    "TERMINATED_HTTPS": ("HTTP", "PROXY", "PROXYV2"),
}
# HTTP-aware listeners: insert_headers and L7 policies (Octavia)
HTTP_LISTENERS = ("HTTP", "TERMINATED_HTTPS")
# TLS termination (octavia/common/constants.py and its [api_settings] defaults)
TLS_VERSIONS = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")
ALPN_PROTOCOLS = ("http/1.1", "http/1.0", "h2")
CLIENT_AUTH = ("NONE", "OPTIONAL", "MANDATORY")
DEFAULT_TLS_VERSIONS = ["TLSv1.2", "TLSv1.3"]
DEFAULT_ALPN = ["h2", "http/1.1", "http/1.0"]
DEFAULT_CIPHERS = ("TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:"
                   "TLS_AES_128_GCM_SHA256:DHE-RSA-AES256-GCM-SHA384:"
                   "DHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                   "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-GCM-SHA256:"
                   "ECDHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-SHA256:"
                   "DHE-RSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:"
                   "ECDHE-RSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA256:"
                   "ECDHE-RSA-AES128-SHA256")
# listener attributes that only a TERMINATED_HTTPS listener takes
TLS_ATTRS = ("default_tls_container_ref", "sni_container_refs",
             "client_ca_tls_container_ref", "client_crl_container_ref", "tls_ciphers",
             "tls_versions", "alpn_protocols")
ALGORITHMS = ("ROUND_ROBIN", "LEAST_CONNECTIONS", "SOURCE_IP", "SOURCE_IP_PORT")
PERSISTENCE = ("SOURCE_IP", "HTTP_COOKIE", "APP_COOKIE")
MONITORS = ("HTTP", "HTTPS", "TCP", "PING", "UDP-CONNECT", "TLS-HELLO")
UDP_MONITORS = ("UDP-CONNECT", "HTTP", "TCP")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "PATCH",
                "CONNECT")
L7_ACTIONS = ("REDIRECT_TO_POOL", "REDIRECT_TO_URL", "REDIRECT_PREFIX", "REJECT")
L7_RULE_TYPES = ("HOST_NAME", "PATH", "FILE_TYPE", "HEADER", "COOKIE")
L7_COMPARE = ("REGEX", "STARTS_WITH", "ENDS_WITH", "CONTAINS", "EQUAL_TO")
INSERT_HEADERS = ("X-Forwarded-For", "X-Forwarded-Port", "X-Forwarded-Proto",
                  "X-Forwarded-Host")

# Attributes kept in ``attrs``, with the value an object gets when the request omits them.
DEFAULTS: dict[str, dict[str, Any]] = {
    "loadbalancer": {"tags": [], "flavor_id": None, "availability_zone": None,
                     "vip_qos_policy_id": None, "own_port": True},
    "listener": {"protocol": None, "protocol_port": None, "connection_limit": -1,
                 "default_pool_id": None, "default_tls_container_ref": None,
                 "sni_container_refs": [], "insert_headers": {},
                 "timeout_client_data": 50000, "timeout_member_connect": 5000,
                 "timeout_member_data": 50000, "timeout_tcp_inspect": 0,
                 "allowed_cidrs": None, "tags": [], "client_ca_tls_container_ref": None,
                 "client_authentication": "NONE", "client_crl_container_ref": None,
                 "tls_ciphers": None, "tls_versions": None, "alpn_protocols": None,
                 "hsts_max_age": None, "hsts_include_subdomains": False,
                 "hsts_preload": False},
    "pool": {"protocol": None, "lb_algorithm": None, "session_persistence": None,
             "tags": [], "tls_enabled": False, "tls_container_ref": None,
             "ca_tls_container_ref": None, "crl_container_ref": None, "tls_ciphers": None,
             "tls_versions": None, "alpn_protocols": None},
    "member": {"address": None, "protocol_port": None, "weight": 1, "backup": False,
               "subnet_id": None, "monitor_address": None, "monitor_port": None,
               "tags": [], "vnic_type": "normal"},
    "healthmonitor": {"type": None, "delay": None, "timeout": None, "max_retries": None,
                      "max_retries_down": 3, "http_method": None, "url_path": None,
                      "expected_codes": None, "http_version": None, "domain_name": None,
                      "tags": []},
    "l7policy": {"action": None, "redirect_pool_id": None, "redirect_url": None,
                 "redirect_prefix": None, "redirect_http_code": None, "tags": []},
    "l7rule": {"type": None, "compare_type": None, "key": None, "value": None,
               "invert": False, "tags": []},
}
# Columns of every object (not in attrs).
COLUMNS = ("name", "description", "admin_state_up")

# Quotas: Octavia's resource names (unlimited by default).
QUOTA_RESOURCES = {"load_balancer": "loadbalancer", "listener": "listener", "pool": "pool",
                   "health_monitor": "healthmonitor", "member": "member",
                   "l7policy": "l7policy", "l7rule": "l7rule"}
QUOTA_NAMES = {"loadbalancer": "Load Balancer", "listener": "Listener", "pool": "Pool",
               "healthmonitor": "Health Monitor", "member": "Member",
               "l7policy": "L7 Policy", "l7rule": "L7 Rule"}
DEFAULT_QUOTA = -1


def tls_defaults(attrs: dict[str, Any]) -> dict[str, Any]:
    """A TERMINATED_HTTPS listener's TLS versions, ciphers and ALPN protocols when not
    given (or reset with null), as Octavia's [api_settings] defaults."""
    if attrs.get("protocol") != "TERMINATED_HTTPS":
        return attrs
    out = dict(attrs)
    for key, default in (("tls_ciphers", DEFAULT_CIPHERS),
                         ("tls_versions", DEFAULT_TLS_VERSIONS),
                         ("alpn_protocols", DEFAULT_ALPN)):
        if out.get(key) is None:
            out[key] = list(default) if isinstance(default, list) else default
    return out


def monitor_defaults(mtype: str, data: dict[str, Any]) -> dict[str, Any]:
    """HTTP(S) monitors get GET / 200 unless the request says otherwise (Octavia)."""
    out = dict(data)
    if mtype in ("HTTP", "HTTPS"):
        out.setdefault("http_method", "GET")
        out.setdefault("url_path", "/")
        out.setdefault("expected_codes", "200")
    return out


def roll_up(states: list[str], admin_up: bool = True) -> str:
    """The operating status of a parent from its children's (amphora's rules)."""
    if not admin_up:
        return "OFFLINE"
    live = [s for s in states if s not in ("OFFLINE",)]
    if live and all(s == "ERROR" for s in live):
        return "ERROR"
    if any(s in ("ERROR", "DEGRADED") for s in live):
        return "DEGRADED"
    return "ONLINE"
