"""A bootable disk without loop mounts: a partition-less FAT file system made in a plain
file with ``mkfs.vfat``, filled with ``mcopy``, made bootable with ``syslinux --install``
(which writes through mtools) and converted to compressed qcow2 with ``qemu-img``."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

TOOLS = {
    "mkfs.vfat": "dosfstools",
    "mcopy": "mtools",
    "syslinux": "syslinux",
    "qemu-img": "qemu-utils",
    "dpkg-deb": "dpkg",
    "apt-get": "apt",
}
MIB = 1024 * 1024


class DiskError(RuntimeError):
    """A disk tool is missing or failed."""


def missing_tools() -> list[str]:
    """Debian packages that provide the tools the builder needs and are not installed."""
    return sorted({pkg for tool, pkg in TOOLS.items() if shutil.which(tool) is None})


def _run(cmd: list[str]) -> None:
    env = {"MTOOLS_SKIP_CHECK": "1", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip()
        raise DiskError(f"`{shlex.join(cmd)}` failed: {detail}")


def syslinux_cfg(kernel: str, initrd: str, cmdline: str) -> str:
    return (
        "SERIAL 0 115200\n"
        "DEFAULT tiny\n"
        "PROMPT 0\n"
        "TIMEOUT 0\n"
        "LABEL tiny\n"
        f"  LINUX /{kernel}\n"
        f"  INITRD /{initrd}\n"
        f"  APPEND {cmdline}\n"
    )


def fat_size(files: dict[str, Path]) -> int:
    """Bytes for the FAT image: the payload plus room for syslinux and FAT metadata."""
    payload = sum(p.stat().st_size for p in files.values())
    return -(-(payload + 2 * MIB) // MIB) * MIB


def make_fat_image(raw: Path, files: dict[str, Path], label: str = "ONESTACK") -> None:
    """Write a syslinux-bootable FAT file system to ``raw`` holding ``files``
    (``name on the disk -> file here``)."""
    raw.unlink(missing_ok=True)
    with raw.open("wb") as f:
        f.truncate(fat_size(files))
    _run(["mkfs.vfat", "-n", label, "-i", "0e5a7c4b", str(raw)])
    for name, src in sorted(files.items()):
        _run(["mcopy", "-o", "-i", str(raw), str(src), f"::/{name}"])
    _run(["syslinux", "--install", str(raw)])


def to_qcow2(raw: Path, qcow2: Path) -> None:
    _run(["qemu-img", "convert", "-q", "-c", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)])
