"""What this host lacks for the parts of the cloud that run on it, said once at start-up:
what is missing, what it turns off, and the command that installs it. The APIs are served
whatever is missing; only the host's data planes (guests, networks, load balancers) wait."""

from __future__ import annotations

import shutil

from onestack.agent.network_setup import OFF_FEATURES, has_net_admin, why_not_linux
from onestack.config import Settings
from onestack.drivers.network.linux import missing_tools
from onestack.drivers.virt.base import VirtDriver

# Debian packages of the network data plane's tools.
NETWORK_PACKAGES = {"ip": "iproute2", "nft": "nftables", "dnsmasq": "dnsmasq-base"}


def network_fix() -> str:
    if not has_net_admin():
        return "start Onestack as root (sudo) for it"
    packages = sorted({NETWORK_PACKAGES.get(tool, tool) for tool in missing_tools()})
    return f"install them with `apt-get install {' '.join(packages)}` and start again"


def missing_parts(settings: Settings, driver: VirtDriver | None) -> list[str]:
    """One line per part of this host's data plane that cannot run, empty when all can."""
    lines: list[str] = []
    why = driver.unavailable() if driver is not None else None
    if why:
        lines.append(why)
    network_off = settings.network.dataplane == "off"
    if not network_off:
        reason = why_not_linux()
        if reason is not None:
            network_off = True
            lines.append(f"network data plane off ({reason}): {OFF_FEATURES} are not "
                         f"provided; {network_fix()}")
    if settings.load_balancer.driver in ("auto", "haproxy") and not network_off \
            and shutil.which("haproxy") is None:
        lines.append("load balancers are served by the API but carry no traffic (haproxy is "
                     "not installed): install it with `apt-get install haproxy` and start "
                     "again")
    return lines
