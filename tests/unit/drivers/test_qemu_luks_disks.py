"""Encrypted volumes in QEMU guests without a host: no LUKS disk on the command line (the
guest starts paused until it is plugged), blockdev-add of a luks node (file or rbd below)
naming its secret, the passphrase handed over QMP as base64 only, never in guest.json or a
repr; the agent's disk from an encrypted attachment; a disk without its key refused."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path
from typing import Any

import pytest

from onestack.agent.guest_disks import CephClient, volume_disk
from onestack.core.compute.volumes import VolumeDisk
from onestack.drivers.virt.base import DiskSpec, GuestSpec, RbdSource, VirtError
from onestack.drivers.virt.qemu import rbd_disks
from onestack.drivers.virt.qemu.cmdline import build_command, spec_from_json, spec_to_json

PASS = "0f" * 32


def _luks(tmp: Path, key: str = PASS, rbd: RbdSource | None = None) -> DiskSpec:
    return DiskSpec(tmp / "volume-1.luks", "luks", "volume", serial="1", key=key, rbd=rbd)


class FakeQmp:
    def __init__(self, fail: str = "") -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail = fail

    async def execute(self, command: str, args: dict[str, Any] | None = None) -> Any:
        self.calls.append((command, args or {}))
        if command == self.fail:
            from onestack.drivers.virt.qemu.qmp import QmpError
            raise QmpError(f"{command} failed")
        return {}


def test_luks_volume_is_plugged_over_qmp_with_its_secret(tmp_path: Path) -> None:
    spec = GuestSpec("6f1d5a52-1b4c-4a3e-8f39-2d7b7d0e0c11", "g", 1, 128, tmp_path,
                     [DiskSpec(tmp_path / "disk"), _luks(tmp_path)])
    cmd = build_command(spec, "tcg")
    assert "-S" in cmd and "volume-1.luks" not in " ".join(cmd) and PASS not in str(cmd)
    assert PASS not in spec_to_json(spec) and PASS not in repr(spec)
    assert spec_from_json(spec_to_json(spec)).disks[1].format == "luks"
    args = rbd_disks.blockdev(_luks(tmp_path), "vol-1")
    assert (args["driver"], args["key-secret"]) == ("luks", "vol-1-luks")
    assert args["file"] == {"driver": "file", "read-only": False,
                            "filename": str(tmp_path / "volume-1.luks")}
    on_rbd = rbd_disks.blockdev(_luks(tmp_path, rbd=RbdSource("volumes/v1")), "vol-1")
    assert on_rbd["driver"] == "luks" and on_rbd["file"]["driver"] == "rbd"
    qmp: Any = FakeQmp()
    asyncio.run(rbd_disks.plug(qmp, _luks(tmp_path)))
    (_, secret), (_, node), (_, device) = qmp.calls
    assert secret == {"qom-type": "secret", "id": "vol-1-luks", "format": "base64",
                      "data": base64.b64encode(PASS.encode()).decode()}
    assert node["driver"] == "luks" and device["drive"] == "vol-1"
    # a failed blockdev-add takes the secret away again
    qmp = FakeQmp(fail="blockdev-add")
    with pytest.raises(Exception, match="blockdev-add"):
        asyncio.run(rbd_disks.plug(qmp, _luks(tmp_path)))
    assert ("object-del", {"id": "vol-1-luks"}) in qmp.calls
    # no key (gone from the key manager): refused before QEMU is asked anything
    qmp = FakeQmp()
    with pytest.raises(VirtError, match="no key"):
        asyncio.run(rbd_disks.plug(qmp, _luks(tmp_path, key="")))
    assert [c for c, _ in qmp.calls if c != "object-del"] == []


def test_agent_disk_of_an_encrypted_attachment(tmp_path: Path) -> None:
    v = VolumeDisk("b", "1234567890abcdef1234567890", "/dev/vdb", "attached",
                   str(tmp_path / "volume-1.luks"), "raw", False, None, None, True, PASS)
    assert PASS not in repr(v)
    disk = volume_disk(v, CephClient())
    assert (disk.format, disk.key, disk.serial) == ("luks", PASS, "1234567890abcdef1234")
