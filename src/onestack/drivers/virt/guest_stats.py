"""Per-guest counters read from the host where they are cheap: a QEMU process's CPU time and
resident memory from ``/proc/<pid>/stat``, a tap's byte and packet counters from
``/sys/class/net/<tap>/statistics`` (the host's view: the tap's rx is what the guest sent),
and each disk's I/O counters from QMP ``query-blockstats`` (one short connection).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onestack.drivers.virt.base import VirtError
from onestack.drivers.virt.qemu.qmp import qmp_command

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
PROC = Path("/proc")
SYS_NET = Path("/sys/class/net")


@dataclass
class ProcessStats:
    cpu_seconds: float  # user + system time of every QEMU thread (the vCPUs included)
    rss_bytes: int


@dataclass
class NicStats:
    rx_bytes: int
    tx_bytes: int
    rx_packets: int
    tx_packets: int


@dataclass
class DiskStats:
    device: str  # the disk's id on QEMU's command line (or its drive name)
    read_bytes: int
    write_bytes: int
    read_operations: int
    write_operations: int


def process_stats(pid: int, proc: Path = PROC) -> ProcessStats | None:
    """None when the process is gone."""
    try:
        raw = (proc / str(pid) / "stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after its last ')'.
    fields = raw[raw.rindex(")") + 2:].split()
    utime, stime, rss_pages = int(fields[11]), int(fields[12]), int(fields[21])
    return ProcessStats((utime + stime) / CLOCK_TICKS, rss_pages * PAGE_SIZE)


def nic_stats(device: str, sys_net: Path = SYS_NET) -> NicStats | None:
    """None when the device does not exist (not plugged, or another host's)."""
    base = sys_net / device / "statistics"
    try:
        values = [int((base / name).read_text())
                  for name in ("rx_bytes", "tx_bytes", "rx_packets", "tx_packets")]
    except (OSError, ValueError):
        return None
    return NicStats(*values)


def _disk_name(entry: dict[str, Any]) -> str:
    if entry.get("device"):
        return str(entry["device"])
    qdev = str(entry.get("qdev") or entry.get("node-name") or "")
    parts = qdev.split("/")  # /machine/peripheral/<id>/virtio-backend
    return parts[3] if qdev.startswith("/machine/peripheral/") and len(parts) > 3 else qdev


async def block_stats(qmp_socket: Path, timeout: float = 1.0) -> list[DiskStats] | None:
    """None when the guest has no QMP socket or it does not answer within ``timeout``
    (another client holding the monitor: the next scrape tries again)."""
    if not qmp_socket.exists():
        return None
    try:
        reply = await qmp_command(qmp_socket, "query-blockstats", timeout=timeout)
    except (VirtError, OSError):
        return None
    out = []
    for entry in reply or []:
        stats = entry.get("stats") or {}
        out.append(DiskStats(_disk_name(entry), int(stats.get("rd_bytes", 0)),
                             int(stats.get("wr_bytes", 0)),
                             int(stats.get("rd_operations", 0)),
                             int(stats.get("wr_operations", 0))))
    return out
