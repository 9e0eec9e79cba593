"""Live migration's streams are TLS under a per-migration pre-shared key: on real QEMU, a
target waiting for a guest refuses a plain NBD client (no reading or writing the exported
disk) and a source with a wrong key or none; the source's guest runs on after each refused
try, and with the key from the target's answer the guest and its disk move. No key file
stays on either host."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from onestack.drivers.virt.base import DiskSpec, GuestSpec, PowerState, VirtError
from onestack.drivers.virt.qemu import QemuDriver
from onestack.drivers.virt.qemu.cmdline import GuestFiles
from onestack.drivers.virt.qemu.process import find_guest_pids

pytestmark = [pytest.mark.integration]

UUID = "6f1c2a8e-5b7d-4c3e-9a10-0c0ffee07150"


def _disk(path: Path, pattern: int | None = None) -> None:
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(path), "16M"], check=True)
    if pattern is not None:
        subprocess.run(["qemu-io", "-f", "qcow2", "-c", f"write -P {pattern} 1M 2M", str(path)],
                       check=True, capture_output=True)


def _spec(instances: Path) -> GuestSpec:
    instance_dir = instances / UUID
    instance_dir.mkdir(parents=True)
    return GuestSpec(UUID, "tls-vm", 1, 64, instance_dir,
                     [DiskSpec(instance_dir / "disk.qcow2", "qcow2", "root")])


@pytest.fixture
async def hosts() -> AsyncIterator[tuple[QemuDriver, GuestSpec, QemuDriver, GuestSpec]]:
    for tool in ("qemu-system-x86_64", "qemu-img", "qemu-io"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    if os.geteuid() != 0:
        pytest.skip("needs root")
    root = Path(tempfile.mkdtemp(prefix="onestack-mig-tls-"))
    source, target = QemuDriver(root / "a", accel="tcg"), QemuDriver(root / "b", accel="tcg")
    spec_a, spec_b = _spec(root / "a"), _spec(root / "b")
    _disk(spec_a.disks[0].path, 0xAB)
    _disk(spec_b.disks[0].path)
    try:
        yield source, spec_a, target, spec_b
    finally:
        for driver, spec in ((source, spec_a), (target, spec_b)):
            await driver.destroy(UUID, spec.instance_dir)
        shutil.rmtree(root, ignore_errors=True)


async def test_the_migration_streams_need_the_key(
        hosts: tuple[QemuDriver, GuestSpec, QemuDriver, GuestSpec]) -> None:
    source, spec_a, target, spec_b = hosts
    await source.spawn(spec_a)
    dest = await target.prepare_incoming(spec_b, "127.0.0.1")
    assert len(dest["psk"]) == 64 and set(dest) == {"migrate", "nbd", "disks", "psk"}

    # A plain NBD client on the migration network: refused before any export is offered.
    plain = subprocess.run(["qemu-img", "info", f"nbd://{dest['nbd']}/disk0"],
                           capture_output=True, text=True, timeout=30)
    assert plain.returncode != 0
    assert "TLS" in plain.stderr, plain.stderr

    # A source without the key, or with another key: refused; the guest runs on at home.
    for wrong in ({k: v for k, v in dest.items() if k != "psk"}, {**dest, "psk": "ab" * 32}):
        with pytest.raises(VirtError, match=r"migration key|TLS|handshake|PSK|psk"):
            await source.live_migrate(UUID, wrong, 30)
        assert (await source.get_info(UUID)).power_state is PowerState.RUNNING
        assert not GuestFiles(spec_a.instance_dir).migration_tls.exists()

    # With the key from the target's answer the guest moves, its disk with it.
    await source.live_migrate(UUID, dest, 60)
    await target.finish_incoming(UUID, run=True)
    assert (await target.get_info(UUID)).power_state is PowerState.RUNNING
    assert (await source.get_info(UUID)).power_state is PowerState.SHUTDOWN
    assert len(find_guest_pids(UUID)) == 1
    same = subprocess.run(["qemu-img", "compare", "-U", str(spec_a.disks[0].path),
                           str(spec_b.disks[0].path)], capture_output=True, text=True)
    assert same.returncode == 0, same.stdout + same.stderr
    for spec in (spec_a, spec_b):
        assert not GuestFiles(spec.instance_dir).migration_tls.exists()
    # The moved guest suspends and resumes on its new host (no TLS left on its migrations).
    await target.suspend(UUID)
    assert (await target.resume(spec_b)).power_state is PowerState.RUNNING
