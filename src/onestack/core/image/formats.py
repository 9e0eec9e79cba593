"""Disk formats: is the content what the image says it is, and how big is the disk inside.

The content check looks at the first bytes only (qcow2 magic ``QFI\\xfb``, ISO 9660 ``CD001``
at 0x8001); formats without a check here are accepted as declared (raw is anything).
The virtual size comes from ``qemu-img info --output json`` when qemu-img is installed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
from dataclasses import dataclass

from onestack.errors import BadRequest

log = logging.getLogger(__name__)

DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso",
                "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
QCOW2_MAGIC = b"QFI\xfb"
ISO_OFFSET = 0x8001
ISO_MAGIC = b"CD001"
VMDK_MAGIC = b"KDMV"
VDI_SIGNATURE_OFFSET = 0x40
VDI_SIGNATURE = b"\x7f\x10\xda\xbe"
VHDX_MAGIC = b"vhdxfile"
# How many leading bytes the checks need.
SNIFF_BYTES = ISO_OFFSET + len(ISO_MAGIC)
# qemu-img's name for each disk format it can measure.
QEMU_FORMATS = {"qcow2": "qcow2", "raw": "raw", "iso": "raw", "vmdk": "vmdk", "vdi": "vdi",
                "vhd": "vpc", "vhdx": "vhdx", "ploop": "parallels"}
PROBE_TIMEOUT = 30.0


def detect(head: bytes) -> str | None:
    """The format the leading bytes prove, or None (raw, or unknown)."""
    if head.startswith(QCOW2_MAGIC):
        return "qcow2"
    if head.startswith(VMDK_MAGIC):
        return "vmdk"
    if head.startswith(VHDX_MAGIC):
        return "vhdx"
    if head[VDI_SIGNATURE_OFFSET:VDI_SIGNATURE_OFFSET + 4] == VDI_SIGNATURE:
        return "vdi"
    if head[ISO_OFFSET:ISO_OFFSET + len(ISO_MAGIC)] == ISO_MAGIC:
        return "iso"
    return None


def check(disk_format: str | None, head: bytes) -> None:
    """400 when the content is plainly not the declared disk format."""
    found = detect(head)
    if disk_format in ("qcow2", "iso", "vmdk", "vdi", "vhdx") and found != disk_format:
        raise BadRequest(f"Image content does not match disk_format {disk_format}: the data "
                         f"is {'not a ' + disk_format + ' image' if found is None else found}.")
    if disk_format == "raw" and found == "qcow2":
        raise BadRequest("Image content does not match disk_format raw: the data is a qcow2 "
                         "image; declare disk_format qcow2.")


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
