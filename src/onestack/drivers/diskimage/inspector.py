"""A safe inspector of disk image files: what format the bytes are, how big the disk inside
is, and whether qemu-img may open them.

It parses headers in Python and never runs qemu-img, so it is what stands between a
tenant's upload and every ``qemu-img`` that later reads it (OpenStack's answer to
CVE-2024-32498 is the same idea). An image is refused (``UnsafeImage``) when opening it
would make QEMU read any file but the image itself, or when it cannot be fully inspected:

- qcow2: a backing file, an external data file (incompatible feature bit 2, or the
  data-file name header extension), unknown incompatible features, encryption, version
  other than 2 and 3, a header that does not hold together;
- vmdk: anything but one monolithicSparse or streamOptimized file whose descriptor names
  a single SPARSE extent and no parent (descriptor-only vmdks point at other files);
- vhd and vhdx differencing disks (a parent), vdi images other than dynamic and static;
- formats no one should upload (qed, luks, vmdk 3 "COWD").

``check`` also holds the declared ``disk_format`` to the content: a file that claims one
format and is another is refused with ``FormatMismatch`` (raw, ami, aki and ari must not
be any structured disk format; iso is accepted as raw bytes).

Reading goes through ``read(offset, length)`` so the parser touches no host resource of
its own: ``inspect_file`` gives it a file, the image core a blob.
"""

from __future__ import annotations

import os
import re
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

Reader = Callable[[int, int], bytes]  # read(offset, length): fewer bytes at the end of file

# The disk_format names that are plain bytes to qemu-img (raw), and those the inspector
# recognises by their content.
RAW_LIKE = ("raw", "ami", "aki", "ari")
STRUCTURED = ("qcow2", "vmdk", "vhd", "vhdx", "vdi", "ploop", "qed", "luks")
SECTOR = 512
QCOW2_MAGIC = b"QFI\xfb"
QCOW2_DATA_FILE_EXT = 0x44415441  # "DATA": the external data file's name
QCOW2_KNOWN_INCOMPAT = 0x1F  # dirty, corrupt, data file, compression type, extended L2
QCOW2_DATA_FILE_BIT = 1 << 2
QCOW2_DATA_FILE_RAW_BIT = 1 << 1  # autoclear
ISO_MAGIC = b"CD001"
ISO_OFFSETS = (0x8001, 0x8801, 0x9001)
VDI_SIGNATURE = 0xBEDA107F
PARALLELS_MAGICS = (b"WithoutFreeSpace", b"WithouFreSpacExt")
VHD_MAGIC = b"conectix"
VHD_DIFFERENCING = 4


class ImageRefused(Exception):
    """The image may not be handed to qemu-img; the message says why, for its owner."""


class UnsafeImage(ImageRefused):
    """Opening the image would reach beyond the file, or it cannot be fully inspected."""


class FormatMismatch(ImageRefused):
    """The bytes are not the disk_format the image declares."""


@dataclass(frozen=True)
class Inspection:
    format: str  # the format the bytes are: raw, qcow2, vmdk, vhd, vhdx, vdi, iso, ploop
    virtual_size: int  # bytes of the disk inside
    size: int  # bytes of the file


class _File:
    """Bounded reads of the image; a header that runs past the end is not a header."""

    def __init__(self, read: Reader, size: int) -> None:
        self._read = read
        self.size = size

    def at(self, offset: int, length: int) -> bytes:
        if offset < 0 or length < 0 or offset + length > self.size:
            return b""
        return self._read(offset, length)

    def exact(self, offset: int, length: int, what: str) -> bytes:
        data = self.at(offset, length)
        if len(data) != length:
            raise UnsafeImage(f"The {what} is truncated or lies outside the file.")
        return data


def detect(read: Reader, size: int) -> str:
    """The format the leading bytes claim (no checks): raw when none."""
    f = _File(read, size)
    head = f.at(0, min(size, 512))
    if head.startswith(QCOW2_MAGIC):
        return "qcow2"
    if head.startswith(b"QED\x00"):
        return "qed"
    if head.startswith(b"LUKS\xba\xbe"):
        return "luks"
    if head.startswith((b"KDMV", b"COWD")) or head.startswith(b"# Disk DescriptorFile"):
        return "vmdk"
    if head.startswith(b"vhdxfile"):
        return "vhdx"
    if head.startswith(VHD_MAGIC):
        return "vhd"
    if head[0x40:0x44] == struct.pack("<I", VDI_SIGNATURE):
        return "vdi"
    if head[:16] in PARALLELS_MAGICS:
        return "ploop"
    if any(f.at(off, len(ISO_MAGIC)) == ISO_MAGIC for off in ISO_OFFSETS):
        return "iso"
    return "raw"


def inspect(read: Reader, size: int, disk_format: str | None = None) -> Inspection:
    """Inspect the image as the format its bytes are; raise UnsafeImage if qemu-img may
    not open it. ``disk_format`` only settles what the bytes cannot: a fixed VHD (its
    footer is at the end) is a vhd only when declared one."""
    f = _File(read, size)
    found = detect(read, size)
    if found == "raw" and disk_format == "vhd" and f.at(size - SECTOR, 8) == VHD_MAGIC:
        found = "vhd"
    parse = _PARSERS.get(found)
    if parse is None:
        raise UnsafeImage(f"Disk images in the {found} format are not accepted.")
    return Inspection(found, parse(f), size)


def check(read: Reader, size: int, disk_format: str | None) -> Inspection:
    """``inspect``, and the content must be the declared ``disk_format``."""
    got = inspect(read, size, disk_format)
    require_match(got, disk_format)
    return got


def require_match(got: Inspection, disk_format: str | None) -> None:
    """FormatMismatch unless the inspected bytes are the declared ``disk_format``."""
    if disk_format is None or _matches(disk_format, got.format):
        return
    if disk_format in RAW_LIKE:
        raise FormatMismatch(f"Image disk_format {disk_format} does not match the data: it "
                             f"is a {got.format} image; declare disk_format {got.format}.")
    what = f"not a {disk_format} image" if got.format == "raw" else f"a {got.format} image"
    raise FormatMismatch(f"Image disk_format {disk_format} does not match the data: it is "
                         f"{what}.")


def _matches(disk_format: str, found: str) -> bool:
    if disk_format in RAW_LIKE:
        return found in ("raw", "iso")
    return disk_format == found


def inspect_file(path: str | Path, disk_format: str | None = None,
                 match: bool = True) -> Inspection:
    """``check`` a file on this host (``inspect`` only when not ``match``); the file is
    opened read-only and only it is read."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        size = os.fstat(fd).st_size
        got = inspect(lambda off, n: os.pread(fd, n, off), size, disk_format)
        if match:
            require_match(got, disk_format)
        return got
    finally:
        os.close(fd)


# --- the formats -----------------------------------------------------------------------------
def _raw(f: _File) -> int:
    return f.size


def _qcow2(f: _File) -> int:
    head = f.exact(0, 72, "qcow2 header")
    (_, version, backing_offset, backing_size, cluster_bits, size, crypt, _l1_size,
     _l1_offset, _rc_offset, _rc_clusters, _snaps, _snap_offset) = struct.unpack(
        ">4sIQIIQIIQQIIQ", head)
    if version not in (2, 3):
        raise UnsafeImage(f"qcow2 version {version} is not supported (only 2 and 3).")
    if not 9 <= cluster_bits <= 21:
        raise UnsafeImage("The qcow2 header is invalid (cluster size).")
    cluster = 1 << cluster_bits
    if backing_offset or backing_size:
        raise UnsafeImage("Disk images with a backing file are not allowed; upload a "
                          "standalone image (qemu-img convert -O qcow2 flattens it).")
    if crypt:
        raise UnsafeImage("Encrypted qcow2 images are not supported.")
    header_length = 72
    if version == 3:
        v3 = f.exact(72, 32, "qcow2 header")
        incompat, _compat, autoclear, _rc_order, header_length = struct.unpack(">QQQII", v3)
        if incompat & QCOW2_DATA_FILE_BIT or autoclear & QCOW2_DATA_FILE_RAW_BIT:
            raise UnsafeImage("qcow2 images with an external data file are not allowed.")
        if incompat & ~QCOW2_KNOWN_INCOMPAT:
            raise UnsafeImage("The qcow2 image uses incompatible features this cloud does "
                              "not know.")
        if not 104 <= header_length <= cluster or header_length % 8:
            raise UnsafeImage("The qcow2 header is invalid (header length).")
    # The extensions live in the first cluster: read it once, walk it in memory.
    _qcow2_extensions(f.at(0, min(cluster, f.size)), header_length)
    return int(size)


def _qcow2_extensions(first_cluster: bytes, offset: int) -> None:
    """Walk the header extensions to their end marker."""
    while True:
        if offset + 8 > len(first_cluster):
            raise UnsafeImage("The qcow2 header extensions are truncated or run past the "
                              "header cluster.")
        kind, length = struct.unpack(">II", first_cluster[offset:offset + 8])
        if kind == 0:
            return
        if kind == QCOW2_DATA_FILE_EXT:
            raise UnsafeImage("qcow2 images with an external data file are not allowed.")
        offset += 8 + (length + 7) // 8 * 8


def _vhd(f: _File) -> int:
    footer = f.at(0, SECTOR)
    if not footer.startswith(VHD_MAGIC):
        footer = f.exact(f.size - SECTOR, SECTOR, "vhd footer")
    if not footer.startswith(VHD_MAGIC):
        raise UnsafeImage("The vhd footer is missing.")
    (disk_type,) = struct.unpack(">I", footer[60:64])
    if disk_type == VHD_DIFFERENCING:
        raise UnsafeImage("Differencing vhd images (with a parent disk) are not allowed.")
    if disk_type not in (2, 3):
        raise UnsafeImage(f"vhd disk type {disk_type} is not supported.")
    (size,) = struct.unpack(">Q", footer[48:56])
    return int(size)


def _vdi(f: _File) -> int:
    head = f.exact(0, 0x180, "vdi header")
    (image_type,) = struct.unpack("<I", head[0x4C:0x50])
    if image_type not in (1, 2):  # dynamic, static; undo and diff images have a parent
        raise UnsafeImage(f"vdi image type {image_type} is not supported (only dynamic "
                          "and static images).")
    (size,) = struct.unpack("<Q", head[0x170:0x178])
    return int(size)


def _ploop(f: _File) -> int:
    head = f.exact(0, 64, "parallels header")
    (version,) = struct.unpack("<I", head[16:20])
    if version != 2:
        raise UnsafeImage(f"parallels image version {version} is not supported.")
    (sectors,) = struct.unpack("<Q", head[36:44])
    return int(sectors) * SECTOR


# vmdk: a hosted sparse extent header, its embedded descriptor, and for streamOptimized
# images a footer. qemu reads the descriptor from sector 1 (at most 20 sectors, to the
# first NUL) for a parent, and treats a header with capacity 0 as a pointer to a
# descriptor file whose extents may be anywhere.
VMDK_DESC_MAX = 20 * SECTOR
VMDK_GD_AT_END = 0xFFFFFFFFFFFFFFFF
VMDK_CREATE_TYPES = ("monolithicsparse", "streamoptimized")
_EXTENT = re.compile(r"(rw|rdonly|noaccess)\s+(\d+)\s+(\w+)\s+\"([^\"]*)\"(\s+\d+)?",
                     re.IGNORECASE)


def _vmdk(f: _File) -> int:
    head = f.at(0, min(f.size, SECTOR))
    if head.startswith(b"# Disk DescriptorFile"):
        raise UnsafeImage("A vmdk descriptor file keeps the disk in other files (extents); "
                          "upload a single monolithicSparse or streamOptimized vmdk.")
    if not head.startswith(b"KDMV"):
        raise UnsafeImage("Only monolithicSparse and streamOptimized vmdk images are "
                          "accepted.")
    capacity, desc_offset, desc_size, gd_offset = _vmdk_header(f.exact(0, 64, "vmdk header"))
    if gd_offset == VMDK_GD_AT_END:
        _vmdk_footer(f, (capacity, desc_offset, desc_size))
    text = f.at(SECTOR, min(VMDK_DESC_MAX, max(f.size - SECTOR, 0))).split(b"\0", 1)[0]
    if b"parentfilenamehint" in text.lower():
        raise UnsafeImage("vmdk images with a parent (parentFileNameHint) are not allowed.")
    _vmdk_descriptor(f.exact(SECTOR, desc_size * SECTOR, "vmdk descriptor"))
    return capacity * SECTOR


def _vmdk_header(head: bytes) -> tuple[int, int, int, int]:
    (_, version, _flags, capacity, _grain, desc_offset, desc_size, _gtes, _rgd,
     gd_offset) = struct.unpack("<4sIIQQQQIQQ", head[:64])
    if version not in (1, 2, 3):
        raise UnsafeImage(f"vmdk version {version} is not supported.")
    if capacity == 0:
        raise UnsafeImage("A vmdk with no capacity points at a descriptor file; upload a "
                          "single monolithicSparse or streamOptimized vmdk.")
    if desc_offset != 1 or not 0 < desc_size * SECTOR <= VMDK_DESC_MAX:
        raise UnsafeImage("The vmdk has no embedded descriptor where one belongs.")
    return int(capacity), int(desc_offset), int(desc_size), int(gd_offset)


def _vmdk_footer(f: _File, expect: tuple[int, int, int]) -> None:
    tail = f.exact(f.size - 3 * SECTOR, 3 * SECTOR, "vmdk footer")
    marker, footer, eos = tail[:SECTOR], tail[SECTOR:2 * SECTOR], tail[2 * SECTOR:]
    if not footer.startswith(b"KDMV"):
        raise UnsafeImage("The vmdk footer is invalid.")
    capacity, desc_offset, desc_size, gd_offset = _vmdk_header(footer)
    if gd_offset == VMDK_GD_AT_END or (capacity, desc_offset, desc_size) != expect:
        raise UnsafeImage("The vmdk footer does not agree with its header.")
    pad = bytes(SECTOR - 16)
    if struct.unpack("<II", marker[8:16]) != (0, 3) or marker[16:] != pad:
        raise UnsafeImage("The vmdk footer marker is invalid.")
    if eos != bytes(SECTOR):
        raise UnsafeImage("The vmdk end-of-stream marker is invalid.")


def _vmdk_descriptor(raw: bytes) -> None:
    try:
        text = raw.split(b"\0", 1)[0].decode("ascii")
    except UnicodeDecodeError:
        raise UnsafeImage("The vmdk descriptor is not ASCII text.") from None
    create_type, extents = None, []
    for line in (x.strip() for x in text.splitlines()):
        if not line or line.startswith("#") or line.lower().startswith("ddb."):
            continue
        if m := _EXTENT.fullmatch(line):
            extents.append(m)
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip().lower(), value.strip().strip('"').lower()
        if not sep or not key.isidentifier():
            raise UnsafeImage("The vmdk descriptor has a line this cloud does not "
                              "understand.")
        if key == "createtype":
            create_type = value
        elif key.startswith("parent") and (key != "parentcid" or value != "ffffffff"):
            raise UnsafeImage("vmdk images with a parent disk are not allowed.")
    if create_type not in VMDK_CREATE_TYPES:
        raise UnsafeImage(f"vmdk createType {create_type or '(none)'} is not accepted: only "
                          "monolithicSparse and streamOptimized.")
    if len(extents) != 1 or extents[0].group(3).upper() != "SPARSE" or \
            "/" in extents[0].group(4) or extents[0].group(5):
        raise UnsafeImage("A vmdk must keep its data in one SPARSE extent, itself; other "
                          "extents are not allowed.")


# vhdx: a region table at 192 KiB points at the metadata region, whose table lists the
# virtual disk size, the file parameters (HasParent) and a parent locator.
VHDX_REGION_TABLE = 192 * 1024
VHDX_MAX_ENTRIES = 2047
VHDX_METADATA = uuid.UUID("8b7ca206-4790-4b9a-b8fe-575f050f886e")
VHDX_FILE_PARAMETERS = uuid.UUID("caa16737-fa36-4d43-b3b6-33f0aa44e76b")
VHDX_DISK_SIZE = uuid.UUID("2fa54224-cd1b-4876-b211-5dbed83bf4b8")
VHDX_PARENT_LOCATOR = uuid.UUID("a8d35f2d-b30b-454d-abf7-d3d84834ab0c")
VHDX_HAS_PARENT = 0x2


def _vhdx(f: _File) -> int:
    sig, _sum, count, _ = struct.unpack("<4sIII", f.exact(VHDX_REGION_TABLE, 16,
                                                          "vhdx region table"))
    if sig != b"regi" or count > VHDX_MAX_ENTRIES:
        raise UnsafeImage("The vhdx region table is invalid.")
    table = f.exact(VHDX_REGION_TABLE + 16, 32 * count, "vhdx region table")
    meta = None
    for i in range(count):
        entry = table[32 * i:32 * i + 32]
        if uuid.UUID(bytes_le=entry[:16]) == VHDX_METADATA:
            meta = struct.unpack("<Q", entry[16:24])[0]
    if meta is None:
        raise UnsafeImage("The vhdx has no metadata region.")
    sig, _, count = struct.unpack("<8sHH", f.exact(meta, 12, "vhdx metadata table"))
    if sig != b"metadata" or count > VHDX_MAX_ENTRIES:
        raise UnsafeImage("The vhdx metadata table is invalid.")
    items = f.exact(meta + 32, 32 * count, "vhdx metadata table")
    size = None
    for i in range(count):
        entry = items[32 * i:32 * i + 32]
        guid = uuid.UUID(bytes_le=entry[:16])
        offset = meta + struct.unpack("<I", entry[16:20])[0]
        if guid == VHDX_PARENT_LOCATOR:
            raise UnsafeImage("Differencing vhdx images (with a parent disk) are not allowed.")
        if guid == VHDX_FILE_PARAMETERS:
            _, flags = struct.unpack("<II", f.exact(offset, 8, "vhdx file parameters"))
            if flags & VHDX_HAS_PARENT:
                raise UnsafeImage("Differencing vhdx images (with a parent disk) are not "
                                  "allowed.")
        elif guid == VHDX_DISK_SIZE:
            (size,) = struct.unpack("<Q", f.exact(offset, 8, "vhdx disk size"))
    if size is None:
        raise UnsafeImage("The vhdx metadata has no virtual disk size.")
    return int(size)


_PARSERS: dict[str, Callable[[_File], int]] = {
    "raw": _raw, "iso": _raw, "qcow2": _qcow2, "vhd": _vhd, "vdi": _vdi, "ploop": _ploop,
    "vmdk": _vmdk, "vhdx": _vhdx,
}
