"""Disk formats: is stored image data safe to hand to qemu-img, is it what the image says it
is, and how big is the disk inside.

The inspector in ``drivers/diskimage/inspector.py`` parses the headers (no qemu-img). Here
its verdict becomes the image API's answer: a safety failure (backing file, external data
file, vmdk extents, a format that cannot be fully inspected) is always refused; content
that is not the declared ``disk_format`` is refused when ``require_format_match`` is on
(Glance's ``[image_format] require_image_format_match``), else the image gets no virtual
size, as Glance does.
"""

from __future__ import annotations

import asyncio

from onestack.drivers.blob import BlobStore
from onestack.drivers.diskimage import inspector
from onestack.errors import BadRequest

DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso",
                "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")


async def inspect_blob(blobs: BlobStore, key: str, size: int, disk_format: str | None,
                       require_match: bool) -> int | None:
    """The virtual size of the stored image, or BadRequest saying why it is refused."""
    try:
        found = await asyncio.to_thread(inspector.inspect, _reader(blobs, key), size,
                                        disk_format)
    except inspector.ImageRefused as exc:
        raise BadRequest(f"Image disk_format {disk_format} is unsafe: {exc}") from exc
    try:
        inspector.require_match(found, disk_format)
    except inspector.FormatMismatch as exc:
        if require_match:
            raise BadRequest(str(exc)) from exc
        return None
    return found.virtual_size


def _reader(blobs: BlobStore, key: str) -> inspector.Reader:
    """Blocking reads of a blob, for the inspector running in a worker thread."""
    loop = asyncio.get_running_loop()

    async def grab(offset: int, length: int) -> bytes:
        return b"".join([chunk async for chunk in blobs.get(key, offset, length)])

    def read(offset: int, length: int) -> bytes:
        return asyncio.run_coroutine_threadsafe(grab(offset, length), loop).result()

    return read
