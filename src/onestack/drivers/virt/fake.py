"""An in-memory hypervisor: the same contract as QEMU, no processes.

Used by unit tests and by scale tests with thousands of hosts (one instance per host).
``crash(uuid)`` simulates a guest dying.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from onestack.drivers.virt.base import (
    DiskSpec,
    GuestInfo,
    GuestNotFound,
    GuestSpec,
    HostInfo,
    PowerState,
    VirtDriver,
    VirtError,
)


@dataclass
class _Guest:
    spec: GuestSpec
    state: PowerState
    console: list[str]


class FakeVirtDriver(VirtDriver):
    name = "fake"
    capabilities = {**VirtDriver.capabilities, "volume_attach": True, "live_migration": True}

    def __init__(self, hostname: str = "fake-host", vcpus: int = 64, memory_mb: int = 262144,
                 disk_gb: int = 4096, touch_files: bool = False) -> None:
        self.hostname = hostname
        self.vcpus = vcpus
        self.memory_mb = memory_mb
        self.disk_gb = disk_gb
        self.touch_files = touch_files  # create instance dirs, as the real driver does
        self.guests: dict[str, _Guest] = {}
        self.calls: list[tuple[str, str]] = []
        self.fail_next_spawn: str | None = None
        self.fail_next_migration: str | None = None

    def _get(self, uuid: str) -> _Guest:
        guest = self.guests.get(uuid)
        if guest is None:
            raise GuestNotFound(f"no guest {uuid} on {self.hostname}")
        return guest

    def _info(self, g: _Guest) -> GuestInfo:
        return GuestInfo(g.spec.uuid, g.state, None, g.spec.vcpus, g.spec.memory_mb)

    async def host_info(self) -> HostInfo:
        return HostInfo(self.hostname, self.vcpus, self.memory_mb, self.disk_gb, "QEMU",
                        7002000, "fake", {"model": "fake"})

    async def list_guests(self) -> list[GuestInfo]:
        return [self._info(g) for g in self.guests.values()]

    async def get_info(self, uuid: str) -> GuestInfo:
        return self._info(self._get(uuid))

    async def spawn(self, spec: GuestSpec) -> GuestInfo:
        self.calls.append(("spawn", spec.uuid))
        await asyncio.sleep(0)
        if self.fail_next_spawn:
            message, self.fail_next_spawn = self.fail_next_spawn, None
            raise VirtError(message)
        if spec.uuid in self.guests:
            raise VirtError(f"guest {spec.uuid} already exists")
        if self.touch_files:
            spec.instance_dir.mkdir(parents=True, exist_ok=True)
        banner = f"onestack-tiny login banner: hostname={spec.name}"
        self.guests[spec.uuid] = _Guest(spec, PowerState.RUNNING, [banner])
        return self._info(self.guests[spec.uuid])

    async def prepare_incoming(self, spec: GuestSpec, address: str) -> dict[str, Any]:
        """A paused guest waiting for its state (nothing travels between fakes)."""
        await self.spawn(spec)
        self.guests[spec.uuid].state = PowerState.PAUSED
        return {"migrate": f"fake:{address}", "nbd": f"fake:{address}", "disks": []}

    async def live_migrate(self, uuid: str, dest: dict[str, Any], timeout: float) -> None:
        self.calls.append(("live_migrate", uuid))
        guest = self._get(uuid)
        if self.fail_next_migration:
            message, self.fail_next_migration = self.fail_next_migration, None
            raise VirtError(message)
        guest.state = PowerState.SHUTDOWN

    async def finish_incoming(self, uuid: str, run: bool, timeout: float = 60.0) -> None:
        self._get(uuid).state = PowerState.RUNNING if run else PowerState.PAUSED

    async def destroy(self, uuid: str, instance_dir: Path | None = None) -> None:
        self.calls.append(("destroy", uuid))
        self.guests.pop(uuid, None)
        if instance_dir is not None and self.touch_files:
            shutil.rmtree(instance_dir, ignore_errors=True)

    async def power_off(self, uuid: str, timeout: float = 60.0) -> None:
        self._get(uuid).state = PowerState.SHUTDOWN

    async def power_on(self, spec: GuestSpec) -> GuestInfo:
        guest = self._get(spec.uuid)
        guest.state = PowerState.RUNNING
        guest.console.append(f"onestack-tiny login banner: hostname={spec.name}")
        return self._info(guest)

    async def reboot(self, uuid: str, hard: bool, spec: GuestSpec | None = None) -> None:
        guest = self._get(uuid)
        if guest.state not in (PowerState.RUNNING, PowerState.SHUTDOWN, PowerState.CRASHED):
            raise VirtError(f"cannot reboot a guest that is {guest.state.name}")
        guest.state = PowerState.RUNNING
        guest.console.append(f"onestack-tiny login banner: hostname={guest.spec.name}")

    async def pause(self, uuid: str) -> None:
        self._get(uuid).state = PowerState.PAUSED

    async def unpause(self, uuid: str) -> None:
        self._get(uuid).state = PowerState.RUNNING

    async def suspend(self, uuid: str) -> None:
        self._get(uuid).state = PowerState.SUSPENDED

    async def resume(self, spec: GuestSpec) -> GuestInfo:
        guest = self._get(spec.uuid)
        guest.state = PowerState.RUNNING
        return self._info(guest)

    async def console_output(self, uuid: str, instance_dir: Path,
                             length: int | None = None) -> str:
        lines = self._get(uuid).console
        return "\n".join(lines[-length:] if length else lines) + "\n"

    async def snapshot(self, uuid: str, instance_dir: Path, dest: Path) -> None:
        self._get(uuid)
        # A qcow2 v3 header (1 GiB, 64 KiB clusters, no data): passes the image check.
        header = (b"QFI\xfb" + (3).to_bytes(4, "big") + bytes(12) + (16).to_bytes(4, "big")
                  + (1 << 30).to_bytes(8, "big") + bytes(64) + (4).to_bytes(4, "big")
                  + (104).to_bytes(4, "big"))
        dest.write_bytes(header.ljust(512, b"\0"))

    async def attach_volume(self, uuid: str, disk: DiskSpec) -> None:
        guest = self._get(uuid)
        self.calls.append(("attach_volume", uuid))
        if any(d.serial == disk.serial for d in guest.spec.disks):
            raise VirtError(f"volume {disk.serial} is already attached to {uuid}")
        guest.spec.disks.append(disk)

    async def detach_volume(self, uuid: str, disk: DiskSpec, timeout: float = 60.0) -> None:
        guest = self._get(uuid)
        self.calls.append(("detach_volume", uuid))
        guest.spec.disks = [d for d in guest.spec.disks if d.serial != disk.serial]

    async def extend_volume(self, uuid: str, disk: DiskSpec, size_bytes: int) -> None:
        self._get(uuid)
        self.calls.append(("extend_volume", uuid))

    def crash(self, uuid: str) -> None:
        """Test hook: the guest process died."""
        self._get(uuid).state = PowerState.SHUTDOWN
