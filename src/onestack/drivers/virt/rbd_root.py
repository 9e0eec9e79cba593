"""Guest root disks as RBD images (Nova's ``[libvirt] images_type = rbd``).

An image-backed server's root disk is ``<pool>/<instance uuid>_disk``:

- a copy-on-write ``rbd clone`` of the image's protected snapshot ``<image pool>/<id>@snap``
  (the rbd image store's layout, Glance's ``direct_url``) when the image is ``raw`` and
  that snapshot is in this cluster; nothing is copied;
- else the image's checked qcow2 base (``disks.DiskBuilder.base_image``) converted into a
  new RBD image by ``qemu-img convert`` through QEMU's rbd driver;
- grown to the flavor's ``root_gb`` (never shrunk).

QEMU opens it with its rbd driver, the key as a QMP secret (``qemu/rbd_disks.py``), so every
host with access to the pool opens the same disk: migrating the server copies nothing. A
failed build removes what it made; deleting the server removes the image.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from onestack.drivers.diskimage.rbd_cli import COPY_TIMEOUT, RbdCli
from onestack.drivers.virt.base import RbdSource, VirtError
from onestack.drivers.virt.qemu.process import run_tool

GiB = 1024**3
SNAP = "snap"  # the rbd image store's snapshot of each image (Glance's layout)


class RbdRootDisks:
    """One pool of root disks, as this host's cephx user."""

    def __init__(self, pool: str, user: str, conf: str, keyring: str = "",
                 image_pool: str = "images", timeout: float = 20.0,
                 qemu_img: str = "qemu-img") -> None:
        self.cli = RbdCli(pool, user, conf, keyring or None, timeout=timeout)
        self.cli.error = VirtError
        self.cli.full = VirtError
        self.image_pool = self.cli.check_name(image_pool, "pool")
        self.qemu_img = qemu_img
        self.keyring = keyring or f"/etc/ceph/ceph.client.{user}.keyring"

    def name(self, uuid: str) -> str:
        return f"{self.cli.check_name(uuid, 'instance uuid')}_disk"

    def source(self, uuid: str) -> RbdSource:
        """Where QEMU opens the root disk (the monitors from ``conf``)."""
        return RbdSource(self.cli.spec(self.name(uuid)), user=self.cli.user,
                         keyring=self.keyring, conf=self.cli.conf)

    async def exists(self, uuid: str) -> bool:
        return await self.cli.info(self.name(uuid)) is not None

    async def parent(self, uuid: str) -> str | None:
        """``pool/image@snap`` the root disk is a clone of, None for a standalone one."""
        info = await self.cli.info(self.name(uuid)) or {}
        p = info.get("parent") or {}
        return f"{p['pool']}/{p['image']}@{p['snapshot']}" if p else None

    async def create(self, uuid: str, image_id: str, disk_format: str, root_gb: int,
                     base: Callable[[], Awaitable[Path]]) -> bool:
        """Make the root disk; True when it is a clone of the image (nothing copied).
        ``base`` gives the image's checked qcow2 base, fetched only when it cannot be
        cloned. On failure nothing is left under the disk's name."""
        name = self.name(uuid)
        started = time.monotonic()
        try:
            cloned = disk_format == "raw" and await self._clone(image_id, name)
            if not cloned:
                await self._convert(await base(), name)
            await self._grow(name, root_gb)
        except BaseException:
            with contextlib.suppress(Exception):
                await self.cli.rm(name)
            raise
        logging.getLogger(__name__).info(
            "instance %s: root disk %s made in %.2f s (%s)", uuid, self.cli.spec(name),
            time.monotonic() - started, "clone of image " + image_id if cloned else "copy")
        return cloned

    async def _clone(self, image_id: str, name: str) -> bool:
        parent = f"{self.image_pool}/{self.cli.check_name(image_id, 'image id')}@{SNAP}"
        try:
            await self.cli.rbd("clone", parent, self.cli.spec(name))
        except VirtError as exc:
            # not on the rbd image store (or not readable by this user): copy it instead
            logging.getLogger(__name__).info("no clone of %s (%s): copying the image",
                                             parent, exc)
            return False
        return True

    async def _convert(self, base: Path, name: str) -> None:
        out = await run_tool(self.qemu_img, "info", "-U", "--output=json", "-f", "qcow2",
                              str(base), timeout=COPY_TIMEOUT)
        virtual = int(json.loads(out)["virtual-size"])
        await self.cli.rbd("create", "--size", f"{max(1, -(-virtual // 2**20))}M",
                           self.cli.spec(name))
        await run_tool(self.qemu_img, "convert", "-n", "--target-is-zero", "-f", "qcow2",
                       str(base), "-O", "raw", self.cli.qemu_target(name),
                       timeout=COPY_TIMEOUT)

    async def _grow(self, name: str, size_gb: int) -> None:
        info = await self.cli.info(name) or {}
        if int(info.get("size", 0)) < size_gb * GiB:
            await self.cli.rbd("resize", "--no-progress", "--size", f"{size_gb}G",
                               self.cli.spec(name))

    async def grow(self, uuid: str, size_gb: int) -> None:
        """Grow the root disk to ``size_gb`` (a resize; never shrinks)."""
        await self._grow(self.name(uuid), size_gb)

    async def remove(self, uuid: str) -> None:
        """Remove the root disk (idempotent)."""
        await self.cli.rm(self.name(uuid))
