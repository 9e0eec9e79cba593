"""The load balancer agent: converges the host's load balancers to the database.

Each pass: load balancers in PENDING_CREATE/UPDATE get their spec built from the database
and ``driver.ensure``d, then ACTIVE (ERROR with the reason logged); PENDING_DELETE ones are
``destroy``ed and their rows and VIP port removed; the data plane's operating status and
counters of the ACTIVE ones are written back (members, pools, listeners, the load balancer
rolled up); load balancers the host runs that the database no longer has are destroyed.
A restart adopts what runs: ``ensure`` of an unchanged spec changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import shutil
from dataclasses import replace
from typing import Any

from sqlalchemy import select

from onestack.config import Settings
from onestack.core.load_balancer.base import Tree
from onestack.core.load_balancer.rules import PENDING, roll_up
from onestack.core.load_balancer.service import LoadBalancerService
from onestack.core.load_balancer.tls import CertificateSource, Unreadable
from onestack.db.engine import Database
from onestack.db.models.load_balancer import LbObject
from onestack.db.models.network import IPAllocation, Network, Port, Subnet
from onestack.drivers import lb as lb_drivers
from onestack.drivers.lb.base import (
    HealthMonitorSpec,
    Interface,
    L7PolicySpec,
    L7RuleSpec,
    LbDriver,
    LbNotReady,
    LbStatus,
    ListenerSpec,
    LoadBalancerSpec,
    MemberSpec,
    PoolSpec,
    TlsSpec,
)
from onestack.drivers.network import names
from onestack.errors import ConfigError

log = logging.getLogger(__name__)


def make_lb_driver(settings: Settings) -> LbDriver:
    """``[load_balancer] driver``: haproxy, fake, or auto (as ``[network] dataplane``)."""
    from onestack.agent.network_setup import why_not_linux

    drivers: dict[str, Any] = dict(lb_drivers.DRIVERS)  # each takes its state directory
    wanted = settings.load_balancer.driver
    if wanted == "auto":
        reason = why_not_linux()
        if reason is None and settings.network.dataplane == "off":
            reason = "the network data plane is off"
        if reason is None and shutil.which("haproxy") is None:
            reason = "haproxy is not installed"
        if reason is not None:
            log.info("load balancer data plane: fake (%s); the Octavia API works, nothing "
                     "carries traffic", reason)
            wanted = "fake"
        else:
            wanted = "haproxy"
    cls = drivers.get(wanted)
    if cls is None:
        raise ConfigError(f"[load_balancer] driver = {wanted!r}: expected \"auto\" or one of "
                          f"{', '.join(sorted(drivers))}")
    if wanted == "fake":
        return lb_drivers.FakeLbDriver()
    driver: LbDriver = cls(settings.data_dir / "load-balancer")
    return driver


# How long a load balancer stays PENDING while the host is not ready for it (its network's
# bridge not made yet by the network agent), and how soon it is tried again.
NOT_READY_FOR = 60.0
NOT_READY_RETRY = 0.5


class LoadBalancerAgent:
    def __init__(self, db: Database, service: LoadBalancerService, driver: LbDriver,
                 interval: float, external_bridge: str = "onb-ex",
                 external_physnet: str = "public") -> None:
        self.db, self.service, self.driver = db, service, driver
        self.interval = interval
        self.external_bridge, self.external_physnet = external_bridge, external_physnet
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        # load balancers waiting for the host (LbNotReady): since when (monotonic)
        self._waiting: dict[str, float] = {}
        # where TERMINATED_HTTPS listeners' certificates come from (the key manager)
        self.certificates: CertificateSource | None = None
        service.subscribe(self.wake)

    def wake(self) -> None:
        self._wake.set()

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the agent's passes run on, once started (None before): another
        thread hands work to it with ``asyncio.run_coroutine_threadsafe``. One pass is
        ``reconcile()``."""
        return self._task.get_loop() if self._task is not None else None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            try:
                await self.reconcile()
            except Exception:
                log.exception("load balancer reconcile pass failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval)

    async def reconcile(self) -> None:
        trees = await self.service.all_trees()
        known = {t.lb.id for t in trees}
        for tree in trees:
            state = tree.lb.provisioning_status
            if state == "PENDING_DELETE":
                await self._delete(tree)
            elif state in PENDING:
                await self._ensure(tree)
            elif state == "ACTIVE":
                await self._poll(tree)
        for orphan in set(await self.driver.running()) - known:
            log.info("destroying orphan load balancer %s", orphan)
            await self.driver.destroy(orphan)

    async def _ensure(self, tree: Tree) -> None:
        lb_id = tree.lb.id
        live = Tree(tree.lb, [o for o in tree.objects
                              if o.provisioning_status != "PENDING_DELETE"])
        try:
            await self.driver.ensure(await self.spec(tree))
            states, stats = rolled_up(live, await self.driver.status(lb_id))
        except LbNotReady as exc:
            if self._wait(lb_id):
                log.info("load balancer %s: waiting for the host: %s", lb_id, exc)
                return
            log.error("load balancer %s: the data plane failed: %s (for %.0f s)", lb_id, exc,
                      NOT_READY_FOR)
            await self.service.finish(lb_id, ok=False)
            return
        except Exception as exc:
            self._waiting.pop(lb_id, None)
            log.error("load balancer %s: the data plane failed: %s", lb_id, exc)
            await self.service.finish(lb_id, ok=False)
            return
        self._waiting.pop(lb_id, None)
        await self.service.finish(lb_id, True, states, stats)

    def _wait(self, lb_id: str) -> bool:
        """Whether to stay PENDING and try again soon (a pass in NOT_READY_RETRY seconds),
        for at most NOT_READY_FOR seconds."""
        now = asyncio.get_running_loop().time()
        since = self._waiting.setdefault(lb_id, now)
        if now - since >= NOT_READY_FOR:
            del self._waiting[lb_id]
            return False
        asyncio.get_running_loop().call_later(NOT_READY_RETRY, self.wake)
        return True

    async def _delete(self, tree: Tree) -> None:
        try:
            await self.driver.destroy(tree.lb.id)
        except Exception as exc:
            log.error("load balancer %s: destroy failed: %s", tree.lb.id, exc)
            return
        await self.service.purge(tree.lb.id)

    async def _poll(self, tree: Tree) -> None:
        status = await self.driver.status(tree.lb.id)
        if not status.running and tree.lb.admin_state_up:
            await self._ensure_again(tree)
            return
        states, stats = rolled_up(tree, status)
        if _unchanged(tree, states, stats):
            return  # no write transaction for a quiet load balancer
        await self.service.write_status(tree.lb.id, states, stats)

    async def _ensure_again(self, tree: Tree) -> None:
        """A load balancer the data plane lost (crash, reboot): built again."""
        try:
            await self.driver.ensure(await self.spec(tree))
        except Exception as exc:
            log.error("load balancer %s: restart failed: %s", tree.lb.id, exc)

    # --- the spec ----------------------------------------------------------------------------
    async def _interface(self, port_id: str, subnet_id: str) -> Interface | None:
        async with self.db.read() as s:
            port = await s.get(Port, port_id)
            subnet = await s.get(Subnet, subnet_id)
            if port is None or subnet is None:
                return None
            net = await s.get(Network, port.network_id)
            address = (await s.execute(select(IPAllocation.ip_address).where(
                IPAllocation.port_id == port_id, IPAllocation.subnet_id == subnet_id))
            ).scalars().first()
        if net is None or address is None:
            return None
        prefix = ipaddress.ip_network(subnet.cidr).prefixlen
        bridge = self.external_bridge if (
            net.external and net.network_type == "flat"
            and net.physical_network == self.external_physnet) else names.bridge(net.id)
        return Interface(port_id=port_id, mac=port.mac_address,
                         addresses=(f"{address}/{prefix}",), bridge=bridge, mtu=net.mtu,
                         gateway=subnet.gateway_ip)

    async def spec(self, tree: Tree) -> LoadBalancerSpec:
        lb = tree.lb
        vip = await self._interface(lb.vip_port_id, lb.vip_subnet_id)
        if vip is None:
            raise ValueError(f"the VIP port {lb.vip_port_id} is gone")
        live = [o for o in tree.objects if o.provisioning_status != "PENDING_DELETE"]
        t = Tree(lb, live)
        pools = tuple(_pool(t, p) for p in t.of("pool"))
        listeners = tuple([replace(_listener(t, x), tls=await self._tls(x))
                           for x in t.of("listener")])
        member_ports = await self._member_ports(t)
        return LoadBalancerSpec(id=lb.id, vip_address=lb.vip_address, vip=vip,
                                member_ports=member_ports, listeners=listeners, pools=pools,
                                admin_state_up=lb.admin_state_up)

    async def _tls(self, lis: LbObject) -> TlsSpec | None:
        """A TERMINATED_HTTPS listener's certificates, read from the key manager now (the
        API checked that the listener's owner may read them)."""
        a = lis.attrs
        if a["protocol"] != "TERMINATED_HTTPS":
            return None
        if self.certificates is None:
            raise ValueError(f"listener {lis.id}: no key manager to read certificates from")
        refs = [a["default_tls_container_ref"]] if a.get("default_tls_container_ref") else []
        refs += [r for r in a.get("sni_container_refs") or [] if r not in refs]
        ca_ref = a.get("client_ca_tls_container_ref")
        try:
            pems = tuple([(await self.certificates.certificate(r)).pem for r in refs])
            ca = await self.certificates.ca_bundle(ca_ref) if ca_ref else None
        except Unreadable as exc:  # deleted since, say: the message names no key material
            raise ValueError(f"listener {lis.id}: a certificate is unusable: {exc}") from exc
        return TlsSpec(pems, ca, a.get("client_authentication") or "NONE",
                       tuple(a.get("tls_versions") or ()), a.get("tls_ciphers"),
                       tuple(a.get("alpn_protocols") or ()))

    async def _member_ports(self, tree: Tree) -> tuple[Interface, ...]:
        """One interface per member subnet other than the VIP's: the ports are the
        network core's (device owner Octavia), made on first need."""
        subnets = sorted({m.attrs["subnet_id"] for m in tree.of("member")
                          if m.attrs.get("subnet_id")} - {tree.lb.vip_subnet_id})
        out = []
        for subnet_id in subnets:
            port_id = await self.service.member_port(tree.lb, subnet_id)
            if port_id is None:
                continue
            iface = await self._interface(port_id, subnet_id)
            if iface is not None:
                out.append(Interface(iface.port_id, iface.mac, iface.addresses, iface.bridge,
                                     iface.mtu, None))
        return tuple(out)


def _monitor(tree: Tree, pool: LbObject) -> HealthMonitorSpec | None:
    found = tree.of("healthmonitor", pool.id)
    if not found:
        return None
    hm = found[0]
    a = hm.attrs
    return HealthMonitorSpec(
        id=hm.id, type=a["type"], delay=a["delay"], timeout=a["timeout"],
        max_retries=a["max_retries"], max_retries_down=a.get("max_retries_down") or 3,
        http_method=a.get("http_method") or "GET", url_path=a.get("url_path") or "/",
        expected_codes=a.get("expected_codes") or "200", http_version=a.get("http_version"),
        domain_name=a.get("domain_name"), admin_state_up=hm.admin_state_up)


def _pool(tree: Tree, pool: LbObject) -> PoolSpec:
    sp = pool.attrs.get("session_persistence")
    members = tuple(MemberSpec(
        id=m.id, address=m.attrs["address"], protocol_port=m.attrs["protocol_port"],
        weight=m.attrs.get("weight", 1), backup=bool(m.attrs.get("backup")),
        admin_state_up=m.admin_state_up, monitor_address=m.attrs.get("monitor_address"),
        monitor_port=m.attrs.get("monitor_port")) for m in tree.of("member", pool.id))
    return PoolSpec(
        id=pool.id, protocol=pool.attrs["protocol"], lb_algorithm=pool.attrs["lb_algorithm"],
        members=members, health_monitor=_monitor(tree, pool),
        session_persistence=tuple(sorted((k, str(v)) for k, v in sp.items()
                                         if v is not None)) if sp else None,
        admin_state_up=pool.admin_state_up)


def _listener(tree: Tree, lis: LbObject) -> ListenerSpec:
    a = lis.attrs
    policies = tuple(L7PolicySpec(
        id=p.id, action=p.attrs["action"], position=p.position,
        rules=tuple(L7RuleSpec(id=r.id, type=r.attrs["type"],
                               compare_type=r.attrs["compare_type"], value=r.attrs["value"],
                               key=r.attrs.get("key"), invert=bool(r.attrs.get("invert")),
                               admin_state_up=r.admin_state_up)
                    for r in tree.of("l7rule", p.id)),
        redirect_pool_id=p.attrs.get("redirect_pool_id"),
        redirect_url=p.attrs.get("redirect_url"),
        redirect_prefix=p.attrs.get("redirect_prefix"),
        redirect_http_code=p.attrs.get("redirect_http_code"),
        admin_state_up=p.admin_state_up)
        for p in sorted(tree.of("l7policy", lis.id), key=lambda x: x.position))
    return ListenerSpec(
        id=lis.id, protocol=a["protocol"], protocol_port=a["protocol_port"],
        default_pool_id=a.get("default_pool_id"), connection_limit=a["connection_limit"],
        timeout_client_data=_ms(a, "timeout_client_data", 50000),
        timeout_member_connect=_ms(a, "timeout_member_connect", 5000),
        timeout_member_data=_ms(a, "timeout_member_data", 50000),
        timeout_tcp_inspect=_ms(a, "timeout_tcp_inspect", 0),
        allowed_cidrs=tuple(a.get("allowed_cidrs") or ()),
        insert_headers=tuple(sorted((a.get("insert_headers") or {}).items())),
        l7policies=policies, admin_state_up=lis.admin_state_up)


def _ms(attrs: dict[str, Any], key: str, default: int) -> int:
    value = attrs.get(key)
    return default if value is None else int(value)


def rolled_up(tree: Tree, status: LbStatus) -> tuple[dict[str, str],
                                                      dict[str, dict[str, int]]]:
    """Operating statuses of every object (members as the data plane says; pools, listeners
    and the load balancer rolled up: DEGRADED when some members are ERROR) and counters."""
    out: dict[str, str] = {}
    stats: dict[str, dict[str, int]] = {}
    for member in tree.of("member"):
        got = status.members.get(member.id)
        out[member.id] = got.operating_status if got else (
            "OFFLINE" if not member.admin_state_up else "NO_MONITOR")
    used = {x.attrs.get("default_pool_id") for x in tree.of("listener")} | \
        {x.attrs.get("redirect_pool_id") for x in tree.of("l7policy")}
    for pool in tree.of("pool"):
        states = [out[m.id] for m in tree.of("member", pool.id)]
        # a pool no listener uses is OFFLINE (amphora: its backend is not in the config)
        out[pool.id] = roll_up(states, pool.admin_state_up) if pool.id in used else "OFFLINE"
        for hm in tree.of("healthmonitor", pool.id):
            out[hm.id] = "ONLINE" if hm.admin_state_up else "OFFLINE"
    for lis in tree.of("listener"):
        got = status.listeners.get(lis.id)
        pools = [out[p] for p in [lis.attrs.get("default_pool_id")] if p in out]
        state = roll_up(pools, lis.admin_state_up)
        if got is not None and got.operating_status in ("ERROR", "OFFLINE"):
            state = got.operating_status
        out[lis.id] = state if status.running else "ERROR"
        if got is not None:
            stats[lis.id] = _counters(got)
        for policy in tree.of("l7policy", lis.id):
            out[policy.id] = "ONLINE" if policy.admin_state_up else "OFFLINE"
            for rule in tree.of("l7rule", policy.id):
                out[rule.id] = "ONLINE" if rule.admin_state_up else "OFFLINE"
    lb = tree.lb
    out[lb.id] = roll_up([out[x.id] for x in tree.of("listener")], lb.admin_state_up) \
        if status.running or not lb.admin_state_up else "ERROR"
    stats[lb.id] = {k: sum(s.get(k, 0) for s in stats.values()) for k in (
        "bytes_in", "bytes_out", "active_connections", "total_connections",
        "request_errors")}
    return out, stats


def _unchanged(tree: Tree, states: dict[str, str], stats: dict[str, dict[str, int]]) -> bool:
    objs: list[Any] = [tree.lb, *tree.objects]
    for obj in objs:
        if obj.id in states and obj.operating_status != states[obj.id]:
            return False
        if obj.id in stats and obj.attrs.get("stats") != stats[obj.id]:
            return False
    return True


def _counters(s: Any) -> dict[str, int]:
    return {"bytes_in": s.bytes_in, "bytes_out": s.bytes_out,
            "active_connections": s.active_connections,
            "total_connections": s.total_connections, "request_errors": s.request_errors}
