"""Volume actions (POST /volumes/{id}/action): extend, bootable, read-only, upload to
image, admin resets, and the legacy attach family Nova used before the attachments API
(reserve, initialize_connection, attach, begin/roll detaching, detach)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from onestack.core.image.access import VISIBILITIES
from onestack.core.image.access import Caller as ImageCaller
from onestack.core.image.patch import BASE, READ_ONLY, RESERVED_PREFIX
from onestack.core.image.service import ImageService
from onestack.core.volume import states
from onestack.core.volume.base import Caller, Store, find_volume, to_int
from onestack.core.volume.quotas import Quotas
from onestack.core.volume.worker import Worker
from onestack.db.models.base import utcnow
from onestack.db.models.volume import Volume, VolumeAttachment, VolumeType
from onestack.drivers.storage.base import FORMATS
from onestack.errors import BadRequest, Forbidden, NotFound

CONTAINER_FORMATS = ("bare", "ovf", "ova", "docker", "compressed")


def _flag(value: Any, what: str) -> bool:
    """Cinder's strict booleans: true/false, "true"/"false", "1"/"0", 1/0 ..."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "y", "t", "on"):
        return True
    if text in ("false", "0", "no", "n", "f", "off"):
        return False
    raise BadRequest(f"Invalid input received: {what} must be a boolean, not {value!r}.")


class Actions:
    def __init__(self, store: Store, quotas: Quotas, worker: Worker,
                 image: ImageService) -> None:
        self.store = store
        self.quotas = quotas
        self.worker = worker
        self.image = image

    async def extend(self, caller: Caller, volume_id: str, new_size: Any,
                     attached_ok: bool) -> None:
        size = to_int(new_size, "new_size")
        async with self.store.write() as s:
            vol = await find_volume(s, caller, volume_id, lock=True)
            before = vol.status
            states.check("extend_attached" if attached_ok else "extend", vol.id, vol.status)
            if size <= vol.size:
                raise BadRequest(f"Invalid input received: New size for extend must be greater "
                                 f"than current size. (current: {vol.size}, extended: {size}).")
            vt = await s.get(VolumeType, vol.type_id) if vol.type_id else None
            await self.quotas.check(s, vol.project_id, vt, gigabytes=size - vol.size,
                                    size=size)
            vol.status = states.EXTENDING
            vol.previous_status = before
            vol.updated_at = utcnow()
        self.worker.submit(self.worker.extend_volume(volume_id, size, before))

    async def set_bootable(self, caller: Caller, volume_id: str, value: Any) -> None:
        async with self.store.write() as s:
            vol = await find_volume(s, caller, volume_id)
            states.check("bootable", vol.id, vol.status)
            vol.bootable = _flag(value, "bootable")
            vol.updated_at = utcnow()

    async def set_readonly(self, caller: Caller, volume_id: str, value: Any) -> None:
        async with self.store.write() as s:
            vol = await find_volume(s, caller, volume_id)
            states.check("readonly", vol.id, vol.status)
            vol.readonly = _flag(value, "readonly")
            vol.updated_at = utcnow()

    async def reset_status(self, caller: Caller, volume_id: str, body: dict[str, Any]
                           ) -> None:
        status = body.get("status")
        attach = body.get("attach_status")
        if status is None and attach is None and body.get("migration_status") is None:
            raise BadRequest("Must specify 'status', 'attach_status' or 'migration_status' "
                             "for update.")
        if status is not None and status not in states.STATUSES:
            raise BadRequest(f"Invalid input received: status {status!r} is not one of "
                             f"{', '.join(states.STATUSES)}.")
        if attach is not None and attach not in ("attached", "detached"):
            raise BadRequest(f"Invalid input received: attach_status {attach!r} must be "
                             "attached or detached.")
        async with self.store.write() as s:
            vol = await find_volume(s, caller, volume_id, lock=True)
            if status is not None:
                vol.status = status
            if attach is not None:
                vol.attach_status = attach
                if attach == "detached":
                    for att in (await s.execute(select(VolumeAttachment).where(
                            VolumeAttachment.volume_id == vol.id))).scalars():
                        await s.delete(att)
            vol.updated_at = utcnow()

    async def upload_image(self, caller: Caller, volume_id: str, body: dict[str, Any],
                           may_publish: bool = False) -> dict[str, Any]:
        """The volume's bytes as a new image. ``may_publish``: the API layer enforced
        Cinder's volume_extension:volume_actions:upload_public and Glance's
        publicize_image for this caller."""
        name = body.get("image_name")
        if not isinstance(name, str) or not name:
            raise BadRequest("Invalid input received: image_name is required.")
        disk_format = body.get("disk_format") or "raw"
        container = body.get("container_format") or "bare"
        if disk_format not in FORMATS:
            raise BadRequest(f"Invalid disk-format '{disk_format}' is specified. Allowed "
                             f"disk-formats are {', '.join(sorted(FORMATS))}.")
        if container not in CONTAINER_FORMATS:
            raise BadRequest(f"Invalid container-format '{container}' is specified.")
        force = _flag(body.get("force", False), "force")
        visibility = body.get("visibility") or "private"
        if visibility not in VISIBILITIES:
            raise BadRequest(f"Invalid visibility '{visibility}': it must be one of "
                             f"{', '.join(VISIBILITIES)}.")
        if visibility == "public" and not (may_publish or caller.is_admin):
            # Cinder's volume_extension:volume_actions:upload_public (admins only).
            raise Forbidden("Policy doesn't allow volume_extension:volume_actions:"
                            "upload_public to be performed: only an administrator may "
                            "upload a volume to a public image.")
        protected = _flag(body.get("protected", False), "protected")
        action = "upload_image_force" if force else "upload_image"
        async with self.store.db.read() as s:
            vol = await find_volume(s, caller, volume_id)
            states.check(action, vol.id, vol.status)
        if vol.encryption_key_id:
            raise BadRequest(f"Invalid volume: volume {vol.id} is encrypted; uploading an "
                             "encrypted volume to an image is not supported by this cloud.")
        image_caller = ImageCaller(caller.project_id, caller.is_admin,
                                   publicize=may_publish)
        # The volume's image metadata come along as properties, never as what the new image
        # says about itself (owner, visibility, id, ...): ours come last.
        props = {k: str(v) for k, v in (vol.image_metadata or {}).items()
                 if k not in ("image_id", "image_name", "checksum", "size", "disk_format",
                              "container_format", "min_disk", "min_ram")
                 and k not in BASE and k not in READ_ONLY
                 and not k.startswith(RESERVED_PREFIX)}
        rec = await self.image.images.create(image_caller, {
            **props, "name": name, "disk_format": disk_format, "container_format": container,
            "visibility": visibility, "protected": protected, "min_disk": vol.size})
        try:
            async with self.store.write() as s:
                vol = await find_volume(s, caller, volume_id, lock=True)
                before = vol.status
                states.check(action, vol.id, vol.status)
                vol.status = states.UPLOADING
                vol.previous_status = before
                vol.updated_at = utcnow()
        except BaseException:
            await self.image.images.delete(image_caller, rec.image.id)
            raise
        self.worker.submit(self.worker.upload_volume(vol.id, vol.project_id, rec.image.id,
                                                     disk_format, before))
        return {"id": vol.id, "updated_at": vol.updated_at, "status": vol.status,
                "display_description": vol.description, "size": vol.size,
                "volume_type": None, "image_id": rec.image.id,
                "container_format": container, "disk_format": disk_format,
                "image_name": name, "protected": protected, "visibility": visibility}

    # --- the legacy attach family ----------------------------------------------------------
    async def _transition(self, caller: Caller, volume_id: str, action: str) -> Volume:
        async with self.store.write() as s:
            vol = await find_volume(s, caller, volume_id, lock=True)
            rule = states.check(action, vol.id, vol.status)
            if rule.to is not None:
                vol.status = rule.to
            vol.updated_at = utcnow()
            return vol

    async def reserve(self, caller: Caller, volume_id: str) -> None:
        async with self.store.db.read() as s:
            vol = await find_volume(s, caller, volume_id)
        await self._transition(caller, volume_id,
                               "reserve_multiattach" if vol.multiattach else "reserve")

    async def unreserve(self, caller: Caller, volume_id: str) -> None:
        async with self.store.write() as s:
            vol = await find_volume(s, caller, volume_id, lock=True)
            states.check("unreserve", vol.id, vol.status)
            vol.status = await self._settled(s, vol.id)
            vol.updated_at = utcnow()

    async def begin_detaching(self, caller: Caller, volume_id: str) -> None:
        await self._transition(caller, volume_id, "begin_detaching")

    async def roll_detaching(self, caller: Caller, volume_id: str) -> None:
        await self._transition(caller, volume_id, "roll_detaching")

    async def initialize_connection(self, caller: Caller, volume_id: str,
                                    connector: Any) -> dict[str, Any]:
        if not isinstance(connector, dict):
            raise BadRequest("Invalid input received: connector must be an object.")
        async with self.store.db.read() as s:
            vol = await find_volume(s, caller, volume_id)
            states.check("initialize_connection", vol.id, vol.status)
        if vol.encryption_key_id:
            await self.worker.keys.passphrase(vol.encryption_key_id)  # 400 when gone
        info = self.worker.driver_of(vol.host).connection_info(vol.id)
        info["data"] = {**info.get("data", {}), "volume_id": vol.id,
                        "access_mode": "ro" if vol.readonly else "rw",
                        "encrypted": bool(vol.encryption_key_id)}
        return info

    async def attach(self, caller: Caller, volume_id: str, body: dict[str, Any]) -> None:
        instance = body.get("instance_uuid")
        host = body.get("host_name")
        if not instance and not host:
            raise BadRequest("Invalid request to attach volume to an invalid target: give "
                             "instance_uuid or host_name.")
        mode = body.get("mode", "rw")
        if mode not in ("rw", "ro"):
            raise BadRequest("Invalid request to attach volume with an invalid mode. "
                             "Attaching mode should be 'rw' or 'ro'.")
        async with self.store.write() as s:
            vol = await find_volume(s, caller, volume_id, lock=True)
            states.check("attach", vol.id, vol.status)
            if vol.readonly and mode == "rw":
                raise BadRequest(f"Invalid volume: Volume {vol.id} is read-only; attach it "
                                 "with mode 'ro'.")
            if not vol.multiattach and instance and await self._attached_elsewhere(
                    s, vol.id, str(instance)):
                raise BadRequest(f"Invalid volume: Volume {vol.id} is already attached.")
            now = utcnow()
            s.add(VolumeAttachment(
                id=str(uuid.uuid4()), volume_id=vol.id, project_id=vol.project_id,
                instance_uuid=instance, attached_host=host, mountpoint=body.get("mountpoint"),
                attach_status="attached", attach_mode=mode, attached_at=now, created_at=now))
            vol.status = states.IN_USE
            vol.attach_status = "attached"
            vol.updated_at = now

    async def _attached_elsewhere(self, s: Any, volume_id: str, instance: str) -> bool:
        count = (await s.execute(select(func.count()).select_from(VolumeAttachment).where(
            VolumeAttachment.volume_id == volume_id,
            VolumeAttachment.instance_uuid != instance,
            VolumeAttachment.attach_status == "attached"))).scalar()
        return bool(count)

    async def detach(self, caller: Caller, volume_id: str, attachment_id: Any,
                     force: bool = False) -> None:
        async with self.store.write() as s:
            vol = await find_volume(s, caller, volume_id, lock=True)
            atts = list((await s.execute(select(VolumeAttachment).where(
                VolumeAttachment.volume_id == vol.id))).scalars())
            if vol.status == states.AVAILABLE and not atts and not attachment_id:
                return  # Cinder's API accepts it; its volume manager finds nothing to do
            if not force:
                states.check("detach", vol.id, vol.status)
            if attachment_id:
                atts = [a for a in atts if a.id == attachment_id]
                if not atts:
                    raise NotFound(f"Volume attachment {attachment_id} could not be found.")
            elif len(atts) > 1:
                raise BadRequest(f"Invalid volume: Volume {vol.id} has several attachments; "
                                 "give attachment_id.")
            for att in atts:
                await s.delete(att)
            await s.flush()
            vol.status = await self._settled(s, vol.id)
            vol.attach_status = "attached" if vol.status == states.IN_USE else "detached"
            vol.updated_at = utcnow()

    @staticmethod
    async def _settled(s: Any, volume_id: str) -> str:
        """in-use while attachments remain, available otherwise."""
        left = (await s.execute(select(func.count()).select_from(VolumeAttachment).where(
            VolumeAttachment.volume_id == volume_id,
            VolumeAttachment.attach_status == "attached"))).scalar()
        return states.IN_USE if left else states.AVAILABLE
