"""iproute2: namespaces, links (bridges, taps, veth pairs), addresses, routes, sysctls."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import signal
from typing import Any

from onestack.drivers.network import names
from onestack.drivers.network.base import Link, NetError
from onestack.drivers.network.linux.cmd import run

NETNS_DIR = "/run/netns"


def _ipn(ns: str | None) -> list[str]:
    return ["ip", "-n", ns] if ns else ["ip"]


async def ip_json(args: list[str], ns: str | None = None) -> list[dict[str, Any]]:
    out = await run([*_ipn(ns), "-j", *args])
    data = json.loads(out or "[]")
    return data if isinstance(data, list) else []


async def namespaces() -> list[str]:
    try:
        entries = os.listdir(NETNS_DIR)
    except FileNotFoundError:
        return []
    return sorted(n for n in entries if names.is_ours_ns(n))


async def ensure_namespace(ns: str, forwarding: bool) -> None:
    if not os.path.exists(os.path.join(NETNS_DIR, ns)):
        await run(["ip", "netns", "add", ns])
    await run(["ip", "-n", ns, "link", "set", "lo", "up"])
    if forwarding:
        await set_sysctl("net.ipv4.ip_forward", "1", ns)
        await set_sysctl("net.ipv6.conf.all.forwarding", "1", ns)


async def delete_namespace(ns: str) -> None:
    """Remove the namespace; processes still in it (a dnsmasq whose state is lost) are
    killed first, or they would keep it alive unnamed."""
    if not os.path.exists(os.path.join(NETNS_DIR, ns)):
        return
    for pid in (await run(["ip", "netns", "pids", ns], ok_codes=(0, 1))).split():
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pid), signal.SIGKILL)
    await run(["ip", "netns", "delete", ns])


async def set_sysctl(key: str, value: str, ns: str | None = None) -> None:
    path = "/proc/sys/" + key.replace(".", "/")
    if ns is None:
        with open(path, "w") as fh:
            fh.write(value)
        return
    await run(["sysctl", "-q", "-w", f"{key}={value}"], ns=ns)


async def links(ns: str | None = None, all_names: bool = False) -> dict[str, Link]:
    out: dict[str, Link] = {}
    for item in await ip_json(["-d", "link", "show"], ns):
        name = str(item.get("ifname", ""))
        if not all_names and not names.is_ours_link(name, ns is not None):
            continue
        info = item.get("linkinfo") or {}
        out[name] = Link(name=name, kind=str(info.get("info_kind", "")),
                         master=item.get("master"), mtu=int(item.get("mtu", 0)),
                         up="UP" in (item.get("flags") or []), mac=item.get("address"))
    return out


async def _one(name: str, ns: str | None = None) -> Link | None:
    try:
        found = await links(ns, all_names=True)
    except NetError:
        return None
    return found.get(name)


async def converge(link: Link, ns: str | None, master: str | None, mtu: int,
                   mac: str | None = None) -> None:
    """Set what differs: MTU, MAC, master bridge, up."""
    args: list[str] = []
    if link.mtu != mtu:
        args += ["mtu", str(mtu)]
    if mac and (link.mac or "").lower() != mac.lower():
        args += ["address", mac]
    if master is not None and link.master != master:
        args += ["master", master]
    if not link.up:
        args += ["up"]
    if args:
        await run([*_ipn(ns), "link", "set", "dev", link.name, *args])


async def ensure_bridge(name: str, mtu: int) -> None:
    link = await _one(name)
    if link is None:
        await run(["ip", "link", "add", name, "type", "bridge", "stp_state", "0",
                   "forward_delay", "0"])
        await run(["ip", "link", "set", name, "mtu", str(mtu), "up"])
        # A bridge carries guests' traffic only: no host addresses from autoconfiguration.
        await set_sysctl(f"net.ipv6.conf.{name}.disable_ipv6", "1")
        return
    await converge(link, None, None, mtu)


async def ensure_tap(name: str, bridge: str, mtu: int) -> None:
    link = await _one(name)
    if link is None:
        # Single-queue with a virtio-net header: what QEMU's plain ``-netdev tap,ifname=``
        # opens (a multi-queue tap would refuse it).
        await run(["ip", "tuntap", "add", "dev", name, "mode", "tap", "vnet_hdr"])
        link = Link(name=name, kind="tun", mtu=0, up=False)
    await converge(link, None, bridge, mtu)


VXLAN_PORT = 4789
ZERO_MAC = "00:00:00:00:00:00"


async def ensure_vxlan(name: str, vni: int, local_ip: str, remotes: list[str], bridge: str,
                       mtu: int) -> None:
    """A VXLAN device on the bridge; its all-zero FDB entries (head-end replication of
    broadcast and unknown unicast) are exactly ``remotes``; guests' MACs are learned."""
    link = await _one(name)
    info = await _vxlan_info(name) if link is not None else None
    if info is not None and (info.get("id") != vni or info.get("local") != local_ip):
        await run(["ip", "link", "del", name])
        link = None
    if link is None:
        await run(["ip", "link", "add", name, "type", "vxlan", "id", str(vni), "local",
                   local_ip, "dstport", str(VXLAN_PORT), "learning"])
        await set_sysctl(f"net.ipv6.conf.{name}.disable_ipv6", "1")
        link = Link(name=name, kind="vxlan", mtu=0, up=False)
    await converge(link, None, bridge, mtu)
    have: set[str] = set()
    out = await run(["bridge", "-j", "fdb", "show", "dev", name])
    for entry in json.loads(out or "[]"):
        if entry.get("mac") == ZERO_MAC and entry.get("dst"):
            have.add(str(entry["dst"]))
    for dst in sorted(have - set(remotes)):
        await run(["bridge", "fdb", "del", ZERO_MAC, "dev", name, "dst", dst],
                  ok_codes=(0, 1, 2))
    for dst in sorted(set(remotes) - have):
        await run(["bridge", "fdb", "append", ZERO_MAC, "dev", name, "dst", dst])


async def _vxlan_info(name: str) -> dict[str, object] | None:
    for item in await ip_json(["-d", "link", "show", "dev", name], None):
        data = (item.get("linkinfo") or {}).get("info_data") or {}
        return {"id": data.get("id"), "local": data.get("local")}
    return None


async def ensure_veth(host_name: str, bridge: str, ns: str, ns_name: str, mtu: int,
                      mac: str) -> None:
    inner = await _one(ns_name, ns)
    outer = await _one(host_name)
    if inner is None or outer is None:
        if outer is not None:
            await run(["ip", "link", "del", host_name])
        if inner is not None:
            await run(["ip", "-n", ns, "link", "del", ns_name])
        await run(["ip", "link", "add", host_name, "mtu", str(mtu), "type", "veth", "peer",
                   "name", ns_name, "mtu", str(mtu), "address", mac, "netns", ns])
        inner = Link(name=ns_name, kind="veth", mtu=mtu, up=False, mac=mac)
        outer = Link(name=host_name, kind="veth", mtu=mtu, up=False)
    await converge(outer, None, bridge, mtu)
    await converge(inner, ns, None, mtu, mac)


async def delete_link(name: str, ns: str | None = None) -> None:
    if await _one(name, ns) is not None:
        await run([*_ipn(ns), "link", "del", name], ok_codes=(0, 1))


def _norm(cidr: str) -> str:
    return str(ipaddress.ip_interface(cidr))


async def set_addresses(ns: str | None, dev: str, cidrs: list[str]) -> None:
    want = {_norm(c) for c in cidrs}
    have: set[str] = set()
    for item in await ip_json(["addr", "show", "dev", dev], ns):
        for a in item.get("addr_info") or []:
            if a.get("scope") == "global":
                have.add(_norm(f"{a['local']}/{a['prefixlen']}"))
    for cidr in sorted(have - want):
        await run([*_ipn(ns), "addr", "del", cidr, "dev", dev])
    added = sorted(want - have)
    for cidr in added:
        flags = ["nodad"] if ":" in cidr else []
        await run([*_ipn(ns), "addr", "add", cidr, "dev", dev, *flags])
    if ns is not None:
        await forget_neighbours([c.split("/")[0] for c in added if ":" not in c])


async def forget_neighbours(addresses: list[str]) -> None:
    """An address that moved here (a floating IP freed on one router and taken by another)
    may still sit in the host's and the routers' ARP caches with the old owner's MAC: drop
    those entries so the next packet asks again (instead of a gratuitous ARP, which needs a
    tool the host may lack)."""
    if not addresses:
        return
    spaces: list[str | None] = [None, *[n for n in await namespaces()
                                        if n.startswith("onestack-router-")]]
    for where in spaces:
        for address in addresses:
            await run([*_ipn(where), "neigh", "flush", "to", address], ok_codes=(0, 1, 2))


async def set_routes(ns: str, routes: list[tuple[str, str]]) -> None:
    want = {(_dest(d), v) for d, v in routes}
    have: set[tuple[str, str]] = set()
    for family in ("-4", "-6"):
        for item in await ip_json([family, "route", "show", "table", "main"], ns):
            if item.get("gateway") and item.get("protocol", "boot") in ("boot", "static"):
                have.add((_dest(str(item["dst"]), family == "-6"), str(item["gateway"])))
    for dest, via in sorted(have - want):
        await run(["ip", "-n", ns, "route", "del", dest, "via", via], ok_codes=(0, 2))
    for dest, via in sorted(want - have):
        await run(["ip", "-n", ns, "route", "replace", dest, "via", via])


def _dest(dest: str, v6: bool = False) -> str:
    if dest == "default":
        return "::/0" if v6 else "0.0.0.0/0"
    return str(ipaddress.ip_network(dest, strict=False))
