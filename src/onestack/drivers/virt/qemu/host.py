"""What this host offers: CPUs, memory, disk, QEMU's version, and whether KVM really works.

KVM is detected by trying, not by the device node: on some machines ``/dev/kvm`` opens but
does not run ordinary guests (nested setups where ``-cpu host`` fails to set MSRs, or where
the firmware alone takes seconds). The probe boots a 512-byte boot sector that writes ``K``
to the serial port, with the same ``-accel kvm -cpu host`` a guest would get; when the letter
does not come within two seconds (real KVM: a fraction of one), guests run under TCG.
"""

from __future__ import annotations

import asyncio
import contextlib
import platform
import re
import shutil
import socket
import tempfile
from pathlib import Path

from onestack.drivers.virt.base import HostInfo, VirtError
from onestack.drivers.virt.qemu.process import run_tool

KVM_PROBE_TIMEOUT = 2.0
# mov dx,0x3f8; mov al,'K'; out dx,al; mov al,10; out dx,al; cli; hlt; jmp $-2
_PROBE_CODE = bytes([0xBA, 0xF8, 0x03, 0xB0, 0x4B, 0xEE, 0xB0, 0x0A, 0xEE, 0xFA, 0xF4,
                     0xEB, 0xFD])
PROBE_SECTOR = _PROBE_CODE + bytes(510 - len(_PROBE_CODE)) + b"\x55\xaa"


def kvm_probe_command(qemu: str, sector: Path) -> list[str]:
    return [qemu, "-accel", "kvm", "-machine", "pc", "-cpu", "host", "-m", "16", "-nodefaults",
            "-no-user-config", "-display", "none", "-boot", "strict=on",
            "-drive", f"file={sector},format=raw,if=ide,snapshot=on",
            "-serial", "stdio"]


async def probe_kvm(qemu: str = "qemu-system-x86_64",
                    timeout: float = KVM_PROBE_TIMEOUT) -> bool:
    """Whether a KVM guest runs here (it boots and prints within ``timeout`` seconds)."""
    if not Path("/dev/kvm").exists():
        return False
    with tempfile.TemporaryDirectory(prefix="onestack-kvm-probe-") as tmp:
        sector = Path(tmp) / "probe.img"
        sector.write_bytes(PROBE_SECTOR)
        try:
            proc = await asyncio.create_subprocess_exec(
                *kvm_probe_command(qemu, sector), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL)
        except OSError:
            return False
        assert proc.stdout is not None
        try:
            async with asyncio.timeout(timeout):
                return b"K" in await proc.stdout.readline()
        except TimeoutError:
            return False
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()


def parse_version(text: str) -> int:
    """``QEMU emulator version 7.2.22 (...)`` -> 7002022 (nova's hypervisor_version)."""
    match = re.search(r"version (\d+)\.(\d+)(?:\.(\d+))?", text)
    if not match:
        raise VirtError(f"cannot read QEMU's version from {text[:200]!r}")
    major, minor, micro = (int(g or 0) for g in match.groups())
    return major * 1_000_000 + minor * 1_000 + micro


def parse_meminfo(text: str) -> int:
    """MemTotal in MiB."""
    match = re.search(r"^MemTotal:\s+(\d+)\s*kB", text, re.MULTILINE)
    return int(match.group(1)) // 1024 if match else 0


def parse_cpuinfo(text: str) -> dict[str, object]:
    """Nova's cpu_info: arch, vendor, model, topology and features, from /proc/cpuinfo."""
    blocks = [b for b in text.split("\n\n") if b.strip()]
    procs: list[dict[str, str]] = []
    for block in blocks:
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, _, value = line.partition(":")
            fields[key.strip()] = value.strip()
        if "processor" in fields:
            procs.append(fields)
    first = procs[0] if procs else {}
    sockets = len({p.get("physical id", "0") for p in procs}) or 1
    cores = int(first.get("cpu cores", "0") or 0) or max(1, len(procs) // sockets)
    siblings = int(first.get("siblings", "0") or 0) or cores
    return {
        "arch": platform.machine() or "x86_64",
        "vendor": first.get("vendor_id", "unknown"),
        "model": first.get("model name", "unknown"),
        "topology": {"sockets": sockets, "cores": cores,
                     "threads": max(1, siblings // max(1, cores))},
        "features": sorted(set(first.get("flags", "").split())),
    }


async def host_info(qemu: str, data_dir: Path, accel: str) -> HostInfo:
    version = parse_version(await run_tool(qemu, "--version", timeout=30))
    cpuinfo = Path("/proc/cpuinfo").read_text(errors="replace")
    meminfo = Path("/proc/meminfo").read_text(errors="replace")
    cpu = parse_cpuinfo(cpuinfo)
    vcpus = sum(1 for line in cpuinfo.splitlines() if line.startswith("processor"))
    data_dir.mkdir(parents=True, exist_ok=True)
    disk_gb = shutil.disk_usage(data_dir).total // 2**30
    return HostInfo(hostname=socket.gethostname(), vcpus=vcpus or 1,
                    memory_mb=parse_meminfo(meminfo), disk_gb=disk_gb,
                    hypervisor_type="QEMU", hypervisor_version=version, accelerator=accel,
                    cpu_info=cpu)
