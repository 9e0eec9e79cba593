"""Cinder's group types (3.11) and their group specs: what kind of volume group a group
is. Admins manage them; projects see the public ones (group specs only for admins)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.volume.base import Caller, Store, check_metadata, upsert_specs
from onestack.db.models.base import utcnow
from onestack.db.models.volume_group import GroupType, GroupTypeSpec
from onestack.errors import BadRequest, Conflict, NotFound

SORT_KEYS = {"name": GroupType.name, "id": GroupType.id, "created_at": GroupType.created_at,
             "description": GroupType.description, "is_public": GroupType.is_public}


@dataclass
class GroupTypeRecord:
    type: GroupType
    specs: dict[str, str] = field(default_factory=dict)


def group_type_not_found(ident: str) -> NotFound:
    return NotFound(f"Group type {ident} could not be found.")


def _text(body: dict[str, Any], key: str, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > 255:
        raise BadRequest(f"Invalid input for field/attribute {key}. It must be a string of "
                         f"{'1' if required else '0'} to 255 characters.")
    return value.strip() if required else value


def _public(body: dict[str, Any]) -> bool | None:
    value = body.get("is_public")
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise BadRequest(f"Invalid input for field/attribute is_public. Value: {value}. It must "
                     "be a boolean.")


def _sort(sort: str | None) -> list[Any]:
    out = []
    for part in (sort or "created_at:asc").split(","):
        key, _, direction = part.strip().partition(":")
        column = SORT_KEYS.get(key)
        if column is None or direction not in ("", "asc", "desc"):
            raise BadRequest(f"Invalid input received: sort key {part!r} is not one of "
                             f"{', '.join(SORT_KEYS)} (with :asc or :desc).")
        out.append(column.desc() if direction == "desc" else column.asc())
    return [*out, GroupType.id.asc()]


async def _specs(s: AsyncSession, ids: list[str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {i: {} for i in ids}
    if ids:
        for row in (await s.execute(select(GroupTypeSpec).where(
                GroupTypeSpec.type_id.in_(ids)))).scalars():
            out[row.type_id][row.key] = row.value
    return out


class GroupTypes:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def _find(self, s: AsyncSession, caller: Caller, ident: str) -> GroupType:
        row = await s.get(GroupType, ident)
        if row is None or not (row.is_public or caller.is_admin):
            raise group_type_not_found(ident)
        return row

    async def list_types(self, caller: Caller, is_public: bool | None, sort: str | None
                         ) -> list[GroupTypeRecord]:
        """``is_public``: True lists the public ones, False the private, None all (only
        admins see private ones)."""
        async with self.store.db.read() as s:
            q = select(GroupType).order_by(*_sort(sort))
            if not caller.is_admin:
                q = q.where(GroupType.is_public.is_(True))
            elif is_public is not None:
                q = q.where(GroupType.is_public.is_(is_public))
            rows = list((await s.execute(q)).scalars())
            specs = await _specs(s, [r.id for r in rows])
        return [GroupTypeRecord(r, specs[r.id]) for r in rows]

    async def get(self, caller: Caller, ident: str) -> GroupTypeRecord:
        async with self.store.db.read() as s:
            row = await self._find(s, caller, ident)
            return GroupTypeRecord(row, (await _specs(s, [row.id]))[row.id])

    async def create(self, body: dict[str, Any]) -> GroupTypeRecord:
        name = str(_text(body, "name", required=True))
        description = _text(body, "description")
        public = _public(body)
        specs = check_metadata(body.get("group_specs") or {}, "group_specs")
        row = GroupType(id=str(uuid.uuid4()), name=name, description=description,
                        is_public=True if public is None else public, created_at=utcnow())
        async with self.store.write(f"Group Type {name} already exists.") as s:
            if (await s.execute(select(GroupType.id).where(GroupType.name == name))).first():
                raise Conflict(f"Group Type {name} already exists.")
            s.add(row)
            await s.flush()
            s.add_all(GroupTypeSpec(type_id=row.id, key=k, value=v) for k, v in specs.items())
        return GroupTypeRecord(row, specs)

    async def update(self, caller: Caller, ident: str, body: dict[str, Any]
                     ) -> GroupTypeRecord:
        name = _text(body, "name", required=True) if body.get("name") is not None else None
        description = _text(body, "description")
        public = _public(body)
        if name is None and "description" not in body and public is None:
            raise BadRequest("Specify group type name, description or a combination "
                             "thereof.")
        async with self.store.write("A group type with that name already exists.") as s:
            row = await self._find(s, caller, ident)
            if name is not None and name != row.name:
                if (await s.execute(select(GroupType.id).where(
                        GroupType.name == name))).first():
                    raise Conflict(f"Group Type {name} already exists.")
                row.name = name
            if "description" in body:
                row.description = description
            if public is not None:
                row.is_public = public
            row.updated_at = utcnow()
            specs = (await _specs(s, [row.id]))[row.id]
        return GroupTypeRecord(row, specs)

    async def delete(self, caller: Caller, ident: str) -> None:
        async with self.store.write() as s:
            await s.delete(await self._find(s, caller, ident))

    # --- group specs ---------------------------------------------------------------------
    async def set_specs(self, caller: Caller, ident: str, specs: Any) -> dict[str, str]:
        specs = check_metadata(specs, "group_specs")
        async with self.store.write() as s:
            row = await self._find(s, caller, ident)
            await upsert_specs(s, GroupTypeSpec, row.id, specs)
        return specs

    async def delete_spec(self, caller: Caller, ident: str, key: str) -> None:
        async with self.store.write() as s:
            row = await self._find(s, caller, ident)
            gone = await s.execute(delete(GroupTypeSpec).where(
                GroupTypeSpec.type_id == row.id, GroupTypeSpec.key == key))
            if not getattr(gone, "rowcount", 0):
                raise NotFound(f"Group Type {ident} has no specs with key {key}.")
