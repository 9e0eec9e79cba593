"""The load balancer driver contract: what the load balancer agent asks of the network node.

A load balancer is described whole by a ``LoadBalancerSpec`` (the agent builds it from the
database); the driver converges the host to it. Rules every implementation keeps:
- ``ensure`` is idempotent and converges: it creates what is missing (namespace, VIP and
  member-subnet interfaces, haproxy, nft table) and changes what differs, reloading haproxy
  without dropping established connections; a spec equal to the running one changes nothing.
- ``destroy`` is idempotent and leaves nothing of the load balancer behind (namespace,
  interfaces, processes, nft table, files); destroying what does not exist is not an error.
- ``running`` lists the load balancers the host has (adoption after a restart, orphans).
- ``status`` reads what the data plane says now: operating status per listener, pool and
  member, and counters; it never raises for a load balancer that is down (it reports it).
- Failures raise ``LbError`` naming the command and what it said.
- Values in a spec are validated by the API before they get here; drivers still emit only
  canonical addresses and numbers into generated files and refuse anything else.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field


class LbError(Exception):
    pass


class LbNotReady(LbError):
    """What the load balancer needs from the host is not there yet (its network's bridge,
    made by the network agent's next pass): try again shortly."""


@dataclass(frozen=True)
class Interface:
    """A port of the load balancer's namespace on a tenant network: a veth whose host end is
    plugged into ``bridge`` (the network's bridge, named by the network agent's rules)."""

    port_id: str
    mac: str
    addresses: tuple[str, ...]  # "10.0.0.5/24" (CIDR notation: address and prefix length)
    bridge: str
    mtu: int = 1500
    gateway: str | None = None  # default route (the VIP interface's subnet gateway)


@dataclass(frozen=True)
class HealthMonitorSpec:
    id: str
    type: str  # HTTP | HTTPS | TCP | PING | UDP-CONNECT | TLS-HELLO
    delay: int  # seconds between checks
    timeout: int  # seconds a check may take
    max_retries: int  # successes before a member is ONLINE again (rise)
    max_retries_down: int = 3  # failures before a member is ERROR (fall)
    http_method: str = "GET"
    url_path: str = "/"
    expected_codes: str = "200"  # "200", "200,202", "200-204"
    http_version: float | None = None
    domain_name: str | None = None
    admin_state_up: bool = True


@dataclass(frozen=True)
class MemberSpec:
    id: str
    address: str
    protocol_port: int
    weight: int = 1
    backup: bool = False
    admin_state_up: bool = True
    monitor_address: str | None = None
    monitor_port: int | None = None


@dataclass(frozen=True)
class PoolSpec:
    id: str
    protocol: str  # HTTP | HTTPS | TCP | UDP | PROXY | PROXYV2
    lb_algorithm: str  # ROUND_ROBIN | LEAST_CONNECTIONS | SOURCE_IP | SOURCE_IP_PORT
    members: tuple[MemberSpec, ...] = ()
    health_monitor: HealthMonitorSpec | None = None
    # {"type": "SOURCE_IP" | "HTTP_COOKIE" | "APP_COOKIE", "cookie_name": ...} or None
    session_persistence: tuple[tuple[str, str], ...] | None = None
    admin_state_up: bool = True


@dataclass(frozen=True)
class L7RuleSpec:
    id: str
    type: str  # HOST_NAME | PATH | FILE_TYPE | HEADER | COOKIE | SSL_CONN_HAS_CERT ...
    compare_type: str  # REGEX | STARTS_WITH | ENDS_WITH | CONTAINS | EQUAL_TO
    value: str
    key: str | None = None
    invert: bool = False
    admin_state_up: bool = True


@dataclass(frozen=True)
class L7PolicySpec:
    id: str
    action: str  # REDIRECT_TO_POOL | REDIRECT_TO_URL | REDIRECT_PREFIX | REJECT
    position: int
    rules: tuple[L7RuleSpec, ...] = ()
    redirect_pool_id: str | None = None
    redirect_url: str | None = None
    redirect_prefix: str | None = None
    redirect_http_code: int | None = None
    admin_state_up: bool = True


@dataclass(frozen=True)
class ListenerSpec:
    id: str
    protocol: str  # HTTP | HTTPS (passthrough) | TCP | UDP | TERMINATED_HTTPS
    protocol_port: int
    default_pool_id: str | None = None
    connection_limit: int = -1
    timeout_client_data: int = 50000  # milliseconds, as Octavia
    timeout_member_connect: int = 5000
    timeout_member_data: int = 50000
    timeout_tcp_inspect: int = 0
    allowed_cidrs: tuple[str, ...] = ()
    insert_headers: tuple[tuple[str, str], ...] = ()  # (("X-Forwarded-For", "true"), ...)
    l7policies: tuple[L7PolicySpec, ...] = ()
    admin_state_up: bool = True
    tls: TlsSpec | None = None  # TERMINATED_HTTPS


@dataclass(frozen=True)
class TlsSpec:
    """TLS termination of a TERMINATED_HTTPS listener. ``certificates`` are PEM bundles
    (certificate, intermediates, private key), the default one first; haproxy picks one by
    the client's SNI among the names of each certificate. They hold private keys: never
    logged, never in a message (``repr`` leaves them out)."""

    certificates: tuple[bytes, ...] = field(repr=False)
    client_ca: bytes | None = field(default=None, repr=False)
    client_authentication: str = "NONE"  # NONE | OPTIONAL | MANDATORY
    versions: tuple[str, ...] = ()  # SSLv3 TLSv1 TLSv1.1 TLSv1.2 TLSv1.3
    ciphers: str | None = None  # an OpenSSL cipher string
    alpn: tuple[str, ...] = ()  # h2 http/1.1 http/1.0


@dataclass(frozen=True)
class LoadBalancerSpec:
    id: str
    vip_address: str
    vip: Interface
    member_ports: tuple[Interface, ...] = ()  # one per other member subnet
    listeners: tuple[ListenerSpec, ...] = ()
    pools: tuple[PoolSpec, ...] = ()
    admin_state_up: bool = True


@dataclass
class ObjectStatus:
    operating_status: str  # ONLINE | DEGRADED | ERROR | OFFLINE | NO_MONITOR
    # counters where the object has them (listeners, the load balancer)
    bytes_in: int = 0
    bytes_out: int = 0
    active_connections: int = 0
    total_connections: int = 0
    request_errors: int = 0


@dataclass
class LbStatus:
    """What the data plane says of one load balancer now; keys are object ids."""

    running: bool
    listeners: dict[str, ObjectStatus] = field(default_factory=dict)
    pools: dict[str, ObjectStatus] = field(default_factory=dict)
    members: dict[str, ObjectStatus] = field(default_factory=dict)


class LbDriver(abc.ABC):
    name: str = "base"

    @abc.abstractmethod
    async def ensure(self, spec: LoadBalancerSpec) -> None:
        """Converge the host to ``spec`` (idempotent; reload without dropping)."""

    @abc.abstractmethod
    async def destroy(self, lb_id: str) -> None:
        """Remove everything of the load balancer (idempotent)."""

    @abc.abstractmethod
    async def running(self) -> list[str]:
        """Ids of the load balancers this host has."""

    @abc.abstractmethod
    async def status(self, lb_id: str) -> LbStatus:
        """Operating status and counters as the data plane reports them now."""
