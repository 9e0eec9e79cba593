"""Disk formats: is the content what the image says it is, and how big is the disk inside.

The content check looks at the first bytes only (qcow2 magic ``QFI\\xfb``, ISO 9660 ``CD001``
at 0x8001); formats without a check here are accepted as declared (raw is anything).
The virtual size comes from the qemu-img probe in ``drivers/storage``.
"""

from __future__ import annotations

from onestack.errors import BadRequest

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
