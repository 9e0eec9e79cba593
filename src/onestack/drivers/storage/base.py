"""The volume driver contract: where a volume's bytes live and how they are copied.

Every method names volumes and snapshots by id; the driver decides where they live.
- ``create`` makes a blank volume of ``size_gb``; ``create_from_snapshot``, ``clone`` and
  ``copy_image_to_volume`` make one with content, grown to ``size_gb`` when the source is
  smaller. Each cleans up after itself: a failure leaves no volume behind.
- ``delete`` and ``delete_snapshot`` are idempotent (a missing one is not an error).
- ``create_snapshot`` keeps a point-in-time copy that outlives later writes to the volume.
- ``extend`` grows a volume; never shrinks it.
- ``copy_volume_to_image`` streams the volume's content in ``disk_format``.
- ``connection_info`` is what a hypervisor needs to attach the volume (Cinder's shape).
- Encrypted volumes (LUKS, a ``LuksSpec`` with the passphrase): ``create_encrypted`` and
  ``copy_image_to_encrypted_volume`` format the volume as a LUKS container (an image's data
  goes in as plaintext and is stored encrypted); ``extend_encrypted`` grows one. A copy of
  an encrypted volume (clone, snapshot, volume from snapshot) copies its ciphertext as it
  is: the copy opens with the same passphrase; the caller grows it afterwards. A backend
  that cannot hold them keeps the defaults, which refuse. The passphrase is never logged,
  never on a command line.
Failures raise ``StorageError`` with a message a user may read.
"""

from __future__ import annotations

import abc
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

GiB = 1024**3
# qemu-img's name for each image disk format a volume can be read from or written to.
FORMATS = {"raw": "raw", "qcow2": "qcow2", "vmdk": "vmdk", "vdi": "vdi", "vhd": "vpc",
           "vhdx": "vhdx", "iso": "raw", "ploop": "parallels"}
ChunkSource = Callable[[], AsyncIterator[bytes]]


class StorageError(Exception):
    pass


@dataclass(frozen=True)
class LuksSpec:
    """How an encrypted volume is formatted and opened; ``repr`` hides the passphrase."""

    passphrase: str = field(repr=False)
    cipher: str = "aes-xts-plain64"
    key_size: int = 256  # bits of the XTS key (two AES keys: 256 -> AES-128)


class VolumeDriver(abc.ABC):
    name: str = ""
    # The backend name in os-vol-host-attr:host (host@backend#pool).
    backend: str = ""

    @abc.abstractmethod
    async def create(self, volume_id: str, size_gb: int) -> None: ...

    @abc.abstractmethod
    async def delete(self, volume_id: str) -> None: ...

    @abc.abstractmethod
    async def clone(self, source_id: str, volume_id: str, size_gb: int) -> None: ...

    @abc.abstractmethod
    async def create_snapshot(self, volume_id: str, snapshot_id: str) -> None: ...

    @abc.abstractmethod
    async def delete_snapshot(self, snapshot_id: str) -> None: ...

    @abc.abstractmethod
    async def create_from_snapshot(self, snapshot_id: str, volume_id: str,
                                   size_gb: int) -> None: ...

    @abc.abstractmethod
    async def extend(self, volume_id: str, size_gb: int) -> None: ...

    @abc.abstractmethod
    async def copy_image_to_volume(self, volume_id: str, size_gb: int, disk_format: str,
                                   path: str | None, chunks: ChunkSource) -> None:
        """Write an image into a new volume: read ``path`` when the image store has a local
        file, else the bytes ``chunks()`` yields."""

    @abc.abstractmethod
    def copy_volume_to_image(self, volume_id: str, disk_format: str
                             ) -> AsyncIterator[bytes]: ...

    @abc.abstractmethod
    def connection_info(self, volume_id: str) -> dict[str, Any]: ...

    @abc.abstractmethod
    async def exists(self, volume_id: str) -> bool: ...

    def _no_encryption(self) -> StorageError:
        return StorageError(f"The {self.backend or self.name} volume backend cannot hold "
                            "encrypted volumes.")

    async def create_encrypted(self, volume_id: str, size_gb: int, luks: LuksSpec) -> None:
        raise self._no_encryption()

    async def copy_image_to_encrypted_volume(self, volume_id: str, size_gb: int,
                                             disk_format: str, path: str | None,
                                             chunks: ChunkSource, luks: LuksSpec) -> None:
        raise self._no_encryption()

    async def extend_encrypted(self, volume_id: str, size_gb: int, luks: LuksSpec) -> None:
        raise self._no_encryption()

    async def clone_image(self, volume_id: str, size_gb: int, location: str) -> bool:
        """Make the volume a copy-on-write clone of an image whose data the image store
        keeps where this backend can clone it (its ``direct_url``), as Cinder's
        ``clone_image``; False (the default) when it cannot: the caller copies the image."""
        return False

    async def capacity_gb(self) -> tuple[int, int]:
        """(total, free) gigabytes of the backend, for pools and scheduler stats."""
        return 1000, 1000


def check_format(disk_format: str) -> str:
    fmt = FORMATS.get(disk_format)
    if fmt is None:
        raise StorageError(f"Disk format {disk_format!r} is not supported; use one of "
                           f"{', '.join(sorted(FORMATS))}.")
    return fmt
