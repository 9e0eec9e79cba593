"""The attachments API (3.27+): what Nova uses to attach a volume to a server.

create (volume reserved; with a connector it is also given its connection_info), update
with a connector (attaching, connection_info), complete (in-use), delete (detached; the
volume is available again when no attachment is left).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from onestack.core.volume import states
from onestack.core.volume.base import Caller, Store, find_volume
from onestack.core.volume.worker import Worker
from onestack.db.models.base import utcnow
from onestack.db.models.volume import Volume, VolumeAttachment
from onestack.errors import BadRequest, NotFound


def attachment_not_found(attachment_id: str) -> NotFound:
    return NotFound(f"Volume attachment {attachment_id} could not be found.")


class Attachments:
    def __init__(self, store: Store, worker: Worker) -> None:
        self.store = store
        self.worker = worker

    async def _find(self, s: Any, caller: Caller, attachment_id: str) -> VolumeAttachment:
        att = await s.get(VolumeAttachment, attachment_id) if len(attachment_id) <= 36 \
            else None
        if att is None or (not caller.is_admin and att.project_id != caller.project_id):
            raise attachment_not_found(attachment_id)
        return att

    def connection(self, vol: Volume, mode: str) -> dict[str, Any]:
        """The connection info of a new attachment of ``vol`` (also for one re-made when
        its server moves to another host)."""
        info = self.worker.driver_of(vol.host).connection_info(vol.id)
        info["data"] = {**info.get("data", {}), "volume_id": vol.id, "access_mode": mode,
                        "encrypted": bool(vol.encryption_key_id)}
        return info

    async def check_key(self, vol: Volume) -> None:
        """An encrypted volume whose key is gone cannot be opened: refused (400)."""
        if vol.encryption_key_id:
            await self.worker.keys.passphrase(vol.encryption_key_id)

    async def create(self, caller: Caller, body: dict[str, Any]) -> VolumeAttachment:
        volume_id = body.get("volume_uuid")
        instance = body.get("instance_uuid")
        connector = body.get("connector")
        mode = body.get("mode") or "rw"
        if mode not in ("rw", "ro"):
            raise BadRequest("Invalid input received: mode must be 'rw' or 'ro'.")
        if connector is not None and not isinstance(connector, dict):
            raise BadRequest("Invalid input received: connector must be an object.")
        async with self.store.write() as s:
            vol = await find_volume(s, caller, volume_id, lock=True)
            live = (await s.execute(select(func.count()).select_from(VolumeAttachment).where(
                VolumeAttachment.volume_id == vol.id))).scalar() or 0
            action = "attachment_create_multiattach" if vol.multiattach else \
                "attachment_create"
            states.check(action, vol.id, vol.status)
            if live and not vol.multiattach:
                raise BadRequest(f"Invalid volume: Volume {vol.id} is already attached.")
            if vol.readonly and mode == "rw":
                mode = "ro"
            now = utcnow()
            att = VolumeAttachment(id=str(uuid.uuid4()), volume_id=vol.id,
                                   project_id=vol.project_id, instance_uuid=instance,
                                   attach_status="reserved", attach_mode=mode,
                                   created_at=now, updated_at=now)
            if connector:
                await self.check_key(vol)
                att.connector = connector
                att.attached_host = connector.get("host")
                att.mountpoint = connector.get("mountpoint")
                att.connection_info = self.connection(vol, mode)
                att.attach_status = "attaching"
            s.add(att)
            if vol.status != states.IN_USE:
                vol.status = states.RESERVED if not connector else states.ATTACHING
            vol.updated_at = now
        return att

    async def get(self, caller: Caller, attachment_id: str) -> VolumeAttachment:
        async with self.store.db.read() as s:
            return await self._find(s, caller, attachment_id)

    async def list(self, caller: Caller, all_projects: bool, filters: dict[str, str],
                   limit: int | None, marker: str | None) -> list[VolumeAttachment]:
        async with self.store.db.read() as s:
            q = select(VolumeAttachment).order_by(VolumeAttachment.created_at.desc(),
                                                  VolumeAttachment.id.desc())
            if not (caller.is_admin and all_projects):
                q = q.where(VolumeAttachment.project_id == caller.project_id)
            if "volume_id" in filters:
                q = q.where(VolumeAttachment.volume_id == filters["volume_id"])
            if "instance_id" in filters:
                q = q.where(VolumeAttachment.instance_uuid == filters["instance_id"])
            if "status" in filters:
                q = q.where(VolumeAttachment.attach_status == filters["status"])
            rows = list((await s.execute(q)).scalars())
        if marker is not None:
            ids = [r.id for r in rows]
            if marker not in ids:
                raise NotFound(f"Marker {marker} could not be found.")
            rows = rows[ids.index(marker) + 1:]
        return rows if limit is None else rows[:limit]

    async def update(self, caller: Caller, attachment_id: str, connector: Any
                     ) -> VolumeAttachment:
        if not isinstance(connector, dict):
            raise BadRequest("Invalid input received: connector is required.")
        async with self.store.write() as s:
            att = await self._find(s, caller, attachment_id)
            vol = await find_volume(s, caller, att.volume_id, lock=True)
            states.check("attachment_update", vol.id, vol.status)
            await self.check_key(vol)
            att.connector = connector
            att.attached_host = connector.get("host")
            att.mountpoint = connector.get("mountpoint") or att.mountpoint
            att.connection_info = self.connection(vol, att.attach_mode)
            att.attach_status = "attaching"
            att.updated_at = utcnow()
            if vol.status != states.IN_USE:
                vol.status = states.ATTACHING
            vol.updated_at = utcnow()
        return att

    async def complete(self, caller: Caller, attachment_id: str) -> None:
        async with self.store.write() as s:
            att = await self._find(s, caller, attachment_id)
            vol = await find_volume(s, caller, att.volume_id, lock=True)
            states.check("attachment_complete", vol.id, vol.status)
            now = utcnow()
            att.attach_status = "attached"
            att.attached_at = now
            att.updated_at = now
            vol.status = states.IN_USE
            vol.attach_status = "attached"
            vol.updated_at = now

    async def delete(self, caller: Caller, attachment_id: str) -> None:
        async with self.store.write() as s:
            att = await self._find(s, caller, attachment_id)
            vol = await s.get(Volume, att.volume_id)
            await s.delete(att)
            await s.flush()
            if vol is None:
                return
            left = (await s.execute(select(VolumeAttachment.attach_status).where(
                VolumeAttachment.volume_id == vol.id))).scalars().all()
            if "attached" in left:
                vol.status = states.IN_USE
            elif left:
                vol.status = states.RESERVED
            else:
                vol.status = states.AVAILABLE
                vol.attach_status = "detached"
            vol.updated_at = utcnow()
