"""The seeded tiny images carry SCS-0102's mandatory metadata, checked the way SCS's
image-md-check.py checks it (present, allowed values, date formats, image_source a URL or
"private", build date not after registration, min_ram at least 64). The build is replaced by
a small qcow2 made with qemu-img; the upload and the raw conversion are real."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from onestack.config import load_settings
from onestack.core.image.access import Caller
from onestack.core.image.service import ImageService
from onestack.db import migrate
from onestack.db.engine import Database
from onestack.drivers.blob import MemoryBlobStore
from onestack.images import seed

MANDATORY = ("os_distro", "os_version", "architecture", "hypervisor_type", "hw_disk_bus",
             "image_build_date", "image_original_user", "image_source", "image_description",
             "replace_frequency", "provided_until", "uuid_validity")
ALLOWED = {"architecture": {"x86_64", "aarch64", "risc-v"},
           "hypervisor_type": {"qemu", "kvm", "xen", "hyper-v", "esxi"},
           "hw_disk_bus": {"virtio", "scsi"},
           "replace_frequency": {"yearly", "quarterly", "monthly", "weekly", "daily",
                                 "critical_bug", "never"}}


@pytest.fixture
async def images(tmp_path: Path) -> AsyncIterator[tuple[ImageService, Database]]:
    settings = load_settings(None, data_dir=tmp_path)
    migrate.upgrade(settings.database_url)
    db = Database(settings.database_url)
    yield ImageService(settings, db, MemoryBlobStore()), db
    await db.close()


async def test_seeded_images_carry_scs_metadata(images: tuple[ImageService, Database],
                                                tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    service, db = images
    qcow2 = tmp_path / "tiny.qcow2"
    subprocess.run(["qemu-img", "create", "-f", "qcow2", str(qcow2), "16M"], check=True,
                   capture_output=True)
    qcow2.with_suffix(".json").write_text(json.dumps({"ssh_user": "root"}))
    monkeypatch.setattr(seed, "build_tiny", lambda *_a, **_k: qcow2)
    made = await seed.seed_tiny_images(service, db, "admin-project", cache_dir=tmp_path)
    assert set(made) == {seed.TINY, seed.TINY_RAW}
    for name, image_id in made.items():
        rec = await service.images.get(Caller("admin-project", is_admin=True), image_id)
        img, props = rec.image, rec.properties
        for key in MANDATORY:
            assert props.get(key), f"{name}: {key} missing"
        for key, allowed in ALLOWED.items():
            assert props[key] in allowed, (name, key, props[key])
        built = dt.date.fromisoformat(props["image_build_date"])
        assert built <= img.created_at.date()
        assert props["image_source"] == "private" or "://" in props["image_source"]
        assert props["provided_until"] in ("none", "notice")
        assert props["uuid_validity"] in ("none", "notice", "forever")
        assert props["image_original_user"] == "root" == props["os_admin_user"]
        assert img.min_ram >= 64 and img.min_disk * 1024**3 >= (img.size or 0)
    # idempotent: a second seed keeps them
    assert await seed.seed_tiny_images(service, db, "admin-project") == made
