"""A guest's local disks, made from images: the base image cache, root overlays, ephemeral
and swap disks, and config drives.

- Base images live in ``<instances>/_base/<image id>.qcow2``: downloaded once, checked,
  then converted (``qemu-img convert``). The check (``diskimage.qemu_img.verify``: a header
  parser of our own, then qemu-img's view with the backing chain cut off) refuses an image
  that names any file but itself (a backing file, a qcow2 external data file, vmdk extents)
  or that is not the format it claims: converting such an image as root would copy host
  files into the guest's disk. The convert opens the download with ``backing: null``.
- The only backing chains are ours: a root overlay on its base, both made here.
- A root disk is a qcow2 overlay on its base, grown to the flavor's ``root_gb`` when that is
  larger than the image (``root_gb`` 0: the image's own size).
- Ephemeral and swap disks are blank qcow2 files; the config drive is an ISO 9660 image
  labelled ``config-2`` (genisoimage, or xorriso's mkisofs).
- Bases no guest uses any more are removed after ``ttl`` seconds (``prune``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from onestack.drivers.diskimage import qemu_img as image_check
from onestack.drivers.diskimage.inspector import ImageRefused
from onestack.drivers.virt.base import VirtError
from onestack.drivers.virt.qemu.process import run_tool

GiB = 1024**3
TOOL_TIMEOUT = 600.0
Fetch = Callable[[Path], Awaitable[None]]  # writes the image's bytes to the path
SOURCE_FORMATS = {"qcow2": "qcow2", "raw": "raw", "iso": "raw", "vmdk": "vmdk",
                  "vdi": "vdi", "vhd": "vpc", "vhdx": "vhdx"}


def iso_tool() -> list[str] | None:
    if shutil.which("genisoimage"):
        return ["genisoimage"]
    if shutil.which("xorriso"):
        return ["xorriso", "-as", "mkisofs"]
    return None


class DiskBuilder:
    def __init__(self, instances_path: Path, qemu_img: str = "qemu-img") -> None:
        self.base_dir = Path(instances_path) / "_base"
        self.qemu_img = qemu_img
        self._locks: dict[str, asyncio.Lock] = {}

    def base_path(self, image_id: str) -> Path:
        return self.base_dir / f"{image_id}.qcow2"

    async def _img(self, *args: str) -> str:
        return await run_tool(self.qemu_img, *args, timeout=TOOL_TIMEOUT)

    async def virtual_size(self, path: Path) -> int:
        """Of one of our qcow2 files (a base, a root overlay, an ephemeral disk)."""
        out = await self._img("info", "-U", "--output=json", "-f", "qcow2", str(path))
        return int(json.loads(out)["virtual-size"])

    async def base_image(self, image_id: str, disk_format: str, fetch: Fetch) -> Path:
        """The cached qcow2 base of an image, fetched and converted on first use."""
        base = self.base_path(image_id)
        lock = self._locks.setdefault(image_id, asyncio.Lock())
        async with lock:
            if base.is_file():
                os.utime(base)  # in use: keeps prune away
                return base
            fmt = SOURCE_FORMATS.get(disk_format)
            if fmt is None:
                raise VirtError(f"image {image_id}: disk_format {disk_format!r} cannot be "
                                f"booted (use one of {', '.join(sorted(SOURCE_FORMATS))})")
            self.base_dir.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(prefix=f".{image_id}-", dir=self.base_dir) as tmp:
                download = Path(tmp) / "download"
                await fetch(download)
                try:
                    await image_check.verify(self.qemu_img, download, disk_format)
                except ImageRefused as exc:
                    raise VirtError(f"image {image_id} cannot be booted: {exc}") from exc
                converted = Path(tmp) / "base.qcow2"
                try:
                    await self._img("convert", "-O", "qcow2",
                                    image_check.source(download, fmt), str(converted))
                except VirtError as exc:
                    raise VirtError(f"image {image_id} is not a usable {disk_format} disk: "
                                    f"{exc}") from exc
                converted.rename(base)
            return base

    async def root_disk(self, base: Path, dest: Path, root_gb: int) -> None:
        size = await self.virtual_size(base)
        wanted = max(size, root_gb * GiB)
        dest.parent.mkdir(parents=True, exist_ok=True)
        await self._img("create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base),
                        str(dest), str(wanted))

    async def grow(self, disk: Path, size_gb: int) -> None:
        """Grow a disk to ``size_gb`` (never shrinks: a smaller size is left as is)."""
        if size_gb and await self.virtual_size(disk) < size_gb * GiB:
            await self._img("resize", "-q", "-f", "qcow2", str(disk), f"{size_gb}G")

    async def flatten(self, src: Path, dest: Path) -> None:
        """A standalone qcow2 copy of ``src``, its backing chain merged in (a disk that
        moves to a host without the image's base)."""
        await self._img("convert", "-f", "qcow2", "-O", "qcow2", str(src), str(dest))

    async def blank(self, dest: Path, size_mb: int) -> None:
        dest.parent.mkdir(parents=True, exist_ok=True)
        await self._img("create", "-q", "-f", "qcow2", str(dest), f"{int(size_mb)}M")

    async def config_drive(self, files: dict[str, bytes], dest: Path) -> None:
        tool = iso_tool()
        if tool is None:
            raise VirtError("a config drive needs genisoimage or xorriso "
                            "(apt-get install genisoimage)")
        dest.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="config-drive-") as tmp:
            root = Path(tmp)
            for rel, content in files.items():
                path = root / rel
                if ".." in Path(rel).parts or Path(rel).is_absolute():
                    raise VirtError(f"config drive: bad file name {rel!r}")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(content)
            part = dest.with_name(dest.name + ".part")
            await run_tool(*tool, "-quiet", "-o", str(part), "-V", "config-2", "-r", "-J",
                           "-l", "-allow-lowercase", "-allow-multidot", "-ldots",
                           "-publisher", "Onestack", str(root), timeout=TOOL_TIMEOUT)
            part.rename(dest)

    def prune(self, keep: set[str], ttl: float) -> list[str]:
        """Remove the bases of images not in ``keep`` unused for ``ttl`` seconds."""
        removed: list[str] = []
        if not self.base_dir.is_dir():
            return removed
        now = time.time()
        for path in self.base_dir.glob("*.qcow2"):
            image_id = path.name.removesuffix(".qcow2")
            lock = self._locks.get(image_id)
            if image_id in keep or (lock is not None and lock.locked()):
                continue
            with contextlib.suppress(FileNotFoundError):
                if now - path.stat().st_mtime >= ttl:
                    path.unlink()
                    self._locks.pop(image_id, None)
                    removed.append(image_id)
        with contextlib.suppress(OSError):
            if not any(self.base_dir.iterdir()):
                self.base_dir.rmdir()
        return removed
