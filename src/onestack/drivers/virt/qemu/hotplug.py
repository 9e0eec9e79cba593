"""Volumes into and out of a running guest over QMP.

Attach: ``blockdev-add`` (the volume's format node on a file node) then ``device_add`` of a
virtio-blk-pci device with the volume's serial (``/dev/disk/by-id/virtio-<serial>`` in the
guest); an rbd volume is added with its cephx key as a QEMU secret, an encrypted volume
(format ``luks``) with its passphrase as one (rbd_disks.py).
Detach: ``device_del``, then wait for QEMU's ``DEVICE_DELETED`` for that device (the guest
must let go: ACPI PCI hot-unplug), then ``blockdev-del`` (and the rbd volume's secret).
Node names come from the serial (``volume_node``), the same when the volume was on the
command line at boot, so a detach after a restart finds it. ``guest.json`` is rewritten so
that the next start of the process (reboot, power on) has the same disks.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from onestack.drivers.virt.base import DiskSpec, GuestSpec, VirtError
from onestack.drivers.virt.qemu import rbd_disks
from onestack.drivers.virt.qemu.cmdline import (
    GuestFiles,
    over_qmp,
    spec_from_json,
    spec_to_json,
    volume_node,
)
from onestack.drivers.virt.qemu.qmp import QmpClient, QmpError


def _rewrite(files: GuestFiles, *, add: DiskSpec | None = None,
             remove: str | None = None) -> None:
    spec: GuestSpec = spec_from_json(files.spec.read_text())
    disks = [d for d in spec.disks if not (d.kind == "volume" and d.serial in (
        remove, add.serial if add else None))]
    if add is not None:
        disks.append(add)
    spec.disks = disks
    files.spec.write_text(spec_to_json(spec))


async def attach(files: GuestFiles, disk: DiskSpec, timeout: float) -> None:
    node = volume_node(disk)
    readonly = bool(disk.readonly)
    async with QmpClient(files.qmp, timeout) as qmp:
        if over_qmp(disk):
            await rbd_disks.plug(qmp, disk)
            _rewrite(files, add=disk)
            return
        await qmp.execute("blockdev-add", {
            "driver": disk.format, "node-name": node, "read-only": readonly,
            "file": {"driver": "file", "filename": str(Path(disk.path).absolute()),
                     "read-only": readonly}})
        try:
            await qmp.execute("device_add", {"driver": "virtio-blk-pci", "drive": node,
                                             "id": f"{node}-dev", "serial": disk.serial})
        except QmpError:
            with contextlib.suppress(QmpError):
                await qmp.execute("blockdev-del", {"node-name": node})
            raise
    _rewrite(files, add=disk)


async def detach(files: GuestFiles, disk: DiskSpec, timeout: float, qmp_timeout: float) -> None:
    node = volume_node(disk)
    device = f"{node}-dev"
    async with QmpClient(files.qmp, qmp_timeout) as qmp:
        since = len(qmp.events)
        try:
            await qmp.execute("device_del", {"id": device})
        except QmpError as exc:
            if exc.error_class != "DeviceNotFound":
                raise
        else:
            while True:
                try:
                    event = await qmp.wait_event("DEVICE_DELETED", timeout, since)
                except QmpError as exc:
                    raise VirtError(f"the guest did not release volume {disk.serial} within "
                                    f"{timeout:.0f}s (it must support PCI hot-unplug)") from exc
                since = qmp.events.index(event) + 1
                if event.get("data", {}).get("device") == device:
                    break
        with contextlib.suppress(QmpError):  # a -drive volume went with its device
            await qmp.execute("blockdev-del", {"node-name": node})
        if over_qmp(disk):
            await rbd_disks.unplug_secret(qmp, disk)
    _rewrite(files, remove=disk.serial)


async def extend(files: GuestFiles, disk: DiskSpec, size_bytes: int, timeout: float) -> None:
    node = volume_node(disk)
    async with QmpClient(files.qmp, timeout) as qmp:
        try:
            await qmp.execute("block_resize", {"node-name": node, "size": int(size_bytes)})
        except QmpError:  # a volume from the command line: addressed by its drive id
            await qmp.execute("block_resize", {"device": node, "size": int(size_bytes)})
