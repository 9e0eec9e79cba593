"""Reading what Ceph says: monitor addresses from ``ceph.conf``, pool capacity from
``ceph df --format json`` (pure functions, for the rbd volume driver)."""

from __future__ import annotations

import re
from typing import Any

from onestack.drivers.storage.base import GiB


def pool_capacity(df: Any, pool: str) -> tuple[int, int]:
    """(total, free) GiB of ``pool`` from ``ceph df --format json``, as Cinder counts them:
    free is the pool's max_avail, total adds what the pool already stores."""
    if not isinstance(df, dict):
        raise ValueError("no JSON object")
    for entry in df.get("pools") or []:
        if entry.get("name") == pool:
            stats = entry.get("stats") or {}
            free = int(stats.get("max_avail", 0))
            used = int(stats.get("stored", stats.get("bytes_used", 0)))
            return (free + used) // GiB, free // GiB
    if not int((df.get("stats") or {}).get("total_bytes", 0)):
        raise ValueError("the cluster reports no usage statistics (is a ceph-mgr running?)")
    raise ValueError(f"the pool {pool!r} does not exist")


def parse_mon_host(conf_text: str) -> tuple[list[str], list[str]]:
    """Hosts and ports of ``mon_host`` (``[v2:a:3300,v1:a:6789],b`` and the like)."""
    hosts: list[str] = []
    ports: list[str] = []
    for line in conf_text.splitlines():
        key, _, value = line.partition("=")
        if key.strip().replace(" ", "_").lower() != "mon_host":
            continue
        for vector, plain in re.findall(r"\[([^\]]*)\]|([^\s,;\[\]]+)", value):
            addrs = [a.strip() for a in (vector or plain).split(",") if a.strip()]
            if not addrs:
                continue
            v1 = [a for a in addrs if a.startswith("v1:")]
            addr = (v1 or addrs)[0]
            if addr[:3] in ("v1:", "v2:"):
                addr = addr[3:]
            host, port = _split_addr(addr.split("/", 1)[0], "6789")
            hosts.append(host)
            ports.append(port)
        break
    return hosts, ports


def _split_addr(addr: str, default_port: str) -> tuple[str, str]:
    if addr.startswith("["):  # [ipv6]:port
        host, _, rest = addr[1:].partition("]")
        return host, rest.lstrip(":") or default_port
    if addr.count(":") == 1:
        host, port = addr.split(":")
        return host, port
    return addr, default_port
