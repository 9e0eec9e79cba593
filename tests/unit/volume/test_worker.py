"""A crash mid-operation: the restarted volume service settles what it finds (a status the
API reports and from which delete or reset-status recovers), and backend failures end in
error states."""

from __future__ import annotations

import asyncio
from pathlib import Path

from onestack.config import load_settings
from onestack.core.image.service import ImageService
from onestack.core.volume import states
from onestack.core.volume.base import Caller
from onestack.core.volume.service import VolumeService
from onestack.db import migrate
from onestack.db.engine import Database
from onestack.db.models.volume import Snapshot, Volume
from onestack.drivers.storage import FakeVolumeDriver

ADMIN = Caller("p1", "u1", is_admin=True)


def _service(tmp_path: Path, driver: FakeVolumeDriver) -> tuple[VolumeService, Database]:
    settings = load_settings(None, data_dir=tmp_path)
    migrate.upgrade(settings.database_url)
    db = Database(settings.database_url)
    return VolumeService(settings, db, ImageService(settings, db), driver), db


def test_restart_settles_transient_states(tmp_path: Path) -> None:
    driver = FakeVolumeDriver()

    async def main() -> dict[str, str | None]:
        svc, db = _service(tmp_path, driver)
        await svc.bootstrap()
        host = svc.worker.host
        await driver.create("deleting", 1)
        async with db.write() as s:
            for vid, status in (("creating", "creating"), ("extending", "extending"),
                                ("uploading", "uploading"), ("deleting", "deleting"),
                                ("downloading", "downloading"), ("other", "creating")):
                s.add(Volume(id=vid, project_id="p1", user_id="u1", size=1, status=status,
                             availability_zone="nova",
                             host=host if vid != "other" else "elsewhere@file#file"))
            await s.flush()
            s.add(Snapshot(id="snap", project_id="p1", user_id="u1", volume_id="creating",
                           size=1, status="creating", host=host))
        await svc.start()
        await svc.worker.drain()
        out: dict[str, str | None] = {}
        async with db.read() as s:
            for vid in ("creating", "extending", "uploading", "deleting", "downloading",
                        "other"):
                row = await s.get(Volume, vid)
                out[vid] = row.status if row else None
            snap = await s.get(Snapshot, "snap")
            out["snap"] = snap.status if snap else None
        # error states recover: reset-status, or delete
        await svc.actions.reset_status(ADMIN, "creating", {"status": "available"})
        await svc.volumes.delete(ADMIN, "extending")
        await svc.worker.drain()
        async with db.read() as s:
            out["reset"] = (await s.get(Volume, "creating")).status  # type: ignore[union-attr]
            out["deleted"] = "gone" if await s.get(Volume, "extending") is None else "there"
        await svc.stop()
        await db.close()
        return out

    out = asyncio.run(main())
    assert out == {"creating": states.ERROR, "extending": states.ERROR_EXTENDING,
                   "uploading": states.AVAILABLE, "deleting": None,
                   "downloading": states.ERROR, "other": "creating",
                   "snap": states.SNAPSHOT_ERROR, "reset": "available", "deleted": "gone"}
    assert "deleting" not in driver.volumes


def test_backend_failures_end_in_error_states(tmp_path: Path) -> None:
    driver = FakeVolumeDriver(fail={"create", "delete"})

    async def main() -> tuple[str, str]:
        svc, db = _service(tmp_path, driver)
        await svc.bootstrap()
        await svc.start()
        rec = await svc.volumes.create(ADMIN, {"size": 1})
        await svc.worker.drain()
        created = (await svc.volumes.get(ADMIN, rec.volume.id)).volume.status
        await svc.volumes.delete(ADMIN, rec.volume.id)
        await svc.worker.drain()
        deleted = (await svc.volumes.get(ADMIN, rec.volume.id)).volume.status
        await svc.stop()
        await db.close()
        return created, deleted

    assert asyncio.run(main()) == (states.ERROR, states.ERROR_DELETING)
