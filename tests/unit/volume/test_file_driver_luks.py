"""Encrypted volumes on the file driver with real qemu-img: a LUKS container whose bytes on
disk never hold the plaintext; copies open with the same passphrase; growing needs it; a
wrong passphrase opens nothing; the passphrase is never in qemu-img's argv."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from onestack.drivers.storage import FileVolumeDriver, StorageError
from onestack.drivers.storage.base import GiB, LuksSpec
from tests.unit.volume.test_file_driver import pytestmark  # noqa: F401  (needs qemu-utils)

MARK = b"onestack-luks-marker-" * 100
LUKS = LuksSpec("00" * 16 + "a1b2" * 8, key_size=512)


def _io(path: Path, passphrase: str, command: str) -> subprocess.CompletedProcess[str]:
    """qemu-io on the LUKS file, the passphrase through a pipe."""
    read, write = os.pipe()
    os.write(write, passphrase.encode())
    os.close(write)
    try:
        return subprocess.run(
            ["qemu-io", "--object", f"secret,id=s0,format=raw,file=/dev/fd/{read}",
             "--image-opts", f"driver=luks,key-secret=s0,file.filename={path}",
             "-c", command], pass_fds=(read,), capture_output=True, text=True)
    finally:
        os.close(read)


def _holds_mark(path: Path, passphrase: str) -> bool:
    proc = _io(path, passphrase, f"read -v 0 {len(MARK)}")
    return proc.returncode == 0 and "onestack.luks.ma" in proc.stdout  # qemu-io shows - as .


def test_encrypted_image_copy_grow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    image = tmp_path / "image.raw"
    image.write_bytes(MARK + bytes(1024 * 1024 - len(MARK)))
    d = FileVolumeDriver(tmp_path / "vols")
    seen: list[tuple[str, ...]] = []
    real_exec = asyncio.create_subprocess_exec

    async def spy(*argv: str, **kw: Any) -> asyncio.subprocess.Process:
        seen.append(argv)
        return await real_exec(*argv, **kw)

    async def chunks() -> AsyncIterator[bytes]:
        yield b""

    async def scenario() -> None:
        with monkeypatch.context() as m:
            m.setattr(asyncio, "create_subprocess_exec", spy)
            await d.copy_image_to_encrypted_volume("v1", 1, "raw", str(image), chunks, LUKS)
        v1 = d.volume_path("v1")
        assert v1.name == "volume-v1.luks"
        assert d.connection_info("v1")["data"]["format"] == "raw"
        with v1.open("rb") as fh:  # the header and the image's data: ciphertext only
            head = fh.read(8 * 1024 * 1024)
        assert head[:6] == b"LUKS\xba\xbe" and b"onestack-luks" not in head
        assert _holds_mark(v1, LUKS.passphrase)
        assert not _holds_mark(v1, "wrong")
        assert await d._luks_size(v1) == GiB
        info = subprocess.run(["qemu-img", "info", "-f", "luks", str(v1)],
                              capture_output=True, text=True).stdout
        assert "aes-256" in info and "xts" in info  # 512-bit XTS key
        # a snapshot and a volume from it: the same ciphertext, grown with the key
        await d.create_snapshot("v1", "s1")
        assert d.snapshot_path("s1").name == "snapshot-s1.luks"
        await d.create_from_snapshot("s1", "v2", 2)
        await d.extend_encrypted("v2", 2, LUKS)
        v2 = d.volume_path("v2")
        assert await d._luks_size(v2) == 2 * GiB and _holds_mark(v2, LUKS.passphrase)
        with pytest.raises(StorageError, match="encrypted"):
            async for _ in d.copy_volume_to_image("v1", "raw"):
                pass
        await d.delete("v1")
        await d.delete_snapshot("s1")
        assert not v1.exists() and not d.snapshot_path("s1").exists()

    asyncio.run(scenario())
    assert seen and all(LUKS.passphrase not in " ".join(a) for a in seen)
    assert LUKS.passphrase not in repr(LUKS)

