"""An in-memory volume driver for tests: volumes are byte strings, sizes are remembered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from onestack.drivers.diskimage.inspector import ImageRefused, check
from onestack.drivers.storage.base import (
    ChunkSource,
    GiB,
    LuksSpec,
    StorageError,
    VolumeDriver,
    check_format,
)


@dataclass
class FakeDisk:
    size_gb: int
    data: bytes = b""


@dataclass
class FakeVolumeDriver(VolumeDriver):
    name: str = "fake"
    backend: str = "fake"
    volumes: dict[str, FakeDisk] = field(default_factory=dict)
    snapshots: dict[str, FakeDisk] = field(default_factory=dict)
    # Operation names that raise StorageError (tests of failure paths).
    fail: set[str] = field(default_factory=set)
    # encrypted volumes: the LUKS spec each was formatted (or last grown) with
    luks: dict[str, LuksSpec] = field(default_factory=dict)

    def _check(self, op: str) -> None:
        if op in self.fail:
            raise StorageError(f"fake driver: {op} failed")

    def _get(self, volume_id: str) -> FakeDisk:
        disk = self.volumes.get(volume_id)
        if disk is None:
            raise StorageError(f"volume {volume_id} has no disk")
        return disk

    async def create(self, volume_id: str, size_gb: int) -> None:
        self._check("create")
        self.volumes[volume_id] = FakeDisk(size_gb)

    async def delete(self, volume_id: str) -> None:
        self._check("delete")
        self.volumes.pop(volume_id, None)
        self.luks.pop(volume_id, None)

    async def create_encrypted(self, volume_id: str, size_gb: int, luks: LuksSpec) -> None:
        await self.create(volume_id, size_gb)
        self.luks[volume_id] = luks

    async def extend_encrypted(self, volume_id: str, size_gb: int, luks: LuksSpec) -> None:
        await self.extend(volume_id, size_gb)
        self.luks[volume_id] = luks

    async def copy_image_to_encrypted_volume(self, volume_id: str, size_gb: int,
                                             disk_format: str, path: str | None,
                                             chunks: ChunkSource, luks: LuksSpec) -> None:
        await self.copy_image_to_volume(volume_id, size_gb, disk_format, path, chunks)
        self.luks[volume_id] = luks

    async def clone(self, source_id: str, volume_id: str, size_gb: int) -> None:
        self._check("clone")
        src = self._get(source_id)
        self.volumes[volume_id] = FakeDisk(max(size_gb, src.size_gb), src.data)

    async def create_snapshot(self, volume_id: str, snapshot_id: str) -> None:
        self._check("create_snapshot")
        src = self._get(volume_id)
        self.snapshots[snapshot_id] = FakeDisk(src.size_gb, src.data)

    async def delete_snapshot(self, snapshot_id: str) -> None:
        self._check("delete_snapshot")
        self.snapshots.pop(snapshot_id, None)

    async def create_from_snapshot(self, snapshot_id: str, volume_id: str,
                                   size_gb: int) -> None:
        self._check("create_from_snapshot")
        snap = self.snapshots.get(snapshot_id)
        if snap is None:
            raise StorageError(f"snapshot {snapshot_id} has no disk")
        self.volumes[volume_id] = FakeDisk(max(size_gb, snap.size_gb), snap.data)

    async def extend(self, volume_id: str, size_gb: int) -> None:
        self._check("extend")
        disk = self._get(volume_id)
        disk.size_gb = max(disk.size_gb, size_gb)

    async def copy_image_to_volume(self, volume_id: str, size_gb: int, disk_format: str,
                                   path: str | None, chunks: ChunkSource) -> None:
        self._check("copy_image_to_volume")
        check_format(disk_format)
        data = b"".join([c async for c in chunks()])
        try:  # the same image check as the real drivers, on the bytes in memory
            check(lambda offset, length: data[offset:offset + length], len(data), disk_format)
        except ImageRefused as exc:
            raise StorageError(f"The image cannot be used: {exc}") from exc
        if len(data) > size_gb * GiB:
            raise StorageError("image is larger than the volume")
        self.volumes[volume_id] = FakeDisk(size_gb, data)

    async def copy_volume_to_image(self, volume_id: str, disk_format: str
                                   ) -> AsyncIterator[bytes]:
        self._check("copy_volume_to_image")
        check_format(disk_format)
        yield self._get(volume_id).data or b"\0" * 512

    def connection_info(self, volume_id: str) -> dict[str, Any]:
        return {"driver_volume_type": "fake", "data": {"volume_id": volume_id}}

    async def exists(self, volume_id: str) -> bool:
        return volume_id in self.volumes
