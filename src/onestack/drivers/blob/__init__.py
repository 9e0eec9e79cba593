"""Byte stores for image data and objects, chosen by name from ``DRIVERS``."""

from onestack.drivers.blob.base import BlobInfo, BlobStore
from onestack.drivers.blob.fake import MemoryBlobStore
from onestack.drivers.blob.filesystem import FilesystemBlobStore

DRIVERS: dict[str, type[BlobStore]] = {
    "filesystem": FilesystemBlobStore,
    "memory": MemoryBlobStore,
}

__all__ = ["DRIVERS", "BlobInfo", "BlobStore", "FilesystemBlobStore", "MemoryBlobStore"]
