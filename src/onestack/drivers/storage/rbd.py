"""Volumes as RBD images in a Ceph pool, driven through the ``rbd``/``ceph`` CLIs.

``volume-<id>`` in ``pool``; a snapshot is the RBD snapshot ``volume-<id>@snapshot-<sid>``,
protected so that volumes made from it are copy-on-write clones; ``clone`` takes a hidden
protected snapshot ``clone-<new id>`` of the source and clones that. A clone chain deeper than
``max_clone_depth`` is flattened (Cinder's ``rbd_max_clone_depth``). Removing a snapshot
flattens the clones still made from it first, so volumes and snapshots keep independent
lifetimes, as with the file driver. Images from the image service go through the same two
checks as the file driver's (``qemu_img.verify``) before qemu-img or rbd reads them; raw ones
are ``rbd import``-ed, the others converted by qemu-img straight into the RBD image (QEMU's
rbd block driver from qemu-block-extra). New images are built under a ``.part`` name and
renamed into place, so a failure never leaves a half-made volume under its real name.

Every command gets ``--conf``, ``--id`` and ``--keyring`` and librados' own timeouts
(``client_mount_timeout``, ``rados_mon_op_timeout``, ``rados_osd_op_timeout``), so an
unreachable cluster, a missing pool or a wrong key ends in a ``StorageError`` naming the
cause, never a hang. The key never leaves this host: ``connection_info`` names the user,
each compute host has its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from onestack.drivers.diskimage import qemu_img
from onestack.drivers.diskimage.inspector import ImageRefused
from onestack.drivers.diskimage.rbd_cli import CHUNK, COPY_TIMEOUT, RbdCli, parse_location
from onestack.drivers.storage.base import (
    ChunkSource,
    GiB,
    StorageError,
    VolumeDriver,
    check_format,
)
from onestack.drivers.storage.ceph_conf import parse_mon_host, pool_capacity

log = logging.getLogger(__name__)


class RbdVolumeDriver(RbdCli, VolumeDriver):
    name = "rbd"
    backend = "rbd"

    error = StorageError

    def __init__(self, pool: str = "volumes", user: str = "onestack",
                 conf: str | Path = "/etc/ceph/ceph.conf", keyring: str | Path | None = None,
                 cluster_name: str = "ceph", timeout: float = 20.0, max_clone_depth: int = 5,
                 flatten_from_image: bool = False, osd_timeout: float | None = None,
                 rbd: str | None = None, ceph: str | None = None,
                 qemu_img: str | None = None) -> None:
        super().__init__(pool, user, conf, keyring, cluster_name, timeout, osd_timeout, rbd,
                         ceph)
        self.max_clone_depth = max_clone_depth
        self.flatten_from_image = flatten_from_image
        self.qemu_img = qemu_img or shutil.which("qemu-img") or "qemu-img"

    @classmethod
    def from_config(cls, volume: Any) -> RbdVolumeDriver:
        """From ``[volume]``'s ``rbd_*`` fields (onestack.config.VolumeConfig)."""
        return cls(pool=volume.rbd_pool, user=volume.rbd_user, conf=volume.rbd_ceph_conf,
                   keyring=volume.rbd_keyring or None, cluster_name=volume.rbd_cluster_name,
                   timeout=volume.rbd_connect_timeout,
                   max_clone_depth=volume.rbd_max_clone_depth,
                   flatten_from_image=volume.rbd_flatten_volume_from_snapshot)

    def image_name(self, volume_id: str) -> str:
        return f"volume-{self.check_name(volume_id, 'volume id')}"

    # --- image helpers -------------------------------------------------------------------
    async def _require(self, image: str) -> dict[str, Any]:
        info = await self.info(image)
        if info is None:
            raise StorageError(f"{image} does not exist in pool {self.pool}")
        return info

    async def _depth(self, info: dict[str, Any]) -> int:
        depth = 0
        while info.get("parent") and depth <= self.max_clone_depth:
            depth += 1
            parent = await self.info(str(info["parent"]["image"]))
            if parent is None:
                break
            info = parent
        return depth

    async def _grow(self, image: str, size_gb: int) -> None:
        info = await self._require(image)
        if int(info.get("size", 0)) < size_gb * GiB:
            await self.rbd("resize", "--no-progress", "--size", f"{size_gb}G",
                           self.spec(image))

    async def _make(self, volume_id: str, steps: Callable[[str], Awaitable[None]]) -> None:
        """Build the volume as ``<name>.part-<x>`` with ``steps``, then rename it into place;
        on failure the part image goes."""
        final = self.image_name(volume_id)
        part = f"{final}.part-{uuid.uuid4().hex[:8]}"
        try:
            await steps(part)
            await self.rbd("rename", self.spec(part), self.spec(final))
        except BaseException:
            with contextlib.suppress(StorageError):
                await asyncio.shield(self._remove_image(part))
            raise

    async def _clone_from(self, image: str, snap: str, volume_id: str, size_gb: int) -> None:
        async def steps(part: str) -> None:
            await self.rbd("clone", self.spec(image, snap), self.spec(part))
            if await self._depth(await self._require(part)) > self.max_clone_depth:
                await self.rbd("flatten", "--no-progress", self.spec(part),
                               timeout=COPY_TIMEOUT)
            await self._grow(part, size_gb)

        await self._make(volume_id, steps)

    async def _snaps(self, image: str) -> list[dict[str, Any]]:
        snaps = await self.rbd_json("snap", "ls", self.spec(image))
        return list(snaps or [])

    async def _remove_snap(self, image: str, snap: str) -> None:
        """Flatten the clones still made from the snapshot, then remove it."""
        spec = self.spec(image, snap)
        for child in await self.rbd_json("children", spec) or []:
            name = child.get("image") if isinstance(child, dict) else str(child)
            pool = child.get("pool", self.pool) if isinstance(child, dict) else self.pool
            await self.rbd("flatten", "--no-progress", f"{pool}/{name}", timeout=COPY_TIMEOUT)
        with contextlib.suppress(StorageError):  # not protected: nothing to undo
            await self.rbd("snap", "unprotect", spec)
        await self.rbd("snap", "rm", "--no-progress", spec)

    async def _remove_image(self, image: str) -> None:
        info = await self.info(image)
        if info is None:
            return
        for snap in await self._snaps(image):
            await self._remove_snap(image, str(snap["name"]))
        await self.rm(image)
        parent = info.get("parent") or {}
        hidden = str(parent.get("snapshot", ""))
        if hidden.startswith("clone-") and parent.get("pool") == self.pool:
            # the snapshot `clone` took of the source for this volume alone
            with contextlib.suppress(StorageError):
                await self._remove_snap(str(parent["image"]), hidden)

    async def _find_snapshot(self, snapshot_id: str) -> str | None:
        """The image holding ``snapshot-<id>``, or None."""
        want = f"snapshot-{self.check_name(snapshot_id, 'snapshot id')}"
        for entry in await self.rbd_json("ls", "-l", self.pool) or []:
            if entry.get("snapshot") == want:
                return str(entry["image"])
        return None

    async def _verify(self, path: Path, disk_format: str) -> int:
        try:
            found = await qemu_img.verify(self.qemu_img, path, disk_format)
        except ImageRefused as exc:
            raise StorageError(f"The image cannot be used: {exc}") from exc
        return found.virtual_size

    async def _qemu_img(self, *args: str) -> None:
        await self.run([self.qemu_img, *args], f"qemu-img {args[0]}", COPY_TIMEOUT)

    def sweep_partial(self) -> list[str]:
        """Remove the ``.part`` images an interrupted operation left (called once at start,
        synchronously, so every call is bounded by the timeout); returns what it removed.
        An unreachable cluster is logged, not raised: the service still starts."""
        base = [self.rbd_bin, *self.common()]
        removed: list[str] = []
        try:
            names = subprocess.run([*base, "ls", "--format", "json", self.pool],
                                   capture_output=True, text=True, check=True,
                                   timeout=self.timeout * 3).stdout
            for name in json.loads(names or "[]"):
                if isinstance(name, str) and re.match(r"^volume-.+\.part-[0-9a-f]{8}$", name):
                    subprocess.run([*base, "rm", "--no-progress", self.spec(name)],
                                   capture_output=True, check=True, timeout=self.timeout * 3)
                    removed.append(self.spec(name))
        except (OSError, ValueError, subprocess.SubprocessError) as exc:
            log.warning("rbd: cannot sweep partial images from pool %s: %s", self.pool, exc)
        return removed

    # --- the contract --------------------------------------------------------------------
    async def create(self, volume_id: str, size_gb: int) -> None:
        await self.rbd("create", "--size", f"{size_gb}G", self.spec(self.image_name(volume_id)))

    async def delete(self, volume_id: str) -> None:
        await self._remove_image(self.image_name(volume_id))

    async def clone(self, source_id: str, volume_id: str, size_gb: int) -> None:
        source = self.image_name(source_id)
        await self._require(source)
        snap = f"clone-{self.check_name(volume_id, 'volume id')}"
        await self.rbd("snap", "create", self.spec(source, snap))
        try:
            await self.rbd("snap", "protect", self.spec(source, snap))
            await self._clone_from(source, snap, volume_id, size_gb)
        except BaseException:
            with contextlib.suppress(StorageError):
                await asyncio.shield(self._remove_snap(source, snap))
            raise

    async def create_snapshot(self, volume_id: str, snapshot_id: str) -> None:
        image = self.image_name(volume_id)
        spec = self.spec(image, f"snapshot-{self.check_name(snapshot_id, 'snapshot id')}")
        await self.rbd("snap", "create", spec)
        try:
            await self.rbd("snap", "protect", spec)
        except BaseException:
            with contextlib.suppress(StorageError):
                await asyncio.shield(self.rbd("snap", "rm", "--no-progress", spec))
            raise

    async def delete_snapshot(self, snapshot_id: str) -> None:
        image = await self._find_snapshot(snapshot_id)
        if image is not None:
            await self._remove_snap(image, f"snapshot-{snapshot_id}")

    async def create_from_snapshot(self, snapshot_id: str, volume_id: str,
                                   size_gb: int) -> None:
        image = await self._find_snapshot(snapshot_id)
        if image is None:
            raise StorageError(f"snapshot {snapshot_id} does not exist in pool {self.pool}")
        await self._clone_from(image, f"snapshot-{snapshot_id}", volume_id, size_gb)

    async def extend(self, volume_id: str, size_gb: int) -> None:
        await self._grow(self.image_name(volume_id), size_gb)

    async def copy_image_to_volume(self, volume_id: str, size_gb: int, disk_format: str,
                                   path: str | None, chunks: ChunkSource) -> None:
        fmt = check_format(disk_format)
        self.image_name(volume_id)
        scratch: tempfile.TemporaryDirectory[str] | None = None
        try:
            if path is None:
                scratch = tempfile.TemporaryDirectory(prefix="onestack-rbd-")
                path = os.path.join(scratch.name, "image")
                await _write(Path(path), chunks())
            source = Path(path)
            if await self._verify(source, disk_format) > size_gb * GiB:
                raise StorageError(f"The image's virtual size is larger than the volume "
                                   f"({size_gb} GiB).")

            async def steps(part: str) -> None:
                if fmt == "raw":
                    await self.rbd("import", "--no-progress", str(source), self.spec(part),
                                   timeout=COPY_TIMEOUT)
                    await self._grow(part, size_gb)
                else:
                    await self.rbd("create", "--size", f"{size_gb}G", self.spec(part))
                    await self._qemu_img("convert", "-n", "--target-is-zero",
                                         qemu_img.source(source, fmt), "-O", "raw",
                                         self.qemu_target(part))

            await self._make(volume_id, steps)
        finally:
            if scratch is not None:
                scratch.cleanup()

    async def clone_image(self, volume_id: str, size_gb: int, location: str) -> bool:
        """A copy-on-write clone of an image the image store keeps in this cluster
        (``rbd://<fsid>/<pool>/<image>/<snap>``), grown to the volume's size and flattened
        when ``flatten_from_image`` says so: Cinder's ``clone_image``. False when the image
        lives elsewhere or this user may not read it: the caller copies it."""
        where = parse_location(location)
        if where is None or where[0] != await self.fsid():
            return False
        _, pool, image, snap = where

        async def steps(part: str) -> None:
            await self.rbd("clone", f"{pool}/{image}@{snap}", self.spec(part))
            size = int((await self._require(part)).get("size", 0))
            if size > size_gb * GiB:
                raise StorageError(f"The image's virtual size is larger than the volume "
                                   f"({size_gb} GiB).")
            if self.flatten_from_image:
                await self.rbd("flatten", "--no-progress", self.spec(part),
                               timeout=COPY_TIMEOUT)
            if size < size_gb * GiB:
                await self.rbd("resize", "--no-progress", "--size", f"{size_gb}G",
                               self.spec(part))

        try:
            await self._make(volume_id, steps)
        except StorageError as exc:
            if "cephx key" not in str(exc):
                raise
            log.warning("rbd: cannot clone %s/%s, copying it: %s", pool, image, exc)
            return False
        return True

    async def copy_volume_to_image(self, volume_id: str, disk_format: str
                                   ) -> AsyncIterator[bytes]:
        fmt = check_format(disk_format)
        image = self.image_name(volume_id)
        await self._require(image)
        if fmt == "raw":
            async with contextlib.aclosing(self.export(self.spec(image))) as stream:
                async for chunk in stream:
                    yield chunk
            return
        with tempfile.TemporaryDirectory(prefix="onestack-rbd-") as scratch:
            out = os.path.join(scratch, "upload")
            await self._qemu_img("convert", "-f", "raw", self.qemu_target(image), "-O", fmt,
                                 out)
            with open(out, "rb") as fh:
                while chunk := await asyncio.to_thread(fh.read, CHUNK):
                    yield chunk

    def connection_info(self, volume_id: str) -> dict[str, Any]:
        hosts, ports = self.monitors()
        return {"driver_volume_type": "rbd", "data": {
            "name": self.spec(self.image_name(volume_id)), "hosts": hosts, "ports": ports,
            "cluster_name": self.cluster_name, "auth_enabled": True,
            "auth_username": self.user, "secret_type": "ceph", "secret_uuid": None,
            "volume_id": volume_id, "discard": True}}

    async def exists(self, volume_id: str) -> bool:
        return await self.info(self.image_name(volume_id)) is not None

    async def capacity_gb(self) -> tuple[int, int]:
        out = await self.run([self.ceph_bin, *self.common(), "--connect-timeout",
                                str(int(max(1, self.timeout))), "df", "--format", "json"],
                               "ceph df", self.timeout * 2)
        try:
            return pool_capacity(json.loads(out), self.pool)
        except ValueError as exc:
            raise StorageError(f"Ceph: ceph df: {exc}") from exc

    def monitors(self) -> tuple[list[str], list[str]]:
        """The monitors' addresses from ``mon_host`` in ceph.conf (v1 port for each, as
        Cinder reports them)."""
        try:
            text = Path(self.conf).read_text()
        except OSError:
            return [], []
        return parse_mon_host(text)


async def _write(path: Path, chunks: AsyncIterator[bytes]) -> None:
    with path.open("wb") as fh:
        async for chunk in chunks:
            await asyncio.to_thread(fh.write, chunk)
