"""QemuDriver: guests as detached, sandboxed QEMU processes driven over QMP, no libvirt.

Layout: each guest owns its instance directory (``GuestSpec.instance_dir``): ``guest.json``
(the spec it was started with), ``qemu.pid``, ``qmp.sock``, ``console.log`` (appended across
restarts, capped and rotated into ``console.log.0`` by the guest's console logger, which
listens on ``console.sock``: see console.py), ``qemu.log`` and, while suspended,
``suspend.state``. The driver finds its guests
under ``instances_dir``: ``instances_dir/<uuid>`` is the instance directory itself or, when
the agent put it elsewhere, a symlink to it. A new driver object on the same
``instances_dir`` (Onestack restarted) adopts every guest found there.

Choices (see docs/virt-qemu.md): a soft reboot presses the ACPI power button, waits for QEMU
to exit and starts it again (nova's libvirt driver does the same), falling back to a hard
reboot when the guest does not stop in time; a hard reboot stops the process (``quit``,
then SIGKILL) and starts a new one from the spec, which also recovers a wedged QEMU and
applies a changed spec. Suspend is a migration to a file after ``stop``; resume is
``-incoming`` from it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import shutil
from pathlib import Path
from typing import Any

from onestack.config import default_data_dir
from onestack.drivers.virt.base import (
    DiskSpec,
    GuestInfo,
    GuestNotFound,
    GuestSpec,
    HostInfo,
    VirtDriver,
    VirtError,
)
from onestack.drivers.virt.qemu import console, host, hotplug, migration, process, rbd_disks
from onestack.drivers.virt.qemu.cmdline import (
    GuestFiles,
    build_command,
    migrated_disks,
    root_disk,
    spec_from_json,
    spec_to_json,
)
from onestack.drivers.virt.qemu.control import GuestControl
from onestack.drivers.virt.qemu.qmp import QmpClient, QmpError, qmp_command


def absolute(spec: GuestSpec) -> GuestSpec:
    """QEMU runs detached in ``/``: every path it is given must be absolute."""
    disks = [d if d.rbd else dataclasses.replace(d, path=Path(d.path).absolute())
             for d in spec.disks]
    return dataclasses.replace(spec, instance_dir=Path(spec.instance_dir).absolute(),
                               disks=disks)


class QemuDriver(VirtDriver):
    name = "qemu"
    capabilities = {**VirtDriver.capabilities, "local_disks": True, "volume_attach": True,
                    "live_migration": True}

    def __init__(self, instances_dir: Path | str | None = None, *, accel: str | None = None,
                 qemu: str = "qemu-system-x86_64", qemu_img: str = "qemu-img",
                 soft_reboot_timeout: float = 60.0, qmp_timeout: float = 10.0,
                 save_timeout: float = 300.0, console_cap: int = console.LOG_CAP) -> None:
        self.instances_dir = Path(instances_dir or default_data_dir() / "instances").absolute()
        self.qemu = qemu
        self.qemu_img = qemu_img
        self.soft_reboot_timeout = soft_reboot_timeout
        self.qmp_timeout = qmp_timeout
        self.save_timeout = save_timeout
        self.console_cap = console_cap
        self._accel = accel
        self._accel_lock = asyncio.Lock()
        self._locks: dict[str, asyncio.Lock] = {}
        self._dirs: dict[str, Path] = {}
        self._incoming: dict[str, dict[str, Any]] = {}  # prepare_incoming's answers

    # -- bookkeeping ----------------------------------------------------------------------

    async def accelerator(self) -> str:
        """``kvm`` when a KVM guest really runs here, else ``tcg`` (probed once)."""
        async with self._accel_lock:
            if self._accel is None:
                self._accel = "kvm" if await host.probe_kvm(self.qemu) else "tcg"
            return self._accel

    def _lock(self, uuid: str) -> asyncio.Lock:
        return self._locks.setdefault(uuid, asyncio.Lock())

    def _locate(self, uuid: str) -> GuestFiles | None:
        for candidate in (self._dirs.get(uuid), self.instances_dir / uuid):
            if candidate is not None and (candidate / "guest.json").is_file():
                return GuestFiles(candidate)
        return None

    def _need(self, uuid: str) -> GuestFiles:
        files = self._locate(uuid)
        if files is None:
            raise GuestNotFound(f"no guest {uuid} on this host (looked in {self.instances_dir})")
        return files

    def _control(self, files: GuestFiles, uuid: str) -> GuestControl:
        return GuestControl(files, uuid, self.qmp_timeout)

    def _record(self, spec: GuestSpec) -> GuestFiles:
        """Write the spec beside the guest and make ``instances_dir/<uuid>`` find it."""
        files = GuestFiles(spec.instance_dir)
        files.spec.write_text(spec_to_json(spec))
        link = self.instances_dir / spec.uuid
        if link.absolute() != spec.instance_dir:
            self.instances_dir.mkdir(parents=True, exist_ok=True)
            if link.is_symlink():
                link.unlink()
            if not link.exists():
                link.symlink_to(spec.instance_dir, target_is_directory=True)
        self._dirs[spec.uuid] = spec.instance_dir
        return files

    def _forget(self, uuid: str) -> None:
        link = self.instances_dir / uuid
        if link.is_symlink():
            link.unlink()
        self._dirs.pop(uuid, None)

    async def _start(self, spec: GuestSpec, incoming: Path | None = None,
                     live_incoming: bool = False) -> None:
        files = GuestFiles(spec.instance_dir)
        files.pidfile.unlink(missing_ok=True)
        missing = [str(d.path) for d in spec.disks if not d.rbd and not d.path.exists()]
        if missing:
            raise VirtError(f"guest {spec.uuid}: missing disk files {missing}")
        await console.ensure_logger(files, spec.uuid, self.console_cap)
        state_fd = os.open(incoming, os.O_RDONLY | os.O_CLOEXEC) if incoming else None
        try:
            cmd = build_command(spec, await self.accelerator(), qemu=self.qemu,
                                incoming_fd=state_fd, live_incoming=live_incoming)
            await process.start_daemon(
                cmd, files.log, files.pidfile, uuid=spec.uuid, instance_dir=spec.instance_dir,
                ready=lambda: self._answers(files),
                pass_fds=() if state_fd is None else (state_fd,))
            if process.guest_pid(files.pidfile, spec.uuid) is None:
                raise VirtError(f"QEMU for guest {spec.uuid} exited right after starting: "
                                f"{process.tail(files.log, 2000)}")
            if rbd_disks.rbd_disks(spec):
                await self._plug_rbd(files, spec, state_fd, live_incoming)
        finally:
            if state_fd is not None:
                os.close(state_fd)

    async def _plug_rbd(self, files: GuestFiles, spec: GuestSpec, state_fd: int | None,
                        live_incoming: bool) -> None:
        """The rbd disks of a QEMU started paused, then the guest runs (or reads its saved
        state); a failure stops that QEMU."""
        try:
            async with QmpClient(files.qmp, self.qmp_timeout) as qmp:
                await rbd_disks.plug_at_start(qmp, spec, root_disk(spec),
                                              booting=state_fd is None and not live_incoming)
                if state_fd is not None:
                    await qmp.execute("migrate-incoming", {"uri": f"fd:{state_fd}"})
                elif not live_incoming:
                    await qmp.execute("cont")
        except BaseException:
            await self._control(files, spec.uuid).hard_stop(grace=2.0)
            raise

    async def _answers(self, files: GuestFiles) -> bool:
        """Whether the guest's QEMU answers on its status monitor (it is set up)."""
        try:
            await qmp_command(files.status_qmp, "query-status", timeout=1.0)
        except QmpError:
            return False
        return True

    async def _info(self, uuid: str, files: GuestFiles) -> GuestInfo:
        spec = spec_from_json(files.spec.read_text())
        control = self._control(files, uuid)
        state = await control.power_state()
        pid = control.pid()
        if pid is not None and console.needs_logger(pid, files):
            # its logger died (killed, out of memory): QEMU's reconnect finds the new one
            await console.ensure_logger(files, uuid, self.console_cap)
        return GuestInfo(uuid, state, pid, spec.vcpus, spec.memory_mb)

    # -- the contract ---------------------------------------------------------------------

    def unavailable(self) -> str | None:
        missing = [tool for tool in (self.qemu, self.qemu_img) if shutil.which(tool) is None]
        if not missing:
            return None
        return (f"QEMU is not installed (no {' or '.join(missing)}): servers cannot boot here; "
                "install it with `apt-get install qemu-system-x86 qemu-utils` and start again")

    async def host_info(self) -> HostInfo:
        return await host.host_info(self.qemu, self.instances_dir, await self.accelerator())

    async def list_guests(self) -> list[GuestInfo]:
        guests = []
        if not self.instances_dir.is_dir():
            return []
        for entry in sorted(self.instances_dir.iterdir()):
            files = GuestFiles(entry)
            if not files.spec.is_file():
                continue
            try:
                uuid = spec_from_json(files.spec.read_text()).uuid
                self._dirs.setdefault(uuid, entry.absolute())
                guests.append(await self._info(uuid, files))
            except (OSError, VirtError):
                continue  # removed meanwhile, or not ours to read
        return guests

    async def get_info(self, uuid: str) -> GuestInfo:
        try:
            return await self._info(uuid, self._need(uuid))
        except FileNotFoundError as exc:
            raise GuestNotFound(f"guest {uuid} went away: {exc}") from exc

    async def spawn(self, spec: GuestSpec) -> GuestInfo:
        return await self._spawn(spec)

    async def _spawn(self, spec: GuestSpec, address: str | None = None
                     ) -> GuestInfo:
        """Start a new guest; with ``address``, as a live migration's waiting target."""
        spec = absolute(spec)
        async with self._lock(spec.uuid):
            if self._locate(spec.uuid) is not None or \
                    process.find_guest_pids(spec.uuid, spec.instance_dir):
                raise VirtError(f"guest {spec.uuid} already exists")
            files = GuestFiles(spec.instance_dir)
            made_dir = not spec.instance_dir.exists()
            try:
                spec.instance_dir.mkdir(parents=True, exist_ok=True)
                self._record(spec)
                await self._start(spec, live_incoming=address is not None)
                if address is not None:
                    async with QmpClient(files.qmp, self.qmp_timeout) as qmp:
                        self._incoming[spec.uuid] = await migration.listen(
                            qmp, address, migrated_disks(spec), files.migration_tls)
            except BaseException:
                await self._control(files, spec.uuid).hard_stop(grace=2.0)
                await console.stop_logger(files)
                migration.forget_psk(files.migration_tls)
                for path in files.owned():
                    path.unlink(missing_ok=True)
                if made_dir:
                    shutil.rmtree(spec.instance_dir, ignore_errors=True)
                self._forget(spec.uuid)
                raise
            return await self._info(spec.uuid, files)

    async def destroy(self, uuid: str, instance_dir: Path | None = None) -> None:
        async with self._lock(uuid):
            located = self._locate(uuid)
            targets = {d for d in (located and located.instance_dir, instance_dir) if d}
            files = located or GuestFiles(Path(instance_dir or self.instances_dir / uuid))
            await self._control(files, uuid).hard_stop(grace=2.0)
            for target in {files.instance_dir, *targets}:
                for where in {Path(target).absolute(), Path(target).resolve()}:
                    await console.stop_logger(GuestFiles(where))
            for target in (Path(t).absolute() for t in targets):
                if target.is_symlink():
                    real = target.resolve()
                    target.unlink()
                    target = real
                shutil.rmtree(target, ignore_errors=True)
            self._forget(uuid)

    async def power_off(self, uuid: str, timeout: float = 60.0) -> None:
        async with self._lock(uuid):
            files = self._need(uuid)
            control = self._control(files, uuid)
            if not (await control.run_state() == "running"
                    and await control.acpi_shutdown(timeout)):
                await control.hard_stop()
            files.state.unlink(missing_ok=True)

    async def power_on(self, spec: GuestSpec) -> GuestInfo:
        spec = absolute(spec)
        async with self._lock(spec.uuid):
            self._need(spec.uuid)
            files = GuestFiles(spec.instance_dir)
            control = self._control(files, spec.uuid)
            if control.pid() is None:
                self._record(spec)
                if files.state.exists():  # as libvirt's start with a managed save
                    await self._start(spec, incoming=files.state)
                    await control.finish_restore(self.save_timeout)
                    files.state.unlink(missing_ok=True)
                else:
                    await self._start(spec)
            return await self._info(spec.uuid, files)

    async def reboot(self, uuid: str, hard: bool, spec: GuestSpec | None = None) -> None:
        async with self._lock(uuid):
            files = self._need(uuid)
            if spec is not None:
                files = GuestFiles(spec.instance_dir.absolute())
            spec = absolute(spec or spec_from_json(files.spec.read_text()))
            control = self._control(files, uuid)
            soft_done = (not hard and await control.run_state() == "running"
                         and await control.acpi_shutdown(self.soft_reboot_timeout))
            if not soft_done:
                await control.hard_stop()
                files.state.unlink(missing_ok=True)
            self._record(spec)
            await self._start(spec)

    async def pause(self, uuid: str) -> None:
        await self._running_command(uuid, "stop")

    async def unpause(self, uuid: str) -> None:
        await self._running_command(uuid, "cont")

    async def _running_command(self, uuid: str, command: str) -> None:
        async with self._lock(uuid):
            control = self._control(self._need(uuid), uuid)
            if control.pid() is None:
                raise VirtError(f"guest {uuid} is not running")
            await control.qmp(command)

    async def suspend(self, uuid: str) -> None:
        async with self._lock(uuid):
            await self._control(self._need(uuid), uuid).save(self.save_timeout)

    async def resume(self, spec: GuestSpec) -> GuestInfo:
        spec = absolute(spec)
        async with self._lock(spec.uuid):
            self._need(spec.uuid)
            files = GuestFiles(spec.instance_dir)
            control = self._control(files, spec.uuid)
            if control.pid() is None:
                if not files.state.exists():
                    raise VirtError(f"guest {spec.uuid} is not suspended")
                self._record(spec)
                await self._start(spec, incoming=files.state)
                await control.finish_restore(self.save_timeout)
                files.state.unlink(missing_ok=True)
            return await self._info(spec.uuid, files)

    async def console_output(self, uuid: str, instance_dir: Path,
                             length: int | None = None) -> str:
        files = GuestFiles(instance_dir.absolute())
        if not files.spec.is_file() and self._locate(uuid) is None:
            raise GuestNotFound(f"no guest {uuid} on this host")
        return await asyncio.to_thread(console.read_console, files, length)

    async def _running(self, uuid: str) -> GuestFiles:
        files = self._need(uuid)
        if self._control(files, uuid).pid() is None:
            raise VirtError(f"guest {uuid} is not running")
        return files

    async def attach_volume(self, uuid: str, disk: DiskSpec) -> None:
        async with self._lock(uuid):
            await hotplug.attach(await self._running(uuid), disk, self.qmp_timeout)

    async def detach_volume(self, uuid: str, disk: DiskSpec, timeout: float = 60.0) -> None:
        async with self._lock(uuid):
            await hotplug.detach(await self._running(uuid), disk, timeout, self.qmp_timeout)

    async def extend_volume(self, uuid: str, disk: DiskSpec, size_bytes: int) -> None:
        async with self._lock(uuid):
            await hotplug.extend(await self._running(uuid), disk, size_bytes,
                                 self.qmp_timeout)

    async def prepare_incoming(self, spec: GuestSpec, address: str) -> dict[str, Any]:
        await self._spawn(spec, address)
        return self._incoming.pop(spec.uuid)

    async def live_migrate(self, uuid: str, dest: dict[str, Any], timeout: float) -> None:
        async with self._lock(uuid):
            files = await self._running(uuid)
            spec = spec_from_json(files.spec.read_text())
            pid = self._control(files, uuid).pid()
            async with QmpClient(files.qmp, self.qmp_timeout) as qmp:
                await migration.send(qmp, dest, migrated_disks(spec), timeout,
                                     files.migration_tls)
                with contextlib.suppress(QmpError):
                    await qmp.execute("quit")
            if pid is not None and not await process.wait_gone(pid, uuid, self.qmp_timeout):
                await process.kill(pid, uuid)

    async def finish_incoming(self, uuid: str, run: bool, timeout: float = 60.0) -> None:
        async with self._lock(uuid):
            files = await self._running(uuid)
            async with QmpClient(files.qmp, self.qmp_timeout) as qmp:
                await migration.finish(qmp, run, timeout, files.migration_tls)

    async def snapshot(self, uuid: str, instance_dir: Path, dest: Path) -> None:
        async with self._lock(uuid):
            files = GuestFiles(instance_dir.absolute())
            if not files.spec.is_file():
                files = self._need(uuid)
            spec = spec_from_json(files.spec.read_text())
            root = root_disk(spec)
            if root is None:
                raise VirtError(f"guest {uuid} has no disk to snapshot")
            control = self._control(files, uuid)
            # Paused, QEMU has flushed the disk: the file is consistent while we copy it.
            paused_here = await control.run_state() == "running"
            if paused_here:
                await control.qmp("stop")
            part = dest.with_name(dest.name + ".part")
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                fmt, source = rbd_disks.qemu_img_source(root)  # a file, or an rbd root
                await process.run_tool(self.qemu_img, "convert", "-U", "-f", fmt,
                                       "-O", "qcow2", source, str(part),
                                       timeout=self.save_timeout)
                part.rename(dest)
            finally:
                part.unlink(missing_ok=True)
                if paused_here:
                    await control.qmp("cont")
