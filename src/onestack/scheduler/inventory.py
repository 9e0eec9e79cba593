"""Inventories of a provider (one row per resource class) and the provider's usages."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from onestack.db.models.placement import Allocation, CustomResourceClass, Inventory
from onestack.errors import BadRequest, Conflict, NotFound
from onestack.scheduler.base import (
    MAX_INT,
    Provider,
    Store,
    bump,
    check_generation,
    usage_by_class,
)
from onestack.scheduler.errors import InventoryInUse
from onestack.scheduler.names import STANDARD_CLASS_SET

FIELDS = ("total", "reserved", "min_unit", "max_unit", "step_size", "allocation_ratio")
DEFAULTS: dict[str, Any] = {"reserved": 0, "min_unit": 1, "max_unit": MAX_INT, "step_size": 1,
                            "allocation_ratio": 1.0}


def normalise(rc: str, data: Mapping[str, Any], *, reserved_may_equal_total: bool = True
              ) -> dict[str, Any]:
    inv = {k: data.get(k, DEFAULTS.get(k)) for k in FIELDS}
    if inv["total"] is None:
        raise BadRequest(f"Inventory of {rc} needs a total.")
    if inv["reserved"] > inv["total"] or (inv["reserved"] == inv["total"] and inv["total"]
                                          and not reserved_may_equal_total):
        raise BadRequest(f"Unable to update inventory for resource provider: Invalid "
                         f"inventory for '{rc}': reserved {inv['reserved']} is greater than "
                         f"total {inv['total']}.")
    if inv["min_unit"] > inv["max_unit"]:
        raise BadRequest(f"Invalid inventory for '{rc}': min_unit {inv['min_unit']} is "
                         f"greater than max_unit {inv['max_unit']}.")
    inv["allocation_ratio"] = float(inv["allocation_ratio"])
    return inv


def as_dict(inv: Inventory) -> dict[str, Any]:
    return {k: getattr(inv, k) for k in FIELDS}


class Inventories(Store):
    STATIC = True

    async def get_all(self, uuid: str) -> tuple[Provider, dict[str, dict[str, Any]]]:
        async with self.read() as s:
            rp = await self.provider(s, uuid)
            q = select(Inventory).where(Inventory.resource_provider_id == rp.id)
            return rp, {i.resource_class: as_dict(i) for i in (await s.execute(q)).scalars()}

    async def get_one(self, uuid: str, rc: str) -> tuple[Provider, dict[str, Any]]:
        rp, invs = await self.get_all(uuid)
        if rc not in invs:
            raise NotFound(f"No inventory of class {rc} for {uuid}")
        return rp, invs[rc]

    async def replace_all(self, uuid: str, generation: int,
                          invs: Mapping[str, dict[str, Any]]) -> tuple[Provider, dict[str, Any]]:
        async with self.write() as s:
            rp = await self.provider(s, uuid, lock=True)
            check_generation(rp, generation)
            await self._check_classes(s, list(invs))
            current = await self._rows(s, rp.id)
            gone = [rc for rc in current if rc not in invs]
            await self._check_unused(s, rp, gone)
            if gone:
                await s.execute(delete(Inventory).where(
                    Inventory.resource_provider_id == rp.id, Inventory.resource_class.in_(gone)))
            for rc, data in invs.items():
                self._upsert(s, rp, current.get(rc), rc, data)
            rp.generation = await bump(s, rp.id, generation)
            return rp, dict(invs)

    async def set_one(self, uuid: str, rc: str, generation: int, data: dict[str, Any],
                      *, create: bool = False) -> Provider:
        """PUT (update, or create when missing) or POST (create only: 409 when present)."""
        async with self.write() as s:
            rp = await self.provider(s, uuid, lock=True)
            check_generation(rp, generation)
            await self._check_classes(s, [rc])
            current = (await self._rows(s, rp.id)).get(rc)
            if create and current is not None:
                raise Conflict(f"Update conflict: Inventory for '{rc}' on resource provider "
                               f"'{uuid}' already exists.")
            self._upsert(s, rp, current, rc, data)
            rp.generation = await bump(s, rp.id, generation)
            return rp

    async def delete_one(self, uuid: str, rc: str) -> None:
        async with self.write() as s:
            rp = await self.provider(s, uuid, lock=True)
            if rc not in await self._rows(s, rp.id):
                raise NotFound(f"No inventory of class {rc} found for delete")
            await self._check_unused(s, rp, [rc])
            await s.execute(delete(Inventory).where(Inventory.resource_provider_id == rp.id,
                                                    Inventory.resource_class == rc))
            await bump(s, rp.id)

    async def delete_all(self, uuid: str) -> None:
        async with self.write() as s:
            rp = await self.provider(s, uuid, lock=True)
            current = await self._rows(s, rp.id)
            await self._check_unused(s, rp, list(current))
            await s.execute(delete(Inventory).where(Inventory.resource_provider_id == rp.id))
            await bump(s, rp.id)

    async def usages(self, uuid: str) -> tuple[Provider, dict[str, int]]:
        async with self.read() as s:
            rp = await self.provider(s, uuid)
            used = await usage_by_class(s, [rp.id])
            classes = (await s.execute(select(Inventory.resource_class).where(
                Inventory.resource_provider_id == rp.id))).scalars()
            out = {rc: 0 for rc in classes}
            out.update({rc: n for (_rp, rc), n in used.items()})
            return rp, out

    # --- helpers -------------------------------------------------------------------------
    @staticmethod
    async def _rows(s: AsyncSession, rp_id: int) -> dict[str, Inventory]:
        q = select(Inventory).where(Inventory.resource_provider_id == rp_id)
        return {i.resource_class: i for i in (await s.execute(q)).scalars()}

    @staticmethod
    def _upsert(s: AsyncSession, rp: Provider, row: Inventory | None, rc: str,
                data: dict[str, Any]) -> None:
        if row is None:
            s.add(Inventory(resource_provider_id=rp.id, resource_class=rc, **data))
        else:
            for key, value in data.items():
                setattr(row, key, value)

    @staticmethod
    async def _check_classes(s: AsyncSession, classes: list[str]) -> None:
        custom = [rc for rc in classes if rc not in STANDARD_CLASS_SET]
        if not custom:
            return
        known = set((await s.execute(select(CustomResourceClass.name).where(
            CustomResourceClass.name.in_(custom)))).scalars())
        for rc in custom:
            if rc not in known:
                raise BadRequest(f"Unknown resource class in inventory for resource provider: "
                                 f"No such resource class {rc}.")

    @staticmethod
    async def _check_unused(s: AsyncSession, rp: Provider, classes: list[str]) -> None:
        if not classes:
            return
        q = (select(Allocation.resource_class).where(
            Allocation.resource_provider_id == rp.id, Allocation.resource_class.in_(classes))
             .limit(1))
        hit = (await s.execute(q)).scalar()
        if hit is not None:
            raise InventoryInUse(f"Inventory for '{hit}' on resource provider '{rp.uuid}' in "
                                 "use.")
