"""Per-guest counters read from the host where they are cheap: a QEMU process's CPU time and
resident memory from ``/proc/<pid>/stat``, a tap's byte and packet counters from
``/sys/class/net/<tap>/statistics`` (the host's view: the tap's rx is what the guest sent).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

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
