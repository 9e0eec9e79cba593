"""Choosing the data plane at start-up: ``[network] dataplane`` = auto | linux | off."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from typing import Any

from onestack.agent.network import NetworkAgent
from onestack.agent.network_plan import PlanConfig
from onestack.config import Settings
from onestack.core.network.service import NetworkService
from onestack.db.engine import Database
from onestack.drivers.network.base import NetDriver
from onestack.drivers.network.linux import LinuxNetDriver, missing_tools

log = logging.getLogger(__name__)
CAP_NET_ADMIN = 12
OFF_FEATURES = ("tenant bridges and taps, DHCP, routers/SNAT, floating IPs, security group "
                "filtering and the 169.254.169.254 metadata service")


def has_net_admin() -> bool:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> CAP_NET_ADMIN & 1)
    except OSError:
        pass
    return os.geteuid() == 0


def why_not_linux() -> str | None:
    """None when this host can run the Linux data plane, else the reason it cannot."""
    if not has_net_admin():
        return "not running as root (no CAP_NET_ADMIN)"
    missing = missing_tools()
    if missing:
        return f"{', '.join(missing)} not installed"
    return None


def make_network_agent(settings: Settings, db: Database, network: NetworkService,
                       host: Callable[[], str], metadata: Any = None,
                       driver: NetDriver | None = None) -> NetworkAgent | None:
    cfg = settings.network
    mode = cfg.dataplane
    if driver is None:
        if mode == "off":
            log.info("network data plane off ([network] dataplane = \"off\"): %s are not "
                     "provided; the networking API works as usual", OFF_FEATURES)
            return None
        reason = why_not_linux()
        if reason is not None:
            if mode == "linux":
                log.error("network data plane \"linux\" requested but %s: it is off", reason)
            else:
                log.warning("network data plane off (%s): %s are not provided; guests get "
                            "user-mode networking", reason, OFF_FEATURES)
            return None
        driver = LinuxNetDriver(settings.data_dir / "network")
    plan_cfg = PlanConfig(host="", external_bridge=cfg.external_bridge,
                          external_physnet=cfg.external_physnet,
                          host_cidr=f"{cfg.public_gateway}/"
                                    f"{cfg.public_cidr.rsplit('/', 1)[-1]}",
                          masquerade_uplink=cfg.masquerade_uplink, tunnel_ip=cfg.tunnel_ip)
    agent = NetworkAgent(db, driver, plan_cfg, cfg.reconcile_interval, metadata,
                         cfg.metadata_port, host=host)
    network.subscribe(agent.wake)
    return agent


def make_compute_host_network_agent(settings: Settings, state: Any, host: str,
                                    tunnel_ip: str) -> NetworkAgent | None:
    """The data plane of a compute host whose agent is remote (``onestack agent``): its
    guests' taps, port security and a VXLAN device per network to the other hosts. None
    (guests get user-mode networking) where it cannot run."""
    cfg = settings.network
    if cfg.dataplane == "off":
        log.info("network data plane off ([network] dataplane = \"off\"): guests get "
                 "user-mode networking")
        return None
    reason = why_not_linux()
    if reason is not None:
        log.warning("network data plane off (%s): guests get user-mode networking", reason)
        return None
    plan_cfg = PlanConfig(host=host, role="compute", tunnel_ip=tunnel_ip,
                          external_bridge=cfg.external_bridge,
                          external_physnet=cfg.external_physnet)
    return NetworkAgent(None, LinuxNetDriver(settings.data_dir / "network"), plan_cfg,
                        cfg.reconcile_interval, state=state)
