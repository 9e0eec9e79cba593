"""Volumes: create (blank, from a snapshot, another volume or an image), show, list,
update, delete, and their metadata."""

from __future__ import annotations

import ast
import json
import uuid
from collections.abc import Callable
from typing import Any

from sqlalchemy import delete, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.image.access import Caller as ImageCaller
from onestack.core.image.service import ImageService
from onestack.core.volume import capabilities, states
from onestack.core.volume.base import (
    DEFAULT_AZ,
    Caller,
    Store,
    VolumeRecord,
    check_metadata,
    find_snapshot,
    find_volume,
    to_int,
    volume_records,
)
from onestack.core.volume.encryption import TypeEncryptions, VolumeKeys
from onestack.core.volume.listing import ListQuery, page_ids
from onestack.core.volume.quotas import Quotas
from onestack.core.volume.types import VolumeTypes, type_specs
from onestack.core.volume.worker import Worker
from onestack.db.models.base import utcnow
from onestack.db.models.volume import Snapshot, Volume, VolumeMetadata, VolumeType
from onestack.errors import BadRequest, Conflict, NotFound

GiB = 1024**3
SORT_COLUMNS: dict[str, Any] = {
    "id": Volume.id, "name": Volume.name, "display_name": Volume.name,
    "status": Volume.status, "size": Volume.size, "created_at": Volume.created_at,
    "updated_at": Volume.updated_at, "availability_zone": Volume.availability_zone,
    "bootable": Volume.bootable, "project_id": Volume.project_id, "host": Volume.host,
    "volume_type": Volume.type_id, "description": Volume.description,
}
IMAGE_PROPS = ("checksum", "container_format", "disk_format", "min_disk", "min_ram", "size")


def parse_metadata_filter(raw: str) -> dict[str, str]:
    """``metadata={'k': 'v'}`` as Cinder reads it (a Python or JSON literal)."""
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise BadRequest(f"Invalid input received: metadata filter {raw!r} is not a "
                             "dictionary.") from exc
    if not isinstance(value, dict):
        raise BadRequest(f"Invalid input received: metadata filter {raw!r} is not a "
                         "dictionary.")
    return {str(k): str(v) for k, v in value.items()}


class Volumes:
    def __init__(self, store: Store, types: VolumeTypes, quotas: Quotas, worker: Worker,
                 image: ImageService, keys: VolumeKeys | None = None) -> None:
        self.store = store
        self.keys = keys or VolumeKeys()
        self.types = types
        self.quotas = quotas
        self.worker = worker
        self.image = image

    # --- create --------------------------------------------------------------------------
    async def create(self, caller: Caller, body: dict[str, Any]) -> VolumeRecord:
        metadata = check_metadata(body.get("metadata") or {})
        zone = body.get("availability_zone") or DEFAULT_AZ
        if zone != DEFAULT_AZ:
            raise BadRequest(f"Invalid input received: Availability zone '{zone}' is "
                             "invalid.")
        image_ref = body.get("imageRef") or body.get("image_id")
        snapshot_id = body.get("snapshot_id")
        source_volid = body.get("source_volid")
        if body.get("backup_id"):
            raise BadRequest("Invalid input received: volume backups are not supported by "
                             "this cloud.")
        if sum(1 for x in (image_ref, snapshot_id, source_volid) if x) > 1:
            raise BadRequest("Invalid input received: only one of imageRef, snapshot_id and "
                             "source_volid can be given.")
        size = body.get("size")
        if size is not None or not (snapshot_id or source_volid):
            size = to_int(size, "size")
        image_meta: dict[str, Any] | None = None
        if image_ref:
            image_meta = await self._image_meta(caller, str(image_ref), size)
        # an encrypted volume's key is made first: the key manager writes in a
        # transaction of its own; it goes again if the volume is not made
        key_id = await self._new_key(caller, body.get("volume_type"), snapshot_id,
                                     source_volid)
        try:
            return await self._create(caller, body, size, key_id, image_meta, metadata)
        except BaseException:
            await self.keys.forget(key_id)
            raise

    async def _new_key(self, caller: Caller, asked_type: Any, snapshot_id: Any,
                       source_volid: Any) -> str | None:
        async with self.store.db.read() as s:
            copy_of: Volume | None = None
            src_type: str | None = None
            if snapshot_id:
                snap = await find_snapshot(s, caller, str(snapshot_id))
                copy_of, src_type = await s.get(Volume, snap.volume_id), snap.type_id
            elif source_volid:
                copy_of = await find_volume(s, caller, str(source_volid))
                src_type = copy_of.type_id
            vt = await self._type(s, caller, asked_type, src_type)
            spec = await TypeEncryptions.of_type(s, vt.id)
        return await self.keys.for_new_volume(caller.project_id, caller.user_id, spec,
                                              copy_of)

    async def _create(self, caller: Caller, body: dict[str, Any], size: int | None,
                      key_id: str | None, image_meta: dict[str, Any] | None,
                      metadata: dict[str, str]) -> VolumeRecord:
        name = body.get("name", body.get("display_name"))
        description = body.get("description", body.get("display_description"))
        zone = body.get("availability_zone") or DEFAULT_AZ
        image_ref = body.get("imageRef") or body.get("image_id")
        snapshot_id = body.get("snapshot_id")
        source_volid = body.get("source_volid")
        source: dict[str, Any] = {"kind": "blank"}
        vol_id = str(uuid.uuid4())
        async with self.store.write() as s:
            src_type: str | None = None
            src_host: str | None = None  # a copy stays on its source's backend
            if snapshot_id:
                snap = await find_snapshot(s, caller, str(snapshot_id))
                if snap.status != states.SNAPSHOT_AVAILABLE:
                    raise BadRequest(f"Invalid snapshot: Originating snapshot status must be "
                                     f"one of 'available' values (it is {snap.status}).")
                size = snap.size if size is None else size
                if size < snap.size:
                    raise BadRequest(f"Invalid input received: Volume size '{size}'GB cannot "
                                     f"be smaller than the snapshot size {snap.size}GB. They "
                                     "must be >= original snapshot size.")
                source, src_type = {"kind": "snapshot", "id": snap.id}, snap.type_id
                src_host = snap.host
            elif source_volid:
                src = await find_volume(s, caller, str(source_volid))
                states.check("clone", src.id, src.status)
                size = src.size if size is None else size
                if size < src.size:
                    raise BadRequest(f"Invalid input received: Volume size '{size}'GB cannot "
                                     f"be smaller than the source volume size {src.size}GB. "
                                     "They must be >= original volume size.")
                source, src_type = {"kind": "volume", "id": src.id}, src.type_id
                src_host = src.host
            elif image_ref:
                source = {"kind": "image", "id": str(image_ref), "project_id": caller.project_id}
            assert size is not None
            vt = await self._type(s, caller, body.get("volume_type"), src_type)
            if (await TypeEncryptions.of_type(s, vt.id) is None) == bool(key_id):
                raise Conflict(f"The encryption of volume type {vt.name} changed while the "
                               "volume was being created; try again.")
            await self.quotas.check(s, caller.project_id, vt, volumes=1, gigabytes=size,
                                    size=size)
            now = utcnow()
            vol = Volume(id=vol_id, project_id=caller.project_id, user_id=caller.user_id,
                         name=name, description=description, size=size,
                         status=states.CREATING, availability_zone=zone,
                         host=src_host or await self._place(s, vt), type_id=vt.id,
                         snapshot_id=snapshot_id or None, source_volid=source_volid or None,
                         bootable=image_meta is not None, multiattach=bool(
                             body.get("multiattach") or False),
                         image_metadata=image_meta, task_args=source, created_at=now,
                         updated_at=now, encryption_key_id=key_id)
            if source["kind"] == "volume" or source["kind"] == "snapshot":
                vol.bootable = await self._source_bootable(s, source)
                vol.image_metadata = await self._source_image_meta(s, source)
            s.add(vol)
            await s.flush()
            s.add_all(VolumeMetadata(volume_id=vol_id, key=k, value=v)
                      for k, v in metadata.items())
        self.worker.submit(self.worker.create_volume(vol_id, size, source))
        return VolumeRecord(vol, metadata, [], vt.name)

    async def _place(self, s: AsyncSession, vt: VolumeType) -> str | None:
        """The backend a new volume goes to: the first whose capabilities meet its type's
        extra specs (``volume_backend_name``, ``storage_protocol``, ... as Cinder's
        CapabilitiesFilter); None when none does (the volume goes to error, with a user
        message, as Cinder's 'No valid backend')."""
        specs = (await type_specs(s, [vt.id])).get(vt.id, {})
        named = specs.get("volume_backend_name")
        if named and named not in self.worker.drivers:
            return self.worker.host_of(named)  # its job says that no such backend is here
        for backend, driver in self.worker.drivers.items():
            if capabilities.satisfies(specs, driver):
                return self.worker.host_of(backend)
        return None

    async def _type(self, s: AsyncSession, caller: Caller, asked: Any,
                    inherited: str | None) -> VolumeType:
        if asked:
            return await self.types.find(s, caller, str(asked))
        if inherited:
            found = await s.get(VolumeType, inherited)
            if found is not None:
                return found
        return await self.types.default(s)

    async def _source_bootable(self, s: AsyncSession, source: dict[str, Any]) -> bool:
        vol = await self._source_volume(s, source)
        return bool(vol and vol.bootable)

    async def _source_image_meta(self, s: AsyncSession, source: dict[str, Any]
                                 ) -> dict[str, Any] | None:
        vol = await self._source_volume(s, source)
        return dict(vol.image_metadata) if vol and vol.image_metadata else None

    async def _source_volume(self, s: AsyncSession, source: dict[str, Any]) -> Volume | None:
        if source["kind"] == "volume":
            return await s.get(Volume, source["id"])
        snap = await s.get(Snapshot, source["id"])
        return None if snap is None else await s.get(Volume, snap.volume_id)

    async def _image_meta(self, caller: Caller, image_id: str, size: int | None
                          ) -> dict[str, Any]:
        try:
            rec = await self.image.images.get(ImageCaller(caller.project_id, caller.is_admin),
                                              image_id)
        except NotFound as exc:
            raise NotFound(f"Image {image_id} could not be found.") from exc
        img = rec.image
        if img.status != "active":
            raise BadRequest(f"Invalid input received: Image {image_id} is not active (it is "
                             f"{img.status}).")
        if size is not None:
            if img.min_disk and img.min_disk > size:
                raise BadRequest(f"Invalid input received: Volume size {size}GB cannot be "
                                 f"smaller than the image minDisk size {img.min_disk}GB.")
            needed = img.virtual_size or img.size or 0
            if needed > size * GiB:
                raise BadRequest(f"Invalid input received: Size of specified image "
                                 f"{-(-needed // GiB)}GB is larger than volume size "
                                 f"{size}GB.")
        meta: dict[str, Any] = {"image_id": img.id, "image_name": img.name or ""}
        for key in IMAGE_PROPS:
            value = getattr(img, key)
            if value is not None:
                meta[key] = str(value)
        meta.update({k: str(v) for k, v in rec.properties.items()})
        return meta

    # --- read ----------------------------------------------------------------------------
    async def get(self, caller: Caller, volume_id: str) -> VolumeRecord:
        async with self.store.db.read() as s:
            vol = await find_volume(s, caller, volume_id)
            return (await volume_records(s, [vol]))[0]

    async def page(self, caller: Caller, q: ListQuery) -> list[VolumeRecord]:
        async with self.store.db.read() as s:
            base = select(Volume)
            if not (caller.is_admin and q.all_projects):
                base = base.where(Volume.project_id == caller.project_id)
            elif q.project_id:
                base = base.where(Volume.project_id == q.project_id)
            base = self._filtered(base, q.filters)
            ids = await page_ids(s, base, Volume.id, SORT_COLUMNS, q)
            if not ids:
                return []
            rows = {v.id: v for v in (await s.execute(select(Volume).where(
                Volume.id.in_(ids)))).scalars()}
            return await volume_records(s, [rows[i] for i in ids if i in rows])

    @staticmethod
    def _filtered(base: Any, filters: dict[str, Any]) -> Any:
        for key, value in filters.items():
            if key == "name":
                base = base.where(Volume.name == value)
            elif key == "status":
                base = base.where(Volume.status == str(value).lower())
            elif key == "availability_zone":
                base = base.where(Volume.availability_zone == value)
            elif key == "bootable":
                base = base.where(Volume.bootable.is_(value))
            elif key == "volume_type":
                base = base.where(Volume.type_id.in_(select(VolumeType.id).where(
                    (VolumeType.name == value) | (VolumeType.id == value))))
            elif key == "metadata":
                for mk, mv in value.items():
                    base = base.where(exists().where(
                        VolumeMetadata.volume_id == Volume.id, VolumeMetadata.key == mk,
                        VolumeMetadata.value == mv))
            elif key in ("snapshot_id", "source_volid", "id", "size"):
                base = base.where(getattr(Volume, key) == value)
        return base

    async def summary(self, caller: Caller, all_projects: bool) -> dict[str, Any]:
        async with self.store.db.read() as s:
            q = select(func.count(), func.coalesce(func.sum(Volume.size), 0))
            if not (caller.is_admin and all_projects):
                q = q.where(Volume.project_id == caller.project_id)
            count, total = (await s.execute(q)).one()
        return {"total_size": int(total), "total_count": int(count)}

    # --- update / delete -----------------------------------------------------------------
    async def update(self, caller: Caller, volume_id: str, body: dict[str, Any]
                     ) -> VolumeRecord:
        async with self.store.write() as s:
            vol = await find_volume(s, caller, volume_id)
            states.check("update", vol.id, vol.status)
            for key, attr in (("name", "name"), ("display_name", "name"),
                              ("description", "description"),
                              ("display_description", "description")):
                if key in body:
                    setattr(vol, attr, body[key])
            if "metadata" in body:
                await self._replace_metadata(s, vol.id, check_metadata(body["metadata"]))
            vol.updated_at = utcnow()
            return (await volume_records(s, [vol]))[0]

    async def delete(self, caller: Caller, volume_id: str, *, cascade: bool = False,
                     force: bool = False) -> None:
        snap_ids: list[str] = []
        async with self.store.write() as s:
            vol = await find_volume(s, caller, volume_id, lock=True)
            states.check("force_delete" if force else "delete", vol.id, vol.status)
            if vol.attach_status == "attached" and not force:
                raise BadRequest(f"Invalid volume: Volume {vol.id} is attached; detach it "
                                 "before deleting.")
            snaps = list((await s.execute(select(Snapshot).where(
                Snapshot.volume_id == vol.id))).scalars())
            if snaps and not cascade:
                raise BadRequest(f"Invalid volume: Volume {vol.id} still has {len(snaps)} "
                                 "dependent snapshots.")
            for snap in snaps:
                if snap.status == states.SNAPSHOT_DELETING:
                    # already going: left untouched (its row may be removed meanwhile),
                    # deleted again idempotently before the volume
                    snap_ids.append(snap.id)
                    continue
                if snap.status not in states.SNAPSHOT_DELETABLE:
                    raise BadRequest(f"Invalid volume: Snapshot {snap.id} of volume {vol.id} "
                                     f"is {snap.status}.")
                snap.status = states.SNAPSHOT_DELETING
                snap.updated_at = utcnow()
                snap_ids.append(snap.id)
            vol.status = states.DELETING
            vol.updated_at = utcnow()
        self.worker.submit(self._delete_all(volume_id, snap_ids))

    async def _delete_all(self, volume_id: str, snap_ids: list[str]) -> None:
        for sid in snap_ids:
            await self.worker.delete_snapshot(sid)
        await self.worker.delete_volume(volume_id)

    # --- metadata ------------------------------------------------------------------------
    async def _replace_metadata(self, s: AsyncSession, volume_id: str,
                                meta: dict[str, str]) -> None:
        await s.execute(delete(VolumeMetadata).where(VolumeMetadata.volume_id == volume_id))
        s.add_all(VolumeMetadata(volume_id=volume_id, key=k, value=v) for k, v in meta.items())

    async def metadata(self, caller: Caller, volume_id: str) -> dict[str, str]:
        return (await self.get(caller, volume_id)).metadata

    async def set_metadata(self, caller: Caller, volume_id: str, meta: Any, *,
                           replace: bool) -> dict[str, str]:
        meta = check_metadata(meta)
        return await self._write_metadata(caller, volume_id, lambda cur: (
            meta if replace else {**cur, **meta}))

    async def delete_metadata_item(self, caller: Caller, volume_id: str, key: str) -> None:
        def drop(cur: dict[str, str]) -> dict[str, str]:
            if key not in cur:
                raise NotFound(f"Volume {volume_id} has no metadata with key {key}.")
            return {k: v for k, v in cur.items() if k != key}

        await self._write_metadata(caller, volume_id, drop)

    async def _write_metadata(self, caller: Caller, volume_id: str,
                              change: Callable[[dict[str, str]], dict[str, str]]
                              ) -> dict[str, str]:
        async with self.store.write() as s:
            vol = await find_volume(s, caller, volume_id)
            states.check("metadata", vol.id, vol.status)
            current = {m.key: m.value for m in (await s.execute(select(VolumeMetadata).where(
                VolumeMetadata.volume_id == vol.id))).scalars()}
            new = change(current)
            await self._replace_metadata(s, vol.id, new)
            vol.updated_at = utcnow()
        return new
