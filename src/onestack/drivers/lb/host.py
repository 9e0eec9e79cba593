"""The host side of the haproxy driver: one bounded subprocess per call (ip, nft, haproxy),
namespaces, veths, addresses and routes. Errors are LbError naming the command."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import os
import signal
import subprocess
from typing import Any

from onestack.drivers import hostcmd
from onestack.drivers.lb import names
from onestack.drivers.lb.base import Interface, LbError, LbNotReady

NETNS_DIR = "/run/netns"
TIMEOUT = hostcmd.TIMEOUT


async def run(argv: list[str], ns: str | None = None, stdin: str | None = None,
              ok_codes: tuple[int, ...] = (0,), timeout: float = TIMEOUT) -> str:
    """Run ``argv`` (inside namespace ``ns`` when given) and return its stdout."""
    return await hostcmd.run(argv, LbError, ns=ns, stdin=stdin, ok_codes=ok_codes,
                             timeout=timeout)


async def start_daemon(argv: list[str], ns: str, timeout: float = TIMEOUT) -> None:
    """Run a program that forks a daemon and exits (``haproxy -D``), inside ``ns``.

    Not through the event loop's subprocess support: uvloop (what ``onestack up`` runs on)
    leaves a pipe of its own open in the child, which the daemon keeps, so a wait for the
    end of the output never ends. ``subprocess`` in a thread closes every other descriptor
    in the child (close_fds), and the daemon's stdio goes to /dev/null."""
    command = ["ip", "netns", "exec", ns, *argv]

    def spawn() -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(command, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, close_fds=True, timeout=timeout,
                              check=False)

    try:
        proc = await asyncio.to_thread(spawn)
    except FileNotFoundError as exc:
        raise LbError(f"{command[0]} is not installed: {exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise LbError(f"{' '.join(command)} took longer than {timeout:.0f}s") from exc
    if proc.returncode != 0:
        why = proc.stderr.decode(errors="replace").strip()[-hostcmd.ERR_TAIL:]
        raise LbError(f"{' '.join(command)} failed ({proc.returncode}): {why}")


def ns_exists(ns: str) -> bool:
    return os.path.exists(os.path.join(NETNS_DIR, ns))


def lb_namespaces() -> list[str]:
    try:
        entries = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in entries if names.lb_of_namespace(n) is not None)


async def ensure_namespace(ns: str) -> None:
    if not ns_exists(ns):
        await run(["ip", "netns", "add", ns])
        await run(["ip", "-n", ns, "link", "set", "lo", "up"])
        # UDP listeners forward (DNAT) to members
        await run(["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"], ns=ns)
        await run(["sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1"], ns=ns)


async def _links(ns: str | None) -> dict[str, dict[str, Any]]:
    out = await run(["ip", *(["-n", ns] if ns else []), "-j", "link", "show"])
    return {str(i.get("ifname")): i for i in json.loads(out or "[]")}


async def ns_links(ns: str) -> list[str]:
    """The load balancer's own veth ends in its namespace."""
    if not ns_exists(ns):
        return []
    return sorted(n for n in await _links(ns) if names.NS_VETH_RE.fullmatch(n))


async def ensure_interface(ns: str, iface: Interface, host: dict[str, dict[str, Any]],
                           inner: dict[str, dict[str, Any]]) -> None:
    """A veth whose namespace end carries the port's MAC, addresses and MTU, and whose host
    end sits on the port's bridge; changes only what differs."""
    outer_name, inner_name = names.veth_host(iface.port_id), names.veth_ns(iface.port_id)
    mtu = int(iface.mtu)
    mac = _mac(iface.mac)
    if not (1280 <= mtu <= 65535):
        raise LbError(f"MTU {iface.mtu!r} of port {iface.port_id} is not 1280-65535")
    if iface.bridge not in host:
        raise LbNotReady(f"bridge {iface.bridge!r} of port {iface.port_id} does not exist")
    o, i = host.get(outer_name), inner.get(inner_name)
    if o is None or i is None:
        if o is not None:
            await run(["ip", "link", "del", outer_name], ok_codes=(0, 1))
        if i is not None:
            await run(["ip", "-n", ns, "link", "del", inner_name], ok_codes=(0, 1))
        await run(["ip", "link", "add", outer_name, "mtu", str(mtu), "type", "veth", "peer",
                   "name", inner_name, "mtu", str(mtu), "address", mac, "netns", ns])
        o, i = {}, {"address": mac}
    if o.get("master") != iface.bridge or o.get("mtu") != mtu or "UP" not in o.get("flags", []):
        try:
            await run(["ip", "link", "set", outer_name, "mtu", str(mtu), "master",
                       iface.bridge, "up"])
        except LbError as exc:  # the network agent removed the bridge meanwhile
            if not os.path.exists(f"/sys/class/net/{iface.bridge}"):
                raise LbNotReady(f"bridge {iface.bridge!r} of port {iface.port_id} is "
                                 f"gone: {exc}") from exc
            raise
    if (str(i.get("address", "")).lower() != mac or i.get("mtu") != mtu
            or "UP" not in i.get("flags", [])):
        await run(["ip", "-n", ns, "link", "set", inner_name, "address", mac, "mtu", str(mtu),
                   "up"])
    await _addresses(ns, inner_name, iface)
    if iface.gateway:
        gw = ipaddress.ip_address(iface.gateway)
        fam = "-4" if gw.version == 4 else "-6"
        have = json.loads(await run(["ip", fam, "-n", ns, "-j", "route", "show", "default"])
                          or "[]")
        if not any(r.get("gateway") == str(gw) and r.get("dev") == inner_name for r in have):
            await run(["ip", fam, "-n", ns, "route", "replace", "default", "via", str(gw),
                       "dev", inner_name])


def _mac(value: str) -> str:
    mac = str(value).lower()
    parts = mac.split(":")
    if len(parts) != 6 or not all(len(p) == 2 and all(c in "0123456789abcdef" for c in p)
                                  for p in parts):
        raise LbError(f"MAC address {value!r} is not aa:bb:cc:dd:ee:ff")
    return mac


async def _addresses(ns: str, dev: str, iface: Interface) -> None:
    try:
        want = {str(ipaddress.ip_interface(a)) for a in iface.addresses}
    except ValueError as exc:
        raise LbError(f"port {iface.port_id} addresses {iface.addresses!r}: {exc}") from exc
    have: set[str] = set()
    for item in json.loads(await run(["ip", "-n", ns, "-j", "addr", "show", "dev", dev])
                           or "[]"):
        for a in item.get("addr_info") or []:
            if a.get("scope") == "global":
                have.add(str(ipaddress.ip_interface(f"{a['local']}/{a['prefixlen']}")))
    for a in sorted(have - want):
        await run(["ip", "-n", ns, "addr", "del", a, "dev", dev])
    for a in sorted(want - have):
        await run(["ip", "-n", ns, "addr", "add", a, "dev", dev,
                   *(["nodad"] if ":" in a else [])])


async def converge_interfaces(ns: str, interfaces: list[Interface]) -> None:
    host = await _links(None)
    inner = await _links(ns)
    for iface in interfaces:
        await ensure_interface(ns, iface, host, inner)
    wanted = {names.veth_ns(i.port_id) for i in interfaces}
    for name in inner:
        if names.NS_VETH_RE.fullmatch(name) and name not in wanted:
            await run(["ip", "-n", ns, "link", "del", name], ok_codes=(0, 1))


async def delete_namespace(ns: str) -> None:
    """Remove the veths (both ends) and the namespace; processes left in it are ours (the
    namespace is) and are killed first, or they would keep it alive unnamed."""
    if not ns_exists(ns):
        return
    host = await _links(None)
    for name in await ns_links(ns):
        if names.host_of_ns_veth(name) in host:
            await run(["ip", "link", "del", names.host_of_ns_veth(name)], ok_codes=(0, 1))
    for pid in (await run(["ip", "netns", "pids", ns], ok_codes=(0, 1))).split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    await run(["ip", "netns", "delete", ns], ok_codes=(0, 1))


async def nft_has_table(ns: str) -> bool:
    out = await run(["nft", "-j", "list", "tables", "inet"], ns=ns)
    for item in json.loads(out or "{}").get("nftables", []):
        if (item.get("table") or {}).get("name") == names.NFT_TABLE:
            return True
    return False


async def nft_apply(ns: str, text: str) -> None:
    await run(["nft", "-f", "-"], ns=ns, stdin=text)


async def nft_delete(ns: str) -> None:
    if ns_exists(ns) and await nft_has_table(ns):
        await run(["nft", "delete", "table", "inet", names.NFT_TABLE], ns=ns)
