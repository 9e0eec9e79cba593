"""Image data as RBD images in a Ceph pool: Glance's rbd store layout.

The blob ``images/<image id>`` is the RBD image ``<pool>/<image id>`` with a protected
snapshot ``snap`` (other keys: ``/`` becomes ``.``). ``put`` streams the bytes into
``rbd import -`` under a ``.part-<time>-<x>`` name, hashing them on the way, then snapshots,
protects and renames the image into place: a failed or refused upload leaves no RBD image.
``direct_url`` is Glance's ``rbd://<fsid>/<pool>/<image>/snap``, from which a volume
service on the same cluster makes copy-on-write clones. ``delete`` unprotects the snapshot
first: while clones of it exist Ceph refuses (EBUSY) and so does the store (``BlobInUse``,
409, as Glance's InUseByStore). Reads stream ``rbd export`` of the snapshot; short ranged
reads (the format inspector's) fetch only the 4 MiB RADOS objects they cover.

Failures name their cause (wrong key, missing pool, unreachable cluster: ``BlobUnavailable``,
503; a full pool: ``BlobStoreFull``, 413).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import re
import shutil
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from onestack.drivers.blob.base import (
    BlobInfo,
    BlobInUse,
    BlobNotFound,
    BlobStore,
    BlobStoreFull,
    BlobTooLarge,
    BlobUnavailable,
)
from onestack.drivers.diskimage.rbd_cli import RbdCli, kill

SNAP = "snap"
_PART = re.compile(r"^.+\.part-([0-9a-f]{8,})-[0-9a-f]{6}$")
RANGED = 16 * 1024 * 1024  # ranges up to this are read object by object, longer ones exported


class _Cli(RbdCli):
    error = BlobUnavailable
    full = BlobStoreFull


async def _feed(pipe: asyncio.StreamWriter, chunk: bytes, limit: float) -> bool:
    """Write a chunk to rbd's stdin; False when rbd has gone (or stopped reading: it fails
    once its OSD operation times out)."""
    try:
        pipe.write(chunk)
        await asyncio.wait_for(pipe.drain(), limit)
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        return False
    return True


class RbdBlobStore(BlobStore):
    def __init__(self, pool: str = "images", user: str = "glance",
                 conf: str | Path = "/etc/ceph/ceph.conf", keyring: str | Path | None = None,
                 cluster_name: str = "ceph", timeout: float = 20.0,
                 osd_timeout: float | None = None, rados: str | None = None) -> None:
        self.cli = _Cli(pool, user, conf, keyring, cluster_name, timeout, osd_timeout)
        self.rados_bin = rados or shutil.which("rados") or "rados"
        self._layout: dict[str, tuple[str, int, int]] = {}  # name -> prefix, object, size

    @classmethod
    def from_config(cls, image: Any) -> RbdBlobStore:
        """From ``[image]``'s ``rbd_*`` fields (onestack.config.ImageConfig)."""
        return cls(pool=image.rbd_pool, user=image.rbd_user, conf=image.rbd_ceph_conf,
                   keyring=image.rbd_keyring or None, cluster_name=image.rbd_cluster_name,
                   timeout=image.rbd_connect_timeout)

    def name(self, key: str) -> str:
        return self.cli.check_name(key.removeprefix("images/").replace("/", "."), "image key")

    # --- writing -----------------------------------------------------------------------
    async def put(self, key: str, data: AsyncIterator[bytes],
                  max_size: int | None = None, sha512: bool = True) -> BlobInfo:
        name = self.name(key)
        # the start time in the name: the sweep leaves other processes' uploads alone
        part = f"{name}.part-{int(time.time()):x}-{uuid.uuid4().hex[:6]}"
        try:
            info = await self._import(part, data, max_size, sha512)
            await self.cli.rbd("snap", "create", self.cli.spec(part, SNAP))
            await self.cli.rbd("snap", "protect", self.cli.spec(part, SNAP))
            await self.cli.rbd("rename", self.cli.spec(part), self.cli.spec(name))
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._remove(part))
            raise
        return info

    async def _import(self, part: str, data: AsyncIterator[bytes], max_size: int | None,
                      sha512: bool) -> BlobInfo:
        """``rbd import - <part>`` fed from ``data``; the digests computed on the way."""
        cli = self.cli
        argv = [cli.rbd_bin, *cli.common(), "import", "--no-progress", "-", cli.spec(part)]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            raise BlobUnavailable(f"cannot run rbd: {exc.strerror}") from exc
        assert proc.stdin is not None and proc.stderr is not None
        errors = asyncio.ensure_future(proc.stderr.read())
        md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha512()
        size = 0
        limit = cli.osd_timeout + cli.timeout
        failed: Exception | None = None
        try:
            try:
                async for chunk in data:
                    size += len(chunk)
                    if max_size is not None and size > max_size:
                        raise BlobTooLarge(f"more than {max_size} bytes")
                    md5.update(chunk)
                    if sha512:
                        sha.update(chunk)
                    if not await _feed(proc.stdin, chunk, limit):
                        break  # rbd gave up: its exit status and message say why
            except Exception as exc:  # raised once rbd has ended cleanly
                failed = exc
            # rbd import ends on EOF, its image closed: a half-written one goes at once
            # (a killed rbd would hold its watch on it for 30 s)
            proc.stdin.close()
            code = await asyncio.wait_for(proc.wait(), limit)
        except TimeoutError:
            raise BlobUnavailable(f"Ceph: rbd import failed: the Ceph cluster took no data "
                                  f"for {limit:g} s") from None
        finally:
            if proc.returncode is None:
                await kill(proc)
                errors.cancel()
        err = (await errors).decode(errors="replace")
        if failed is not None:
            raise failed
        if code != 0:
            raise await cli.failure("rbd import", err, code)
        return BlobInfo(size, md5.hexdigest(), sha.hexdigest() if sha512 else "")

    async def _remove(self, name: str) -> None:
        """Unprotect and remove the snapshot, then the image; EBUSY (clones) is BlobInUse."""
        info = await self.cli.info(name)
        if info is None:
            return
        spec = self.cli.spec(name, SNAP)
        if int(info.get("snapshot_count", 0)):
            try:
                await self.cli.rbd("snap", "unprotect", spec)
            except BlobUnavailable as exc:
                if "(16) Device or resource busy" in str(exc) or "child" in str(exc):
                    raise BlobInUse(f"Image {name} is in use: volumes or disks are "
                                    "copy-on-write clones of it.") from exc
                if "(22) Invalid argument" not in str(exc):  # not protected
                    raise
            await self.cli.rbd("snap", "purge", "--no-progress", self.cli.spec(name))
        await self.cli.rm(name)
        self._layout.pop(name, None)

    async def delete(self, key: str) -> None:
        await self._remove(self.name(key))

    # --- reading -----------------------------------------------------------------------
    async def _stat(self, name: str) -> tuple[str, int, int]:
        if name not in self._layout:
            info = await self.cli.info(name)
            if info is None:
                raise BlobNotFound(name)
            self._layout[name] = (str(info["block_name_prefix"]), int(info["object_size"]),
                                  int(info["size"]))
        return self._layout[name]

    async def size(self, key: str) -> int:
        return (await self._stat(self.name(key)))[2]

    async def exists(self, key: str) -> bool:
        return await self.cli.info(self.name(key)) is not None

    async def get(self, key: str, offset: int = 0, length: int | None = None
                  ) -> AsyncIterator[bytes]:
        name = self.name(key)
        prefix, obj, size = await self._stat(name)
        end = size if length is None else min(size, offset + length)
        if end - offset <= RANGED:
            for index in range(offset // obj, (end - 1) // obj + 1 if end > offset else 0):
                start = index * obj
                block = await self._object(f"{prefix}.{index:016x}", min(obj, size - start))
                yield block[max(offset - start, 0):end - start]
            return
        skip, left = offset, end - offset
        async with contextlib.aclosing(self.cli.export(self.cli.spec(name, SNAP))) as stream:
            async for chunk in stream:
                if skip >= len(chunk):
                    skip -= len(chunk)
                    continue
                piece = chunk[skip:skip + left]
                skip = 0
                left -= len(piece)
                yield piece
                if not left:
                    return

    async def _object(self, oid: str, length: int) -> bytes:
        """One RADOS object of the image, zero-filled to ``length`` (a missing object is a
        hole). The image is never written after its snapshot: head and snapshot agree."""
        cli = self.cli
        argv = [self.rados_bin, *cli.common(), "-p", cli.pool, "get", oid, "-"]
        try:
            out = await cli.run(argv, "rados get", cli.osd_timeout + cli.timeout)
        except BlobUnavailable as exc:
            if "(2) No such file or directory" not in str(exc):
                raise
            out = b""
        return out[:length].ljust(length, b"\0")

    async def direct_url(self, key: str) -> str | None:
        name = self.name(key)
        return f"rbd://{await self.cli.fsid()}/{self.cli.pool}/{name}/{SNAP}"

    async def sweep_partial(self, grace: float = 3600.0) -> list[str]:
        """Remove the ``.part`` images that uploads interrupted by a crash left, once older
        than ``grace`` seconds (another API process may be writing a younger one)."""
        removed = []
        for name in await self.cli.rbd_json("ls", self.cli.pool) or []:
            found = _PART.match(name) if isinstance(name, str) else None
            if found and time.time() - int(found.group(1), 16) >= grace:
                await self._remove(name)
                removed.append(name)
        return removed

    def __repr__(self) -> str:
        return f"RbdBlobStore({self.cli.pool!r}, user={self.cli.user!r})"

