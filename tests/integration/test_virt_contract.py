"""The virt driver contract, run against the fake and the QEMU driver: one guest (the tiny
image on a qcow2 overlay, with a config drive) taken through its whole life, step by step:
spawn, pause, ACPI power-off, power-on, soft and hard reboot, suspend/resume, snapshot,
adoption by a new driver object (a restarted Onestack), a guest killed under us, destroy.

The QEMU run boots the guest four times under TCG; about a minute and a half on two cores.
Every QEMU it started is killed and every file removed, also when a step fails.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from onestack.drivers.virt.base import (
    DiskSpec,
    GuestNotFound,
    GuestSpec,
    NicSpec,
    PowerState,
    VirtDriver,
    VirtError,
)
from onestack.drivers.virt.fake import FakeVirtDriver
from onestack.drivers.virt.qemu import QemuDriver
from onestack.drivers.virt.qemu.cmdline import GuestFiles
from onestack.drivers.virt.qemu.control import GuestControl
from onestack.drivers.virt.qemu.process import find_guest_pids
from onestack.drivers.virt.qemu.qmp import QmpClient
from tests.integration.tiny_guest import free_port, iso_tool

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]

UUID = "6f1c2a8e-5b7d-4c3e-9a10-0c0ffee00001"
BROKEN_UUID = "6f1c2a8e-5b7d-4c3e-9a10-0c0ffee00002"
HOSTNAME = "contract-vm"
BANNER = f"onestack-tiny login banner: hostname={HOSTNAME}"
BOOT_TIMEOUT = 90.0
STALL = 30.0  # seconds a booting guest's console may stay silent before it counts as hung


def qemu_skip_reason() -> str | None:
    from onestack.images.disk import missing_tools

    for tool in ("qemu-system-x86_64", "qemu-img"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (apt-get install qemu-system-x86 qemu-utils)"
    if missing_tools():
        return f"the image builder needs: apt-get install {' '.join(missing_tools())}"
    if iso_tool() is None:
        return "no genisoimage or xorriso for the config drive"
    if os.geteuid() != 0:
        return "needs root (apt-get download into the image cache)"
    return None


@dataclass
class Harness:
    """One driver kind: how to make a driver on the same host, and the guest's spec."""

    kind: str
    root: Path
    spec: GuestSpec
    make: Callable[[], VirtDriver]
    driver: VirtDriver
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def instance_dir(self) -> Path:
        return self.spec.instance_dir

    async def banners(self) -> int:
        text = await self.driver.console_output(UUID, self.instance_dir)
        return text.count(BANNER)

    async def wait_banners(self, count: int, timeout: float = BOOT_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        size = len(await self.driver.console_output(UUID, self.instance_dir))
        grew, changed, reset = False, time.monotonic(), False
        while (seen := await self.banners()) < count:
            if time.monotonic() > deadline:
                tail = await self.driver.console_output(UUID, self.instance_dir, 30)
                raise AssertionError(f"{seen} of {count} banners after {timeout}s:\n{tail}")
            info = await self.driver.get_info(UUID)
            assert info.power_state is PowerState.RUNNING, info
            now = len(await self.driver.console_output(UUID, self.instance_dir))
            if now != size:
                grew, size, changed = True, now, time.monotonic()
            elif grew and not reset and time.monotonic() - changed > STALL:
                # The driver started the guest (its kernel printed) and the guest kernel
                # then stopped mid-boot: a rare hang of the emulated (TCG) guest, seen once
                # in CI, not the driver's doing. Reset it once and wait on.
                print(f"\nguest stalled mid-boot for {STALL:g}s under {self.kind}: reset")
                async with QmpClient(GuestFiles(self.instance_dir).qmp) as qmp:
                    await qmp.execute("system_reset")
                reset, changed = True, time.monotonic()
            await asyncio.sleep(0.25)

    async def state(self) -> PowerState:
        return (await self.driver.get_info(UUID)).power_state


def _qemu_spec(root: Path, uuid: str, image: Path) -> GuestSpec:
    instance_dir = root / "instances" / uuid
    instance_dir.mkdir(parents=True)
    disk = instance_dir / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(image),
                    str(disk)], check=True)
    tree = root / f"config-{uuid}"
    latest = tree / "openstack" / "latest"
    latest.mkdir(parents=True)
    (latest / "meta_data.json").write_text(json.dumps(
        {"uuid": uuid, "name": HOSTNAME, "hostname": f"{HOSTNAME}.novalocal"}))
    iso = instance_dir / "disk.config"
    tool = iso_tool()
    assert tool is not None
    subprocess.run([*tool, "-quiet", "-o", str(iso), "-V", "config-2", "-r", "-J", str(tree)],
                   check=True)
    return GuestSpec(uuid=uuid, name=HOSTNAME, vcpus=2, memory_mb=128, instance_dir=instance_dir,
                     disks=[DiskSpec(disk, "qcow2", "root", serial="root"),
                            DiskSpec(iso, "raw", "config", readonly=True)],
                     nics=[NicSpec("fa:16:3e:12:34:56", ssh_forward_port=free_port())],
                     smbios={"manufacturer": "Onestack", "product": "OpenStack Compute",
                             "serial": uuid, "uuid": uuid})


@pytest.fixture(scope="module", params=["fake", "qemu"])
def harness(request: pytest.FixtureRequest) -> Iterator[Harness]:
    root = Path(tempfile.mkdtemp(prefix="onestack-virt-"))
    instances = root / "instances"
    try:
        if request.param == "fake":
            host_guests = FakeVirtDriver().guests

            def make_fake() -> VirtDriver:
                # A new driver object on the same "host": the guests are the host's.
                fake = FakeVirtDriver(touch_files=True)
                fake.guests = host_guests
                return fake

            first = make_fake()
            spec = GuestSpec(UUID, HOSTNAME, 2, 128, instances / UUID,
                             [DiskSpec(instances / UUID / "disk.qcow2")],
                             [NicSpec("fa:16:3e:12:34:56")])
            yield Harness("fake", root, spec, make_fake, first)
            return
        if (reason := qemu_skip_reason()) is not None:
            pytest.skip(reason)
        from onestack.config import default_data_dir
        from onestack.images import build_tiny, default_cache_dir

        cache = os.environ.get("ONESTACK_TINY_CACHE") or default_cache_dir(default_data_dir())
        image = build_tiny(Path(cache))
        spec = _qemu_spec(root, UUID, image)
        driver = QemuDriver(instances)
        h = Harness("qemu", root, spec, lambda: QemuDriver(instances),
                    driver)
        yield h
        print(f"\nQEMU driver timings (s): {json.dumps(h.timings)}")
    finally:
        if request.param == "qemu":
            for uuid in (UUID, BROKEN_UUID):
                for pid in find_guest_pids(uuid):
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(root, ignore_errors=True)


class Timer:
    def __init__(self, h: Harness, name: str) -> None:
        self.h, self.name = h, name

    def __enter__(self) -> Timer:
        self.start = time.monotonic()
        return self

    def __exit__(self, *exc: object) -> None:
        self.h.timings[self.name] = round(time.monotonic() - self.start, 2)


async def test_host_info(harness: Harness) -> None:
    info = await harness.driver.host_info()
    assert info.hypervisor_type == "QEMU"
    assert info.vcpus >= 1 and info.memory_mb > 0 and info.disk_gb > 0
    assert info.hypervisor_version > 1_000_000
    assert info.accelerator in (("fake",) if harness.kind == "fake" else ("kvm", "tcg"))


async def test_spawn_boots_to_the_banner(harness: Harness) -> None:
    with Timer(harness, "spawn"):
        info = await harness.driver.spawn(harness.spec)
    assert info.power_state is PowerState.RUNNING
    assert (info.vcpus, info.memory_mb) == (2, 128)
    with Timer(harness, "spawn_to_banner"):
        await harness.wait_banners(1)
    assert [g.uuid for g in await harness.driver.list_guests()] == [UUID]
    last = await harness.driver.console_output(UUID, harness.instance_dir, 1)
    assert last.count("\n") == 1
    with pytest.raises(VirtError, match="already exists"):
        await harness.driver.spawn(harness.spec)


async def test_failed_spawn_cleans_up(harness: Harness) -> None:
    driver = harness.driver
    broken = GuestSpec(BROKEN_UUID, "broken", 1, 128, harness.root / "broken",
                       [DiskSpec(harness.root / "broken" / "disk.qcow2")])
    if isinstance(driver, FakeVirtDriver):
        driver.fail_next_spawn = "Image is not in qcow2 format"
    with pytest.raises(VirtError, match="qcow2"):
        await driver.spawn(broken)
    with pytest.raises(GuestNotFound):
        await driver.get_info(BROKEN_UUID)
    assert not broken.instance_dir.exists()
    # Not a qcow2 file at all: QEMU itself refuses it; what the agent made stays.
    if harness.kind == "qemu":
        broken.instance_dir.mkdir()
        broken.disks[0].path.write_bytes(b"not a disk" * 100)
        with pytest.raises(VirtError, match="qcow2"):
            await driver.spawn(broken)
        assert [p.name for p in broken.instance_dir.iterdir()] == ["disk.qcow2"]
        assert find_guest_pids(BROKEN_UUID) == []
    assert [g.uuid for g in await driver.list_guests()] == [UUID]


async def test_pause_and_unpause(harness: Harness) -> None:
    with Timer(harness, "pause"):
        await harness.driver.pause(UUID)
    assert await harness.state() is PowerState.PAUSED
    with Timer(harness, "unpause"):
        await harness.driver.unpause(UUID)
    assert await harness.state() is PowerState.RUNNING
    if harness.kind == "qemu":
        # A status query does not wait behind a long action holding the control monitor.
        async with QmpClient(harness.instance_dir / "qmp.sock"):
            start = time.monotonic()
            assert await harness.state() is PowerState.RUNNING
            assert time.monotonic() - start < 2


async def test_power_off_is_an_acpi_shutdown(harness: Harness) -> None:
    with Timer(harness, "power_off_acpi"):
        await harness.driver.power_off(UUID, timeout=40)
    info = await harness.driver.get_info(UUID)
    assert info.power_state is PowerState.SHUTDOWN and info.pid is None
    if harness.kind == "qemu":
        # The guest powered itself off (no hard stop after the 40 s).
        assert harness.timings["power_off_acpi"] < 40
        assert "reboot: Power down" in await harness.driver.console_output(
            UUID, harness.instance_dir, 20)
        assert find_guest_pids(UUID) == []


async def test_power_on(harness: Harness) -> None:
    with Timer(harness, "power_on_to_banner"):
        info = await harness.driver.power_on(harness.spec)
        assert info.power_state is PowerState.RUNNING
        await harness.wait_banners(2)  # the console log keeps the first boot


async def test_soft_reboot(harness: Harness) -> None:
    with Timer(harness, "soft_reboot_to_banner"):
        await harness.driver.reboot(UUID, hard=False)
        await harness.wait_banners(3)


async def test_hard_reboot(harness: Harness) -> None:
    with Timer(harness, "hard_reboot_to_banner"):
        await harness.driver.reboot(UUID, hard=True, spec=harness.spec)
        await harness.wait_banners(4)


async def test_suspend_and_resume(harness: Harness) -> None:
    with Timer(harness, "suspend"):
        await harness.driver.suspend(UUID)
    info = await harness.driver.get_info(UUID)
    assert info.power_state is PowerState.SUSPENDED and info.pid is None
    assert [g.power_state for g in await harness.driver.list_guests()] == [PowerState.SUSPENDED]
    with Timer(harness, "resume"):
        info = await harness.driver.resume(harness.spec)
    assert info.power_state is PowerState.RUNNING
    if harness.kind == "qemu":
        assert not (harness.instance_dir / "suspend.state").exists()
        # The same guest goes on where it was (no new boot): its SSH server answers at once.
        port = harness.spec.nics[0].ssh_forward_port
        assert port is not None
        assert (await asyncio.to_thread(ssh_banner, port)).startswith(b"SSH-2.0-")
    assert await harness.banners() == 4


def ssh_banner(port: int, timeout: float = 20.0) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
                data = conn.recv(64)
                if data:
                    return data
        except OSError:
            pass
        if time.monotonic() > deadline:
            return b""
        time.sleep(0.5)


async def test_snapshot(harness: Harness) -> None:
    dest = harness.root / "snapshots" / "snap.qcow2"
    dest.parent.mkdir()
    with Timer(harness, "snapshot"):
        await harness.driver.snapshot(UUID, harness.instance_dir, dest)
    assert dest.read_bytes()[:4] == b"QFI\xfb"
    assert await harness.state() is PowerState.RUNNING
    if harness.kind == "qemu":
        out = subprocess.run(["qemu-img", "info", "--output", "json", str(dest)],
                             check=True, capture_output=True, text=True).stdout
        info = json.loads(out)
        assert info["format"] == "qcow2"
        assert "backing-filename" not in info  # standalone
        assert info["virtual-size"] > 0


async def test_a_restarted_onestack_adopts_the_guest(harness: Harness) -> None:
    before = await harness.driver.get_info(UUID)
    harness.driver = harness.make()
    guests = await harness.driver.list_guests()
    assert [(g.uuid, g.power_state, g.pid) for g in guests] == [
        (UUID, PowerState.RUNNING, before.pid)]
    await harness.driver.pause(UUID)
    assert await harness.state() is PowerState.PAUSED
    await harness.driver.unpause(UUID)
    assert await harness.state() is PowerState.RUNNING


async def test_live_migration_to_another_host(harness: Harness) -> None:
    """The guest moves to a second host's driver while it runs: the target waits paused,
    the source copies its disk and memory and stops, the target runs on with the same disk
    content and its kernel answers the ACPI power button there."""
    source = harness.driver
    if harness.kind == "fake":
        target: VirtDriver = FakeVirtDriver(hostname="host-b", touch_files=True)
        spec_b = dataclasses.replace(harness.spec, instance_dir=harness.root / "b" / UUID)
    else:
        target = QemuDriver(harness.root / "instances-b")
        idir = harness.root / "instances-b" / UUID
        idir.mkdir(parents=True)
        base = json.loads(subprocess.run(
            ["qemu-img", "info", "-U", "--output", "json", str(harness.spec.disks[0].path)],
            check=True, capture_output=True, text=True).stdout)["backing-filename"]
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", base,
                        str(idir / "disk.qcow2")], check=True)
        shutil.copy(harness.spec.disks[1].path, idir / "disk.config")
        spec_b = dataclasses.replace(
            harness.spec, instance_dir=idir,
            disks=[dataclasses.replace(harness.spec.disks[0], path=idir / "disk.qcow2"),
                   dataclasses.replace(harness.spec.disks[1], path=idir / "disk.config")],
            nics=[dataclasses.replace(harness.spec.nics[0], ssh_forward_port=free_port())])
    try:
        with Timer(harness, "live_migration"):
            dest = await target.prepare_incoming(spec_b, "127.0.0.1")
            assert (await target.get_info(UUID)).power_state is not PowerState.RUNNING
            await source.live_migrate(UUID, dest, 120)
            await target.finish_incoming(UUID, run=True)
        assert (await target.get_info(UUID)).power_state is PowerState.RUNNING
        assert (await source.get_info(UUID)).power_state is PowerState.SHUTDOWN
        if harness.kind == "qemu":
            assert len(find_guest_pids(UUID)) == 1
            same = subprocess.run(["qemu-img", "compare", "-U", str(harness.spec.disks[0].path),
                                   str(spec_b.disks[0].path)], capture_output=True, text=True)
            assert same.returncode == 0, same.stdout + same.stderr
            control = GuestControl(GuestFiles(spec_b.instance_dir), UUID)
            assert await control.acpi_shutdown(60), "the migrated kernel ignored ACPI"
    finally:
        await target.destroy(UUID, spec_b.instance_dir)
    await source.power_on(harness.spec)  # the host's guest again, for the steps after
    assert await harness.state() is PowerState.RUNNING


async def test_a_killed_guest_is_seen_as_shut_down(harness: Harness) -> None:
    driver = harness.driver
    if isinstance(driver, FakeVirtDriver):
        driver.crash(UUID)
    else:
        pid = (await driver.get_info(UUID)).pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while find_guest_pids(UUID) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    info = await driver.get_info(UUID)
    assert info.power_state is PowerState.SHUTDOWN and info.pid is None


async def test_destroy_is_idempotent_and_leaves_nothing(harness: Harness) -> None:
    await harness.driver.power_on(harness.spec)  # destroy a running guest
    with Timer(harness, "destroy"):
        await harness.driver.destroy(UUID, harness.instance_dir)
    await harness.driver.destroy(UUID, harness.instance_dir)
    await harness.driver.destroy(UUID)
    with pytest.raises(GuestNotFound):
        await harness.driver.get_info(UUID)
    assert await harness.driver.list_guests() == []
    assert not harness.instance_dir.exists()
    if harness.kind == "qemu":
        assert find_guest_pids(UUID) == []
        assert list((harness.root / "instances").iterdir()) == []
