"""qemu-img as a probe of disk files: virtual size and backing file.

Only drivers touch the host; the image core asks this probe (or the fake beside it).
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from dataclasses import dataclass

log = logging.getLogger(__name__)

PROBE_TIMEOUT = 30.0
# qemu-img's name for each disk format it can measure.
QEMU_FORMATS = {"qcow2": "qcow2", "raw": "raw", "iso": "raw", "vmdk": "vmdk", "vdi": "vdi",
                "vhd": "vpc", "vhdx": "vhdx", "ploop": "parallels"}


@dataclass(frozen=True)
class DiskInfo:
    virtual_size: int | None
    backing_file: str | None = None


class DiskProbe:
    """Asks qemu-img what is inside a disk file; answers None where it cannot say."""

    def __init__(self, qemu_img: str | None = None) -> None:
        self.qemu_img = qemu_img if qemu_img is not None else shutil.which("qemu-img")

    async def info(self, path: str | None, disk_format: str | None) -> DiskInfo:
        fmt = QEMU_FORMATS.get(disk_format or "")
        if not self.qemu_img or path is None or fmt is None:
            return DiskInfo(None)
        try:
            proc = await asyncio.create_subprocess_exec(
                self.qemu_img, "info", "--output", "json", "-f", fmt, path,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
            out, err = await asyncio.wait_for(proc.communicate(), PROBE_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            log.warning("qemu-img info %s failed: %s", path, exc)
            return DiskInfo(None)
        if proc.returncode != 0:
            log.info("qemu-img info %s: %s", path, err.decode(errors="replace").strip())
            return DiskInfo(None)
        try:
            data = json.loads(out)
            size = data.get("virtual-size")
            return DiskInfo(int(size) if size is not None else None,
                            data.get("backing-filename") or data.get("full-backing-filename"))
        except (ValueError, TypeError, AttributeError):
            return DiskInfo(None)


class NoProbe(DiskProbe):
    """For tests and hosts without qemu-img: virtual_size stays null."""

    def __init__(self) -> None:
        super().__init__(qemu_img="")
