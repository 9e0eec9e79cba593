"""The blob store contract.

- ``put`` streams bytes in, computing size, md5 and (unless declined) sha512 as they pass;
  the blob becomes visible only once complete (a crash never leaves a partial blob under
  the key). When ``max_size`` is given and exceeded, nothing is stored and ``BlobTooLarge``
  is raised.
- ``get`` streams bytes out in chunks, optionally a byte range.
- ``delete`` is idempotent.
- ``scan`` lists what the orphan sweep needs (every blob with its age, and the writes a
  crash left unfinished), or None for a store that cannot be listed; ``discard`` removes one
  unfinished write.
- A backend that cannot be reached or refuses the request raises ``BlobUnavailable`` (the
  service answers 503 with its message; never a half-made object).
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator
from dataclasses import dataclass

from onestack.errors import Conflict, PayloadTooLarge, ServiceUnavailable

CHUNK = 1024 * 1024


class BlobTooLarge(Exception):
    pass


class BlobNotFound(Exception):
    pass


class BlobUnavailable(ServiceUnavailable):
    """The store's backend is unreachable, refuses our credentials, or lacks its bucket."""


class BlobInUse(Conflict):
    """The store refuses to delete a blob that something still uses (Glance's
    InUseByStore: 409), e.g. an RBD image that volumes are clones of."""


class BlobStoreFull(PayloadTooLarge):
    """The backend has no space left for the blob (Glance's StorageFull: 413)."""


@dataclass(frozen=True)
class Unfinished:
    """A write a crash may have left behind: ``ref`` is what ``discard`` takes."""

    ref: str
    mtime: float


@dataclass
class Scan:
    blobs: dict[str, float]  # key -> last modified (Unix time)
    unfinished: list[Unfinished]


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

    async def scan(self) -> Scan | None:
        """Every blob and unfinished write, for the orphan sweep (None: not listable)."""
        return None

    async def discard(self, item: Unfinished) -> None:
        """Remove an unfinished write that ``scan`` reported."""
        raise NotImplementedError

    async def direct_url(self, key: str) -> str | None:
        """Where the backend keeps the blob, for a consumer in the same backend to use it in
        place (Glance's ``direct_url``: ``rbd://<fsid>/<pool>/<image>/<snap>``), or None."""
        return None

    def path(self, key: str) -> str | None:
        """A local file path for the blob, when the store has one (qemu-img reads it)."""
        return None
