"""Flavors: public and private, extra specs, per-project access; the bootstrap set
(DevStack's and SCS-0103's standard flavors)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.core.compute.base import Caller, Store
from onestack.db.models.base import utcnow
from onestack.db.models.compute import Flavor, FlavorAccess, FlavorExtraSpec
from onestack.errors import BadRequest, Conflict, NotFound

# DevStack's set: nano and micro for tiny test images, then Nova's classic m1 flavors.
BOOTSTRAP: list[tuple[str, str, int, int, int]] = [
    # id, name, ram MB, disk GB, vcpus
    ("42", "m1.nano", 128, 1, 1),
    ("84", "m1.micro", 192, 1, 1),
    ("1", "m1.tiny", 512, 1, 1),
    ("2", "m1.small", 2048, 20, 1),
    ("3", "m1.medium", 4096, 40, 2),
    ("4", "m1.large", 8192, 80, 4),
    ("5", "m1.xlarge", 16384, 160, 8),
]
# SCS-0103 v1's mandatory standard flavors (Sovereign Cloud Stack): name, vCPUs, RAM GiB,
# root disk GB (0: none, boot from volume), vCPU type, root disk type. The name is also the
# flavor id (ids sort after DevStack's numeric ones).
SCS_FLAVORS: list[tuple[str, int, int, int, str, str | None]] = [
    ("SCS-1V-4", 1, 4, 0, "shared-core", None), ("SCS-2V-8", 2, 8, 0, "shared-core", None),
    ("SCS-4V-16", 4, 16, 0, "shared-core", None),
    ("SCS-4V-16-100s", 4, 16, 100, "shared-core", "ssd"),
    ("SCS-8V-32", 8, 32, 0, "shared-core", None), ("SCS-1V-2", 1, 2, 0, "shared-core", None),
    ("SCS-2V-4", 2, 4, 0, "shared-core", None),
    ("SCS-2V-4-20s", 2, 4, 20, "shared-core", "ssd"),
    ("SCS-4V-8", 4, 8, 0, "shared-core", None), ("SCS-8V-16", 8, 16, 0, "shared-core", None),
    ("SCS-16V-32", 16, 32, 0, "shared-core", None), ("SCS-1V-8", 1, 8, 0, "shared-core", None),
    ("SCS-2V-16", 2, 16, 0, "shared-core", None), ("SCS-4V-32", 4, 32, 0, "shared-core", None),
    ("SCS-1L-1", 1, 1, 0, "crowded-core", None),
]


def scs_extra_specs(name: str, cpu_type: str, disk_type: str | None) -> dict[str, str]:
    """SCS-0103: ``scs:name-v1`` is the name with every dash after the first made a colon,
    ``scs:name-v2`` the name, ``scs:cpu-type``, and ``scs:disk0-type`` for a root disk."""
    head, _, rest = name.partition("-")
    specs = {"scs:name-v1": f"{head}-{rest.replace('-', ':')}", "scs:name-v2": name,
             "scs:cpu-type": cpu_type}
    if disk_type is not None:
        specs["scs:disk0-type"] = disk_type
    return specs


BootstrapFlavor = tuple[str, str, int, int, int, dict[str, str]]


def bootstrap_flavors() -> list[BootstrapFlavor]:
    """Every flavor a new cloud gets: id, name, RAM MiB, disk GB, vCPUs, extra specs."""
    out: list[BootstrapFlavor] = [(fid, name, ram, disk, vcpus, {})
                                  for fid, name, ram, disk, vcpus in BOOTSTRAP]
    out.extend((name, name, gib * 1024, disk, vcpus, scs_extra_specs(name, cpu, dtype))
               for name, vcpus, gib, disk, cpu, dtype in SCS_FLAVORS)
    return out


SORT_KEYS = ("created_at", "description", "disabled", "ephemeral_gb", "flavorid", "id",
             "is_public", "memory_mb", "name", "root_gb", "rxtx_factor", "swap",
             "vcpus")
_COLUMN = {"flavorid": "id", "id": "id"}


@dataclass
class FlavorRecord:
    flavor: Flavor
    extra_specs: dict[str, str] = field(default_factory=dict)

    def snapshot(self) -> dict[str, Any]:
        """What an instance keeps of its flavor (shown by 2.47+ even after deletion)."""
        f = self.flavor
        return {"id": f.id, "name": f.name, "memory_mb": f.memory_mb, "vcpus": f.vcpus,
                "root_gb": f.root_gb, "ephemeral_gb": f.ephemeral_gb, "swap": f.swap,
                "extra_specs": dict(self.extra_specs)}


@dataclass
class FlavorQuery:
    is_public: bool | None = True  # None: all (admins only)
    min_ram: int | None = None
    min_disk: int | None = None
    sort_key: str = "flavorid"
    sort_dir: str = "asc"
    limit: int | None = None
    marker: str | None = None


def not_found(flavor_id: str) -> NotFound:
    return NotFound(f"Flavor {flavor_id} could not be found.")


class Flavors(Store):
    async def _specs(self, s: AsyncSession, ids: list[str]) -> dict[str, dict[str, str]]:
        out: dict[str, dict[str, str]] = {i: {} for i in ids}
        if ids:
            for row in (await s.execute(select(FlavorExtraSpec).where(
                    FlavorExtraSpec.flavor_id.in_(ids)))).scalars():
                out[row.flavor_id][row.key] = row.value
        return out

    async def _visible(self, s: AsyncSession, caller: Caller, flavor_id: str) -> Flavor:
        row = await s.get(Flavor, flavor_id)
        if row is None:
            raise not_found(flavor_id)
        if not row.is_public and not caller.is_admin:
            access = await s.get(FlavorAccess, (flavor_id, caller.project_id))
            if access is None:
                raise not_found(flavor_id)
        return row

    async def get(self, caller: Caller, flavor_id: str) -> FlavorRecord:
        async with self.db.read() as s:
            row = await self._visible(s, caller, flavor_id)
            return FlavorRecord(row, (await self._specs(s, [row.id]))[row.id])

    async def listing(self, caller: Caller, q: FlavorQuery) -> list[FlavorRecord]:
        stmt = select(Flavor)
        if not caller.is_admin:
            mine = select(FlavorAccess.flavor_id).where(
                FlavorAccess.project_id == caller.project_id)
            visible = or_(Flavor.is_public.is_(True), Flavor.id.in_(mine))
            if q.is_public is None:
                stmt = stmt.where(visible)
            elif q.is_public:
                stmt = stmt.where(Flavor.is_public.is_(True))
            else:
                stmt = stmt.where(Flavor.is_public.is_(False), Flavor.id.in_(mine))
        elif q.is_public is not None:
            stmt = stmt.where(Flavor.is_public.is_(q.is_public))
        if q.min_ram is not None:
            stmt = stmt.where(Flavor.memory_mb >= q.min_ram)
        if q.min_disk is not None:
            stmt = stmt.where(Flavor.root_gb >= q.min_disk)
        if q.sort_key not in SORT_KEYS:
            raise BadRequest(f"Invalid sort_key {q.sort_key}: use one of {', '.join(SORT_KEYS)}.")
        if q.sort_dir not in ("asc", "desc"):
            raise BadRequest("Invalid sort_dir: use asc or desc.")
        column = getattr(Flavor, _COLUMN.get(q.sort_key, q.sort_key))
        order = [column.asc() if q.sort_dir == "asc" else column.desc(), Flavor.id.asc()]
        async with self.db.read() as s:
            rows = list((await s.execute(stmt.order_by(*order))).scalars())
            if q.marker is not None:
                ids = [r.id for r in rows]
                if q.marker not in ids:
                    raise BadRequest(f"Marker {q.marker} could not be found.")
                rows = rows[ids.index(q.marker) + 1:]
            if q.limit is not None:
                rows = rows[:q.limit]
            specs = await self._specs(s, [r.id for r in rows])
        return [FlavorRecord(r, specs[r.id]) for r in rows]

    async def create(self, data: dict[str, Any]) -> FlavorRecord:
        flavor_id = data.get("id")
        if flavor_id in (None, "auto"):
            flavor_id = str(uuid.uuid4())
        name = data["name"].strip()
        if not name:
            raise BadRequest("Invalid input for field 'name': the name must not be blank.")
        row = Flavor(id=str(flavor_id), name=name, memory_mb=data["ram"], vcpus=data["vcpus"],
                     root_gb=data["disk"], ephemeral_gb=data.get("ephemeral", 0),
                     swap=data.get("swap", 0), rxtx_factor=data.get("rxtx_factor", 1.0),
                     is_public=data.get("is_public", True),
                     description=data.get("description"), created_at=utcnow())
        async with self.write(f"Flavor with name {name} or ID {flavor_id} already exists.") as s:
            if await s.get(Flavor, row.id) is not None:
                raise Conflict(f"Flavor with ID {row.id} already exists.")
            if (await s.execute(select(Flavor.id).where(Flavor.name == name))).first():
                raise Conflict(f"Flavor with name {name} already exists.")
            s.add(row)
        return FlavorRecord(row)

    async def update(self, caller: Caller, flavor_id: str, description: str | None
                     ) -> FlavorRecord:
        async with self.write() as s:
            row = await self._visible(s, caller, flavor_id)
            row.description = description
            row.updated_at = utcnow()
            specs = (await self._specs(s, [row.id]))[row.id]
        return FlavorRecord(row, specs)

    async def delete(self, flavor_id: str) -> None:
        async with self.write() as s:
            row = await s.get(Flavor, flavor_id)
            if row is None:
                raise not_found(flavor_id)
            await s.delete(row)

    async def ensure_defaults(self, progress: Callable[[str], None] = lambda _m: None) -> None:
        """Create the bootstrap flavors that are missing (by id or name); keep the rest."""
        progress("compute: flavors")
        async with self.write() as s:
            have_ids = set((await s.execute(select(Flavor.id))).scalars())
            have_names = set((await s.execute(select(Flavor.name))).scalars())
            for fid, name, ram, disk, vcpus, specs in bootstrap_flavors():
                if fid in have_ids or name in have_names:
                    continue
                s.add(Flavor(id=fid, name=name, memory_mb=ram, root_gb=disk, vcpus=vcpus,
                             ephemeral_gb=0, swap=0, rxtx_factor=1.0, is_public=True,
                             disabled=False, created_at=utcnow()))
                await s.flush()
                s.add_all(FlavorExtraSpec(flavor_id=fid, key=k, value=v)
                          for k, v in specs.items())

    # --- extra specs ---------------------------------------------------------------------
    async def extra_specs(self, caller: Caller, flavor_id: str) -> dict[str, str]:
        return (await self.get(caller, flavor_id)).extra_specs

    async def set_extra_specs(self, flavor_id: str, specs: dict[str, str]) -> dict[str, str]:
        async with self.write() as s:
            if await s.get(Flavor, flavor_id) is None:
                raise not_found(flavor_id)
            for key, value in specs.items():
                row = await s.get(FlavorExtraSpec, (flavor_id, key))
                if row is None:
                    s.add(FlavorExtraSpec(flavor_id=flavor_id, key=key, value=value))
                else:
                    row.value = value
        return specs

    async def delete_extra_spec(self, flavor_id: str, key: str) -> None:
        async with self.write() as s:
            if await s.get(Flavor, flavor_id) is None:
                raise not_found(flavor_id)
            row = await s.get(FlavorExtraSpec, (flavor_id, key))
            if row is None:
                raise NotFound(f"Flavor {flavor_id} has no extra specs with key {key}.")
            await s.delete(row)

    # --- access --------------------------------------------------------------------------
    async def access(self, flavor_id: str) -> list[str]:
        async with self.db.read() as s:
            row = await s.get(Flavor, flavor_id)
            if row is None:
                raise not_found(flavor_id)
            if row.is_public:
                raise NotFound("Access list not available for public flavors.")
            q = select(FlavorAccess.project_id).where(FlavorAccess.flavor_id == flavor_id)
            return sorted((await s.execute(q)).scalars())

    async def add_access(self, flavor_id: str, project_id: str) -> list[str]:
        async with self.write() as s:
            row = await s.get(Flavor, flavor_id)
            if row is None:
                raise not_found(flavor_id)
            if row.is_public:
                raise Conflict("Can not add access to a public flavor.")
            if await s.get(FlavorAccess, (flavor_id, project_id)) is not None:
                raise Conflict(f"Flavor access already exists for flavor {flavor_id} and "
                               f"project {project_id} combination.")
            s.add(FlavorAccess(flavor_id=flavor_id, project_id=project_id))
        return await self.access(flavor_id)

    async def remove_access(self, flavor_id: str, project_id: str) -> list[str]:
        async with self.write() as s:
            row = await s.get(Flavor, flavor_id)
            if row is None:
                raise not_found(flavor_id)
            result = await s.execute(delete(FlavorAccess).where(
                FlavorAccess.flavor_id == flavor_id, FlavorAccess.project_id == project_id))
            if not getattr(result, "rowcount", 0):
                raise NotFound(f"Flavor access not found for {flavor_id} / {project_id} "
                               "combination.")
        return await self.access(flavor_id)
