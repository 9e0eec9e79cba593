"""Volumes as qcow2 files under one directory, snapshots as qcow2 copies beside them.

``volume-<id>.qcow2`` and ``snapshot-<id>.qcow2`` in ``volumes_path``. Every change is made
in a ``.part`` file first and renamed into place, so a crash never leaves a half-made volume
under its real name (``sweep_partial`` removes the leftovers). qemu-img does every copy and
conversion, always with an explicit source format (no format probing of user data), and
every source it reads is first checked to name no file but itself (``qemu_img.verify``: a
tenant's image with a backing file, an external data file or vmdk extents would otherwise
make qemu-img, as root, copy host files into the volume) and then opened with its backing
chain cut off (``qemu_img.source``).

An encrypted volume is a LUKS container instead, ``volume-<id>.luks``: formatted (LUKS1)
by ``cryptsetup luksFormat`` on the sparse file, as os-brick does, else by ``qemu-img create
-f luks``; an image is then converted into it through QEMU's luks driver. The passphrase goes
to cryptsetup on its stdin and to qemu-img through a pipe (``--object
secret,file=/dev/fd/N``), never on a command line. Copies of it
(snapshots, clones) are its ciphertext copied as it is (holes kept), so they open with the
same passphrase; only growing one needs the passphrase (``qemu-img resize`` on the luks
driver).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, BinaryIO

from onestack.drivers.diskimage import qemu_img
from onestack.drivers.diskimage.inspector import ImageRefused
from onestack.drivers.storage.base import (
    ChunkSource,
    GiB,
    LuksSpec,
    StorageError,
    VolumeDriver,
    check_format,
)

log = logging.getLogger(__name__)
TIMEOUT = 3600.0
CHUNK = 1024 * 1024
ZEROS = bytes(CHUNK)
LUKS_MAGIC = b"LUKS\xba\xbe"
# The passphrase is a random 256- or 512-bit key, so stretching it buys nothing: the fewest
# PBKDF2 iterations cryptsetup takes (no benchmark: formatting takes a fraction of a
# second), and QEMU's PBKDF benchmark (when formatting without cryptsetup) this long (ms).
LUKS_ITERATIONS = 1000
LUKS_ITER_TIME_MS = 100
LUKS_HEADER = 2 * 1024 * 1024  # LUKS1 with 8 key slots of a 512-bit key, aligned
SECRET = "sec0"


class FileVolumeDriver(VolumeDriver):
    name = "file"
    backend = "file"

    def __init__(self, volumes_path: Path, qemu_img: str | None = None,
                 cryptsetup: str | None = "") -> None:
        self.root = Path(volumes_path)
        self.qemu_img = qemu_img or shutil.which("qemu-img") or "qemu-img"
        # None: format LUKS with qemu-img alone
        self.cryptsetup = shutil.which("cryptsetup") if cryptsetup == "" else cryptsetup

    # --- paths ---------------------------------------------------------------------------
    def volume_path(self, volume_id: str) -> Path:
        """``volume-<id>.qcow2``, or ``.luks`` for an encrypted volume that exists."""
        return _found(self.root / f"volume-{_safe(volume_id)}")

    def snapshot_path(self, snapshot_id: str) -> Path:
        return _found(self.root / f"snapshot-{_safe(snapshot_id)}")

    def _part(self, final: Path) -> Path:
        self.root.mkdir(parents=True, exist_ok=True)
        return final.with_name(f"{final.name}.{uuid.uuid4().hex[:8]}.part")

    def sweep_partial(self) -> list[Path]:
        """Remove what an interrupted operation left (``*.part``); returns what it removed."""
        removed = []
        if self.root.is_dir():
            for path in self.root.glob("*.part"):
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(path)
        return removed

    # --- qemu-img ------------------------------------------------------------------------
    async def _run(self, *args: str, pass_fds: tuple[int, ...] = ()) -> bytes:
        return await _exec([self.qemu_img, *args], f"qemu-img {args[0]}",
                           pass_fds=pass_fds)

    async def _verify(self, path: Path, disk_format: str) -> int:
        """Check a disk before qemu-img reads it; its virtual size."""
        try:
            found = await qemu_img.verify(self.qemu_img, path, disk_format)
        except ImageRefused as exc:
            raise StorageError(f"The image cannot be used: {exc}") from exc
        return found.virtual_size

    async def virtual_size(self, path: Path) -> int:
        """Of one of this driver's own qcow2 files."""
        out = await self._run("info", "--force-share", "--output=json",
                              qemu_img.source(path, "qcow2"))
        try:
            info = json.loads(out)
        except ValueError as exc:
            raise StorageError("qemu-img info gave no JSON") from exc
        if qemu_img.foreign_files(info, os.path.abspath(path)):
            raise StorageError(f"{path.name} names a file other than itself")
        return int(info["virtual-size"])

    async def _resize_to(self, path: Path, size_gb: int) -> None:
        if await self.virtual_size(path) < size_gb * GiB:
            await self._run("resize", "-f", "qcow2", str(path), f"{size_gb}G")

    async def _make(self, final: Path, steps: Any) -> None:
        """Run ``steps(part)`` to build a file, then rename it to ``final``; on failure the
        part file goes."""
        part = self._part(final)
        try:
            await steps(part)
            os.replace(part, final)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                part.unlink()
            raise

    async def _keyed(self, luks: LuksSpec, command: str, *args: str) -> bytes:
        """qemu-img ``command`` with the passphrase as the secret object ``sec0``, read
        from a pipe (a passphrase of a few hundred bytes fits in its buffer)."""
        read, write = os.pipe()
        try:
            os.write(write, luks.passphrase.encode())
            os.close(write)
            write = -1
            return await self._run(command, "--object",
                                   f"secret,id={SECRET},format=raw,file=/dev/fd/{read}",
                                   *args, pass_fds=(read,))
        finally:
            os.close(read)
            if write >= 0:
                os.close(write)

    async def _luks_format(self, luks: LuksSpec, command: str, *args: str) -> None:
        """create/convert to a new LUKS file. QEMU times its PBKDF by the thread's CPU
        clock, which on some virtual machines ticks too coarsely for its first, short
        round ("Unable to get accurate CPU usage"): that is tried again."""
        for attempt in range(3):
            try:
                await self._keyed(luks, command, *args)
                return
            except StorageError as exc:
                if "accurate CPU usage" not in str(exc) or attempt == 2:
                    raise
                log.info("qemu-img %s: PBKDF timing failed, trying again", command)

    async def _luks_resize(self, path: Path, size_gb: int, luks: LuksSpec) -> None:
        if await self._luks_size(path) < size_gb * GiB:
            await self._keyed(luks, "resize", "-q", "--image-opts", _luks_opts(path),
                              f"{size_gb}G")

    async def _luks_size(self, path: Path) -> int:
        """The plaintext size of a LUKS file of ours (its header is read without a key)."""
        out = await self._run("info", "--force-share", "--output=json", "-f", "luks",
                              str(path))
        try:
            return int(json.loads(out)["virtual-size"])
        except (ValueError, KeyError, TypeError) as exc:
            raise StorageError(f"{path.name} is not a LUKS volume qemu-img can read") from exc

    async def _copy(self, src: Path, final: Path, size_gb: int | None) -> None:
        if not src.exists():
            raise StorageError(f"{src.name} does not exist on this host")
        if src.suffix == ".luks":  # ciphertext as it is; the caller grows it with the key
            await self._make(final.with_suffix(".luks"),
                             lambda part: asyncio.to_thread(_sparse_copy, src, part))
            return
        await self._verify(src, "qcow2")

        async def steps(part: Path) -> None:
            await self._run("convert", "-O", "qcow2", qemu_img.source(src, "qcow2"), str(part))
            if size_gb is not None:
                await self._resize_to(part, size_gb)

        await self._make(final, steps)

    # --- the contract --------------------------------------------------------------------
    async def create(self, volume_id: str, size_gb: int) -> None:
        async def steps(part: Path) -> None:
            await self._run("create", "-q", "-f", "qcow2", str(part), f"{size_gb}G")

        await self._make(self.volume_path(volume_id), steps)

    async def _format_luks(self, part: Path, size_gb: int, luks: LuksSpec) -> None:
        """A blank LUKS container of ``size_gb`` at ``part``."""
        options = _luks_create_opts(luks)  # refuses another cipher or key size
        if self.cryptsetup is None:
            await self._luks_format(luks, "create", "-q", "-f", "luks", "-o", options,
                                    str(part), f"{size_gb}G")
            return
        with part.open("wb") as fh:
            fh.truncate(size_gb * GiB + LUKS_HEADER)  # sparse
        await _exec([self.cryptsetup, "luksFormat", "--batch-mode", "--type", "luks1",
                     "--cipher", luks.cipher, "--key-size", str(luks.key_size), "--hash",
                     "sha256", "--pbkdf-force-iterations", str(LUKS_ITERATIONS),
                     "--key-file", "-", str(part)], "cryptsetup luksFormat",
                    stdin=luks.passphrase.encode())
        await self._luks_resize(part, size_gb, luks)  # when the header took more

    async def create_encrypted(self, volume_id: str, size_gb: int, luks: LuksSpec) -> None:
        await self._make(self._luks_path(volume_id),
                         lambda part: self._format_luks(part, size_gb, luks))

    def _luks_path(self, volume_id: str) -> Path:
        return self.root / f"volume-{_safe(volume_id)}.luks"

    async def extend_encrypted(self, volume_id: str, size_gb: int, luks: LuksSpec) -> None:
        path = self._luks_path(volume_id)
        if not path.exists():
            raise StorageError(f"encrypted volume {volume_id} has no file on this host")
        await self._luks_resize(path, size_gb, luks)

    async def copy_image_to_encrypted_volume(self, volume_id: str, size_gb: int,
                                             disk_format: str, path: str | None,
                                             chunks: ChunkSource, luks: LuksSpec) -> None:
        async def convert(source: str, part: Path) -> None:
            await self._format_luks(part, size_gb, luks)
            await self._keyed(luks, "convert", "-n", "--target-image-opts", source,
                              _luks_opts(part))

        await self._from_image(self._luks_path(volume_id), size_gb, disk_format, path,
                               chunks, convert)

    async def delete(self, volume_id: str) -> None:
        for path in (self._luks_path(volume_id), self.volume_path(volume_id)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()

    async def clone(self, source_id: str, volume_id: str, size_gb: int) -> None:
        await self._copy(self.volume_path(source_id), self.volume_path(volume_id), size_gb)

    async def create_snapshot(self, volume_id: str, snapshot_id: str) -> None:
        await self._copy(self.volume_path(volume_id), self.snapshot_path(snapshot_id), None)

    async def delete_snapshot(self, snapshot_id: str) -> None:
        for _ in range(2):  # .luks, then .qcow2
            with contextlib.suppress(FileNotFoundError):
                self.snapshot_path(snapshot_id).unlink()

    async def create_from_snapshot(self, snapshot_id: str, volume_id: str,
                                   size_gb: int) -> None:
        await self._copy(self.snapshot_path(snapshot_id), self.volume_path(volume_id), size_gb)

    async def extend(self, volume_id: str, size_gb: int) -> None:
        path = self.volume_path(volume_id)
        if not path.exists():
            raise StorageError(f"volume {volume_id} has no file on this host")
        await self._resize_to(path, size_gb)

    async def copy_image_to_volume(self, volume_id: str, size_gb: int, disk_format: str,
                                   path: str | None, chunks: ChunkSource) -> None:
        async def convert(source: str, part: Path) -> None:
            await self._run("convert", "-O", "qcow2", source, str(part))
            await self._resize_to(part, size_gb)

        await self._from_image(self.volume_path(volume_id), size_gb, disk_format, path,
                               chunks, convert)

    async def _from_image(self, final: Path, size_gb: int, disk_format: str,
                          path: str | None, chunks: ChunkSource, convert: Any) -> None:
        """The image (its local file, else its bytes downloaded beside the volume) checked,
        then ``convert(source, part)`` makes the volume."""
        fmt = check_format(disk_format)
        download: Path | None = None
        try:
            if path is None:
                download = self._part(final.with_name(final.name + ".image"))
                await _write(download, chunks())
                path = str(download)
            source = Path(path)
            if await self._verify(source, disk_format) > size_gb * GiB:
                raise StorageError(f"The image's virtual size is larger than the volume "
                                   f"({size_gb} GiB).")

            await self._make(final, lambda part: convert(qemu_img.source(source, fmt), part))
        finally:
            if download is not None:
                with contextlib.suppress(FileNotFoundError):
                    download.unlink()

    async def copy_volume_to_image(self, volume_id: str, disk_format: str
                                   ) -> AsyncIterator[bytes]:
        fmt = check_format(disk_format)
        src = self.volume_path(volume_id)
        if not src.exists():
            raise StorageError(f"volume {volume_id} has no file on this host")
        if src.suffix == ".luks":
            raise StorageError(f"volume {volume_id} is encrypted: its data cannot be read "
                               "out without its key (not supported yet)")
        await self._verify(src, "qcow2")
        out = self._part(src.with_name(src.name + ".upload"))
        try:
            await self._run("convert", "-O", fmt, qemu_img.source(src, "qcow2"), str(out))
            with out.open("rb") as fh:
                async for chunk in _sparse_chunks(fh):
                    yield chunk
        finally:
            with contextlib.suppress(FileNotFoundError):
                out.unlink()

    def connection_info(self, volume_id: str) -> dict[str, Any]:
        """An encrypted volume's file is a LUKS container: ``format`` raw (the container's
        bytes), and the caller marks it ``encrypted`` (the hypervisor opens it with QEMU's
        luks driver and the volume's passphrase)."""
        path = self.volume_path(volume_id)
        return {"driver_volume_type": "file",
                "data": {"path": str(path),
                         "format": "raw" if path.suffix == ".luks" else "qcow2"}}

    async def exists(self, volume_id: str) -> bool:
        return self.volume_path(volume_id).exists()

    async def capacity_gb(self) -> tuple[int, int]:
        self.root.mkdir(parents=True, exist_ok=True)
        usage = shutil.disk_usage(self.root)
        return usage.total // GiB, usage.free // GiB


async def _exec(argv: list[str], what: str, stdin: bytes | None = None,
                pass_fds: tuple[int, ...] = ()) -> bytes:
    """Run a tool; its stdout, or StorageError with the last line of its stderr."""
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE if stdin is not None else None,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            pass_fds=pass_fds)
    except OSError as exc:
        raise StorageError(f"cannot run {argv[0]}: {exc.strerror}") from exc
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), TIMEOUT)
    except (TimeoutError, asyncio.CancelledError):
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    if proc.returncode != 0:
        lines = err.decode(errors="replace").strip().splitlines()
        why = lines[-1] if lines else f"exit status {proc.returncode}"
        raise StorageError(f"{what} failed: {why}")
    return out


def _found(stem: Path) -> Path:
    luks = stem.with_name(stem.name + ".luks")
    return luks if luks.exists() else stem.with_name(stem.name + ".qcow2")


def _luks_create_opts(luks: LuksSpec) -> str:
    """qemu-img's luks options for Cinder's cipher spec: aes-xts-plain64 with a 256-bit
    key is AES-128 in XTS mode (XTS splits the key in two), 512 bits AES-256."""
    alg, _, rest = luks.cipher.partition("-")
    mode, _, ivgen = rest.partition("-")
    if alg != "aes" or mode != "xts" or ivgen != "plain64" or luks.key_size not in (256, 512):
        raise StorageError(f"cipher {luks.cipher} with a {luks.key_size}-bit key is not "
                           "supported")
    return (f"key-secret={SECRET},cipher-alg=aes-{luks.key_size // 2},cipher-mode=xts,"
            f"ivgen-alg=plain64,hash-alg=sha256,iter-time={LUKS_ITER_TIME_MS}")


def _luks_opts(path: Path) -> str:
    return f"driver=luks,key-secret={SECRET},file.filename={os.path.abspath(path)}"


def _sparse_copy(src: Path, dest: Path) -> None:
    """A byte copy that keeps holes (an encrypted volume's unwritten areas stay sparse)."""
    with src.open("rb", buffering=0) as fin, dest.open("wb") as fout:
        size = os.fstat(fin.fileno()).st_size
        if fin.read(len(LUKS_MAGIC)) != LUKS_MAGIC:
            raise StorageError(f"{src.name} is not a LUKS volume")
        fin.seek(0)
        pos = 0
        while pos < size:
            try:
                data_at = os.lseek(fin.fileno(), pos, os.SEEK_DATA)
            except OSError:  # ENXIO: only a hole is left
                break
            try:
                hole_at = os.lseek(fin.fileno(), data_at, os.SEEK_HOLE)
            except OSError:
                hole_at = size
            fin.seek(data_at)
            fout.seek(data_at)
            left = hole_at - data_at
            while left > 0:
                chunk = fin.read(min(CHUNK, left))
                if not chunk:
                    break
                fout.write(chunk)
                left -= len(chunk)
            pos = hole_at
        fout.truncate(size)


def _safe(ident: str) -> str:
    if not ident or "/" in ident or ident.startswith(".") or "\0" in ident:
        raise StorageError(f"bad identifier {ident!r}")
    return ident


async def _sparse_chunks(fh: BinaryIO) -> AsyncIterator[bytes]:
    """A file's bytes in CHUNK pieces; whole chunks of holes (SEEK_DATA) come as zeros
    without being read, so a mostly empty 1 GiB volume streams in a fraction of the time."""
    fd = fh.fileno()
    size = os.fstat(fd).st_size
    pos = 0
    while pos < size:
        try:
            data_at = os.lseek(fd, pos, os.SEEK_DATA)
        except OSError:  # ENXIO: only a hole is left
            data_at = size
        while pos + CHUNK <= data_at:
            yield ZEROS
            pos += CHUNK
        if pos >= size:
            break
        fh.seek(pos)
        chunk = await asyncio.to_thread(fh.read, min(CHUNK, size - pos))
        if not chunk:
            break
        yield chunk
        pos += len(chunk)


async def _write(path: Path, chunks: AsyncIterator[bytes]) -> None:
    with path.open("wb") as fh:
        async for chunk in chunks:
            await asyncio.to_thread(fh.write, chunk)
