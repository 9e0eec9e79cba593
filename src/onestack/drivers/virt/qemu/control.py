"""Control actions on one running guest, over QMP: status, ACPI power-off, hard stop, save
to a state file and restore from it. The driver holds the guest's lock around these."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from typing import Any

from onestack.drivers.virt.base import PowerState, VirtError
from onestack.drivers.virt.qemu import process
from onestack.drivers.virt.qemu.cmdline import GuestFiles
from onestack.drivers.virt.qemu.migration import wait_migrated
from onestack.drivers.virt.qemu.qmp import QmpClient, QmpClosed, QmpError, qmp_command

# QMP's RunState -> nova's power state (as libvirt's driver maps them).
RUN_STATES = {
    "running": PowerState.RUNNING,
    "paused": PowerState.PAUSED,
    "inmigrate": PowerState.PAUSED,
    "prelaunch": PowerState.PAUSED,
    "debug": PowerState.PAUSED,
    "finish-migrate": PowerState.PAUSED,
    "postmigrate": PowerState.PAUSED,
    "restore-vm": PowerState.PAUSED,
    "save-vm": PowerState.PAUSED,
    "colo": PowerState.PAUSED,
    "suspended": PowerState.SUSPENDED,  # the guest's own S3 sleep
    "shutdown": PowerState.SHUTDOWN,
    "internal-error": PowerState.CRASHED,
    "io-error": PowerState.CRASHED,
    "guest-panicked": PowerState.CRASHED,
    "watchdog": PowerState.CRASHED,
}
# How often the ACPI power button is pressed again (a guest still booting may miss it).
POWERDOWN_RETRY = 10.0
# Migration streams go as fast as the disk takes them (QEMU's default is 32 MiB/s).
SAVE_BANDWIDTH = 16 * 2**30


def power_state(run_state: str) -> PowerState:
    return RUN_STATES.get(run_state, PowerState.NOSTATE)


class GuestControl:
    """One guest's QEMU, addressed by its files and uuid."""

    def __init__(self, files: GuestFiles, uuid: str, timeout: float = 10.0) -> None:
        self.files = files
        self.uuid = uuid
        self.timeout = timeout

    def pid(self) -> int | None:
        return process.guest_pid(self.files.pidfile, self.uuid)

    async def qmp(self, command: str, arguments: dict[str, Any] | None = None) -> Any:
        return await qmp_command(self.files.qmp, command, arguments, self.timeout)

    async def run_state(self) -> str | None:
        """QEMU's run state, or None when no QEMU runs for the guest."""
        if self.pid() is None:
            return None
        try:
            status = await qmp_command(self.files.status_qmp, "query-status",
                                       timeout=self.timeout)
        except QmpError:
            return None if self.pid() is None else "unknown"
        return str(status.get("status", "unknown"))

    async def power_state(self) -> PowerState:
        run_state = await self.run_state()
        if run_state is None:
            return PowerState.SUSPENDED if self.files.state.exists() else PowerState.SHUTDOWN
        return power_state(run_state)

    async def acpi_shutdown(self, timeout: float) -> bool:
        """Press the power button until QEMU exits; whether it did within ``timeout``."""
        pid = self.pid()
        if pid is None:
            return True
        deadline = time.monotonic() + timeout
        while True:
            with contextlib.suppress(QmpClosed):  # closed: exiting already
                await self.qmp("system_powerdown")
            wait = min(POWERDOWN_RETRY, deadline - time.monotonic())
            if await process.wait_gone(pid, self.uuid, max(0.0, wait)):
                return True
            if time.monotonic() >= deadline:
                return False

    async def hard_stop(self, grace: float = 5.0) -> None:
        """``quit`` (QEMU flushes its disk caches), SIGKILL when it does not go in ``grace``."""
        found = process.find_guest_pids(self.uuid, self.files.instance_dir)
        for pid in {p for p in [self.pid(), *found] if p}:
            with contextlib.suppress(QmpError):
                await qmp_command(self.files.qmp, "quit", timeout=min(grace, self.timeout))
            if not await process.wait_gone(pid, self.uuid, grace):
                await process.kill(pid, self.uuid)

    async def save(self, timeout: float) -> None:
        """Stop the guest, write its state to ``files.state``, and quit (nova's suspend)."""
        pid = self.pid()
        if pid is None:
            raise VirtError(f"guest {self.uuid} is not running")
        part = self.files.state.with_name(self.files.state.name + ".part")
        async with QmpClient(self.files.qmp, self.timeout) as qmp:
            was = (await qmp.execute("query-status")).get("status")
            await qmp.execute("stop")
            try:
                await qmp.execute("migrate-set-parameters", {"max-bandwidth": SAVE_BANDWIDTH})
                # The file opened here and handed over (QEMU's sandbox runs no exec: helper)
                fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
                try:
                    await qmp.execute("getfd", {"fdname": "suspend"}, fds=(fd,))
                finally:
                    os.close(fd)
                await qmp.execute("migrate", {"uri": "fd:suspend"})
                await wait_migrated(qmp, timeout, f"saving guest {self.uuid}")
                part.rename(self.files.state)
            except BaseException:
                part.unlink(missing_ok=True)
                if was == "running":
                    with contextlib.suppress(QmpError):
                        await qmp.execute("cont")
                raise
            with contextlib.suppress(QmpClosed):
                await qmp.execute("quit")
        if not await process.wait_gone(pid, self.uuid, self.timeout):
            await process.kill(pid, self.uuid)

    async def finish_restore(self, timeout: float) -> None:
        """After a start with ``-incoming``: wait for the state to load, then run the guest."""
        deadline = time.monotonic() + timeout
        while True:
            run_state = await self.run_state()
            if run_state is None:
                raise VirtError(f"restoring guest {self.uuid} failed: "
                                f"{process.tail(self.files.log, 2000) or 'QEMU exited'}")
            if run_state not in ("inmigrate", "prelaunch", "unknown"):
                break
            if time.monotonic() >= deadline:
                raise VirtError(f"restoring guest {self.uuid} took over {timeout}s")
            await asyncio.sleep(0.05)
        if run_state != "running":
            await self.qmp("cont")
