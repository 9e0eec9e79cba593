"""Request bodies of the Octavia API, checked field by field: a bad value is a 400 whose
message names the field, as Octavia's (``Invalid input for field/attribute <name>. Value:
'<value>'. <why>``)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from typing import Any

from onestack.core.load_balancer import errors
from onestack.core.load_balancer import rules as r

Check = Callable[[Any, str], Any]
UUID = re.compile(r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$")
CODES = re.compile(r"^(\d{3}(,\d{3})*|\d{3}-\d{3})$")


def s_str(value: Any, name: str, limit: int = 255) -> str:
    if not isinstance(value, str):
        raise errors.invalid(name, value, "Wrong type. Expected '<class 'str'>', got "
                                          f"'{type(value)}'")
    if len(value) > limit:
        raise errors.invalid(name, value[:40], f"Value should have a maximum character "
                                               f"requirement of {limit}")
    return value


def s_bool(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise errors.invalid(name, value, "Wrong type. Expected '<class 'bool'>'")
    return value


def s_int(lo: int, hi: int) -> Check:
    def check(value: Any, name: str) -> int:
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]{1,10}", value):
            value = int(value)  # "80": Octavia (WSME) takes a number in a string too
        if isinstance(value, bool) or not isinstance(value, int):
            raise errors.invalid(name, value, "Wrong type. Expected '<class 'int'>', got "
                                              f"'{type(value)}'")
        if value < lo:
            raise errors.invalid(name, value, f"Value should be greater or equal to {lo}")
        if value > hi:
            raise errors.invalid(name, value, f"Value should be lower or equal to {hi}")
        return value

    return check


def s_enum(values: tuple[str, ...]) -> Check:
    def check(value: Any, name: str) -> str:
        if value not in values:
            raise errors.invalid(name, value, f"Value should be one of: {', '.join(values)}")
        return str(value)

    return check


def s_uuid(value: Any, name: str) -> str:
    if not isinstance(value, str) or not UUID.match(value):
        raise errors.invalid(name, value, "Value should be UUID format")
    return value


def s_ip(value: Any, name: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except (TypeError, ValueError):
        raise errors.invalid(name, value, "Value should be IPv4 or IPv6 format") from None


def s_cidrs(value: Any, name: str) -> list[str]:
    if not isinstance(value, list):
        raise errors.invalid(name, value, "Value should be a list of CIDRs")
    out: list[str] = []
    for item in value:
        try:
            cidr = str(ipaddress.ip_network(item, strict=False)) if isinstance(item, str) \
                else None
        except ValueError:
            cidr = None
        if cidr is None:
            raise errors.invalid(name, item, "Value should be IPv4 or IPv6 CIDR format")
        if cidr not in out:
            out.append(cidr)
    return out


def s_tags(value: Any, name: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(t, str) and 0 < len(t) <= 255
                                              for t in value):
        raise errors.invalid(name, value, "Value should be a list of strings of at most "
                                          "255 characters")
    return sorted(set(value), key=value.index)


s_strings = s_tags  # a list of short strings, each once


def s_headers(value: Any, name: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise errors.invalid(name, value, "Value should be a dictionary")
    for key, val in value.items():
        if key not in r.INSERT_HEADERS:
            raise errors.invalid(name, key, f"Supported headers: {', '.join(r.INSERT_HEADERS)}")
        if not isinstance(val, str) or val.lower() not in ("true", "false"):
            raise errors.invalid(f"{name}.{key}", val, "Value should be 'true' or 'false'")
    return {k: str(v).lower() for k, v in value.items()}


def s_persistence(value: Any, name: str) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) - {"type", "cookie_name",
                                                    "persistence_timeout",
                                                    "persistence_granularity"}:
        raise errors.invalid(name, value, "Value should be a dictionary of type, "
                                          "cookie_name, persistence_timeout, "
                                          "persistence_granularity")
    s_enum(r.PERSISTENCE)(value.get("type"), f"{name}.type")
    if value.get("cookie_name") is not None:
        cookie = s_str(value["cookie_name"], f"{name}.cookie_name")
        if not re.fullmatch(r"[a-zA-Z0-9_\-.]+", cookie):
            raise errors.invalid(f"{name}.cookie_name", cookie,
                                 "Cookie names may hold letters, digits, _ - and . only")
    return {"type": value["type"], "cookie_name": value.get("cookie_name"),
            "persistence_timeout": value.get("persistence_timeout"),
            "persistence_granularity": value.get("persistence_granularity")}


def s_codes(value: Any, name: str) -> str:
    if not isinstance(value, str) or not CODES.match(value):
        raise errors.invalid(name, value, "Value should match '200', '200,202' or '200-204'")
    return value


def s_path(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value.startswith("/") or any(
            c.isspace() for c in value):
        raise errors.invalid(name, value, "Value should be a URL path starting with /")
    return value


def s_url(value: Any, name: str) -> str:
    if not isinstance(value, str) or not re.match(r"^https?://[^\s]+$", value):
        raise errors.invalid(name, value, "Value should be an http:// or https:// URL")
    return value


def opt(check: Check) -> Check:
    def inner(value: Any, name: str) -> Any:
        return None if value is None else check(value, name)

    return inner


def s_str_any(value: Any, name: str) -> str:
    return s_str(value, name)


PORT = s_int(1, 65535)
TIMEOUT = opt(s_int(0, 31536000))
COMMON = {"name": opt(s_str_any), "description": opt(s_str_any), "admin_state_up": s_bool,
          "tags": s_tags}
CREATE_ONLY = {"project_id": s_str_any, "tenant_id": s_str_any}
LB_POST = {**COMMON, **CREATE_ONLY, "vip_address": s_ip, "vip_port_id": s_uuid,
           "vip_subnet_id": s_uuid, "vip_network_id": s_uuid,
           "vip_qos_policy_id": opt(s_uuid), "provider": s_str_any,
           "flavor_id": opt(s_str_any), "availability_zone": opt(s_str_any)}
LB_PUT = {**COMMON, "vip_qos_policy_id": opt(s_uuid)}
LISTENER_PUT = {**COMMON, "connection_limit": s_int(-1, 2**31 - 1),
                "default_pool_id": opt(s_uuid), "insert_headers": s_headers,
                "timeout_client_data": TIMEOUT, "timeout_member_connect": TIMEOUT,
                "timeout_member_data": TIMEOUT, "timeout_tcp_inspect": TIMEOUT,
                "allowed_cidrs": opt(s_cidrs), "default_tls_container_ref": opt(s_str_any),
                "sni_container_refs": opt(s_strings),
                "client_ca_tls_container_ref": opt(s_str_any),
                "client_authentication": s_enum(r.CLIENT_AUTH),
                "client_crl_container_ref": opt(s_str_any),
                "tls_ciphers": opt(lambda v, n: s_ciphers(v, n)),
                "tls_versions": opt(s_strings),
                "alpn_protocols": opt(s_strings)}
LISTENER_POST = {**LISTENER_PUT, **CREATE_ONLY, "loadbalancer_id": s_uuid,
                 "protocol": s_enum(r.LISTENER_PROTOCOLS), "protocol_port": PORT}
POOL_PUT = {**COMMON, "lb_algorithm": s_enum(r.ALGORITHMS),
            "session_persistence": opt(s_persistence)}
POOL_POST = {**POOL_PUT, **CREATE_ONLY, "loadbalancer_id": s_uuid, "listener_id": s_uuid,
             "protocol": s_enum(r.POOL_PROTOCOLS)}
MEMBER_PUT = {**COMMON, "weight": s_int(0, 256), "backup": s_bool,
              "monitor_address": opt(s_ip), "monitor_port": opt(PORT)}
MEMBER_POST = {**MEMBER_PUT, **CREATE_ONLY, "address": s_ip, "protocol_port": PORT,
               "subnet_id": opt(s_uuid)}
MONITOR_PUT = {"name": opt(s_str_any), "admin_state_up": s_bool, "tags": s_tags,
               "delay": s_int(0, 2**31 - 1), "timeout": s_int(0, 2**31 - 1),
               "max_retries": s_int(1, 10), "max_retries_down": s_int(1, 10),
               "http_method": opt(s_enum(r.HTTP_METHODS)), "url_path": opt(s_path),
               "expected_codes": opt(s_codes),
               "http_version": opt(lambda v, n: _http_version(v, n)),
               "domain_name": opt(s_str_any)}
MONITOR_POST = {**MONITOR_PUT, **CREATE_ONLY, "pool_id": s_uuid,
                "type": s_enum(r.MONITORS)}
L7POLICY_PUT = {**COMMON, "action": s_enum(r.L7_ACTIONS), "position": s_int(1, 2**31 - 1),
                "redirect_pool_id": opt(s_uuid), "redirect_url": opt(s_url),
                "redirect_prefix": opt(s_url),
                "redirect_http_code": opt(lambda v, n: _redirect_code(v, n))}
L7POLICY_POST = {**L7POLICY_PUT, **CREATE_ONLY, "listener_id": s_uuid}
L7RULE_PUT = {"admin_state_up": s_bool, "tags": s_tags, "type": s_enum(r.L7_RULE_TYPES),
              "compare_type": s_enum(r.L7_COMPARE), "key": opt(s_str_any),
              "value": s_str_any, "invert": s_bool}
L7RULE_POST = {**L7RULE_PUT, **CREATE_ONLY}
QUOTA = {name: s_int(-1, 2**31 - 1) for name in (*r.QUOTA_RESOURCES, "loadbalancer",
                                                 "healthmonitor")}


def s_ciphers(value: Any, name: str) -> str:
    """An OpenSSL cipher string (written into haproxy's configuration as one word)."""
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_:+!@=,.-]{1,2048}", value):
        raise errors.invalid(name, value, "Value should be an OpenSSL cipher string "
                                          "(names joined by ':')")
    return value


def _http_version(value: Any, name: str) -> float:
    if value not in (1.0, 1.1):
        raise errors.invalid(name, value, "Value should be one of: 1.0, 1.1")
    return float(value)


def _redirect_code(value: Any, name: str) -> int:
    if value not in (301, 302, 303, 307, 308):
        raise errors.invalid(name, value, "Value should be one of: 301, 302, 303, 307, 308")
    return int(value)


REQUIRED = {"loadbalancer": (), "listener": ("protocol", "protocol_port"),
            "pool": ("protocol", "lb_algorithm"), "member": ("address", "protocol_port"),
            "healthmonitor": ("type", "delay", "timeout", "max_retries"),
            "l7policy": ("action",), "l7rule": ("type", "compare_type", "value")}
POST = {"loadbalancer": LB_POST, "listener": LISTENER_POST, "pool": POOL_POST,
        "member": MEMBER_POST, "healthmonitor": MONITOR_POST, "l7policy": L7POLICY_POST,
        "l7rule": L7RULE_POST}
PUT = {"loadbalancer": LB_PUT, "listener": LISTENER_PUT, "pool": POOL_PUT,
       "member": MEMBER_PUT, "healthmonitor": MONITOR_PUT, "l7policy": L7POLICY_PUT,
       "l7rule": L7RULE_PUT}
# What a fully populated create nests below each object.
NESTED: dict[str, dict[str, str | None]] = {
    "loadbalancer": {"listeners": "listener", "pools": "pool"},
          "listener": {"default_pool": "pool", "l7policies": "l7policy",
                       "default_pool_name": None},
          "pool": {"members": "member", "healthmonitor": "healthmonitor"},
          "l7policy": {"rules": "l7rule", "redirect_pool": "pool"}}


def check(kind: str, item: Any, action: str, nested: bool = False) -> dict[str, Any]:
    """The body of one object, each field checked; unknown fields are refused."""
    if not isinstance(item, dict):
        raise errors.invalid(kind, item, "Value should be a JSON object")
    allowed = POST[kind] if action == "post" else PUT[kind]
    extra: dict[str, str | None] = NESTED.get(kind, {}) if nested else {}
    unknown = sorted(k for k in item if k not in allowed and k not in extra)
    if unknown:
        raise errors.invalid(unknown[0], item[unknown[0]], f"Unknown attribute for argument "
                                                           f"{kind}: {', '.join(unknown)}")
    if action == "post":
        for key in REQUIRED[kind]:
            if item.get(key) is None:
                raise errors.invalid(key, None, "Mandatory field missing.")
    out: dict[str, Any] = {}
    for key, value in item.items():
        if key in allowed:
            out[key] = allowed[key](value, key)
        elif key == "default_pool_name":
            out[key] = s_str(value, key)
        elif isinstance(value, list):
            out[key] = [check(str(extra[key]), v, "post", True) for v in value]
        elif value is not None:
            out[key] = check(str(extra[key]), value, "post", True)
    if "tenant_id" in out:
        tenant = out.pop("tenant_id")
        out.setdefault("project_id", tenant)
    if kind == "listener" and out.get("client_crl_container_ref"):
        raise errors.unsupported("client_crl_container_ref")
    if kind == "listener" and "sni_container_refs" in out and \
            out["sni_container_refs"] is None:
        out["sni_container_refs"] = []
    return out
