"""Blobs as files: written to a temporary name, fsynced, renamed into place."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
from collections.abc import AsyncIterator
from pathlib import Path

from onestack.drivers.blob.base import CHUNK, BlobInfo, BlobNotFound, BlobStore, BlobTooLarge

_SAFE = re.compile(r"^[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*$")


class FilesystemBlobStore(BlobStore):
    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._tmp = self.root / ".tmp"
        self._tmp.mkdir(exist_ok=True)

    def _file(self, key: str) -> Path:
        if not _SAFE.match(key) or ".." in key.split("/"):
            raise ValueError(f"unsafe blob key {key!r}")
        return self.root / key

    def path(self, key: str) -> str | None:
        return str(self._file(key))

    async def put(self, key: str, data: AsyncIterator[bytes],
                  max_size: int | None = None) -> BlobInfo:
        target = self._file(key)
        tmp = self._tmp / f"{os.getpid()}-{os.urandom(8).hex()}"
        md5, sha = hashlib.md5(usedforsecurity=False), hashlib.sha512()
        size = 0
        fh = await asyncio.to_thread(open, tmp, "wb")
        try:
            async for chunk in data:
                size += len(chunk)
                if max_size is not None and size > max_size:
                    raise BlobTooLarge(f"more than {max_size} bytes")
                md5.update(chunk)
                sha.update(chunk)
                await asyncio.to_thread(fh.write, chunk)
            await asyncio.to_thread(self._finish, fh, tmp, target)
        except BaseException:
            fh.close()
            tmp.unlink(missing_ok=True)
            raise
        return BlobInfo(size, md5.hexdigest(), sha.hexdigest())

    @staticmethod
    def _finish(fh: object, tmp: Path, target: Path) -> None:
        import io

        assert isinstance(fh, io.BufferedWriter)
        fh.flush()
        os.fsync(fh.fileno())
        fh.close()
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, target)
        dfd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    async def get(self, key: str, offset: int = 0, length: int | None = None
                  ) -> AsyncIterator[bytes]:
        path = self._file(key)
        try:
            fh = await asyncio.to_thread(open, path, "rb")
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc
        try:
            if offset:
                fh.seek(offset)
            remaining = length
            while remaining is None or remaining > 0:
                want = CHUNK if remaining is None else min(CHUNK, remaining)
                chunk = await asyncio.to_thread(fh.read, want)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            fh.close()

    async def size(self, key: str) -> int:
        try:
            return (await asyncio.to_thread(self._file(key).stat)).st_size
        except FileNotFoundError as exc:
            raise BlobNotFound(key) from exc

    async def delete(self, key: str) -> None:
        await asyncio.to_thread(self._file(key).unlink, True)

    async def exists(self, key: str) -> bool:
        return await asyncio.to_thread(self._file(key).exists)
