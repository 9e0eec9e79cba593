"""Block storage on the host: volume drivers (file, fake) and qemu-img."""

from onestack.drivers.storage.base import StorageError, VolumeDriver
from onestack.drivers.storage.fake import FakeVolumeDriver
from onestack.drivers.storage.file import FileVolumeDriver

DRIVERS: dict[str, type[VolumeDriver]] = {"file": FileVolumeDriver, "fake": FakeVolumeDriver}

__all__ = ["DRIVERS", "FakeVolumeDriver", "FileVolumeDriver", "StorageError", "VolumeDriver"]
