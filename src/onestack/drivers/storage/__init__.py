"""Block storage on the host: volume drivers (file, rbd, fake) and qemu-img."""

from onestack.drivers.storage.base import StorageError, VolumeDriver
from onestack.drivers.storage.fake import FakeVolumeDriver
from onestack.drivers.storage.file import FileVolumeDriver
from onestack.drivers.storage.rbd import RbdVolumeDriver

DRIVERS: dict[str, type[VolumeDriver]] = {"file": FileVolumeDriver, "rbd": RbdVolumeDriver,
                                          "fake": FakeVolumeDriver}

__all__ = ["DRIVERS", "FakeVolumeDriver", "FileVolumeDriver", "RbdVolumeDriver", "StorageError",
           "VolumeDriver"]
