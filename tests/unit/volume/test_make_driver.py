"""The volume service builds the driver ``[volume] driver`` names, from its settings."""

from __future__ import annotations

from pathlib import Path

from onestack.config import Settings
from onestack.core.volume.service import make_driver
from onestack.drivers.storage import FileVolumeDriver, RbdVolumeDriver


def test_rbd_is_built_from_its_settings(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    settings.volume.driver = "rbd"
    settings.volume.rbd_pool = "cinder-volumes"
    settings.volume.rbd_user = "compute-7"
    settings.volume.rbd_ceph_conf = str(tmp_path / "ceph.conf")
    driver = make_driver(settings)
    assert isinstance(driver, RbdVolumeDriver)
    assert driver.pool == "cinder-volumes"
    assert driver.user == "compute-7"


def test_file_is_the_default(tmp_path: Path) -> None:
    assert isinstance(make_driver(Settings(data_dir=tmp_path)), FileVolumeDriver)
