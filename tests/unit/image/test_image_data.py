"""The data path against the in-memory blob store: killed on failure, queued on mismatch."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from onestack.config import load_settings
from onestack.core.image import patch
from onestack.core.image.access import Caller
from onestack.core.image.service import ImageService
from onestack.db import migrate
from onestack.db.engine import Database
from onestack.drivers.blob import MemoryBlobStore
from onestack.errors import BadRequest, Conflict, Forbidden

OWNER = Caller("p1")


def qcow2_header(size: int = 1 << 30, incompatible: int = 0, backing: int = 0) -> bytes:
    """A qcow2 v3 header (64 KiB clusters) as qemu-img writes one."""
    head = (b"QFI\xfb" + (3).to_bytes(4, "big") + backing.to_bytes(8, "big") + bytes(4)
            + (16).to_bytes(4, "big") + size.to_bytes(8, "big") + bytes(40)
            + incompatible.to_bytes(8, "big") + bytes(16) + (4).to_bytes(4, "big")
            + (104).to_bytes(4, "big"))
    return head.ljust(512, b"\0")


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[ImageService]:
    settings = load_settings(None, data_dir=tmp_path)
    migrate.upgrade(settings.database_url)
    db = Database(settings.database_url)
    yield ImageService(settings, db, MemoryBlobStore())
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
    await service.data.upload(OWNER, image_id, _chunks(qcow2_header()[:100],
                                                       qcow2_header()[100:]))
    rec = await service.images.get(OWNER, image_id)
    assert (rec.image.status, rec.image.virtual_size) == ("active", 1 << 30)


@pytest.mark.parametrize(("fmt", "data", "why"), [
    ("qcow2", qcow2_header(incompatible=4), "external data file"),
    ("qcow2", qcow2_header(backing=512), "backing file"),
    ("raw", qcow2_header(incompatible=4), "external data file"),
    ("raw", qcow2_header(), "declare disk_format qcow2"),
    ("qcow2", b"QFI\xfb" + bytes(20), "truncated"),
    ("vmdk", b"# Disk DescriptorFile\ncreateType=\"monolithicFlat\"\n", "extents"),
])
async def test_unsafe_or_mismatched_data_is_refused(service: ImageService, fmt: str,
                                                    data: bytes, why: str) -> None:
    image_id = await _image(service, fmt)
    with pytest.raises(BadRequest, match=why):
        await service.data.upload(OWNER, image_id, _chunks(data))
    assert (await service.images.get(OWNER, image_id)).image.status == "queued"
    assert not await service.blobs.exists(f"images/{image_id}")


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
        lax = ImageService(settings, db, MemoryBlobStore())
        image_id = await _image(lax, "qcow2")
        await lax.data.upload(OWNER, image_id, _chunks(b"not a qcow2 file"))
        rec = await lax.images.get(OWNER, image_id)
        assert (rec.image.status, rec.image.virtual_size) == ("active", None)
        # Safety is not a matter of format matching: refused all the same.
        unsafe = await _image(lax, "raw")
        with pytest.raises(BadRequest, match="external data file"):
            await lax.data.upload(OWNER, unsafe, _chunks(qcow2_header(incompatible=4)))
    finally:
        await db.close()


async def test_the_core_holds_every_caller_to_publicize(service: ImageService) -> None:
    """Whoever calls the image core (the image API, a snapshot, a volume upload) needs
    publicize_image for public images; community needs communitize_image."""
    base = {"name": "x", "disk_format": "raw", "container_format": "bare"}
    with pytest.raises(Forbidden, match="publicize_image"):
        await service.images.create(OWNER, {**base, "visibility": "public"})
    with pytest.raises(Forbidden, match="communitize_image"):
        await service.images.create(Caller("p1", communitize=False),
                                    {**base, "visibility": "community"})
    rec = await service.images.create(Caller("p1", publicize=True),
                                      {**base, "visibility": "public"})
    assert rec.image.visibility == "public"
    mine = await _image(service)
    with pytest.raises(Forbidden, match="publicize_image"):
        await service.images.update(OWNER, mine, [patch.Change("replace", "visibility",
                                                               "public")])
    await service.images.update(Caller("admin", is_admin=True), mine,
                                [patch.Change("replace", "visibility", "public")])
