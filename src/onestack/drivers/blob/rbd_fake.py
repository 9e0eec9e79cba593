"""The rbd image store in memory (drivers/blob/rbd.py's contract without a cluster): a
``direct_url`` in Glance's ``rbd://`` form, and clones that hold a blob: deleting it is
``BlobInUse`` (409) while any remain."""

from __future__ import annotations

import uuid

from onestack.drivers.blob.base import BlobInUse
from onestack.drivers.blob.fake import MemoryBlobStore


class FakeRbdBlobStore(MemoryBlobStore):
    def __init__(self, pool: str = "images", fsid: str | None = None) -> None:
        super().__init__()
        self.pool = pool
        self.fsid = fsid or str(uuid.uuid4())
        self.clones: dict[str, set[str]] = {}

    def name(self, key: str) -> str:
        return key.removeprefix("images/").replace("/", ".")

    def clone(self, key: str, child: str) -> None:
        """What a volume service's ``rbd clone`` of the blob's snapshot does."""
        self.clones.setdefault(key, set()).add(child)

    def unclone(self, key: str, child: str) -> None:
        self.clones.get(key, set()).discard(child)

    async def delete(self, key: str) -> None:
        if self.clones.get(key):
            raise BlobInUse(f"Image {self.name(key)} is in use: volumes or disks are "
                            "copy-on-write clones of it.")
        await super().delete(key)

    async def direct_url(self, key: str) -> str | None:
        return f"rbd://{self.fsid}/{self.pool}/{self.name(key)}/snap"
