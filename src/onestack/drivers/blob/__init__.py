"""Byte stores for image data and objects, chosen by name from ``DRIVERS``."""

from onestack.drivers.blob.base import BlobInfo, BlobStore
from onestack.drivers.blob.fake import MemoryBlobStore
from onestack.drivers.blob.filesystem import FilesystemBlobStore
from onestack.drivers.blob.s3 import S3BlobStore

DRIVERS: dict[str, type[BlobStore]] = {
    "filesystem": FilesystemBlobStore,
    "memory": MemoryBlobStore,
    "s3": S3BlobStore,
}

__all__ = ["DRIVERS", "BlobInfo", "BlobStore", "FilesystemBlobStore", "MemoryBlobStore",
           "S3BlobStore"]
