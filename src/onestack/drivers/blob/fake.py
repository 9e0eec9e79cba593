"""In-memory blob store for unit and scale tests."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

from onestack.drivers.blob.base import CHUNK, BlobInfo, BlobNotFound, BlobStore, BlobTooLarge


class MemoryBlobStore(BlobStore):
    def __init__(self, root: object = None) -> None:
        self.blobs: dict[str, bytes] = {}

    async def put(self, key: str, data: AsyncIterator[bytes],
                  max_size: int | None = None, sha512: bool = True) -> BlobInfo:
        parts: list[bytes] = []
        size = 0
        async for chunk in data:
            size += len(chunk)
            if max_size is not None and size > max_size:
                raise BlobTooLarge(f"more than {max_size} bytes")
            parts.append(chunk)
        blob = b"".join(parts)
        self.blobs[key] = blob
        return BlobInfo(len(blob), hashlib.md5(blob, usedforsecurity=False).hexdigest(),
                        hashlib.sha512(blob).hexdigest() if sha512 else "")

    async def get(self, key: str, offset: int = 0, length: int | None = None
                  ) -> AsyncIterator[bytes]:
        if key not in self.blobs:
            raise BlobNotFound(key)
        blob = self.blobs[key]
        end = len(blob) if length is None else min(len(blob), offset + length)
        for start in range(offset, end, CHUNK):
            yield blob[start:min(start + CHUNK, end)]

    async def size(self, key: str) -> int:
        if key not in self.blobs:
            raise BlobNotFound(key)
        return len(self.blobs[key])

    async def delete(self, key: str) -> None:
        self.blobs.pop(key, None)

    async def exists(self, key: str) -> bool:
        return key in self.blobs
