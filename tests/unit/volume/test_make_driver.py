"""The volume service builds the driver ``[volume] driver`` names, from its settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from onestack.config import Settings
from onestack.core.volume.service import make_driver, make_drivers
from onestack.drivers.storage import FileVolumeDriver, RbdVolumeDriver
from onestack.errors import ConfigError


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


def test_several_backends_by_name_the_first_first(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    settings.volume.backends = ["rbd", "file"]
    drivers = make_drivers(settings)
    assert list(drivers) == ["rbd", "file"]
    assert isinstance(drivers["file"], FileVolumeDriver)
    settings.volume.backends = ["file", "file"]
    with pytest.raises(ConfigError, match="twice"):
        make_drivers(settings)
    setattr(settings.volume, "backends", "file")  # noqa: B010  (a TOML string, not a list)
    with pytest.raises(ConfigError, match="list of driver names"):
        make_drivers(settings)
