"""Volume types: the default one, extra specs, and private types with project access.

A project sees public types and the private types it was given access to; admins see all.
A type in use by a volume cannot be deleted (400, as Cinder).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.volume.base import Caller, Store, check_metadata, upsert_specs
from onestack.db.models.base import utcnow
from onestack.db.models.volume import Volume, VolumeType, VolumeTypeAccess, VolumeTypeSpec
from onestack.db.models.volume_qos import QosAssociation
from onestack.errors import BadRequest, Conflict, NotFound


@dataclass
class TypeRecord:
    type: VolumeType
    extra_specs: dict[str, str] = field(default_factory=dict)
    qos_specs_id: str | None = None


def type_not_found(ident: str) -> NotFound:
    return NotFound(f"Volume type {ident} could not be found.")


async def type_specs(s: AsyncSession, ids: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {i: {} for i in ids}
    if ids:
        for row in (await s.execute(select(VolumeTypeSpec).where(
                VolumeTypeSpec.type_id.in_(ids)))).scalars():
            out[row.type_id][row.key] = row.value
    return out


async def type_qos(s: AsyncSession, ids: list[str]) -> dict[str, str]:
    """The QoS specs associated with each of these types (those that have one)."""
    if not ids:
        return {}
    rows = await s.execute(select(QosAssociation.type_id, QosAssociation.qos_id).where(
        QosAssociation.type_id.in_(ids)))
    return {t: q for t, q in rows.tuples()}


class VolumeTypes:
    def __init__(self, store: Store, default_name: str) -> None:
        self.store = store
        self.default_name = default_name

    # --- lookups -------------------------------------------------------------------------
    async def find(self, s: AsyncSession, caller: Caller, ident: str) -> VolumeType:
        """By id, then by name; private types only for admins and projects with access."""
        if not isinstance(ident, str) or not ident or len(ident) > 255:
            raise type_not_found(str(ident))
        vt = await s.get(VolumeType, ident) if len(ident) <= 36 else None
        if vt is None:
            vt = (await s.execute(select(VolumeType).where(VolumeType.name == ident))).scalar()
        if vt is None or not await self._may_see(s, caller, vt):
            raise type_not_found(ident)
        return vt

    async def _may_see(self, s: AsyncSession, caller: Caller, vt: VolumeType) -> bool:
        if vt.is_public or caller.is_admin:
            return True
        return await s.get(VolumeTypeAccess, (vt.id, caller.project_id)) is not None

    async def default(self, s: AsyncSession) -> VolumeType:
        vt = (await s.execute(select(VolumeType).where(
            VolumeType.name == self.default_name))).scalar()
        if vt is None:
            raise NotFound(f"The default volume type {self.default_name} does not exist; "
                           "run `onestack manage bootstrap`.")
        return vt

    async def ensure_default(self, progress: Callable[[str], None] = lambda _m: None) -> None:
        async with self.store.write() as s:
            found = (await s.execute(select(VolumeType).where(
                VolumeType.name == self.default_name))).scalar()
            if found is None:
                s.add(VolumeType(id=str(uuid.uuid4()), name=self.default_name,
                                 description="Default Volume Type", is_public=True))
                progress(f"volume type {self.default_name}")

    # --- CRUD ----------------------------------------------------------------------------
    async def list_types(self, caller: Caller, is_public: bool | None = None) -> list[TypeRecord]:
        async with self.store.db.read() as s:
            q = select(VolumeType).order_by(VolumeType.name)
            if not caller.is_admin:
                q = q.where(or_(VolumeType.is_public.is_(True), VolumeType.id.in_(
                    select(VolumeTypeAccess.type_id).where(
                        VolumeTypeAccess.project_id == caller.project_id))))
            if is_public is not None and caller.is_admin:
                q = q.where(VolumeType.is_public.is_(is_public))
            rows = list((await s.execute(q)).scalars())
            specs = await type_specs(s, [r.id for r in rows])
            qos = await type_qos(s, [r.id for r in rows])
        return [TypeRecord(r, specs[r.id], qos.get(r.id)) for r in rows]

    async def get(self, caller: Caller, ident: str) -> TypeRecord:
        async with self.store.db.read() as s:
            vt = await (self.default(s) if ident == "default" else self.find(s, caller, ident))
            return TypeRecord(vt, (await type_specs(s, [vt.id]))[vt.id],
                              (await type_qos(s, [vt.id])).get(vt.id))

    async def create(self, body: dict[str, Any]) -> TypeRecord:
        name = str(body["name"]).strip()
        if not name:
            raise BadRequest("Volume type name can not be empty.")
        specs = check_metadata(body.get("extra_specs") or {}, "extra_specs")
        vt = VolumeType(id=str(uuid.uuid4()), name=name, description=body.get("description"),
                        is_public=bool(body.get("os-volume-type-access:is_public",
                                                body.get("is_public", True))))
        async with self.store.write(f"Volume Type {name} already exists.") as s:
            if (await s.execute(select(VolumeType).where(VolumeType.name == name))).scalar():
                raise Conflict(f"Volume Type {name} already exists.")
            s.add(vt)
            await s.flush()
            s.add_all(VolumeTypeSpec(type_id=vt.id, key=k, value=v) for k, v in specs.items())
        return TypeRecord(vt, specs)

    async def update(self, caller: Caller, ident: str, body: dict[str, Any]) -> TypeRecord:
        async with self.store.write("A volume type with that name already exists.") as s:
            vt = await self.find(s, caller, ident)
            if "name" in body and body["name"] is not None:
                name = str(body["name"]).strip()
                if not name:
                    raise BadRequest("Volume type name can not be empty.")
                if name != vt.name and (await s.execute(select(VolumeType).where(
                        VolumeType.name == name))).scalar():
                    raise Conflict(f"Volume Type {name} already exists.")
                vt.name = name
            if "description" in body:
                vt.description = body["description"]
            if "is_public" in body:
                vt.is_public = bool(body["is_public"])
            vt.updated_at = utcnow()
            specs = (await type_specs(s, [vt.id]))[vt.id]
        return TypeRecord(vt, specs)

    async def delete(self, caller: Caller, ident: str) -> None:
        async with self.store.write() as s:
            vt = await self.find(s, caller, ident)
            if vt.name == self.default_name:
                raise BadRequest("The default volume type cannot be deleted.")
            used = (await s.execute(select(func.count()).select_from(Volume).where(
                Volume.type_id == vt.id))).scalar() or 0
            if used:
                raise BadRequest(f"Target volume type is still in use: {used} volumes use "
                                 f"volume type {vt.id}.")
            await s.delete(vt)

    # --- extra specs ---------------------------------------------------------------------
    async def specs(self, caller: Caller, ident: str) -> dict[str, str]:
        return (await self.get(caller, ident)).extra_specs

    async def set_specs(self, caller: Caller, ident: str, specs: Any) -> dict[str, str]:
        specs = check_metadata(specs, "extra_specs")
        async with self.store.write() as s:
            vt = await self.find(s, caller, ident)
            await upsert_specs(s, VolumeTypeSpec, vt.id, specs)
        return specs

    async def delete_spec(self, caller: Caller, ident: str, key: str) -> None:
        async with self.store.write() as s:
            vt = await self.find(s, caller, ident)
            result = await s.execute(delete(VolumeTypeSpec).where(
                VolumeTypeSpec.type_id == vt.id, VolumeTypeSpec.key == key))
            if not getattr(result, "rowcount", 0):
                raise NotFound(f"Volume Type {vt.id} has no extra specs with key {key}.")

    # --- access --------------------------------------------------------------------------
    async def access(self, caller: Caller, ident: str) -> list[VolumeTypeAccess]:
        async with self.store.db.read() as s:
            vt = await self.find(s, caller, ident)
            if vt.is_public:
                raise NotFound(f"Volume type {vt.id} is public: it has no access list.")
            return list((await s.execute(select(VolumeTypeAccess).where(
                VolumeTypeAccess.type_id == vt.id))).scalars())

    async def add_access(self, caller: Caller, ident: str, project: str) -> None:
        async with self.store.write() as s:
            vt = await self.find(s, caller, ident)
            if vt.is_public:
                raise BadRequest(f"Invalid volume type: {vt.id} is public; access is for "
                                 "private types.")
            if await s.get(VolumeTypeAccess, (vt.id, project)) is not None:
                raise Conflict(f"Volume type access for {vt.id} / {project} combination "
                               "already exists.")
            s.add(VolumeTypeAccess(type_id=vt.id, project_id=project))

    async def remove_access(self, caller: Caller, ident: str, project: str) -> None:
        async with self.store.write() as s:
            vt = await self.find(s, caller, ident)
            result = await s.execute(delete(VolumeTypeAccess).where(
                VolumeTypeAccess.type_id == vt.id, VolumeTypeAccess.project_id == project))
            if not getattr(result, "rowcount", 0):
                raise NotFound(f"Volume type access not found for {vt.id} / {project} "
                               "combination.")
