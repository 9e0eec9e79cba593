"""Volumes QEMU opens in a Ceph pool with its own rbd driver (librbd, qemu-block-extra).

No RBD disk is on the command line: the cephx key must not be in QEMU's argv (any user reads
/proc/<pid>/cmdline) nor in a file QEMU reads. A guest with RBD disks starts paused
(``-S``); over QMP the key goes in as a ``secret`` object (``object-add``), the disk as
``blockdev-add`` (raw on rbd, ``key-secret`` naming the secret) and ``device_add``
(virtio-blk, the volume's serial, ``bootindex`` for the disk it boots from); a
``system_reset`` makes the firmware's boot order include it; then the guest runs. Hotplug
is the same three steps on a running guest; detach removes the secret after the node.

An encrypted volume (format ``luks``, on a file or in a pool) goes the same way: its LUKS
passphrase is a second ``secret`` object, and its node is QEMU's ``luks`` driver (with
``key-secret``) on the file or rbd node: the guest sees plaintext, the host holds
ciphertext.
"""

from __future__ import annotations

import base64
import configparser
import contextlib
from pathlib import Path
from typing import Any

from onestack.drivers.diskimage.rbd_cli import qemu_filename
from onestack.drivers.virt.base import DiskSpec, GuestSpec, RbdSource, VirtError
from onestack.drivers.virt.qemu.cmdline import over_qmp, volume_node
from onestack.drivers.virt.qemu.qmp import QmpClient, QmpError


def read_key(source: RbdSource) -> str:
    """The base64 cephx key of ``client.<user>`` from its keyring (Ceph's INI format)."""
    path = source.keyring or f"/etc/ceph/ceph.client.{source.user}.keyring"
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    try:
        text = Path(path).read_text()
        parser.read_string(text)
    except (OSError, configparser.Error) as exc:
        raise VirtError(f"cannot read the cephx keyring {path} of client.{source.user}: "
                        f"{exc}") from exc
    section = f"client.{source.user}"
    key = parser.get(section, "key", fallback="").strip() if parser.has_section(section) \
        else ""
    if not key:
        raise VirtError(f"the keyring {path} has no key for client.{source.user}")
    return key


def qemu_img_source(disk: DiskSpec) -> tuple[str, str]:
    """(format, filename) for qemu-img to read the disk: its file, or for an rbd disk (a
    root disk with ``images_type = rbd``) QEMU's rbd filename with this host's user and
    keyring path (the key stays in the keyring)."""
    if disk.rbd is None:
        return disk.format, str(disk.path)
    source = disk.rbd
    mons = [f"{h}:{p}" for h, p in _monitors(source)]
    return "raw", qemu_filename(source.name, source.user, source.conf, source.keyring, mons)


def _monitors(source: RbdSource) -> list[tuple[str, str]]:
    """(host, port) of each monitor the connection info names (6789 where it has none)."""
    ports = list(source.ports) + ["6789"] * (len(source.hosts) - len(source.ports))
    return [(h, str(p)) for h, p in zip(source.hosts, ports, strict=False)]


def secret_id(node: str) -> str:
    return f"{node}-key"


def luks_secret_id(node: str) -> str:
    return f"{node}-luks"


def rbd_disks(spec: GuestSpec) -> list[DiskSpec]:
    """The disks added over QMP: rbd disks and encrypted volumes."""
    return [d for d in spec.disks if over_qmp(d)]


def blockdev(disk: DiskSpec, node: str) -> dict[str, Any]:
    """``blockdev-add`` arguments: a raw format node on an rbd protocol node, or a luks one
    on an rbd or file node for an encrypted volume."""
    readonly = bool(disk.readonly)
    if disk.rbd is None:
        if disk.format != "luks":
            raise VirtError(f"disk {disk.serial} is neither an rbd disk nor encrypted")
        return _luks(node, readonly, {"driver": "file", "read-only": readonly,
                                      "filename": str(Path(disk.path).absolute())})
    source = disk.rbd
    pool, sep, image = source.name.partition("/")
    if not sep or not pool or not image:
        raise VirtError(f"rbd disk {source.name!r} is not pool/image")
    rbd: dict[str, Any] = {"driver": "rbd", "pool": pool, "image": image,
                           "user": source.user, "key-secret": secret_id(node),
                           "auth-client-required": ["cephx"]}
    if source.hosts:
        rbd["server"] = [{"host": h, "port": p} for h, p in _monitors(source)]
    if source.conf:
        rbd["conf"] = source.conf
    if disk.format == "luks":
        return _luks(node, readonly, rbd)
    return {"driver": "raw", "node-name": node, "read-only": readonly,
            "discard": "unmap", "file": rbd}


def _luks(node: str, readonly: bool, file: dict[str, Any]) -> dict[str, Any]:
    return {"driver": "luks", "node-name": node, "read-only": readonly,
            "key-secret": luks_secret_id(node), "discard": "unmap", "file": file}


async def _add_secrets(qmp: QmpClient, disk: DiskSpec, node: str) -> None:
    """The disk's secrets as QEMU objects: its cephx key, its LUKS passphrase (base64 on
    the QMP socket only, never on a command line or in a log)."""
    if disk.rbd is not None:
        await qmp.execute("object-add", {"qom-type": "secret", "id": secret_id(node),
                                         "data": read_key(disk.rbd), "format": "base64"})
    if disk.format == "luks":
        if not disk.key:
            raise VirtError(f"encrypted volume {disk.serial} has no key: it is not in the "
                            "key manager any more")
        await qmp.execute("object-add", {
            "qom-type": "secret", "id": luks_secret_id(node), "format": "base64",
            "data": base64.b64encode(disk.key.encode()).decode()})


async def plug(qmp: QmpClient, disk: DiskSpec, boot: bool = False) -> None:
    """Secret, node and virtio-blk device for one rbd disk; on failure what was added goes."""
    node = volume_node(disk)
    try:
        await _add_secrets(qmp, disk, node)
        await qmp.execute("blockdev-add", blockdev(disk, node))
        try:
            device: dict[str, Any] = {"driver": "virtio-blk-pci", "drive": node,
                                      "id": f"{node}-dev", "serial": disk.serial}
            if boot:
                device["bootindex"] = 1
            await qmp.execute("device_add", device)
        except BaseException:
            with contextlib.suppress(QmpError):
                await qmp.execute("blockdev-del", {"node-name": node})
            raise
    except BaseException:
        await unplug_secret(qmp, disk)
        raise


async def unplug_secret(qmp: QmpClient, disk: DiskSpec) -> None:
    node = volume_node(disk)
    for ident in (secret_id(node), luks_secret_id(node)):
        with contextlib.suppress(QmpError):
            await qmp.execute("object-del", {"id": ident})


async def plug_at_start(qmp: QmpClient, spec: GuestSpec, root: DiskSpec | None,
                        booting: bool = True) -> None:
    """Every rbd disk of a guest QEMU started paused, in the spec's order (a live
    migration's target plugs them as the source has them: the same PCI slots). When the
    guest boots here (``booting``) and one of them is its boot disk, the firmware's boot
    order is made again (``system_reset``); a guest whose state arrives keeps it."""
    reset = False
    for disk in rbd_disks(spec):
        boot = disk is root
        await plug(qmp, disk, boot)
        reset = reset or (boot and booting)
    if reset:
        await qmp.execute("system_reset")
