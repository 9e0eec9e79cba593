"""Volume transfers (Cinder's ``/os-volume-transfer`` and, from 3.55, ``/volume-transfers``):
a project offers one of its volumes; whoever holds the transfer's id and auth key accepts it
into their own project.

- create: the volume must be ``available`` (and its snapshots too, unless ``no_snapshots``);
  it becomes ``awaiting-transfer``. The auth key is returned once; only its salted SHA-256
  is kept.
- show, list: the source project's open transfers (admins: any, ``all_tenants`` to list
  them all).
- delete: the volume is ``available`` again in its project.
- accept (any project, with the key): checks the accepting project's quotas (volumes,
  gigabytes, snapshots, per type), moves the volume (and its snapshots unless
  ``no_snapshots``) to that project and user, ``available``; the transfer is gone.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from typing import Any

from sqlalchemy import select

from onestack.core.volume import states
from onestack.core.volume.base import Caller, find_volume
from onestack.core.volume.service import VolumeService
from onestack.db.models.base import utcnow
from onestack.db.models.volume import Snapshot, Volume, VolumeType
from onestack.db.models.volume_transfer import VolumeTransfer
from onestack.errors import BadRequest, NotFound

KEY_LENGTH = 16  # Cinder's volume_transfer_key_length


def transfer_not_found(transfer_id: str) -> NotFound:
    return NotFound(f"Transfer {transfer_id} could not be found.")


def _hash(salt: str, key: str) -> str:
    return hashlib.sha256(f"{salt}{key}".encode()).hexdigest()


def _flag(value: Any, field: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "1", "yes", "on", "y", "t"):
        return True
    if text in ("false", "0", "no", "off", "n", "f"):
        return False
    raise BadRequest(f"Invalid input for field/attribute {field}. Value: {value}. "
                     f"{value!r} is not a valid boolean.")


def check_create(body: dict[str, Any], with_snapshots_flag: bool) -> dict[str, Any]:
    """Cinder's schema for a transfer's create body (``no_snapshots`` from 3.55 on the
    volume-transfers path): the fields, each named when it is wrong."""
    allowed = {"volume_id", "name"} | ({"no_snapshots"} if with_snapshots_flag else set())
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise BadRequest(f"Invalid input for field/attribute transfer. Additional "
                         f"properties are not allowed ({', '.join(unknown)} unexpected)")
    if "volume_id" not in body:
        raise BadRequest("Invalid input for field/attribute transfer. 'volume_id' is a "
                         "required property")
    vid = body["volume_id"]
    if not isinstance(vid, str):
        raise BadRequest(f"Invalid input for field/attribute volume_id. Value: {vid}. "
                         f"{vid!r} is not of type 'string'")
    name = body.get("name")
    if name is not None and (not isinstance(name, str) or len(name) > 255
                             or name != name.strip()):
        raise BadRequest(f"Invalid input for field/attribute name. Value: {name}. "
                         "name must be a string of at most 255 characters without "
                         "leading or trailing spaces")
    return {"volume_id": vid, "name": name,
            "no_snapshots": _flag(body.get("no_snapshots", False), "no_snapshots")}


class Transfers:
    def __init__(self, volume: VolumeService) -> None:
        self.volume = volume
        self.store = volume.store

    async def _find(self, s: Any, caller: Caller, transfer_id: str, *, anyone: bool = False,
                    lock: bool = False) -> VolumeTransfer:
        if not isinstance(transfer_id, str) or len(transfer_id) > 36:
            raise transfer_not_found(str(transfer_id))
        q = select(VolumeTransfer).where(VolumeTransfer.id == transfer_id)
        if lock:
            q = q.with_for_update()
        row = (await s.execute(q)).scalar()
        if row is None or not (anyone or caller.is_admin
                               or row.project_id == caller.project_id):
            raise transfer_not_found(transfer_id)
        return row

    async def create(self, caller: Caller, body: dict[str, Any]
                     ) -> tuple[VolumeTransfer, str]:
        """The new transfer and its auth key (shown this once)."""
        key = secrets.token_hex(KEY_LENGTH // 2)
        salt = secrets.token_hex(8)
        async with self.store.write() as s:
            vol = await find_volume(s, caller, body["volume_id"], lock=True)
            if vol.status != states.AVAILABLE:
                raise BadRequest(f"Invalid volume: Status of volume {vol.id} must be "
                                 f"available to transfer, but current status is: "
                                 f"{vol.status}.")
            if vol.encryption_key_id:
                raise BadRequest(f"Invalid volume: Volume {vol.id} is encrypted; transfers "
                                 "of encrypted volumes are not supported.")
            if not body["no_snapshots"]:
                busy = await s.scalar(select(Snapshot.id).where(
                    Snapshot.volume_id == vol.id,
                    Snapshot.status != states.SNAPSHOT_AVAILABLE).limit(1))
                if busy:
                    raise BadRequest(f"Invalid snapshot: Snapshot {busy} status must be "
                                     "available to transfer it with its volume.")
            row = VolumeTransfer(
                id=str(uuid.uuid4()), volume_id=vol.id, project_id=vol.project_id,
                user_id=caller.user_id, name=body["name"], salt=salt,
                crypt_hash=_hash(salt, key), no_snapshots=body["no_snapshots"])
            s.add(row)
            vol.status, vol.updated_at = states.AWAITING_TRANSFER, utcnow()
        return row, key

    async def get(self, caller: Caller, transfer_id: str) -> VolumeTransfer:
        async with self.store.db.read() as s:
            return await self._find(s, caller, transfer_id)

    async def listing(self, caller: Caller, all_projects: bool = False,
                      name: str | None = None) -> list[VolumeTransfer]:
        q = select(VolumeTransfer).join(Volume, Volume.id == VolumeTransfer.volume_id)
        if not (caller.is_admin and all_projects):
            q = q.where(VolumeTransfer.project_id == caller.project_id)
        if name is not None:
            q = q.where(VolumeTransfer.name == name)
        q = q.order_by(VolumeTransfer.created_at.desc(), VolumeTransfer.id)
        async with self.store.db.read() as s:
            return list((await s.execute(q)).scalars())

    async def delete(self, caller: Caller, transfer_id: str) -> None:
        async with self.store.write() as s:
            row = await self._find(s, caller, transfer_id, lock=True)
            vol = await s.get(Volume, row.volume_id, with_for_update=True)
            if vol is not None and vol.status == states.AWAITING_TRANSFER:
                vol.status, vol.updated_at = states.AVAILABLE, utcnow()
            await s.delete(row)

    async def accept(self, caller: Caller, transfer_id: str, auth_key: Any
                     ) -> VolumeTransfer:
        if isinstance(auth_key, bool) or not isinstance(auth_key, str | int):
            raise BadRequest(f"Invalid input for field/attribute auth_key. Value: "
                             f"{auth_key}. {auth_key!r} is not of type 'string', 'integer'")
        async with self.store.write() as s:
            row = await self._find(s, caller, transfer_id, anyone=True, lock=True)
            if not hmac.compare_digest(row.crypt_hash, _hash(row.salt, str(auth_key))):
                raise BadRequest(f"Invalid auth key: Attempt to transfer {transfer_id} "
                                 "with invalid auth key.")
            vol = await s.get(Volume, row.volume_id, with_for_update=True)
            if vol is None:
                raise transfer_not_found(transfer_id)
            if vol.status != states.AWAITING_TRANSFER:
                raise BadRequest(f"Invalid volume: Status of volume {vol.id} must be "
                                 f"awaiting-transfer, but current status is: {vol.status}.")
            snaps: list[Snapshot] = []
            if not row.no_snapshots:
                snaps = list((await s.execute(select(Snapshot).where(
                    Snapshot.volume_id == vol.id).with_for_update())).scalars())
            vt = await s.get(VolumeType, vol.type_id) if vol.type_id else None
            await self.volume.quotas.check(
                s, caller.project_id, vt, volumes=1, snapshots=len(snaps),
                gigabytes=vol.size + sum(x.size for x in snaps), size=vol.size)
            vol.project_id, vol.user_id = caller.project_id, caller.user_id
            for snap in snaps:
                snap.project_id, snap.user_id = caller.project_id, caller.user_id
            vol.status, vol.updated_at = states.AVAILABLE, utcnow()
            await s.delete(row)
        return row
