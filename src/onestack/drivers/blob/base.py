"""The blob store contract.

- ``put`` streams bytes in, computing size, md5 and (unless declined) sha512 as they pass;
  the blob becomes visible only once complete (a crash never leaves a partial blob under
  the key). When ``max_size`` is given and exceeded, nothing is stored and ``BlobTooLarge``
  is raised.
- ``get`` streams bytes out in chunks, optionally a byte range.
- ``delete`` is idempotent.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass

CHUNK = 1024 * 1024


class BlobTooLarge(Exception):
    pass


class BlobNotFound(Exception):
    pass


@dataclass(frozen=True)
class BlobInfo:
    size: int
    md5: str
    sha512: str


class BlobStore(abc.ABC):
    @abc.abstractmethod
    async def put(self, key: str, data: AsyncIterator[bytes],
                  max_size: int | None = None, sha512: bool = True) -> BlobInfo:
        """``sha512=False`` skips that digest (``BlobInfo.sha512`` is then empty)."""

    @abc.abstractmethod
    def get(self, key: str, offset: int = 0, length: int | None = None
            ) -> AsyncIterator[bytes]: ...

    @abc.abstractmethod
    async def size(self, key: str) -> int:
        """Raises BlobNotFound."""

    @abc.abstractmethod
    async def delete(self, key: str) -> None: ...

    @abc.abstractmethod
    async def exists(self, key: str) -> bool: ...

    def path(self, key: str) -> str | None:
        """A local file path for the blob, when the store has one (qemu-img reads it)."""
        return None
