"""Volumes given to a server when it is created (``block_device_mapping_v2``), the root
volume of a volume-backed server among them.

API side (``check``, then ``setup`` once the instances are written): the volumes, snapshots
and images the mappings name are checked (Nova's 400s); an existing volume is reserved for
the server (a Cinder attachment without a connector: ``reserved``); the others are created
by the block storage service (``creating``, from an image, a snapshot, or blank) and listed
in the instance's ``task_args["made_volumes"]``. Each gets a block device mapping in
``reserved`` or ``creating``; the root one is ``/dev/vda`` with boot_index 0.

Host side (``prepare``, before the guest first starts): each mapping's volume is waited for
(``available``), attached with the host's connector and completed (``in-use``), as Nova's
``_prep_block_device`` does before spawning. A build that fails (no host, a volume in error,
the hypervisor) gives everything back (``abort``): attachments deleted, and the volumes
Nova made or marked ``delete_on_termination`` deleted once they settle.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid as uuidlib
from collections.abc import Coroutine
from typing import Any

from sqlalchemy import select

from onestack.core.compute.base import Caller, Store
from onestack.core.compute.bdm import INVALID, BdmPlan
from onestack.core.compute.volumes import (
    ATTACHED,
    ATTACHING,
    ServerVolumes,
    local_disk_count,
    next_device,
    system_caller,
    volume_caller,
)
from onestack.core.image.access import Caller as ImageCaller
from onestack.core.volume import states as volume_states
from onestack.db.engine import Database
from onestack.db.models.compute import BlockDeviceMapping, Instance
from onestack.db.models.volume import Snapshot, Volume, VolumeAttachment
from onestack.errors import BadRequest, NotFound

log = logging.getLogger(__name__)

CREATING, RESERVED = "creating", "reserved"  # mapping statuses before the host takes them
GiB = 1024**3
VOLUME_WAIT = 300.0  # seconds a build waits for a volume Nova made (Nova: 3 x 60)


class BuildFailed(Exception):
    """A volume of a server being built could not be given to it."""


def _uuid_ok(value: str) -> bool:
    return 0 < len(value) <= 36


class BootVolumes(Store):
    def __init__(self, db: Database, volumes: ServerVolumes) -> None:
        super().__init__(db)
        self.volumes = volumes
        self.cinder = volumes.volume
        self._tasks: set[asyncio.Task[None]] = set()

    # --- API side --------------------------------------------------------------------------
    async def check(self, caller: Caller, plan: BdmPlan, flavor: dict[str, Any]) -> None:
        """Before anything is written: every volume, snapshot and image the mappings name
        exists, may be used, and fits (Nova's 400s)."""
        for dev in plan.volumes:
            boot = dev.boot_index == 0
            if dev.source == "volume":
                vol = await self._volume(caller, dev.uuid)
                if vol.status != volume_states.AVAILABLE and not (
                        vol.multiattach and vol.status == volume_states.IN_USE):
                    raise BadRequest(f"Invalid volume: volume '{vol.id}' status must be "
                                     f"'available'. Currently in '{vol.status}'")
                if boot and not vol.bootable:
                    raise BadRequest(f"Block Device {vol.id} is not bootable.")
            elif dev.source == "snapshot":
                await self._snapshot(caller, dev, boot)
            elif dev.source == "image":
                await self._image(caller, dev.uuid, dev.size or 0, flavor if boot else None)

    async def _volume(self, caller: Caller, volume_id: str) -> Volume:
        async with self.db.read() as s:
            vol = await s.get(Volume, volume_id) if _uuid_ok(volume_id) else None
        if vol is None or (vol.project_id != caller.project_id and not caller.is_admin):
            raise BadRequest(INVALID + f"failed to get volume {volume_id}.")
        return vol

    async def _snapshot(self, caller: Caller, dev: Any, boot: bool) -> None:
        async with self.db.read() as s:
            snap = await s.get(Snapshot, dev.uuid) if _uuid_ok(dev.uuid) else None
            source = await s.get(Volume, snap.volume_id) if snap is not None else None
        if snap is None or (snap.project_id != caller.project_id and not caller.is_admin):
            raise BadRequest(INVALID + f"failed to get snapshot {dev.uuid}.")
        if snap.status != volume_states.SNAPSHOT_AVAILABLE:
            raise BadRequest(f"Invalid snapshot: snapshot {snap.id} status must be "
                             f"'available'. Currently in '{snap.status}'")
        dev.size = dev.size or snap.size
        if dev.size < snap.size:
            raise BadRequest(INVALID + f"volume_size {dev.size} GB is smaller than snapshot "
                             f"{snap.id} ({snap.size} GB).")
        if boot and not (source is not None and source.bootable):
            raise BadRequest(f"Block Device {snap.id} is not bootable.")

    async def _image(self, caller: Caller, image_id: str, size_gb: int,
                     flavor: dict[str, Any] | None) -> None:
        try:
            rec = await self.cinder.volumes.image.images.get(
                ImageCaller(caller.project_id, caller.is_admin), image_id)
        except NotFound as exc:
            raise BadRequest(INVALID + f"failed to get image {image_id}.") from exc
        img = rec.image
        if img.status != "active":
            raise BadRequest(f"Image {image_id} is not active.")
        minimum = max(int(img.min_disk or 0) * GiB, int(img.virtual_size or img.size or 0))
        if size_gb * GiB < minimum:
            raise BadRequest(f"Volume is smaller than the minimum size specified in image "
                             f"metadata. Volume size is {size_gb * GiB} bytes, minimum size "
                             f"is {minimum} bytes.")
        if flavor is not None and img.min_ram and flavor["memory_mb"] < img.min_ram:
            raise BadRequest("Flavor's memory is too small for requested image.")

    async def setup(self, caller: Caller, instances: list[Instance], plan: BdmPlan,
                    flavor: dict[str, Any], config_drive: bool) -> None:
        """The mappings of freshly written instances: existing volumes reserved, the others
        created. On failure what was started is given back and the error raised."""
        vcaller = volume_caller(caller)
        reserved: list[str] = []
        made: list[str] = []
        try:
            for inst in instances:
                rows: list[BlockDeviceMapping] = []
                inst_made: list[str] = []
                used = {v.device_name for v in plan.volumes if v.device_name}
                local = local_disk_count(flavor, config_drive)
                for dev in plan.volumes:
                    att_id: str | None = None
                    if dev.source == "volume":
                        att = await self.cinder.attachments.create(vcaller, {
                            "volume_uuid": dev.uuid, "instance_uuid": inst.uuid, "mode": "rw"})
                        reserved.append(att.id)
                        vol_id, att_id, status = dev.uuid, att.id, RESERVED
                    else:
                        body: dict[str, Any] = {"size": dev.size, "name": ""}
                        if dev.source == "image":
                            body["imageRef"] = dev.uuid
                        elif dev.source == "snapshot":
                            body["snapshot_id"] = dev.uuid
                        if dev.volume_type:
                            body["volume_type"] = dev.volume_type
                        rec = await self.cinder.volumes.create(vcaller, body)
                        vol_id, status = rec.volume.id, CREATING
                        made.append(vol_id)
                        inst_made.append(vol_id)
                    name = dev.device_name or ("/dev/vda" if dev.boot_index == 0 else
                                               next_device(used, local))
                    used.add(name)
                    rows.append(BlockDeviceMapping(
                        id=str(uuidlib.uuid4()), instance_uuid=inst.uuid, volume_id=vol_id,
                        attachment_id=att_id, device_name=name, boot_index=dev.boot_index,
                        delete_on_termination=dev.delete_on_termination, tag=dev.tag,
                        status=status))
                async with self.write() as s:
                    s.add_all(rows)
                    row = await s.get(Instance, inst.uuid)
                    if row is not None:
                        row.task_args = {**(row.task_args or {}), "made_volumes": inst_made}
        except BaseException:
            admin = system_caller(caller.project_id)
            for att_id in reserved:
                with contextlib.suppress(NotFound):
                    await self.cinder.attachments.delete(admin, att_id)
            for vol_id in made:
                self.later(self.volumes.delete_settled(caller.project_id, vol_id))
            raise

    # --- host side -----------------------------------------------------------------------
    async def prepare(self, inst: Instance, host: str) -> None:
        """Every volume of a server being built attached (``in-use``) before it starts."""
        async with self.db.read() as s:
            rows = list(await s.scalars(select(BlockDeviceMapping).where(
                BlockDeviceMapping.instance_uuid == inst.uuid).order_by(
                BlockDeviceMapping.created_at, BlockDeviceMapping.device_name)))
        admin = system_caller(inst.project_id)
        for bdm in rows:
            if bdm.status not in (CREATING, RESERVED, ATTACHING):
                continue
            connector = {"host": host, "mountpoint": bdm.device_name, "platform": "x86_64",
                         "os_type": "linux", "multipath": False}
            att_id = bdm.attachment_id
            try:
                if bdm.status == CREATING:
                    att_id = await self._left_behind(bdm.volume_id, inst.uuid)
                    if att_id is None:  # else: made before an agent restart
                        await self._wait_available(bdm.volume_id)
                        att = await self.cinder.attachments.create(admin, {
                            "volume_uuid": bdm.volume_id, "instance_uuid": inst.uuid,
                            "mode": "rw", "connector": connector})
                        att_id = att.id
                    await self._mark(bdm.id, ATTACHING, att_id)
                elif bdm.status == RESERVED and att_id:
                    await self.cinder.attachments.update(admin, att_id, connector)
                if att_id is None:
                    raise BuildFailed(f"Volume {bdm.volume_id} has no attachment.")
                await self.cinder.attachments.complete(admin, att_id)
            except (BadRequest, NotFound) as exc:
                raise BuildFailed(f"Volume {bdm.volume_id} could not be attached: "
                                  f"{exc}") from exc
            await self._mark(bdm.id, ATTACHED, att_id)

    async def _left_behind(self, volume_id: str, instance_uuid: str) -> str | None:
        """The attachment of this volume to this instance, if one exists already."""
        async with self.db.read() as s:
            found = await s.scalar(select(VolumeAttachment.id).where(
                VolumeAttachment.volume_id == volume_id,
                VolumeAttachment.instance_uuid == instance_uuid))
        return str(found) if found is not None else None

    async def _mark(self, bdm_id: str, status: str, attachment_id: str | None) -> None:
        async with self.write() as s:
            bdm = await s.get(BlockDeviceMapping, bdm_id)
            if bdm is not None:
                bdm.status, bdm.attachment_id = status, attachment_id

    async def _wait_available(self, volume_id: str, timeout: float = VOLUME_WAIT) -> None:
        deadline = time.monotonic() + timeout
        while True:
            async with self.db.read() as s:
                vol = await s.get(Volume, volume_id)
            if vol is None:
                raise BuildFailed(f"Volume {volume_id} is gone.")
            if vol.status == volume_states.AVAILABLE:
                return
            if vol.status not in (volume_states.CREATING, volume_states.DOWNLOADING):
                raise BuildFailed(f"Volume {volume_id} did not become available: it is "
                                  f"{vol.status}.")
            if time.monotonic() > deadline:
                raise BuildFailed(f"Volume {volume_id} did not finish being created after "
                                  f"{timeout:.0f} s (it is {vol.status}).")
            await asyncio.sleep(0.25)

    async def abort(self, uuid: str, project_id: str, made: list[str]) -> None:
        """A build that failed: its volumes given back (attachments deleted), and those Nova
        made or marked delete_on_termination deleted."""
        async with self.db.read() as s:
            rows = list(await s.scalars(select(BlockDeviceMapping).where(
                BlockDeviceMapping.instance_uuid == uuid)))
        admin = system_caller(project_id)
        for bdm in rows:
            if bdm.attachment_id:
                with contextlib.suppress(NotFound):
                    await self.cinder.attachments.delete(admin, bdm.attachment_id)
            async with self.write() as s:
                row = await s.get(BlockDeviceMapping, bdm.id)
                if row is not None:
                    await s.delete(row)
            if bdm.volume_id in made or bdm.delete_on_termination:
                await self.volumes.delete_settled(project_id, bdm.volume_id)

    def abort_later(self, inst: Instance) -> None:
        made = list((inst.task_args or {}).get("made_volumes") or [])
        self.later(self.abort(inst.uuid, inst.project_id, made))

    def later(self, work: Coroutine[Any, Any, None]) -> None:
        """Work that may wait for the block storage worker, off the request's path."""
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("giving back the volumes of a failed build: %s", task.exception())

    async def drain(self) -> None:
        """Wait for background work (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
