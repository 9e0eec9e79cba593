"""Volumes on servers (Nova's os-volume_attachments), through the block storage core.

Attach (API side): the server must be in a state that allows it and the volume visible to
the caller; a Cinder attachment is created with a connector naming the host and the device
(the volume goes ``attaching`` and gets its connection info), a block device mapping is
written in ``attaching``, and the host's agent is woken. The agent hotplugs the volume into
a running guest (a stopped one gets it at its next start), completes the attachment (the
volume is ``in-use``) and marks the mapping ``attached``; when hotplug fails it rolls the
attachment back (the volume is ``available`` again) and drops the mapping.
Detach: the mapping goes ``detaching`` (the volume too); the agent unplugs it, deletes the
Cinder attachment (``available``) and the mapping. Server delete detaches everything and
deletes the volumes marked ``delete_on_termination``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid as uuidlib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.compute import states
from onestack.core.compute.base import Caller, Links, Store
from onestack.core.compute.servers import not_found
from onestack.core.volume import states as volume_states
from onestack.core.volume.base import Caller as VolumeCaller
from onestack.core.volume.service import VolumeService
from onestack.db.engine import Database
from onestack.db.models.compute import BlockDeviceMapping, Instance
from onestack.db.models.volume import Volume, VolumeAttachment
from onestack.errors import BadRequest, Conflict, NotFound

log = logging.getLogger(__name__)

ATTACHING, ATTACHED, DETACHING = "attaching", "attached", "detaching"
SETTLE_WAIT = 300.0  # seconds to wait for a volume being created before deleting it


@dataclass
class VolumeDisk:
    """What the agent needs to give a guest one volume."""

    bdm_id: str
    volume_id: str
    device_name: str
    status: str
    path: str
    format: str
    readonly: bool
    boot_index: int | None = None  # 0: the root disk of a volume-backed server
    # an rbd volume: Cinder's rbd connection data (name, hosts, ports, auth_username)
    rbd: dict[str, Any] | None = None
    # an encrypted volume (LUKS): its passphrase from the key manager ("" when its key is
    # gone: the hypervisor then refuses to open it)
    encrypted: bool = False
    key: str = field(default="", repr=False)


def volume_caller(caller: Caller) -> VolumeCaller:
    return VolumeCaller(caller.project_id, caller.user_id, caller.is_admin, caller.request_id)


def system_caller(project_id: str) -> VolumeCaller:
    return VolumeCaller(project_id, "nova", is_admin=True)


def next_device(used: set[str], local_disks: int) -> str:
    for letter in "bcdefghijklmnopqrstuvwxyz"[local_disks:]:
        name = f"/dev/vd{letter}"
        if name not in used:
            return name
    raise Conflict("The server has no free device name left for another volume.")


def local_disk_count(flavor: dict[str, Any], config_drive: bool) -> int:
    """Disks after the root that are not volumes (they take vdb, vdc... first)."""
    return (int(flavor.get("ephemeral_gb") or 0) > 0) + (int(flavor.get("swap") or 0) > 0) \
        + int(config_drive)


class ServerVolumes(Store):
    def __init__(self, db: Database, links: Links, volume: VolumeService) -> None:
        super().__init__(db)
        self.links = links
        self.volume = volume

    async def _instance(self, s: AsyncSession, caller: Caller, server_id: str) -> Instance:
        inst = await s.scalar(select(Instance).where(Instance.uuid == server_id))
        if inst is None or inst.deleted or (inst.project_id != caller.project_id and
                                            not caller.is_admin):
            raise not_found(server_id)
        return inst

    async def listing(self, caller: Caller, server_id: str) -> list[BlockDeviceMapping]:
        async with self.db.read() as s:
            await self._instance(s, caller, server_id)
            rows = await s.scalars(select(BlockDeviceMapping).where(
                BlockDeviceMapping.instance_uuid == server_id).order_by(
                BlockDeviceMapping.created_at, BlockDeviceMapping.device_name))
            return list(rows)

    async def get(self, caller: Caller, server_id: str, volume_id: str) -> BlockDeviceMapping:
        for bdm in await self.listing(caller, server_id):
            if bdm.volume_id == volume_id:
                return bdm
        raise NotFound(f"Volume {volume_id} is not attached to server {server_id}.")

    async def attach(self, caller: Caller, server_id: str, volume_id: str,
                     device: str | None = None, tag: str | None = None,
                     delete_on_termination: bool = False) -> BlockDeviceMapping:
        async with self.db.read() as s:
            inst = await self._instance(s, caller, server_id)
            states.check("attach_volume", inst, is_admin=caller.is_admin)
            bdms = list(await s.scalars(select(BlockDeviceMapping).where(
                BlockDeviceMapping.instance_uuid == server_id)))
            vol = await s.get(Volume, volume_id) if len(volume_id) <= 36 else None
        if vol is None or (vol.project_id != caller.project_id and not caller.is_admin):
            raise NotFound(f"Volume {volume_id} could not be found.")
        if any(b.volume_id == volume_id for b in bdms):
            raise BadRequest(f"Invalid volume: volume {volume_id} is already attached to "
                             f"server {server_id}.")  # Nova's InvalidVolume
        if vol.status != volume_states.AVAILABLE and not vol.multiattach:
            raise BadRequest(f"Invalid volume: volume {volume_id} status must be available "
                             f"(it is {vol.status})")
        if inst.host is None:
            raise Conflict(f"Server {server_id} is not on a host yet; attach when it is "
                           "ACTIVE or SHUTOFF.")
        used = {b.device_name for b in bdms}
        local = local_disk_count(inst.flavor, str(inst.config_drive).lower() == "true")
        if device and device in used:
            raise BadRequest(f"The supplied device path ({device}) is in use.")
        name = device if device else next_device(used, local)
        att = await self.volume.attachments.create(volume_caller(caller), {
            "volume_uuid": volume_id, "instance_uuid": server_id, "mode": "rw",
            "connector": {"host": inst.host, "mountpoint": name, "platform": "x86_64",
                          "os_type": "linux", "multipath": False}})
        bdm = BlockDeviceMapping(
            id=str(uuidlib.uuid4()), instance_uuid=server_id, volume_id=volume_id,
            attachment_id=att.id, device_name=name, boot_index=None,
            delete_on_termination=delete_on_termination, tag=tag, status=ATTACHING)
        try:
            async with self.write() as s:
                again = await self._instance(s, caller, server_id)
                states.check("attach_volume", again, is_admin=caller.is_admin)
                s.add(bdm)
        except BaseException:
            await self.volume.attachments.delete(system_caller(vol.project_id), att.id)
            raise
        self.links.wake(inst.host)
        return bdm

    async def detach(self, caller: Caller, server_id: str, volume_id: str) -> None:
        async with self.write() as s:
            inst = await self._instance(s, caller, server_id)
            states.check("detach_volume", inst, is_admin=caller.is_admin)
            bdm = await s.scalar(select(BlockDeviceMapping).where(
                BlockDeviceMapping.instance_uuid == server_id,
                BlockDeviceMapping.volume_id == volume_id))
            if bdm is None:
                raise NotFound(f"Volume {volume_id} is not attached to server {server_id}.")
            if bdm.boot_index == 0:
                raise BadRequest("Cannot detach a root device volume")
            if bdm.status != ATTACHED:
                raise Conflict(f"Volume {volume_id} is {bdm.status} on server {server_id}; "
                               "wait for it to finish.")
            bdm.status = DETACHING
            vol = await s.get(Volume, volume_id)
            if vol is not None and vol.status == volume_states.IN_USE:
                vol.status = volume_states.DETACHING
            host = inst.host
        self.links.wake(host)

    async def extend_attached(self, volume_id: str, new_size_gb: int) -> bool:
        """Grow a volume inside the running guest that has it (True), through the host's
        agent; False when no running guest holds it (the backend resizes the file)."""
        async with self.db.read() as s:
            row = (await s.execute(select(BlockDeviceMapping, Instance).join(
                Instance, Instance.uuid == BlockDeviceMapping.instance_uuid).where(
                BlockDeviceMapping.volume_id == volume_id,
                BlockDeviceMapping.status == ATTACHED))).first()
        if row is None:
            return False
        inst = row[1]
        agent = self.links.get(inst.host)
        extend = getattr(agent, "extend_volume", None)
        if extend is None:
            return False
        return bool(await extend(inst.uuid, volume_id, new_size_gb * 1024**3))

    # --- the agent's side ----------------------------------------------------------------
    async def disks(self, instance_uuids: list[str]) -> dict[str, list[VolumeDisk]]:
        """Each instance's volumes with their files (from the attachments' connection
        info), in attach order."""
        if not instance_uuids:
            return {}
        async with self.db.read() as s:
            rows = (await s.execute(select(BlockDeviceMapping, VolumeAttachment).outerjoin(
                VolumeAttachment, VolumeAttachment.id == BlockDeviceMapping.attachment_id
            ).where(BlockDeviceMapping.instance_uuid.in_(instance_uuids)).order_by(
                BlockDeviceMapping.created_at, BlockDeviceMapping.device_name))).all()
        out: dict[str, list[VolumeDisk]] = {}
        for bdm, att in rows:
            info = (att.connection_info if att is not None else None) or {}
            data = info.get("data") or {}
            rbd = {k: data.get(k) for k in ("name", "hosts", "ports", "auth_username")} \
                if info.get("driver_volume_type") == "rbd" else None
            out.setdefault(bdm.instance_uuid, []).append(VolumeDisk(
                bdm.id, bdm.volume_id, bdm.device_name, bdm.status, str(data.get("path", "")),
                str(data.get("format") or ("raw" if rbd else "qcow2")),
                data.get("access_mode") == "ro", bdm.boot_index, rbd,
                bool(data.get("encrypted"))))
        await self.volume.keys.fill(self.db, [d for ds in out.values() for d in ds])
        return out

    async def attached(self, disk: VolumeDisk, project_id: str, attachment_id: str) -> None:
        await self.volume.attachments.complete(system_caller(project_id), attachment_id)
        async with self.write() as s:
            bdm = await s.get(BlockDeviceMapping, disk.bdm_id)
            if bdm is not None:
                bdm.status = ATTACHED

    async def _attachment_of(self, bdm_id: str) -> tuple[str | None, str]:
        async with self.db.read() as s:
            bdm = await s.get(BlockDeviceMapping, bdm_id)
            att = await s.get(VolumeAttachment, bdm.attachment_id) if (
                bdm is not None and bdm.attachment_id) else None
        return (att.id, att.project_id) if att is not None else (None, "")

    async def finish_attach(self, disk: VolumeDisk) -> None:
        att_id, project = await self._attachment_of(disk.bdm_id)
        if att_id is not None:
            await self.attached(disk, project, att_id)

    async def detach_failed(self, disk: VolumeDisk) -> None:
        """The guest kept the volume: it stays attached (and in-use)."""
        async with self.write() as s:
            bdm = await s.get(BlockDeviceMapping, disk.bdm_id)
            if bdm is not None:
                bdm.status = ATTACHED
            vol = await s.get(Volume, disk.volume_id)
            if vol is not None and vol.status == volume_states.DETACHING:
                vol.status = volume_states.IN_USE

    async def release(self, disk: VolumeDisk, delete_volume: bool = False) -> None:
        """Forget a volume of an instance: its Cinder attachment (the volume is available
        again), its mapping, and the volume itself when asked (delete_on_termination)."""
        att_id, project = await self._attachment_of(disk.bdm_id)
        if att_id is not None:
            with contextlib.suppress(NotFound):
                await self.volume.attachments.delete(system_caller(project), att_id)
        async with self.write() as s:
            bdm = await s.get(BlockDeviceMapping, disk.bdm_id)
            if bdm is not None:
                delete_volume = delete_volume and bdm.delete_on_termination
                await s.delete(bdm)
        if delete_volume and project:
            await self.delete_settled(project, disk.volume_id)

    async def delete_settled(self, project_id: str, volume_id: str,
                             timeout: float = SETTLE_WAIT) -> None:
        """Delete a volume once the block storage worker is done making it (a volume being
        created cannot be deleted); failures are logged."""
        deadline = time.monotonic() + timeout
        while True:
            async with self.db.read() as s:
                vol = await s.get(Volume, volume_id)
            if vol is None or vol.status not in (volume_states.CREATING,
                                                 volume_states.DOWNLOADING) \
                    or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.25)
        try:
            await self.volume.volumes.delete(system_caller(project_id), volume_id)
        except (NotFound, Conflict, BadRequest) as exc:
            log.warning("volume %s (delete_on_termination): %s", volume_id, exc)
