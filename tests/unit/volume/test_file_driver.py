"""The file volume driver against real qemu-img (and the fake beside it): data written into
a volume survives snapshot, create-from-snapshot, clone, extend and image round trips. The
contract every driver keeps is one suite over fake, file and rbd:
tests/integration/test_volume_contract.py."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from onestack.drivers.storage import FakeVolumeDriver, FileVolumeDriver, StorageError
from onestack.drivers.storage.base import GiB, VolumeDriver

pytestmark = pytest.mark.skipif(shutil.which("qemu-io") is None or
                                shutil.which("qemu-img") is None,
                                reason="qemu-utils is not installed")
PATTERN = 0x5A


def _write(path: Path, offset: int, pattern: int = PATTERN) -> None:
    subprocess.run(["qemu-io", "-f", "qcow2", "-c", f"write -P {pattern} {offset} 64k",
                    str(path)], check=True, capture_output=True)


def _reads(path: Path, offset: int, pattern: int = PATTERN, fmt: str = "qcow2") -> bool:
    proc = subprocess.run(["qemu-io", "-f", fmt, "-c", f"read -P {pattern} {offset} 64k",
                           str(path)], capture_output=True, text=True)
    return proc.returncode == 0 and "Pattern verification failed" not in proc.stdout


def _size(path: Path) -> int:
    out = subprocess.run(["qemu-img", "info", "--output", "json", str(path)], check=True,
                         capture_output=True, text=True).stdout
    return int(json.loads(out)["virtual-size"])


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_create_write_snapshot_restore_clone_extend(tmp_path: Path) -> None:
    d = FileVolumeDriver(tmp_path)
    run(d.create("v1", 1))
    v1 = d.volume_path("v1")
    assert _size(v1) == GiB
    _write(v1, 0)
    run(d.create_snapshot("v1", "s1"))
    _write(v1, 0, 0x11)  # later writes do not reach the snapshot
    run(d.create_from_snapshot("s1", "v2", 2))
    v2 = d.volume_path("v2")
    assert _reads(v2, 0) and _size(v2) == 2 * GiB
    run(d.clone("v2", "v3", 3))
    assert _reads(d.volume_path("v3"), 0) and _size(d.volume_path("v3")) == 3 * GiB
    run(d.extend("v1", 4))
    assert _size(v1) == 4 * GiB and _reads(v1, 0, 0x11)
    assert d.connection_info("v1") == {"driver_volume_type": "file",
                                       "data": {"path": str(v1), "format": "qcow2"}}
    for vid in ("v1", "v2", "v3"):
        run(d.delete(vid))
        run(d.delete(vid))  # idempotent
    run(d.delete_snapshot("s1"))
    run(d.delete_snapshot("s1"))
    assert list(tmp_path.iterdir()) == []


def test_image_round_trip_from_chunks_and_path(tmp_path: Path) -> None:
    d = FileVolumeDriver(tmp_path / "vols")
    data = bytes([PATTERN]) * 65536

    async def chunks() -> AsyncIterator[bytes]:
        yield data

    run(d.copy_image_to_volume("v1", 1, "raw", None, chunks))
    assert _reads(d.volume_path("v1"), 0) and _size(d.volume_path("v1")) == GiB

    async def upload() -> bytes:
        return b"".join([c async for c in d.copy_volume_to_image("v1", "qcow2")])

    qcow = tmp_path / "out.qcow2"
    qcow.write_bytes(run(upload()))  # type: ignore[arg-type]
    assert _reads(qcow, 0)
    run(d.copy_image_to_volume("v2", 1, "qcow2", str(qcow), chunks))
    assert _reads(d.volume_path("v2"), 0)
    assert not list((tmp_path / "vols").glob("*.part"))


def test_failures_leave_nothing_behind(tmp_path: Path) -> None:
    d = FileVolumeDriver(tmp_path)

    async def junk() -> AsyncIterator[bytes]:
        yield b"\0" * 4096

    with pytest.raises(StorageError):
        run(d.clone("missing", "v1", 1))
    with pytest.raises(StorageError):
        run(d.extend("missing", 2))
    big = tmp_path / "big.raw"
    with big.open("wb") as fh:
        fh.truncate(3 * GiB)
    with pytest.raises(StorageError, match="larger than the volume"):
        run(d.copy_image_to_volume("v2", 1, "raw", str(big), junk))
    with pytest.raises(StorageError):
        run(d.copy_image_to_volume("v3", 1, "nope", None, junk))
    big.unlink()
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "volume-x.qcow2.1234.part").write_bytes(b"x")
    assert len(d.sweep_partial()) == 1 and list(tmp_path.iterdir()) == []
    with pytest.raises(StorageError):
        d.volume_path("../etc")


@pytest.mark.parametrize("driver", ["file", "fake"])
def test_images_naming_host_files_never_reach_a_volume(driver: str, tmp_path: Path) -> None:
    """CVE-2024-32498: a qcow2 naming a host file as its external data file (or backing
    file) is refused before qemu-img reads it, even when it is already in the store."""
    secret = tmp_path / "host-secret"
    images = tmp_path / "images"
    images.mkdir()
    attack, backed = images / "data-file.qcow2", images / "backed.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-o",
                    f"data_file={secret},data_file_raw=on", str(attack), "1M"], check=True)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
                    str(secret), str(backed), "1M"], check=True)
    secret.write_bytes(b"HOST-SECRET" * 1000)
    vols = tmp_path / "vols"
    d: VolumeDriver = FileVolumeDriver(vols) if driver == "file" else FakeVolumeDriver()
    for image, why in ((attack, "external data file"), (backed, "backing file")):
        async def chunks(image: Path = image) -> AsyncIterator[bytes]:
            yield image.read_bytes()

        path = str(image) if driver == "file" else None
        with pytest.raises(StorageError, match=why):
            run(d.copy_image_to_volume("v1", 1, "qcow2", path, chunks))
        with pytest.raises(StorageError, match=why):  # streamed from a remote store
            run(d.copy_image_to_volume("v1", 1, "qcow2", None, chunks))
        with pytest.raises(StorageError, match=why):  # declared raw: refused all the same
            run(d.copy_image_to_volume("v1", 1, "raw", None, chunks))
        assert run(d.exists("v1")) is False
    if driver == "file":
        assert not vols.exists() or not any(vols.iterdir())
