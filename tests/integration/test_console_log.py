"""A real guest printing to its serial console forever does not grow the host's disk use
past a bound: the tiny image boots (its banner readable through the driver), then its user
data prints numbered lines as fast as the emulated serial port goes. Its console files stay
under two caps while far more than that goes through, the newest line stays readable; a
restarted Onestack (a new driver) reads on, a killed logger is started again, and a destroy
leaves no process behind. The guest's QEMU runs in its seccomp sandbox (no exec), with
only the capabilities it needs."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from onestack.drivers.virt.base import DiskSpec, GuestSpec, NicSpec
from onestack.drivers.virt.qemu import QemuDriver, console
from onestack.drivers.virt.qemu.cmdline import GuestFiles
from onestack.drivers.virt.qemu.process import KEPT_CAPABILITIES, find_guest_pids
from onestack.drivers.virt.qemu.qmp import QmpError, qmp_command
from tests.integration.test_virt_contract import qemu_skip_reason
from tests.integration.tiny_guest import iso_tool

pytestmark = [pytest.mark.integration]

UUID = "6f1c2a8e-5b7d-4c3e-9a10-0c0ffee0c0a5"
HOSTNAME = "flood-vm"
BANNER = f"onestack-tiny login banner: hostname={HOSTNAME}"
CAP = 16 * 1024
PAD = "x" * 100
# Waits a little so the banner is read before the flood starts, then prints forever.
USER_DATA = f"""#!/bin/sh
sleep 3
i=0
while :; do echo "flood $i {PAD}"; i=$((i+1)); done
"""
LINE = re.compile(r"flood (\d+) x+")


def _spec(root: Path, image: Path) -> GuestSpec:
    instance_dir = root / "instances" / UUID
    instance_dir.mkdir(parents=True)
    disk = instance_dir / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(image),
                    str(disk)], check=True)
    latest = root / "config" / "openstack" / "latest"
    latest.mkdir(parents=True)
    (latest / "meta_data.json").write_text(json.dumps(
        {"uuid": UUID, "name": HOSTNAME, "hostname": HOSTNAME}))
    (latest / "user_data").write_text(USER_DATA)
    iso = instance_dir / "disk.config"
    tool = iso_tool()
    assert tool is not None
    subprocess.run([*tool, "-quiet", "-o", str(iso), "-V", "config-2", "-r", "-J",
                    str(root / "config")], check=True)
    return GuestSpec(uuid=UUID, name=HOSTNAME, vcpus=1, memory_mb=128,
                     instance_dir=instance_dir,
                     disks=[DiskSpec(disk, "qcow2", "root", serial="root"),
                            DiskSpec(iso, "raw", "config", readonly=True)],
                     nics=[NicSpec("fa:16:3e:12:34:57")])


@pytest.fixture
async def guest(tmp_path: Path) -> AsyncIterator[tuple[QemuDriver, GuestSpec]]:
    if (reason := qemu_skip_reason()) is not None:
        pytest.skip(reason)
    from onestack.config import default_data_dir
    from onestack.images import build_tiny, default_cache_dir

    cache = os.environ.get("ONESTACK_TINY_CACHE") or default_cache_dir(default_data_dir())
    image = build_tiny(Path(cache))
    root = Path(tempfile.mkdtemp(prefix="onestack-console-"))
    spec = _spec(root, image)
    driver = QemuDriver(root / "instances", console_cap=CAP)
    try:
        yield driver, spec
    finally:
        for pid in find_guest_pids(UUID, spec.instance_dir):
            os.kill(pid, 9)
        await console.stop_logger(GuestFiles(spec.instance_dir))
        shutil.rmtree(root, ignore_errors=True)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:  # between the logger's rename and its new file
        return 0


def _console_bytes(instance_dir: Path) -> int:
    return sum(_size(p) for p in instance_dir.glob("console.log*"))


async def _last_line(driver: QemuDriver, spec: GuestSpec) -> int:
    tail = await driver.console_output(UUID, spec.instance_dir, 5)
    found = [int(m.group(1)) for m in LINE.finditer(tail)]
    return found[-1] if found else -1


async def _until(what: str, check: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        assert callable(check)
        if await check():
            return
        assert time.monotonic() < deadline, f"no {what} after {timeout}s"
        await asyncio.sleep(0.2)


async def test_a_flooding_guest_stays_under_the_bound(
        guest: tuple[QemuDriver, GuestSpec]) -> None:
    driver, spec = guest
    files = GuestFiles(spec.instance_dir)
    await driver.spawn(spec)

    async def banner() -> bool:
        return BANNER in await driver.console_output(UUID, spec.instance_dir)

    await _until("banner", banner, 120)
    logger = console.running_logger(files)
    assert logger is not None

    # The flood: at least 16 caps through the console, the files never past two caps.
    line_bytes = len(f"flood 10000 {PAD}\r\n")
    biggest = 0

    async def flooded() -> bool:
        nonlocal biggest
        biggest = max(biggest, _console_bytes(spec.instance_dir))
        assert _size(files.console) <= CAP
        return await _last_line(driver, spec) * line_bytes > 16 * CAP

    await _until("flood", flooded, 180)
    assert biggest <= 2 * CAP, biggest
    assert BANNER not in await driver.console_output(UUID, spec.instance_dir)  # rotated out

    # A restarted Onestack reads on; the same logger serves the same QEMU.
    driver = QemuDriver(spec.instance_dir.parent, console_cap=CAP)
    assert [g.uuid for g in await driver.list_guests()] == [UUID]
    before = await _last_line(driver, spec)

    async def moving() -> bool:
        return await _last_line(driver, spec) > before

    await _until("new lines after the restart", moving, 30)
    assert console.running_logger(files) == logger

    # A killed logger: the next look at the guest starts another; QEMU reconnects to it.
    os.kill(logger, 9)
    deadline = time.monotonic() + 5
    while console.is_logger(logger, files):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    await driver.get_info(UUID)
    again = console.running_logger(files)
    assert again is not None and again != logger
    before = await _last_line(driver, spec)
    await _until("new lines after the logger came back", moving, 30)
    assert _console_bytes(spec.instance_dir) <= 2 * CAP

    # QEMU runs in its seccomp sandbox: a QEMU made to start a program (here by an exec:
    # migration, as an escaped guest would) is killed instead.
    info = await driver.get_info(UUID)
    assert info.pid is not None
    status = Path(f"/proc/{info.pid}/status").read_text()
    assert re.search(r"^Seccomp:\s+2$", status, re.M), status
    # ... and keeps only the capabilities it needs (no module loading, ptrace, mounts...)
    kept = sum(1 << cap for cap in KEPT_CAPABILITIES)
    for field in ("CapBnd", "CapEff", "CapPrm"):
        found = re.search(rf"^{field}:\s+([0-9a-f]+)$", status, re.M)
        assert found is not None and int(found.group(1), 16) & ~kept == 0, status
    escaped = spec.instance_dir.parent / "escaped"
    with contextlib.suppress(QmpError):
        await qmp_command(files.qmp, "migrate", {"uri": f"exec:touch {escaped}"})
    deadline = time.monotonic() + 10
    while find_guest_pids(UUID, spec.instance_dir):
        assert time.monotonic() < deadline, "QEMU lives on after trying to run a program"
        await asyncio.sleep(0.1)
    assert not escaped.exists()

    await driver.destroy(UUID, spec.instance_dir)
    assert find_guest_pids(UUID) == []
    assert console.logger_pids(files) == []
    assert not spec.instance_dir.exists()
