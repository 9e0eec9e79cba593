"""dnsmasq, one per network in its DHCP namespace: DHCPv4, DHCPv6 and router advertisements.

Each network has a folder under the state dir with its hosts file (one line per port), its
options file (per-subnet DHCP options), its lease file, pid file and the command line it was
started with. A change of ports or options rewrites the files and sends SIGHUP (dnsmasq
re-reads both files); a change of subnets or interface restarts it. dnsmasq daemonises, so
it outlives the agent: a restarted agent finds it again by its pid file.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import re
import shutil
import signal
from pathlib import Path

from onestack.drivers.network import addresses
from onestack.drivers.network.base import DhcpConfig, DhcpSubnet
from onestack.drivers.network.linux.cmd import run


def _tag(index: int) -> str:
    return f"s{index}"


def _range(index: int, sub: DhcpSubnet, lease: int) -> str | None:
    net = ipaddress.ip_network(sub.cidr)
    if sub.ip_version == 4:
        return f"set:{_tag(index)},{net.network_address},static,{net.netmask},{lease}s"
    mode = sub.ipv6_address_mode
    if mode == "dhcpv6-stateful":
        return f"set:{_tag(index)},{net.network_address},static,{net.prefixlen},{lease}s"
    if mode == "dhcpv6-stateless":
        return f"set:{_tag(index)},{net.network_address},ra-stateless,{net.prefixlen}"
    if mode == "slaac" or sub.ipv6_ra_mode == "slaac":
        return f"set:{_tag(index)},{net.network_address},slaac,{net.prefixlen}"
    return None


def command(cfg: DhcpConfig, folder: Path) -> list[str]:
    argv = ["dnsmasq", "--conf-file=/dev/null", "--no-hosts", "--no-resolv", "--port=0",
            "--user=root", "--group=root", "--strict-order", "--bind-interfaces",
            f"--interface={cfg.interface}", "--except-interface=lo",
            f"--pid-file={folder / 'pid'}", f"--dhcp-hostsfile={folder / 'host'}",
            f"--dhcp-optsfile={folder / 'opts'}", f"--dhcp-leasefile={folder / 'leases'}",
            "--dhcp-authoritative", "--dhcp-lease-max=16777216",
            f"--log-facility={folder / 'log'}", "--quiet-dhcp6", "--quiet-ra"]
    ra = False
    for i, sub in enumerate(cfg.subnets):
        rng = _range(i, sub, cfg.lease_seconds)
        if rng is not None:
            argv.append(f"--dhcp-range={rng}")
        if sub.ip_version == 6 and sub.ipv6_ra_mode:
            ra = True
    if ra:
        # Router advertisements for prefixes; the router lifetime is 0 (not a default router).
        argv += ["--enable-ra", f"--ra-param={cfg.interface},mtu:{cfg.mtu},30,0"]
    return argv


HOSTNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,62}")


def hosts_file(cfg: DhcpConfig) -> str:
    """One ``mac,hostname,ip`` line per port; an entry with any value that is not a plain
    MAC, host name or canonical address is skipped (a line of its own can't be injected)."""
    lines = []
    owner = f"network {cfg.network_id}"
    for h in cfg.hosts:
        if not (addresses.usable(h.mac, "MAC", owner, addresses.is_mac)
                and addresses.usable(h.ip, "address", owner)
                and addresses.usable(h.hostname, "host name", owner, _hostname)):
            continue
        ip = f"[{h.ip}]" if ":" in h.ip else h.ip
        tag = f"set:{h.tag}," if h.options and _tag_ok(h.tag) else ""
        lines.append(f"{h.mac},{tag}{h.hostname},{ip}")
    return "\n".join(lines) + ("\n" if lines else "")


def _hostname(text: object) -> bool:
    return isinstance(text, str) and HOSTNAME.fullmatch(text) is not None


OPT_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
ONE_LINE = re.compile(r"[^\x00-\x1f\x7f]{0,255}")


def _tag_ok(tag: str) -> bool:
    return re.fullmatch(r"[A-Za-z0-9-]{1,64}", tag) is not None


def port_options(cfg: DhcpConfig) -> list[str]:
    """Each port's extra DHCP options, for the host entries that set its tag (Neutron's
    ``tag:<port>,option:<name>,<value>``; a number names the option itself); names and
    values that are not one plain line are left out."""
    lines: list[str] = []
    seen: set[str] = set()
    for h in cfg.hosts:
        if not h.options or not _tag_ok(h.tag) or h.tag in seen:
            continue
        seen.add(h.tag)
        for name, value, version in h.options:
            if not (OPT_NAME.fullmatch(name) and ONE_LINE.fullmatch(value)):
                continue
            option = name if name.isdigit() else f"{'option6' if version == 6 else 'option'}:{name}"
            lines.append(f"tag:{h.tag},{option},{value}")
    return lines


def _route(route: object) -> bool:
    return isinstance(route, tuple | list) and len(route) == 2 and \
        addresses.is_prefix(route[0]) and addresses.is_address(route[1])


def opts_file(cfg: DhcpConfig) -> str:
    """Per-subnet options (values that are not canonical addresses are left out), then the
    ports' own."""
    lines = []
    for i, sub in enumerate(cfg.subnets):
        tag = f"tag:{_tag(i)}"
        owner = f"subnet {sub.id}"
        dns = [s for s in sub.dns_nameservers if addresses.usable(s, "DNS server", owner)]
        gateway = sub.gateway_ip if sub.gateway_ip and addresses.usable(
            sub.gateway_ip, "gateway", owner) else None
        if sub.ip_version == 4:
            lines.append(f"{tag},option:mtu,{cfg.mtu}")
            routes = [f"{d},{v}" for d, v in sub.routes
                      if addresses.usable((d, v), "host route", owner, _route)]
            if gateway:
                routes.append(f"0.0.0.0/0,{gateway}")
                lines.append(f"{tag},option:router,{gateway}")
            else:
                lines.append(f"{tag},option:router")
            if routes:
                lines.append(f"{tag},option:classless-static-route,{','.join(routes)}")
            if dns:
                lines.append(f"{tag},option:dns-server,{','.join(dns)}")
        elif dns:
            servers = ",".join(f"[{s}]" for s in dns)
            lines.append(f"{tag},option6:dns-server,{servers}")
    lines += port_options(cfg)
    return "\n".join(lines) + ("\n" if lines else "")


class Dnsmasq:
    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def folder(self, network_id: str) -> Path:
        return self.state_dir / "dhcp" / network_id

    def pid(self, network_id: str) -> int | None:
        folder = self.folder(network_id)
        try:
            pid = int((folder / "pid").read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError):
            return None
        return pid if b"dnsmasq" in cmdline and str(folder).encode() in cmdline else None

    async def running(self) -> list[str]:
        base = self.state_dir / "dhcp"
        if not base.is_dir():
            return []
        return sorted(n for n in os.listdir(base) if self.pid(n) is not None)

    async def apply(self, cfg: DhcpConfig) -> None:
        folder = self.folder(cfg.network_id)
        folder.mkdir(parents=True, exist_ok=True)
        argv = command(cfg, folder)
        _write(folder / "host", hosts_file(cfg))
        _write(folder / "opts", opts_file(cfg))
        pid = self.pid(cfg.network_id)
        old = (folder / "cmdline").read_text() if (folder / "cmdline").exists() else ""
        if pid is not None and old == "\0".join(argv):
            os.kill(pid, signal.SIGHUP)
            return
        if pid is not None:
            await self._kill(pid)
        (folder / "cmdline").write_text("\0".join(argv))
        await run(argv, ns=cfg.namespace)

    async def stop(self, network_id: str) -> None:
        pid = self.pid(network_id)
        if pid is not None:
            await self._kill(pid)
        shutil.rmtree(self.folder(network_id), ignore_errors=True)

    async def _kill(self, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        for _ in range(50):
            if not Path(f"/proc/{pid}").exists():
                return
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                    return
            await asyncio.sleep(0.05)
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _write(path: Path, text: str) -> None:
    """Replace a file whole (dnsmasq may read it at any moment)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
