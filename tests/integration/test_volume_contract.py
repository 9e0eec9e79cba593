"""The volume driver contract (drivers/storage/base.py), one suite over every driver: the
fake, the file driver (real qemu-img) and the rbd driver (the throwaway Ceph cluster of
tests/support/ceph.py, shared with the other rbd tests; that parameter skips where the
cluster cannot run). What each driver does beyond the contract (copy-on-write, flattening,
image checks, failures of a real cluster) is in its own tests."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from onestack.drivers.storage import (
    FakeVolumeDriver,
    FileVolumeDriver,
    RbdVolumeDriver,
    StorageError,
)
from onestack.drivers.storage.base import VolumeDriver
from tests.integration.test_rbd_driver import _skip_reason
from tests.support.ceph import shared_cluster

Leftovers = Callable[[], list[str]]


def run(coro: Any) -> Any:
    return asyncio.run(coro)


@pytest.fixture(params=["fake", "file", "rbd"])
def subject(request: pytest.FixtureRequest, tmp_path: Path
            ) -> Iterator[tuple[VolumeDriver, Leftovers]]:
    """The driver, and what it holds besides what it held before the test."""
    if request.param == "fake":
        fake = FakeVolumeDriver()
        yield fake, lambda: sorted(fake.volumes) + sorted(fake.snapshots)
    elif request.param == "file":
        if shutil.which("qemu-img") is None:
            pytest.skip("qemu-utils is not installed")
        yield FileVolumeDriver(tmp_path), lambda: sorted(p.name for p in tmp_path.iterdir())
    else:
        why = _skip_reason()
        if why:
            pytest.skip(why)
        ceph = shared_cluster()
        d = RbdVolumeDriver(pool=ceph.pool, user=ceph.user, conf=ceph.conf,
                            keyring=ceph.keyring, timeout=5)

        def images() -> list[str]:
            return sorted(json.loads(ceph.rbd("ls", "--format", "json", ceph.pool)))

        before = set(images())
        yield d, lambda: [i for i in images() if i not in before]


def test_contract(subject: tuple[VolumeDriver, Leftovers]) -> None:
    d, leftovers = subject
    run(d.create("a", 1))
    assert run(d.exists("a")) is True and run(d.exists("never")) is False
    run(d.create_snapshot("a", "s"))
    run(d.create_from_snapshot("s", "b", 1))
    run(d.clone("b", "c", 2))
    run(d.extend("c", 3))
    run(d.extend("c", 2))  # never shrinks; not an error
    assert all(run(d.exists(v)) for v in ("a", "b", "c"))
    # a source that does not exist: StorageError, nothing made
    for call in (lambda: d.clone("missing", "x", 1),
                 lambda: d.create_from_snapshot("missing", "x", 1),
                 lambda: d.extend("missing", 2)):
        with pytest.raises(StorageError):
            run(call())
    assert run(d.exists("x")) is False
    info = d.connection_info("a")
    assert info["driver_volume_type"] == d.name and isinstance(info["data"], dict)
    if isinstance(d, RbdVolumeDriver):  # the test cluster runs no ceph-mgr: no statistics
        with pytest.raises(StorageError, match="ceph-mgr"):
            run(d.capacity_gb())
    else:
        total, free = run(d.capacity_gb())
        assert total >= free >= 0
    # the snapshot outlives nothing it should not: its volume and copies go, then it
    run(d.delete("a"))
    for vid in ("a", "b", "c"):
        run(d.delete(vid))
        run(d.delete(vid))  # idempotent
        assert run(d.exists(vid)) is False
    run(d.delete_snapshot("s"))
    run(d.delete_snapshot("s"))  # idempotent
    assert leftovers() == []
