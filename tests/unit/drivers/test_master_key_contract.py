"""The master key store's contract, on the fake and the file store: nothing before the
first save, save/load round trip, atomic replace; the file is the owner's only."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from onestack.drivers.master_key import (
    FileMasterKeyStore,
    MasterKeyError,
    MasterKeys,
    MasterKeyStore,
    MemoryMasterKeyStore,
)


@pytest.fixture(params=["memory", "file"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MasterKeyStore]:
    if request.param == "memory":
        yield MemoryMasterKeyStore()
    else:
        yield FileMasterKeyStore(tmp_path / "km" / "master.key")


def test_round_trip_and_replace(store: MasterKeyStore) -> None:
    assert store.load() is None
    first = MasterKeys("a", {"a": b"\x01" * 32})
    store.save(first)
    assert store.load() == first
    second = MasterKeys("b", {"a": b"\x01" * 32, "b": b"\x02" * 32})
    store.save(second)
    assert store.load() == second
    assert store.where()


def test_keys_are_checked() -> None:
    with pytest.raises(MasterKeyError, match="not in the set"):
        MasterKeys("x", {"a": b"\x01" * 32})
    with pytest.raises(MasterKeyError, match="not 32"):
        MasterKeys("a", {"a": b"\x01" * 16})


def test_file_is_private_and_left_whole(tmp_path: Path) -> None:
    path = tmp_path / "km" / "master.key"
    store = FileMasterKeyStore(path)
    store.save(MasterKeys("a", {"a": os.urandom(32)}))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert not path.with_name("master.key.tmp").exists()
    path.write_text("not json")
    with pytest.raises(MasterKeyError, match="not a master key file") as err:
        store.load()
    assert "not json" not in str(err.value)
