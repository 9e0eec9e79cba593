"""The QEMU driver's bookkeeping, without starting QEMU: guests found again from their
instance directories (in ``instances_dir`` or linked from it), stopped and suspended guests,
unknown guests, destroy of what is not running."""

from __future__ import annotations

from pathlib import Path

import pytest

from onestack.drivers.virt.base import GuestNotFound, GuestSpec, PowerState, VirtError
from onestack.drivers.virt.qemu import QemuDriver
from onestack.drivers.virt.qemu.cmdline import GuestFiles, spec_to_json

A = "00000000-0000-4000-8000-00000000000a"
B = "00000000-0000-4000-8000-00000000000b"


def leave_guest(instance_dir: Path, uuid: str) -> GuestSpec:
    """What a stopped guest leaves behind: its instance dir with the spec and a console."""
    spec = GuestSpec(uuid, f"vm-{uuid[-1]}", 1, 64, instance_dir)
    instance_dir.mkdir(parents=True)
    files = GuestFiles(instance_dir)
    files.spec.write_text(spec_to_json(spec))
    files.console.write_bytes(b"booting\r\nonestack-tiny login banner: hostname=x\r\n")
    files.pidfile.write_text("999999999\n")  # stale: no such process
    return spec


@pytest.fixture
def host(tmp_path: Path) -> tuple[QemuDriver, Path]:
    instances = tmp_path / "instances"
    leave_guest(instances / A, A)
    leave_guest(tmp_path / "elsewhere" / B, B)
    (instances / B).symlink_to(tmp_path / "elsewhere" / B)
    (instances / "not-a-guest").mkdir()
    return QemuDriver(instances, accel="tcg"), tmp_path


async def test_list_guests_adopts_what_it_finds(host: tuple[QemuDriver, Path]) -> None:
    driver, _ = host
    guests = await driver.list_guests()
    assert [(g.uuid, g.power_state, g.pid, g.memory_mb) for g in guests] == [
        (A, PowerState.SHUTDOWN, None, 64), (B, PowerState.SHUTDOWN, None, 64)]


async def test_suspended_guest(host: tuple[QemuDriver, Path]) -> None:
    driver, _ = host
    (driver.instances_dir / A / "suspend.state").write_bytes(b"state")
    assert (await driver.get_info(A)).power_state is PowerState.SUSPENDED
    await driver.power_off(A)  # a suspended guest powered off forgets its state
    assert (await driver.get_info(A)).power_state is PowerState.SHUTDOWN


async def test_unknown_guest(host: tuple[QemuDriver, Path]) -> None:
    driver, tmp = host
    missing = "00000000-0000-4000-8000-00000000000c"
    with pytest.raises(GuestNotFound):
        await driver.get_info(missing)
    with pytest.raises(GuestNotFound):
        await driver.console_output(missing, tmp / "nowhere")
    with pytest.raises(GuestNotFound):
        await driver.power_off(missing)
    with pytest.raises(GuestNotFound):
        await driver.reboot(missing, True, GuestSpec(missing, "x", 1, 64, tmp / "nowhere"))
    await driver.destroy(missing)  # idempotent: nothing to do is fine


async def test_stopped_guest_refuses_running_actions(host: tuple[QemuDriver, Path]) -> None:
    driver, _ = host
    for action in (driver.pause, driver.unpause, driver.suspend):
        with pytest.raises(VirtError, match="not running"):
            await action(A)
    spec = GuestSpec(A, "vm-a", 1, 64, driver.instances_dir / A)
    with pytest.raises(VirtError, match="not suspended"):
        await driver.resume(spec)


async def test_console_output(host: tuple[QemuDriver, Path]) -> None:
    driver, tmp = host
    out = await driver.console_output(B, tmp / "elsewhere" / B)
    assert out == "booting\nonestack-tiny login banner: hostname=x\n"
    assert await driver.console_output(B, tmp / "elsewhere" / B, 1) == (
        "onestack-tiny login banner: hostname=x\n")


async def test_destroy_removes_the_dir_and_its_link(host: tuple[QemuDriver, Path]) -> None:
    driver, tmp = host
    await driver.destroy(B)
    assert not (tmp / "elsewhere" / B).exists()
    assert not (driver.instances_dir / B).is_symlink()
    await driver.destroy(A, driver.instances_dir / A)
    assert not (driver.instances_dir / A).exists()
    assert await driver.list_guests() == []
    assert [p.name for p in driver.instances_dir.iterdir()] == ["not-a-guest"]


async def test_spawn_refuses_an_existing_guest(host: tuple[QemuDriver, Path]) -> None:
    driver, _ = host
    spec = GuestSpec(A, "vm-a", 1, 64, driver.instances_dir / A)
    with pytest.raises(VirtError, match="already exists"):
        await driver.spawn(spec)


async def test_spawn_with_a_missing_disk_cleans_up(tmp_path: Path) -> None:
    from onestack.drivers.virt.base import DiskSpec

    driver = QemuDriver(tmp_path / "instances", accel="tcg")
    spec = GuestSpec(A, "vm-a", 1, 64, tmp_path / "vm",
                     [DiskSpec(tmp_path / "vm" / "missing.qcow2")])
    with pytest.raises(VirtError, match="missing disk"):
        await driver.spawn(spec)
    assert not (tmp_path / "vm").exists()
    assert not (tmp_path / "instances" / A).is_symlink()
    with pytest.raises(GuestNotFound):
        await driver.get_info(A)
