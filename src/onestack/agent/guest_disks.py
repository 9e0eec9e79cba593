"""The compute agent's side of a guest's disks: which files an instance has, made from its
image and flavor before the hypervisor starts it.

Instance directory layout (``<instances>/<uuid>/``)::

    disk          root: qcow2 overlay on the cached base of the server's image
    disk.rbd      instead of ``disk`` with ``[compute] images_type = "rbd"``: where the root
                  disk is in the Ceph pool (``pool/<uuid>_disk``, user, keyring, conf; no
                  key), so that the guest's spec is known again after a restart
    disk.eph0     ephemeral disk of the flavor (blank qcow2), when ephemeral_gb > 0
    disk.swap     swap disk of the flavor (blank qcow2), when swap > 0
    disk.config   config drive (ISO 9660, label config-2), when asked for, forced by
                  ``[compute] force_config_drive``, or when the server has no network port
                  (no other way to reach its metadata)
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from onestack.agent.link import AgentLink, InstanceWork
from onestack.core.compute.volumes import VolumeDisk
from onestack.drivers.virt.base import DiskSpec, RbdSource, VirtError
from onestack.drivers.virt.disks import DiskBuilder
from onestack.drivers.virt.rbd_root import RbdRootDisks

log = logging.getLogger(__name__)

ROOT, EPHEMERAL, SWAP, CONFIG = "disk", "disk.eph0", "disk.swap", "disk.config"
RBD_ROOT = "disk.rbd"
TRUE = ("true", "1", "yes", "on", "t")


@dataclass(frozen=True)
class CephClient:
    """This compute host's cephx identity for rbd volumes (``[compute] rbd_*``): its own
    user and keyring, never the volume service's key (that stays on the controller)."""

    user: str = ""  # empty: the attachment's auth_username
    keyring: str = ""  # empty: /etc/ceph/ceph.client.<user>.keyring
    conf: str = ""
    # images_type "rbd": image-backed root disks in this pool (Nova's images_rbd_*)
    images_type: str = "file"
    images_pool: str = "vms"
    images_conf: str = "/etc/ceph/ceph.conf"
    glance_pool: str = "images"

    @classmethod
    def from_config(cls, compute: Any) -> CephClient:
        return cls(compute.rbd_user, compute.rbd_keyring, compute.rbd_ceph_conf,
                   compute.images_type, compute.images_rbd_pool,
                   compute.images_rbd_ceph_conf, compute.images_rbd_glance_pool)

    def root_disks(self) -> RbdRootDisks | None:
        """The pool of RBD root disks, when ``images_type`` is ``rbd``."""
        if self.images_type != "rbd":
            return None
        return RbdRootDisks(self.images_pool, self.user or "admin", self.images_conf,
                            self.keyring, self.glance_pool)

    def source(self, data: dict[str, Any]) -> RbdSource:
        user = self.user or str(data.get("auth_username") or "admin")
        return RbdSource(str(data.get("name") or ""),
                         [str(h) for h in data.get("hosts") or []],
                         [str(p) for p in data.get("ports") or []], user,
                         self.keyring or f"/etc/ceph/ceph.client.{user}.keyring", self.conf)


def volume_disk(v: VolumeDisk, ceph: CephClient) -> DiskSpec:
    """A guest disk for one volume: its file, or its RBD image (QEMU opens it itself); an
    encrypted one is opened by QEMU's luks driver with its passphrase."""
    rbd = ceph.source(v.rbd) if v.rbd else None
    path = Path(rbd.name if rbd else v.path)
    return DiskSpec(path, "luks" if v.encrypted else v.format, "volume",
                    readonly=v.readonly, serial=v.volume_id[:20],
                    device=v.device_name.rsplit("/", 1)[-1], rbd=rbd, key=v.key)


def wants_config_drive(inst: InstanceWork, force: bool, has_ports: bool) -> bool:
    return force or str(inst.config_drive or "").lower() in TRUE or not has_ports


def disk_specs(instance_dir: Path, flavor: dict[str, Any], root: DiskSpec | None = None
               ) -> list[DiskSpec]:
    """The disks a guest is started with: root first (boots), then what exists of the rest.
    ``root``: the volume a volume-backed server boots from, instead of the local root."""
    disks = [root or rbd_root(instance_dir) or DiskSpec(instance_dir / ROOT, "qcow2", "root")]
    if int(flavor.get("ephemeral_gb") or 0) > 0:
        disks.append(DiskSpec(instance_dir / EPHEMERAL, "qcow2", "ephemeral"))
    if int(flavor.get("swap") or 0) > 0:
        disks.append(DiskSpec(instance_dir / SWAP, "qcow2", "swap"))
    if (instance_dir / CONFIG).exists():
        disks.append(DiskSpec(instance_dir / CONFIG, "raw", "config", readonly=True))
    return disks


def rbd_root(instance_dir: Path) -> DiskSpec | None:
    """The RBD root disk ``prepare`` recorded in the instance's directory, if any."""
    try:
        source = RbdSource(**json.loads((instance_dir / RBD_ROOT).read_text()))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, TypeError) as exc:
        raise VirtError(f"instance {instance_dir.name}: unreadable {RBD_ROOT}: {exc}") from exc
    return DiskSpec(Path(source.name), "raw", "root", serial=instance_dir.name[:20],
                    rbd=source)


class GuestDisks:
    def __init__(self, builder: DiskBuilder, link: AgentLink,
                 force_config_drive: bool = False,
                 rbd: RbdRootDisks | None = None) -> None:
        self.builder = builder
        self.rbd = rbd  # images_type "rbd": root disks in a Ceph pool
        self.link = link
        self.host = ""  # the host the agent acts for (set when it starts)
        self.force_config_drive = force_config_drive

    async def _fetch(self, uuid: str, dest: Path) -> None:
        with dest.open("wb") as fh:
            async for chunk in self.link.image_data(self.host, uuid):
                await asyncio.to_thread(fh.write, chunk)

    async def base(self, inst: InstanceWork) -> Path:
        image_ref = inst.image_ref
        if not image_ref:
            raise VirtError("the server has no image to boot from and no root volume")
        disk_format = await self.link.image_format(self.host, inst.uuid)
        return await self.builder.base_image(
            image_ref, disk_format, lambda dest: self._fetch(inst.uuid, dest))

    async def prepare(self, inst: InstanceWork, instance_dir: Path, flavor: dict[str, Any],
                      has_ports: bool, local_root: bool = True) -> None:
        """Make every disk file the guest needs (the root from its image, unless the server
        boots from a volume); idempotent for files that exist (an agent restarted
        mid-build)."""
        instance_dir.mkdir(parents=True, exist_ok=True)
        root = instance_dir / ROOT
        if local_root and self.rbd is not None:
            await self._rbd_root(inst, instance_dir, int(flavor.get("root_gb") or 0))
        elif local_root and not root.exists():
            base = await self.base(inst)
            await self.builder.root_disk(base, root, int(flavor.get("root_gb") or 0))
        eph = int(flavor.get("ephemeral_gb") or 0)
        if eph > 0 and not (instance_dir / EPHEMERAL).exists():
            await self.builder.blank(instance_dir / EPHEMERAL, eph * 1024)
        swap = int(flavor.get("swap") or 0)
        if swap > 0 and not (instance_dir / SWAP).exists():
            await self.builder.blank(instance_dir / SWAP, swap)
        if wants_config_drive(inst, self.force_config_drive, has_ports):
            await self.config_drive(inst, instance_dir)

    async def _rbd_root(self, inst: InstanceWork, instance_dir: Path, root_gb: int) -> None:
        """The root disk in the pool: kept when it exists (an agent restarted mid-build, a
        server moved here on shared storage), else cloned or copied from the image."""
        assert self.rbd is not None
        if not await self.rbd.exists(inst.uuid):
            if not inst.image_ref:
                raise VirtError("the server has no image to boot from and no root volume")
            disk_format = await self.link.image_format(self.host, inst.uuid)
            await self.rbd.create(inst.uuid, inst.image_ref, disk_format, root_gb,
                                  lambda: self.base(inst))
        record = instance_dir / RBD_ROOT
        part = record.with_name(RBD_ROOT + ".part")
        part.write_text(json.dumps(asdict(self.rbd.source(inst.uuid))))
        part.replace(record)

    async def remove_root(self, uuid: str) -> None:
        """Remove an RBD root disk (server deleted, failed build, rebuilt from its image)."""
        if self.rbd is not None:
            await self.rbd.remove(uuid)

    async def config_drive(self, inst: InstanceWork, instance_dir: Path) -> None:
        files = await self.link.config_drive(self.host, inst.uuid)
        if files is None:
            raise VirtError(f"instance {inst.uuid} is gone")
        target = instance_dir / CONFIG
        target.unlink(missing_ok=True)
        await self.builder.config_drive(files, target)

    async def resize(self, instance_dir: Path, flavor: dict[str, Any]) -> None:
        """Grow the root to the new flavor; add the ephemeral and swap disks it brings."""
        root = instance_dir / ROOT
        if root.exists():
            await self.builder.grow(root, int(flavor.get("root_gb") or 0))
        elif self.rbd is not None and (instance_dir / RBD_ROOT).exists():
            await self.rbd.grow(instance_dir.name, int(flavor.get("root_gb") or 0))
        eph = int(flavor.get("ephemeral_gb") or 0)
        if eph > 0:
            if (instance_dir / EPHEMERAL).exists():
                await self.builder.grow(instance_dir / EPHEMERAL, eph)
            else:
                await self.builder.blank(instance_dir / EPHEMERAL, eph * 1024)
        swap = int(flavor.get("swap") or 0)
        if swap > 0 and not (instance_dir / SWAP).exists():
            await self.builder.blank(instance_dir / SWAP, swap)

    def prune(self, images_in_use: set[str], ttl: float) -> None:
        for image_id in self.builder.prune(images_in_use, ttl):
            log.info("image cache: removed the base of image %s (unused)", image_id)

