"""haproxy.cfg from a ``LoadBalancerSpec``: a pure function, no host access.

Only canonical values reach the file: addresses through ``ipaddress``, numbers as ``int``,
keywords from allowlists, ids through ``names.check_id``. Free text (URL paths, header and
cookie values, redirect targets) is written inside single quotes, where haproxy expands
nothing, and refused when it holds a quote, a control character or anything outside
printable ASCII: no value can end the quoted word, start a comment or begin a new line.

Sections: ``frontend listener_<id>`` per TCP/HTTP/HTTPS listener (HTTPS is passthrough:
mode tcp), ``backend pool_<id>`` per non-UDP pool, ``server <member id>`` per member. UDP
listeners are not haproxy's (see ``nft_udp``).
"""

from __future__ import annotations

import ipaddress
import re

from onestack.drivers.lb import names
from onestack.drivers.lb.base import (
    HealthMonitorSpec,
    L7PolicySpec,
    L7RuleSpec,
    LbError,
    ListenerSpec,
    LoadBalancerSpec,
    MemberSpec,
    PoolSpec,
)
from onestack.drivers.lb.tls_files import bind_options

FRONTEND_PREFIX = "listener_"
BACKEND_PREFIX = "pool_"
HAPROXY_PROTOCOLS = {"HTTP": "http", "HTTPS": "tcp", "TCP": "tcp", "TERMINATED_HTTPS": "http"}
POOL_MODES = {"HTTP": "http", "HTTPS": "tcp", "TCP": "tcp", "PROXY": "tcp", "PROXYV2": "tcp"}
BALANCE = {"ROUND_ROBIN": "roundrobin", "LEAST_CONNECTIONS": "leastconn",
           "SOURCE_IP": "source", "SOURCE_IP_PORT": "source"}
HTTP_METHODS = {"GET", "HEAD", "POST", "PUT", "DELETE", "TRACE", "OPTIONS", "PATCH",
                "CONNECT"}
REDIRECT_CODES = {301, 302, 303, 307, 308}
MATCH = {"STARTS_WITH": "beg", "ENDS_WITH": "end", "CONTAINS": "sub", "EQUAL_TO": "str",
         "REGEX": "reg"}
TOKEN_RE = re.compile(r"[A-Za-z0-9_.-]{1,128}")  # header and cookie names
CODES_RE = re.compile(r"\d{3}(-\d{3})?(,\d{3}(-\d{3})?)*")
DEFAULT_TIMEOUT_MS = 50000


def quote(value: str, what: str) -> str:
    """``value`` as one single-quoted haproxy word, or LbError when it cannot be one."""
    if not isinstance(value, str) or not value:
        raise LbError(f"{what} must be a non-empty string")
    bad = [c for c in value if c == "'" or not " " <= c <= "~"]
    if bad:
        raise LbError(f"{what} {value!r} holds {bad[0]!r}: quotes, control characters and "
                      "non-ASCII characters cannot be written into haproxy's configuration")
    return f"'{value}'"


def log_format(value: str, what: str) -> str:
    """A quoted log-format argument (redirect targets): ``%`` is literal there as ``%%``."""
    return quote(value, what).replace("%", "%%")


def address(value: str, what: str) -> str:
    try:
        return str(ipaddress.ip_address(value))
    except (ValueError, TypeError) as exc:
        raise LbError(f"{what} {value!r} is not an IP address") from exc


def endpoint(addr: str, port: int, what: str) -> str:
    a = address(addr, what)
    return f"[{a}]:{port_of(port, what)}" if ":" in a else f"{a}:{port_of(port, what)}"


def port_of(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise LbError(f"{what} port {value!r} is not a port number (1-65535)")
    return value


def number(value: int, what: str, low: int = 0, high: int = 2**31 - 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise LbError(f"{what} {value!r} is not a whole number in {low}-{high}")
    return value


def cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except (ValueError, TypeError) as exc:
        raise LbError(f"allowed CIDR {value!r} is not a network address") from exc


def frontend_name(listener_id: str) -> str:
    return FRONTEND_PREFIX + names.check_id(listener_id, "listener")


def backend_name(pool_id: str) -> str:
    return BACKEND_PREFIX + names.check_id(pool_id, "pool")


def status_codes(expected: str) -> str:
    """``http-check expect`` for Octavia's expected_codes ("200", "200,202", "200-204")."""
    expected = (expected or "200").replace(" ", "")
    if not CODES_RE.fullmatch(expected):
        raise LbError(f"expected_codes {expected!r} is not a code, a list or a range")
    codes: list[int] = []
    for part in expected.split(","):
        low, _, high = part.partition("-")
        lo, hi = int(low), int(high or low)
        if not 100 <= lo <= hi <= 599:
            raise LbError(f"expected_codes {expected!r}: codes are 100-599, low to high")
        codes.extend(range(lo, hi + 1))
    if len(codes) == 1:
        return f"status {codes[0]}"
    return f"rstatus '^({'|'.join(str(c) for c in sorted(set(codes)))})$'"


def render(spec: LoadBalancerSpec, sock_path: str, maxconn: int = 10000,
           tls_dir: str = "") -> str:
    """The whole haproxy.cfg of one load balancer (TERMINATED_HTTPS listeners read their
    certificates from ``tls_dir``, written there by ``tls_files.files``)."""
    names.check_id(spec.id, "load balancer")
    vip = address(spec.vip_address, "vip_address")
    out = ["# generated by Onestack for load balancer " + spec.id + "; do not edit",
           "global",
           f"    maxconn {number(maxconn, 'maxconn', 1)}",
           f"    stats socket {quote(sock_path, 'stats socket path')} mode 600 level admin",
           "    stats timeout 30s",
           "    hard-stop-after 1h",
           "",
           "defaults",
           "    retries 3",
           "    option redispatch",
           "    timeout connect 5000",
           "    timeout client 50000",
           "    timeout server 50000",
           "    timeout check 5000",
           ""]
    vip_addresses = {str(ipaddress.ip_interface(a).ip) for a in spec.vip.addresses}
    if vip not in vip_addresses:
        raise LbError(f"vip_address {vip} is not an address of the VIP port "
                      f"{spec.vip.port_id} ({', '.join(sorted(vip_addresses)) or 'none'})")
    ports = [(lis.protocol == "UDP", lis.protocol_port) for lis in spec.listeners]
    if len(set(ports)) != len(ports):
        raise LbError("two listeners of the load balancer use the same protocol port")
    pools = {p.id: p for p in spec.pools}
    timeouts: dict[str, ListenerSpec] = {}
    for lis in spec.listeners:
        if lis.protocol not in HAPROXY_PROTOCOLS:
            if lis.protocol != "UDP":
                raise LbError(f"listener protocol {lis.protocol!r} is not supported by the "
                              "haproxy driver (HTTP, HTTPS passthrough, TERMINATED_HTTPS, "
                              "TCP, UDP)")
            continue
        for pid in [lis.default_pool_id] + [p.redirect_pool_id for p in lis.l7policies]:
            if pid is not None:
                timeouts.setdefault(pid, lis)
        if spec.admin_state_up and lis.admin_state_up:
            out += _frontend(lis, vip, pools, tls_dir)
    for pool in spec.pools:
        if pool.protocol == "UDP":
            continue
        out += _backend(pool, timeouts.get(pool.id))
    return "\n".join(out) + "\n"


def _frontend(lis: ListenerSpec, vip: str, pools: dict[str, PoolSpec], tls_dir: str
              ) -> list[str]:
    mode = HAPROXY_PROTOCOLS[lis.protocol]
    bind = endpoint(vip, lis.protocol_port, 'listener')
    if lis.protocol == "TERMINATED_HTTPS":
        bind += bind_options(lis, tls_dir)
    elif lis.tls is not None:
        raise LbError(f"listener {lis.id}: TLS settings on a {lis.protocol} listener")
    lines = [f"frontend {frontend_name(lis.id)}",
             f"    mode {mode}",
             f"    bind {bind}",
             f"    timeout client {number(lis.timeout_client_data, 'timeout_client_data')}"]
    if lis.connection_limit is not None and lis.connection_limit >= 0:
        lines.append(f"    maxconn {number(lis.connection_limit, 'connection_limit')}")
    if lis.allowed_cidrs:
        nets = " ".join(cidr(c) for c in lis.allowed_cidrs)
        lines.append(f"    tcp-request connection reject unless {{ src {nets} }}")
    if mode == "tcp" and lis.timeout_tcp_inspect:
        lines.append("    tcp-request inspect-delay "
                     f"{number(lis.timeout_tcp_inspect, 'timeout_tcp_inspect')}")
    if mode == "http":
        headers = {k.lower(): str(v).lower() for k, v in lis.insert_headers}
        if headers.get("x-forwarded-for") == "true":
            lines.append("    option forwardfor")
        if headers.get("x-forwarded-port") == "true":
            lines.append("    http-request set-header X-Forwarded-Port %[dst_port]")
        if headers.get("x-forwarded-proto") == "true":
            scheme = "https" if lis.protocol == "TERMINATED_HTTPS" else "http"
            lines.append(f"    http-request set-header X-Forwarded-Proto {scheme}")
        lines += _l7(lis.l7policies, pools)
    if lis.default_pool_id is not None and lis.default_pool_id in pools:
        lines.append(f"    default_backend {backend_name(lis.default_pool_id)}")
    return [*lines, ""]


def _rule(rule: L7RuleSpec) -> str:
    """One rule as an anonymous ACL condition: ``{ <fetch> -m <match> '<value>' }``."""
    match = MATCH.get(rule.compare_type)
    if match is None:
        raise LbError(f"L7 rule compare_type {rule.compare_type!r} is not one of "
                      f"{', '.join(sorted(MATCH))}")
    value = rule.value
    flags = ""
    if rule.type == "PATH":
        fetch = "path"
    elif rule.type == "HOST_NAME":
        fetch, flags, value = "req.hdr(host),field(1,:)", " -i", value.lower()
    elif rule.type == "FILE_TYPE":
        fetch = "path"
        if rule.compare_type != "REGEX":
            match, value = "end", "." + value.lstrip(".")
    elif rule.type in ("HEADER", "COOKIE"):
        key = rule.key or ""
        if not TOKEN_RE.fullmatch(key):
            raise LbError(f"L7 rule key {key!r} is not a header or cookie name "
                          "(letters, digits, '-', '_', '.')")
        fetch = f"req.hdr({key})" if rule.type == "HEADER" else f"req.cook({key})"
    else:
        raise LbError(f"L7 rule type {rule.type!r} is not supported by the haproxy driver "
                      "(HOST_NAME, PATH, FILE_TYPE, HEADER, COOKIE)")
    cond = f"{{ {fetch}{flags} -m {match} {quote(value, 'L7 rule value')} }}"
    return f"!{cond}" if rule.invert else cond


def _l7(policies: tuple[L7PolicySpec, ...], pools: dict[str, PoolSpec]) -> list[str]:
    """Policies in position order, first match wins: each rule runs only while no earlier
    policy has decided (``txn.l7``), so a deny or redirect never overtakes an earlier
    redirect to a pool (haproxy runs http-request rules before use_backend)."""
    lines: list[str] = []
    chosen: list[str] = []
    undecided = "!{ var(txn.l7) -m found }"
    for pol in sorted(policies, key=lambda p: (p.position, p.id)):
        names.check_id(pol.id, "L7 policy")
        conds = [_rule(r) for r in pol.rules if r.admin_state_up]
        if not pol.admin_state_up or not conds:
            continue
        when = f"if {' '.join(conds)} {undecided}"
        if pol.action == "REDIRECT_TO_POOL":
            if pol.redirect_pool_id not in pools:
                continue
            backend = backend_name(str(pol.redirect_pool_id))
            lines.append(f"    http-request set-var(txn.l7) str({backend}) {when}")
            if backend not in chosen:
                chosen.append(backend)
        elif pol.action == "REJECT":
            lines.append(f"    http-request deny deny_status 403 {when}")
        elif pol.action in ("REDIRECT_TO_URL", "REDIRECT_PREFIX"):
            code = pol.redirect_http_code or 302
            if code not in REDIRECT_CODES:
                raise LbError(f"redirect_http_code {code!r} is not one of "
                              f"{', '.join(str(c) for c in sorted(REDIRECT_CODES))}")
            if pol.action == "REDIRECT_TO_URL":
                target = "location " + log_format(pol.redirect_url or "", "redirect_url")
            else:
                target = "prefix " + log_format(pol.redirect_prefix or "", "redirect_prefix")
            lines.append(f"    http-request redirect {target} code {code} {when}")
        else:
            raise LbError(f"L7 policy action {pol.action!r} is not supported")
    for backend in chosen:
        lines.append(f"    use_backend {backend} if {{ var(txn.l7) -m str {backend} }}")
    return lines


def _backend(pool: PoolSpec, lis: ListenerSpec | None) -> list[str]:
    mode = POOL_MODES.get(pool.protocol)
    balance = BALANCE.get(pool.lb_algorithm)
    if mode is None:
        raise LbError(f"pool protocol {pool.protocol!r} is not supported by the haproxy driver")
    if balance is None:
        raise LbError(f"lb_algorithm {pool.lb_algorithm!r} is not one of "
                      f"{', '.join(sorted(BALANCE))}")
    connect = lis.timeout_member_connect if lis else 5000
    data = lis.timeout_member_data if lis else DEFAULT_TIMEOUT_MS
    lines = [f"backend {backend_name(pool.id)}",
             f"    mode {mode}",
             f"    balance {balance}",
             f"    timeout connect {number(connect, 'timeout_member_connect')}",
             f"    timeout server {number(data, 'timeout_member_data')}"]
    persistence = dict(pool.session_persistence or ())
    kind = persistence.get("type")
    cookie = None
    if kind == "SOURCE_IP":
        lines += ["    stick-table type ipv6 size 10k expire 30m", "    stick on src"]
    elif kind == "HTTP_COOKIE" and mode == "http":
        cookie = "SRV"
        lines.append("    cookie SRV insert indirect nocache")
    elif kind == "APP_COOKIE" and mode == "http":
        name = persistence.get("cookie_name") or ""
        if not TOKEN_RE.fullmatch(name):
            raise LbError(f"session persistence cookie_name {name!r} is not a cookie name")
        lines += ["    stick-table type string len 64 size 10k expire 30m",
                  f"    stick store-response res.cook({name})",
                  f"    stick match req.cook({name})"]
    elif kind not in (None, "SOURCE_IP", "HTTP_COOKIE", "APP_COOKIE"):
        raise LbError(f"session persistence type {kind!r} is not supported")
    if pool.protocol == "PROXY":
        send_proxy = " send-proxy"
    elif pool.protocol == "PROXYV2":
        send_proxy = " send-proxy-v2"
    else:
        send_proxy = ""
    hm = pool.health_monitor if pool.health_monitor and pool.health_monitor.admin_state_up \
        else None
    check = ""
    if hm is not None:
        lines += _monitor(hm, mode)
        check = (f" check inter {number(hm.delay, 'delay', 1) * 1000}"
                 f" fall {number(hm.max_retries_down, 'max_retries_down', 1)}"
                 f" rise {number(hm.max_retries, 'max_retries', 1)}")
        if hm.type == "HTTPS":
            check += " check-ssl verify none"
    for m in pool.members:
        lines.append(_server(m, pool.admin_state_up, check, cookie, send_proxy))
    return [*lines, ""]


def _monitor(hm: HealthMonitorSpec, mode: str) -> list[str]:
    lines = [f"    timeout check {number(hm.timeout, 'timeout', 1) * 1000}"]
    if hm.type in ("HTTP", "HTTPS"):
        method = (hm.http_method or "GET").upper()
        if method not in HTTP_METHODS:
            raise LbError(f"http_method {hm.http_method!r} is not one of "
                          f"{', '.join(sorted(HTTP_METHODS))}")
        url = hm.url_path or "/"
        if not url.startswith("/") or " " in url:
            raise LbError(f"url_path {url!r} must start with '/' and hold no spaces")
        send = f"    http-check send meth {method} uri {quote(url, 'url_path')}"
        if hm.http_version is not None:
            if hm.http_version not in (1.0, 1.1):
                raise LbError(f"http_version {hm.http_version!r} is not 1.0 or 1.1")
            send += f" ver HTTP/{hm.http_version:.1f}"
            if hm.domain_name and hm.http_version == 1.1:
                send += f" hdr Host {quote(hm.domain_name, 'domain_name')}"
        expect = f"    http-check expect {status_codes(hm.expected_codes)}"
        lines += ["    option httpchk", send, expect]
    elif hm.type == "TLS-HELLO":
        lines.append("    option ssl-hello-chk")
    elif hm.type not in ("TCP", "PING", "UDP-CONNECT"):
        raise LbError(f"health monitor type {hm.type!r} is not supported")
    # TCP: a connect check. PING: haproxy cannot send ICMP; a TCP connect to the member's
    # port stands in (docs/load-balancer.md). UDP-CONNECT on a TCP pool: a connect check.
    return lines


def _server(m: MemberSpec, pool_up: bool, check: str, cookie: str | None,
            send_proxy: str) -> str:
    line = f"    server {names.check_id(m.id, 'member')} " \
           f"{endpoint(m.address, m.protocol_port, 'member')}" \
           f" weight {number(m.weight, 'weight', 0, 256)}"
    if check:
        line += check
        if m.monitor_address:
            line += f" addr {address(m.monitor_address, 'monitor_address')}"
        if m.monitor_port:
            line += f" port {port_of(m.monitor_port, 'monitor')}"
    if m.backup:
        line += " backup"
    if cookie:
        line += f" cookie {m.id}"
    line += send_proxy
    if not (pool_up and m.admin_state_up):
        line += " disabled"
    return line
