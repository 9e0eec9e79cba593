"""Handing a tenant's disk image to qemu-img without letting it reach past the file.

Every ``qemu-img`` that reads an image a user supplied goes through here, on the host that
runs it, right before it runs (images stored before the inspector existed are caught too):

1. ``inspector.inspect_file`` parses the headers in Python: no backing file, no external
   data file, no vmdk extent but the file itself, and the bytes are the declared format.
2. ``cross_check`` asks qemu-img's own parser the same (``qemu-img info --force-share``
   with the backing chain cut off) and refuses a data file, a backing file or a foreign
   extent: two independent parsers must both agree.
3. ``source`` names the image to qemu-img as ``json:{driver, file, backing: null}``: an
   explicit format and protocol (no probing, no ``json:``/protocol tricks in file names)
   and no backing file, whatever the header says.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from onestack.drivers.diskimage.inspector import ImageRefused, Inspection, UnsafeImage, inspect_file

PROBE_TIMEOUT = 60.0
# qemu-img's driver name for each image disk format it reads.
QEMU_FORMATS = {"qcow2": "qcow2", "raw": "raw", "iso": "raw", "vmdk": "vmdk", "vdi": "vdi",
                "vhd": "vpc", "vhdx": "vhdx", "ploop": "parallels", "ami": "raw",
                "aki": "raw", "ari": "raw"}


def source(path: str | Path, qemu_format: str) -> str:
    """The image as a qemu-img filename: this file, this format, no backing file."""
    return "json:" + json.dumps({"driver": qemu_format, "file": {
        "driver": "file", "filename": os.path.abspath(path)}, "backing": None})


async def verify(qemu_img: str, path: str | Path, disk_format: str) -> Inspection:
    """Both checks of a tenant's image file, before qemu-img converts it; ImageRefused
    (with a message for the image's owner) when it may not be converted."""
    found = await asyncio.to_thread(inspect_file, path, disk_format)
    fmt = QEMU_FORMATS.get(disk_format)
    if fmt is None:
        raise UnsafeImage(f"Disk format {disk_format} cannot be read on this cloud.")
    await cross_check(qemu_img, path, fmt)
    return found


async def cross_check(qemu_img: str, path: str | Path, qemu_format: str) -> None:
    """qemu-img's own view of the image: refused if it names any file but itself."""
    try:
        proc = await asyncio.create_subprocess_exec(
            qemu_img, "info", "--force-share", "--output=json", source(path, qemu_format),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    except OSError as exc:
        raise ImageRefused(f"cannot run qemu-img: {exc.strerror}") from exc
    try:
        out, err = await asyncio.wait_for(proc.communicate(), PROBE_TIMEOUT)
    except (TimeoutError, asyncio.CancelledError):
        proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        lines = err.decode(errors="replace").strip().splitlines()
        raise UnsafeImage(f"The image is not a usable {qemu_format} disk: "
                          f"{lines[-1] if lines else 'qemu-img info failed'}")
    try:
        info = json.loads(out)
    except ValueError as exc:
        raise UnsafeImage("qemu-img info gave no JSON for the image") from exc
    why = foreign_files(info, os.path.abspath(path))
    if why:
        raise UnsafeImage(why)


def foreign_files(info: dict[str, Any], path: str) -> str | None:
    """Why ``qemu-img info`` JSON shows the image reaching another file, or None."""
    if info.get("backing-filename") or info.get("full-backing-filename"):
        return "Disk images with a backing file are not allowed."
    data = (info.get("format-specific") or {}).get("data") or {}
    if data.get("data-file"):
        return "qcow2 images with an external data file are not allowed."
    for extent in data.get("extents") or []:
        if extent.get("filename") != path:
            return "A vmdk must keep its data in one extent, itself; other extents are " \
                   "not allowed."
    return None
