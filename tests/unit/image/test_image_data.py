"""The data path against the in-memory blob store: killed on failure, queued on mismatch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from onestack.config import load_settings
from onestack.core.image.access import Caller
from onestack.core.image.service import ImageService
from onestack.db import migrate
from onestack.db.engine import Database
from onestack.drivers.blob import MemoryBlobStore
from onestack.drivers.storage.qemu_img import NoProbe
from onestack.errors import BadRequest, Conflict

OWNER = Caller("p1")


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[ImageService]:
    settings = load_settings(None, data_dir=tmp_path)
    migrate.upgrade(settings.database_url)
    db = Database(settings.database_url)
    yield ImageService(settings, db, MemoryBlobStore(), NoProbe())
    await db.close()


async def _chunks(*parts: bytes, fail: bool = False) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
    if fail:
        raise ConnectionError("client went away")


async def _image(service: ImageService, fmt: str = "raw") -> str:
    rec = await service.images.create(OWNER, {"name": "x", "disk_format": fmt,
                                              "container_format": "bare"})
    return rec.image.id


async def test_upload_success_and_second_upload_conflicts(service: ImageService) -> None:
    image_id = await _image(service)
    await service.data.upload(OWNER, image_id, _chunks(b"ab", b"cd"))
    rec = await service.images.get(OWNER, image_id)
    assert (rec.image.status, rec.image.size, rec.image.virtual_size) == ("active", 4, 4)
    with pytest.raises(Conflict):
        await service.data.upload(OWNER, image_id, _chunks(b"x"))


async def test_failed_upload_kills_the_image(service: ImageService) -> None:
    image_id = await _image(service)
    with pytest.raises(ConnectionError):
        await service.data.upload(OWNER, image_id, _chunks(b"abc", fail=True))
    rec = await service.images.get(OWNER, image_id)
    assert rec.image.status == "killed"
    assert not await service.blobs.exists(f"images/{image_id}")


async def test_format_mismatch_keeps_it_queued(service: ImageService) -> None:
    image_id = await _image(service, "qcow2")
    with pytest.raises(BadRequest):
        await service.data.upload(OWNER, image_id, _chunks(b"not a qcow2 file"))
    assert (await service.images.get(OWNER, image_id)).image.status == "queued"
    await service.data.upload(OWNER, image_id, _chunks(b"QFI\xfb", bytes(100)))
    assert (await service.images.get(OWNER, image_id)).image.status == "active"


async def test_stage_and_import(service: ImageService) -> None:
    image_id = await _image(service)
    await service.data.stage(OWNER, image_id, _chunks(b"staged"))
    assert (await service.images.get(OWNER, image_id)).image.status == "uploading"
    await service.data.start_import(OWNER, image_id, "glance-direct", ["file"])
    await service.data.wait_imports()
    rec = await service.images.get(OWNER, image_id)
    assert (rec.image.status, rec.image.size) == ("active", 6)
    assert not await service.blobs.exists(f"staging/{image_id}")


async def test_format_match_can_be_turned_off(tmp_path: Path) -> None:
    settings = load_settings(None, data_dir=tmp_path)
    settings.image.require_format_match = False
    migrate.upgrade(settings.database_url)
    db = Database(settings.database_url)
    try:
        lax = ImageService(settings, db, MemoryBlobStore(), NoProbe())
        image_id = await _image(lax, "qcow2")
        await lax.data.upload(OWNER, image_id, _chunks(b"not a qcow2 file"))
        rec = await lax.images.get(OWNER, image_id)
        assert rec.image.status == "active"
    finally:
        await db.close()
