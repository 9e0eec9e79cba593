"""The public images a new cloud starts with: the tiny test image twice, as qcow2 and as raw.

``onestack up`` calls ``seed_tiny_images`` after the bootstrap, so that
``openstack server create --image onestack-tiny`` works at once and tools that want two
distinct images (tempest's ``image_ref`` and ``image_ref_alt``) find them. Both carry
``os_admin_user`` (the SSH user) and the image metadata SCS-0102 makes mandatory (the
Sovereign Cloud Stack's: architecture, os_distro/os_version, hw_disk_bus, hypervisor_type,
min_ram/min_disk, the build date, original user, source and description, and how the
image is replaced: replace_frequency, provided_until, uuid_validity). Idempotent: an active
image of the name is kept; a leftover that never became active (an earlier start was
stopped mid-upload) is replaced.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from sqlalchemy import select

from onestack.core.image.access import Caller
from onestack.core.image.service import ImageService
from onestack.db.engine import Database
from onestack.db.models import Image
from onestack.images.builder import BUILDER_VERSION, build_tiny, default_cache_dir

TINY = "onestack-tiny"
TINY_RAW = "onestack-tiny-raw"
CHUNK = 1024 * 1024


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as fh:
        while chunk := await asyncio.to_thread(fh.read, CHUNK):
            yield chunk


async def _existing(db: Database, name: str) -> list[Image]:
    async with db.read() as s:
        rows = await s.scalars(select(Image).where(Image.name == name,
                                                   Image.visibility == "public"))
        return list(rows)


def _ssh_user(image: Path) -> str:
    meta = image.with_suffix(".json")
    try:
        return str(json.loads(meta.read_text()).get("ssh_user") or "root")
    except (OSError, ValueError):
        return "root"


MIN_RAM_MB = 128  # DevStack's m1.nano, the smallest flavor the tiny image is booted with


def scs_properties(ssh_user: str, built: dt.date) -> dict[str, str]:
    """SCS-0102 v1's mandatory properties for the tiny image: built on this machine from
    Debian packages (no download URL: ``image_source`` private), replaced only when the
    operator reseeds (``never``), its UUID kept until the operator says otherwise."""
    return {
        "architecture": "x86_64", "hypervisor_type": "qemu", "hw_disk_bus": "virtio",
        "os_distro": "onestack-tiny", "os_version": str(BUILDER_VERSION),
        "image_build_date": built.isoformat(), "image_original_user": ssh_user,
        "image_source": "private",
        "image_description": "Onestack's tiny test guest: a Debian kernel with busybox and "
                             "dropbear, built by 'onestack images' from Debian packages",
        "replace_frequency": "never", "provided_until": "none", "uuid_validity": "notice",
    }


def _built(path: Path) -> dt.date:
    return dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC).date()


async def _upload(images: ImageService, caller: Caller, name: str, path: Path, disk_format: str,
                  ssh_user: str, built: dt.date) -> str:
    rec = await images.images.create(caller, {
        "name": name, "disk_format": disk_format, "container_format": "bare",
        "visibility": "public", "os_admin_user": ssh_user, "hw_vif_model": "virtio",
        "min_ram": MIN_RAM_MB, "min_disk": 1, **scs_properties(ssh_user, built),
    })
    image_id = rec.image.id
    try:
        await images.data.upload(caller, image_id, _chunks(path))
    except BaseException:
        await images.images.delete(caller, image_id)
        raise
    return image_id


async def seed_tiny_images(images: ImageService, db: Database, owner: str | None,
                           progress: Callable[[str], None] = lambda _m: None,
                           cache_dir: Path | None = None) -> dict[str, str]:
    """Upload the tiny image as ``onestack-tiny`` (qcow2) and ``onestack-tiny-raw`` (raw)
    unless they exist; return name -> image id."""
    caller = Caller(owner, is_admin=True)
    out: dict[str, str] = {}
    missing: list[str] = []
    for name in (TINY, TINY_RAW):
        rows = await _existing(db, name)
        active = [r for r in rows if r.status == "active"]
        for stale in (r for r in rows if r.status != "active"):
            await images.images.delete(caller, stale.id)
        if active:
            out[name] = active[0].id
        else:
            missing.append(name)
    if not missing:
        return out
    progress("building the tiny image (cached after the first time)")
    qcow2 = await asyncio.to_thread(build_tiny, cache_dir or default_cache_dir(),
                                    progress=progress)
    user, built = _ssh_user(qcow2), _built(qcow2)
    if TINY in missing:
        out[TINY] = await _upload(images, caller, TINY, qcow2, "qcow2", user, built)
        progress(f"public image {TINY} ({out[TINY]}), SSH user {user}")
    if TINY_RAW in missing:
        with tempfile.TemporaryDirectory(prefix="tiny-raw-") as tmp:
            raw = Path(tmp) / "tiny.raw"
            await asyncio.to_thread(
                subprocess.run, ["qemu-img", "convert", "-f", "qcow2", "-O", "raw",
                                 str(qcow2), str(raw)], check=True, capture_output=True)
            out[TINY_RAW] = await _upload(images, caller, TINY_RAW, raw, "raw", user,
                                            built)
        progress(f"public image {TINY_RAW} ({out[TINY_RAW]})")
    return out
